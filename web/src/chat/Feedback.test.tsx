import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { MessageView } from "./MessageView";
import type { ChatMessage } from "./types";

const setFeedback = vi.fn();
const deleteFeedback = vi.fn();
vi.mock("../api/client", () => ({
  api: {
    chat: {
      setFeedback: (...args: unknown[]) => setFeedback(...args),
      deleteFeedback: (...args: unknown[]) => deleteFeedback(...args),
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
const rated = (rating: "up" | "down", comment: string | null = null) => ({
  id: "a1",
  feedback: { rating, comment, at: "2026-06-01T10:00:00Z" },
});

beforeEach(() => {
  setFeedback.mockReset();
  deleteFeedback.mockReset();
});

describe("feedback on an answer", () => {
  it("rates thumbs up and shows it chosen; pressing it again withdraws it", async () => {
    setFeedback.mockResolvedValue(rated("up"));
    deleteFeedback.mockResolvedValue(undefined);
    render(<MessageView message={answer()} />);
    const up = screen.getByRole("button", { name: "Good answer" });
    expect(up).toHaveAttribute("aria-pressed", "false");
    await userEvent.click(up);
    await waitFor(() => expect(up).toHaveAttribute("aria-pressed", "true"));
    expect(setFeedback).toHaveBeenCalledWith("a1", { rating: "up" });
    expect(screen.getByRole("status")).toHaveTextContent("Thanks for your feedback");
    // no comment is asked for a thumbs up
    expect(screen.queryByRole("textbox")).not.toBeInTheDocument();

    await userEvent.click(up);
    await waitFor(() => expect(up).toHaveAttribute("aria-pressed", "false"));
    expect(deleteFeedback).toHaveBeenCalledWith("a1");
  });

  it("asks for an optional comment on thumbs down and sends it", async () => {
    setFeedback.mockResolvedValueOnce(rated("down")).mockResolvedValueOnce(rated("down", "it ignored my file"));
    render(<MessageView message={answer()} />);
    await userEvent.click(screen.getByRole("button", { name: "Bad answer" }));
    const box = await screen.findByRole("textbox", { name: "What was wrong? (optional)" });
    expect(setFeedback).toHaveBeenLastCalledWith("a1", { rating: "down" });
    await userEvent.type(box, "it ignored my file");
    await userEvent.click(screen.getByRole("button", { name: "Send" }));
    await waitFor(() => expect(setFeedback).toHaveBeenLastCalledWith("a1", { rating: "down", comment: "it ignored my file" }));
    expect(screen.queryByRole("textbox")).not.toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Bad answer" })).toHaveAttribute("aria-pressed", "true");
    expect(screen.getByRole("status")).toHaveTextContent("Thanks for your feedback");
  });

  it("shows the saved rating of a loaded answer, and keeps it when the server refuses a change", async () => {
    setFeedback.mockRejectedValue(new Error("offline"));
    render(<MessageView message={answer({ feedback: rated("down", "wrong").feedback })} />);
    const article = screen.getByRole("article", { name: "Assistant" });
    expect(within(article).getByRole("button", { name: "Bad answer" })).toHaveAttribute("aria-pressed", "true");
    await userEvent.click(within(article).getByRole("button", { name: "Good answer" }));
    expect(await screen.findByRole("alert")).toBeInTheDocument();
    expect(within(article).getByRole("button", { name: "Bad answer" })).toHaveAttribute("aria-pressed", "true");
    expect(within(article).getByRole("button", { name: "Good answer" })).toHaveAttribute("aria-pressed", "false");
  });

  it("is not offered on questions, answers being written, failed answers or answers not saved yet", () => {
    const { rerender } = render(<MessageView message={{ id: "q1", role: "user", content: "hi", status: "done" }} />);
    expect(screen.queryByRole("button", { name: "Good answer" })).not.toBeInTheDocument();
    rerender(<MessageView message={answer({ status: "streaming", finishReason: null })} />);
    expect(screen.queryByRole("button", { name: "Good answer" })).not.toBeInTheDocument();
    rerender(<MessageView message={answer({ status: "error", finishReason: "error" })} />);
    expect(screen.queryByRole("button", { name: "Good answer" })).not.toBeInTheDocument();
    rerender(<MessageView message={answer({ id: "local-3" })} />);
    expect(screen.queryByRole("button", { name: "Good answer" })).not.toBeInTheDocument();
  });
});
