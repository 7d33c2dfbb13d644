import type { Conversation } from "@parley/sdk";
import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router-dom";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { ConversationList } from "./ConversationList";
import { ConversationsProvider } from "./ConversationsProvider";

const list = vi.fn();
const rename = vi.fn();
const remove = vi.fn();

vi.mock("../api/client", () => ({
  api: {
    conversations: {
      list: (...args: unknown[]) => list(...args),
      rename: (...args: unknown[]) => rename(...args),
      delete: (...args: unknown[]) => remove(...args),
      archive: vi.fn(),
    },
  },
}));

function conversation(id: string, title: string, daysAgo: number): Conversation {
  const when = new Date();
  when.setDate(when.getDate() - daysAgo);
  const iso = when.toISOString();
  return { id, title, model: null, is_archived: false, created_at: iso, updated_at: iso, last_activity_at: iso };
}

function renderList() {
  render(
    <MemoryRouter initialEntries={["/chat"]}>
      <ConversationsProvider>
        <ConversationList onNavigate={() => undefined} />
      </ConversationsProvider>
    </MemoryRouter>,
  );
}

beforeEach(() => {
  list.mockReset().mockResolvedValue({
    items: [conversation("a", "Budget plan", 0), conversation("b", "Trip ideas", 1), conversation("c", "Old notes", 3)],
    next_cursor: null,
  });
  rename.mockReset();
  remove.mockReset().mockResolvedValue(undefined);
});

describe("ConversationList", () => {
  it("shows conversations under date headings", async () => {
    renderList();
    const today = await screen.findByRole("region", { name: "Today" });
    expect(within(today).getByRole("link", { name: "Budget plan" })).toHaveAttribute("href", "/chat/a");
    expect(within(screen.getByRole("region", { name: "Yesterday" })).getByText("Trip ideas")).toBeInTheDocument();
    expect(within(screen.getByRole("region", { name: "Previous 7 days" })).getByText("Old notes")).toBeInTheDocument();
  });

  it("renames inline with Enter", async () => {
    rename.mockResolvedValue({ ...conversation("a", "Budget 2027", 0) });
    renderList();
    await userEvent.click(await screen.findByRole("button", { name: "Rename: Budget plan" }));
    const input = screen.getByRole("textbox", { name: "New title for “Budget plan”" });
    await userEvent.clear(input);
    await userEvent.type(input, "Budget 2027{Enter}");
    expect(rename).toHaveBeenCalledWith("a", "Budget 2027");
    expect(await screen.findByRole("link", { name: "Budget 2027" })).toBeInTheDocument();
  });

  it("deletes only after confirming", async () => {
    renderList();
    await userEvent.click(await screen.findByRole("button", { name: "Delete: Trip ideas" }));
    const dialog = screen.getByRole("alertdialog", { name: "Delete conversation?" });
    expect(dialog).toHaveTextContent("Trip ideas");
    await userEvent.click(within(dialog).getByRole("button", { name: "Cancel" }));
    expect(remove).not.toHaveBeenCalled();
    await userEvent.click(screen.getByRole("button", { name: "Delete: Trip ideas" }));
    await userEvent.click(within(screen.getByRole("alertdialog")).getByRole("button", { name: "Delete" }));
    expect(remove).toHaveBeenCalledWith("b");
    await waitFor(() => expect(screen.queryByText("Trip ideas")).toBeNull());
  });
});
