import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { Markdown } from "./Markdown";

const TEXT = "Here is code:\n\n```python\nprint('hi')\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n$E=mc^2$ and **bold**";

describe("Markdown", () => {
  it("renders tables, emphasis, LaTeX and highlighted code", () => {
    const { container } = render(<Markdown text={TEXT} />);
    expect(screen.getByRole("table")).toBeInTheDocument();
    expect(screen.getByRole("columnheader", { name: "a" })).toBeInTheDocument();
    expect(screen.getByRole("cell", { name: "2" })).toBeInTheDocument();
    expect(container.querySelector("strong")).toHaveTextContent("bold");
    expect(container.querySelector(".katex")).not.toBeNull();
    const code = container.querySelector("pre code");
    expect(code).toHaveClass("hljs", "language-python");
    expect(code?.querySelector(".hljs-built_in, .hljs-string")).not.toBeNull();
    expect(screen.getByText("python")).toBeInTheDocument();
  });

  it("copies a code block's text with its copy button", async () => {
    const user = userEvent.setup();
    const writeText = vi.fn().mockResolvedValue(undefined);
    Object.defineProperty(window, "isSecureContext", { value: true, configurable: true });
    Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
    render(<Markdown text={TEXT} />);
    await user.click(screen.getByRole("button", { name: "Copy code" }));
    expect(writeText).toHaveBeenCalledWith("print('hi')\n");
    await waitFor(() => expect(screen.getByRole("button", { name: "Code copied" })).toBeInTheDocument());
  });

  it("does not render raw HTML from an answer", () => {
    const { container } = render(<Markdown text={'<img src=x onerror="alert(1)"> <script>alert(2)</script>'} />);
    expect(container.querySelector("img")).toBeNull();
    expect(container.querySelector("script")).toBeNull();
  });
});
