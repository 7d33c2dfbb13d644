import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { MessageView } from "./MessageView";
import type { ChatMessage } from "./types";

const reportAnswer = vi.fn();
vi.mock("../api/client", () => ({
  api: {
    chat: {
      reportAnswer: (...args: unknown[]) => reportAnswer(...args),
      setFeedback: vi.fn(),
      deleteFeedback: vi.fn(),
    },
  },
}));

const answer = (extra: Partial<ChatMessage> = {}): ChatMessage => ({
  id: "a1",
  role: "assistant",
  content: "The answer is 42.",
  status: "done",
  finishReason: "stop",
  model: "echo",
  ...extra,
});

beforeEach(() => reportAnswer.mockReset());

describe("reporting an answer", () => {
  it("sends the chosen reason and text, then thanks the user", async () => {
    reportAnswer.mockResolvedValue({ id: "r1", status: "open" });
    render(<MessageView message={answer()} />);
    await userEvent.click(screen.getByRole("button", { name: "Report this answer" }));
    const dialog = screen.getByRole("dialog", { name: "Report this answer" });
    expect(dialog).toHaveTextContent("nothing else of the conversation");
    const send = screen.getByRole("button", { name: "Report" });
    expect(send).toBeDisabled(); // no reason chosen yet
    await userEvent.click(screen.getByRole("radio", { name: "Private data exposed" }));
    await userEvent.type(screen.getByRole("textbox", { name: "Tell us more (optional)" }), "  my phone number  ");
    await userEvent.click(send);
    expect(reportAnswer).toHaveBeenCalledWith("a1", { reason: "private_data", comment: "my phone number" });
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(screen.getByRole("status")).toHaveTextContent("Thanks, your report was sent");
    expect(screen.getByRole("button", { name: "Report this answer" })).toBeDisabled();
  });

  it("closes without sending on Cancel, and is not offered on an answer still being written", async () => {
    const { rerender } = render(<MessageView message={answer()} />);
    await userEvent.click(screen.getByRole("button", { name: "Report this answer" }));
    await userEvent.click(screen.getByRole("button", { name: "Cancel" }));
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    expect(reportAnswer).not.toHaveBeenCalled();
    rerender(<MessageView message={answer({ status: "streaming", finishReason: undefined })} />);
    expect(screen.queryByRole("button", { name: "Report this answer" })).not.toBeInTheDocument();
  });
});
