import { render, screen, waitFor } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import i18n from "../i18n";
import { formatDateTime } from "../format";
import { ContextGauge } from "./ContextGauge";
import { fromServer } from "./fromServer";
import { MessageView } from "./MessageView";

const context = vi.fn();
vi.mock("../api/client", () => ({
  api: {
    conversations: { context: (...args: unknown[]) => context(...args) },
    chat: { setFeedback: vi.fn(), deleteFeedback: vi.fn() },
  },
}));

beforeEach(async () => {
  context.mockReset();
  await i18n.changeLanguage("en");
});

describe("the context gauge", () => {
  it("shows the tokens in the window against the model's window and the conversation's cost", async () => {
    context.mockResolvedValue({ model: "echo", context_window: 4096, context_tokens: 1024, cost_usd: 0.0042 });
    render(<ContextGauge conversationId="c1" version={0} />);

    const gauge = await screen.findByTestId("context-gauge");
    expect(gauge).toHaveTextContent("1K / 4.1K tokens");
    expect(gauge).toHaveTextContent("$0.0042");
    expect(gauge).toHaveAttribute("title", expect.stringContaining("1,024 of the 4,096 tokens echo can hold (25%)"));
    expect(gauge).toHaveClass("limits-ok");
    expect(context).toHaveBeenCalledWith("c1", expect.anything());
  });

  it("reads again after each answer and turns to a warning near the window's end", async () => {
    context.mockResolvedValueOnce({ model: "tiny", context_window: 300, context_tokens: 100, cost_usd: 0 });
    context.mockResolvedValueOnce({ model: "tiny", context_window: 300, context_tokens: 270, cost_usd: 0 });
    const { rerender } = render(<ContextGauge conversationId="c1" version={0} />);
    expect(await screen.findByText("100 / 300 tokens")).toBeInTheDocument();

    rerender(<ContextGauge conversationId="c1" version={1} />);

    expect(await screen.findByText("270 / 300 tokens")).toBeInTheDocument();
    expect(screen.getByTestId("context-gauge")).toHaveClass("limits-warning");
    await waitFor(() => expect(context).toHaveBeenCalledTimes(2));
  });
});

describe("an answer that stopped at a quota", () => {
  it("says so under the answer, from the message saved with its notice", () => {
    const notice = { limit: "tokens-day", message: "server words", resets_at: "2026-06-02T00:00:00Z" };
    const [answer] = fromServer([
      {
        id: "a1",
        role: "assistant",
        content: "Half an ans",
        model: "echo",
        finish_reason: "length",
        prompt_tokens: 10,
        completion_tokens: 4,
        created_at: "2026-06-01T10:00:00Z",
        metadata: { limit: notice },
      } as unknown as Parameters<typeof fromServer>[0][number],
    ]);
    render(<MessageView message={answer!} />);

    expect(screen.getByTestId("limit-notice")).toHaveTextContent(
      `The answer stopped here because your daily token quota is used up. It comes back on ${formatDateTime(notice.resets_at)}.`,
    );
  });

  it("shows nothing for an answer that finished", () => {
    render(<MessageView message={{ id: "a2", role: "assistant", content: "Done.", status: "done", finishReason: "stop" }} />);
    expect(screen.queryByTestId("limit-notice")).not.toBeInTheDocument();
  });
});
