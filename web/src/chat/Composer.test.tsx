import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router-dom";
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

  it("takes back a message that was not sent, each time it comes back", async () => {
    const onSend = vi.fn();
    const { rerender } = render(<Composer streaming={false} onSend={onSend} onStop={vi.fn()} restore={null} />);
    const box = screen.getByRole("textbox", { name: "Message" });
    await userEvent.type(box, "offline question{Enter}");
    expect(box).toHaveValue("");
    rerender(<Composer streaming={false} onSend={onSend} onStop={vi.fn()} restore={{ id: 1, text: "offline question" }} />);
    expect(box).toHaveValue("offline question");
    await userEvent.type(box, "{Enter}");
    expect(onSend).toHaveBeenLastCalledWith("offline question");
    rerender(<Composer streaming={false} onSend={onSend} onStop={vi.fn()} restore={{ id: 2, text: "offline question" }} />);
    expect(box).toHaveValue("offline question");
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

describe("Composer attachments", () => {
  const upload = (state: "uploading" | "ready" | "rejected", name = "a.txt") => ({ key: name, name, size: 10, state, percent: 50 });

  it("waits for uploads before sending, then sends", async () => {
    const onSend = vi.fn();
    const { rerender } = render(
      <Composer streaming={false} onSend={onSend} onStop={vi.fn()} attachments={[upload("uploading")]} onAttach={vi.fn()} onRemoveAttachment={vi.fn()} />,
    );
    const box = screen.getByRole("textbox", { name: "Message" });
    await userEvent.type(box, "What does it say?{Enter}");
    expect(onSend).not.toHaveBeenCalled();
    expect(screen.getByRole("button", { name: "Send" })).toBeDisabled();
    rerender(<Composer streaming={false} onSend={onSend} onStop={vi.fn()} attachments={[upload("ready")]} onAttach={vi.fn()} onRemoveAttachment={vi.fn()} />);
    await userEvent.type(box, "{Enter}");
    expect(onSend).toHaveBeenCalledWith("What does it say?");
  });

  it("attaches chosen and pasted files", async () => {
    const onAttach = vi.fn();
    render(<Composer streaming={false} onSend={vi.fn()} onStop={vi.fn()} onAttach={onAttach} />);
    const file = new File(["hello"], "notes.txt", { type: "text/plain" });
    await userEvent.upload(screen.getByTestId("composer-file-input"), file);
    expect(onAttach).toHaveBeenCalledWith([file]);
    expect(screen.getByRole("button", { name: "Attach files" })).toBeEnabled();
    const box = screen.getByRole("textbox", { name: "Message" });
    box.focus();
    await userEvent.paste({ files: [file] } as unknown as DataTransfer);
    expect(onAttach).toHaveBeenCalledTimes(2);
    expect(box).toHaveValue("");
  });

  it("says a model without vision cannot read an attached image, and sends once it is removed", async () => {
    const onSend = vi.fn();
    const image = { ...upload("ready", "screenshot.png") };
    const props = { streaming: false, onSend, onStop: vi.fn(), onAttach: vi.fn(), onRemoveAttachment: vi.fn() };
    const { rerender } = render(<Composer {...props} attachments={[image]} modelWithoutVision="local" />);
    expect(screen.getByRole("alert")).toHaveTextContent("local cannot read images");
    const box = screen.getByRole("textbox", { name: "Message" });
    await userEvent.type(box, "What is this?{Enter}");
    expect(onSend).not.toHaveBeenCalled();
    expect(screen.getByRole("button", { name: "Send" })).toBeDisabled();
    // A document is no reason to stop; neither is an image once the model can read it.
    rerender(<Composer {...props} attachments={[upload("ready", "notes.txt")]} modelWithoutVision="local" />);
    expect(screen.queryByRole("alert")).toBeNull();
    rerender(<Composer {...props} attachments={[image]} modelWithoutVision={null} />);
    await userEvent.type(box, "{Enter}");
    expect(onSend).toHaveBeenCalledWith("What is this?");
  });

  it("chooses knowledge bases and shows them as removable chips", async () => {
    const onChange = vi.fn();
    const bases = [{ id: "k1", name: "Handbook", description: "", access: "owner" as const, file_count: 2, owner_id: "u1", created_at: "", updated_at: "" }];
    const { rerender } = render(
      <Composer streaming={false} onSend={vi.fn()} onStop={vi.fn()} knowledgeBases={bases} selectedKnowledgeBases={[]} onKnowledgeBasesChange={onChange} />,
      { wrapper: MemoryRouter },
    );
    await userEvent.click(screen.getByRole("button", { name: "Use knowledge bases" }));
    await userEvent.click(screen.getByRole("checkbox", { name: /Handbook/ }));
    expect(onChange).toHaveBeenCalledWith(["k1"]);
    rerender(
      <Composer streaming={false} onSend={vi.fn()} onStop={vi.fn()} knowledgeBases={bases} selectedKnowledgeBases={["k1"]} onKnowledgeBasesChange={onChange} />,
    );
    await userEvent.click(screen.getByRole("button", { name: "Stop using Handbook" }));
    expect(onChange).toHaveBeenLastCalledWith([]);
  });
});
