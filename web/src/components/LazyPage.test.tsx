import { act, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { lazyPage } from "./LazyPage";

function FilesStandIn() {
  return <h1>My files</h1>;
}

/** An import that fails `failures` times (the server is down), then succeeds. */
function flakyImport(failures: number) {
  let calls = 0;
  const load = vi.fn(async () => {
    calls++;
    if (calls <= failures) throw new TypeError("Failed to fetch dynamically imported module: /assets/FilesPage-x.js");
    return { default: FilesStandIn };
  });
  return load;
}

describe("lazyPage", () => {
  it("shows the page once its code has loaded", async () => {
    const Page = lazyPage(flakyImport(0));
    render(<Page />);
    expect(await screen.findByRole("heading", { name: "My files" })).toBeInTheDocument();
  });

  it("says the page could not be loaded, with Try again, instead of throwing the app away", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const load = flakyImport(2);
    const Page = lazyPage(load);
    render(
      <>
        <nav>Sidebar</nav>
        <Page />
      </>,
    );
    expect(await screen.findByRole("alert")).toHaveTextContent("This page could not be loaded.");
    // The rest of the app is still there.
    expect(screen.getByText("Sidebar")).toBeInTheDocument();

    // Still down: the retry fails too, and says so again.
    await userEvent.click(screen.getByRole("button", { name: "Try again" }));
    expect(await screen.findByRole("alert")).toBeInTheDocument();
    expect(load).toHaveBeenCalledTimes(2);

    // Back: the retry imports the code again and the page shows, without a reload.
    await userEvent.click(screen.getByRole("button", { name: "Try again" }));
    expect(await screen.findByRole("heading", { name: "My files" })).toBeInTheDocument();
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();
    expect(load).toHaveBeenCalledTimes(3);
  });

  it("tries again by itself when the browser is back online", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const Page = lazyPage(flakyImport(1));
    render(<Page />);
    expect(await screen.findByRole("alert")).toBeInTheDocument();
    act(() => {
      window.dispatchEvent(new Event("online"));
    });
    expect(await screen.findByRole("heading", { name: "My files" })).toBeInTheDocument();
  });

  it("imports again when the page is opened again after a failure", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const Page = lazyPage(flakyImport(1));
    const first = render(<Page />);
    expect(await screen.findByRole("alert")).toBeInTheDocument();
    first.unmount();
    render(<Page />);
    expect(await screen.findByRole("heading", { name: "My files" })).toBeInTheDocument();
  });
});
