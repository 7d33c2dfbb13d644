import { render, screen, waitFor } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { MessageView } from "./MessageView";

const imports = vi.hoisted(() => ({ count: 0 }));
// The Markdown chunk cannot be fetched (the server is restarting): importing it fails.
vi.mock("./Markdown", async () => {
  imports.count++;
  throw new TypeError("Failed to fetch dynamically imported module: /assets/Markdown-x.js");
});

describe("MessageView without its Markdown code", () => {
  it("shows the answer as plain text instead of taking the chat down", async () => {
    // React reports the failed import once it has given up on it (caught by a boundary, or not).
    const reported = vi.spyOn(console, "error").mockImplementation(() => undefined);
    render(
      <MessageView
        message={{ id: "a1", role: "assistant", content: "The **answer** is 42.", status: "done", finishReason: "stop" }}
      />,
    );
    await waitFor(() => expect(imports.count).toBeGreaterThan(0));
    await waitFor(() => expect(reported).toHaveBeenCalled(), { timeout: 5000 });
    expect(screen.getByRole("article", { name: "Assistant" })).toHaveTextContent("The **answer** is 42.");
  });
});
