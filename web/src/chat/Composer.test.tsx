import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { Composer } from "./Composer";

function setup(streaming = false) {
  const onSend = vi.fn();
  const onStop = vi.fn();
  render(<Composer streaming={streaming} onSend={onSend} onStop={onStop} />);
  return { onSend, onStop, box: screen.getByRole("textbox", { name: "Message" }) };
}

describe("Composer", () => {
  it("sends on Enter and clears the box", async () => {
    const { onSend, box } = setup();
    await userEvent.type(box, "Hello{Enter}");
    expect(onSend).toHaveBeenCalledWith("Hello");
    expect(box).toHaveValue("");
  });

  it("adds a line on Shift+Enter without sending", async () => {
    const { onSend, box } = setup();
    await userEvent.type(box, "one{Shift>}{Enter}{/Shift}two");
    expect(onSend).not.toHaveBeenCalled();
    expect(box).toHaveValue("one\ntwo");
    await userEvent.type(box, "{Enter}");
    expect(onSend).toHaveBeenCalledWith("one\ntwo");
  });

  it("does not send blank text", async () => {
    const { onSend, box } = setup();
    await userEvent.type(box, "   {Enter}");
    expect(onSend).not.toHaveBeenCalled();
    expect(screen.getByRole("button", { name: "Send" })).toBeDisabled();
  });

  it("stops on Esc while an answer streams, and offers a Stop button instead of Send", async () => {
    const { onStop, onSend, box } = setup(true);
    await userEvent.type(box, "next{Enter}");
    expect(onSend).not.toHaveBeenCalled();
    await userEvent.keyboard("{Escape}");
    expect(onStop).toHaveBeenCalledTimes(1);
    await userEvent.click(screen.getByRole("button", { name: "Stop" }));
    expect(onStop).toHaveBeenCalledTimes(2);
    expect(screen.queryByRole("button", { name: "Send" })).toBeNull();
  });

  it("Esc does nothing when nothing streams", async () => {
    const { onStop, box } = setup(false);
    await userEvent.type(box, "x{Escape}");
    expect(onStop).not.toHaveBeenCalled();
  });
});
