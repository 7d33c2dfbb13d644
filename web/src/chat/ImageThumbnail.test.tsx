import { render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { fromServer } from "./fromServer";
import { MessageView } from "./MessageView";

const content = vi.hoisted(() => vi.fn());
vi.mock("../api/client", () => ({ api: { files: { content } } }));

afterEach(() => content.mockReset());

describe("images sent with a question", () => {
  it("show as thumbnails fetched with the access token, also from a reloaded conversation", async () => {
    content.mockResolvedValue({ blob: new Blob(["png"], { type: "image/png" }), filename: "shot.png", contentType: "image/png" });
    const created = vi.spyOn(URL, "createObjectURL").mockReturnValue("blob:thumb-1");
    // As the server lists a question after a reload: the image ids in its metadata.
    const [question] = fromServer([
      {
        id: "u1",
        role: "user",
        content: "What is this?",
        model: null,
        finish_reason: null,
        completion_tokens: null,
        metadata: { attachments: { file_ids: [], knowledge_base_ids: [], image_file_ids: ["img-1"] } },
      } as never,
    ]);
    render(<MessageView message={question!} />);
    await waitFor(() =>
      expect(screen.getByRole("img", { name: "Image sent with the message" })).toHaveAttribute("src", "blob:thumb-1"),
    );
    expect(content).toHaveBeenCalledWith("img-1");
    expect(created).toHaveBeenCalled();
    expect(screen.getByText("What is this?")).toBeInTheDocument();
  });

  it("a deleted image leaves the question readable", async () => {
    content.mockRejectedValue(new Error("404"));
    render(
      <MessageView
        message={{ id: "u2", role: "user", content: "And this?", status: "done", attachments: [{ id: "gone", filename: "old.png", image: true }] }}
      />,
    );
    expect(screen.getByRole("img", { name: "old.png" })).not.toHaveAttribute("src");
    expect(screen.getByText("And this?")).toBeInTheDocument();
  });
});
