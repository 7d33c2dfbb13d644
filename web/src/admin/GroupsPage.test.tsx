import { ParleyApiError } from "@parley/sdk";
import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router-dom";
import { beforeEach, describe, expect, it, vi } from "vitest";
import GroupsPage from "./GroupsPage";

const groups = vi.fn();
const createGroup = vi.fn();
vi.mock("../api/client", () => ({
  api: {
    admin: {
      groups: (...args: unknown[]) => groups(...args),
      createGroup: (...args: unknown[]) => createGroup(...args),
    },
  },
}));

const group = (id: string, name: string, memberCount = 0, description = "") => ({
  id,
  name,
  description,
  member_count: memberCount,
  created_at: "2026-01-05T10:00:00Z",
  updated_at: "2026-01-05T10:00:00Z",
});
const page = (...items: ReturnType<typeof group>[]) => ({ items, total: items.length, page: 1, page_size: 50 });

function renderPage() {
  return render(
    <MemoryRouter initialEntries={["/admin/groups"]}>
      <GroupsPage />
    </MemoryRouter>,
  );
}

beforeEach(() => {
  groups.mockReset();
  createGroup.mockReset();
});

describe("GroupsPage", () => {
  it("lists groups with their member counts and links to each", async () => {
    groups.mockResolvedValue(page(group("g1", "Engineering", 12, "Everyone who builds"), group("g2", "Sales", 1)));
    renderPage();
    const table = await screen.findByRole("table", { name: "Groups" });
    const engineering = within(table).getByRole("link", { name: "Engineering" });
    expect(engineering).toHaveAttribute("href", "/admin/groups/g1");
    const row = engineering.closest("tr")!;
    expect(within(row).getByText("Everyone who builds")).toBeInTheDocument();
    expect(within(row).getByText("12")).toBeInTheDocument();
    expect(screen.getByText("2 groups")).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Groups" })).toHaveAttribute("aria-current", "page");
  });

  it("searches by name", async () => {
    groups.mockResolvedValue(page());
    renderPage();
    expect(await screen.findByText("No groups yet.")).toBeInTheDocument();
    await userEvent.type(screen.getByRole("searchbox", { name: "Search groups by name or description" }), "sal");
    await waitFor(() => expect(groups).toHaveBeenLastCalledWith(expect.objectContaining({ q: "sal", page: 1 })));
    expect(screen.getByText("No groups match.")).toBeInTheDocument();
  });

  it("creating a group shows it in the list", async () => {
    groups.mockResolvedValue(page(group("g1", "Engineering", 3)));
    createGroup.mockResolvedValue(group("g2", "Design", 0, "Product and brand"));
    renderPage();
    await screen.findByRole("link", { name: "Engineering" });
    await userEvent.type(screen.getByRole("textbox", { name: "Name" }), "  Design ");
    await userEvent.type(screen.getByRole("textbox", { name: "Description (optional)" }), "Product and brand");
    await userEvent.click(screen.getByRole("button", { name: "Create group" }));
    expect(createGroup).toHaveBeenCalledWith({ name: "Design", description: "Product and brand" });
    expect(await screen.findByRole("status")).toHaveTextContent("Group “Design” created.");
    const links = within(screen.getByRole("table", { name: "Groups" })).getAllByRole("link");
    expect(links.map((link) => link.textContent)).toEqual(["Design", "Engineering"]);
    expect(screen.getByText("2 groups")).toBeInTheDocument();
    expect(screen.getByRole("textbox", { name: "Name" })).toHaveValue("");
  });

  it("a taken name is explained in words, and the form keeps what was typed", async () => {
    groups.mockResolvedValue(page(group("g1", "Sales", 3)));
    createGroup.mockRejectedValue(new ParleyApiError({ status: 409, title: "Conflict", detail: "group name already exists" }));
    renderPage();
    await screen.findByRole("link", { name: "Sales" });
    await userEvent.type(screen.getByRole("textbox", { name: "Name" }), "sales");
    await userEvent.click(screen.getByRole("button", { name: "Create group" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("A group named “sales” already exists. Choose another name.");
    expect(screen.getByRole("textbox", { name: "Name" })).toHaveValue("sales");
    expect(within(screen.getByRole("table", { name: "Groups" })).getAllByRole("link")).toHaveLength(1);
  });
});
