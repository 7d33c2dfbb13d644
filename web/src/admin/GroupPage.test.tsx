import { ParleyApiError } from "@parley/sdk";
import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter, Route, Routes, useLocation } from "react-router-dom";
import { beforeEach, describe, expect, it, vi } from "vitest";
import GroupPage from "./GroupPage";

const group = vi.fn();
const updateGroup = vi.fn();
const deleteGroup = vi.fn();
const groupMembers = vi.fn();
const addGroupMember = vi.fn();
const removeGroupMember = vi.fn();
const roles = vi.fn();
vi.mock("../api/client", () => ({
  api: {
    admin: {
      group: (...args: unknown[]) => group(...args),
      updateGroup: (...args: unknown[]) => updateGroup(...args),
      deleteGroup: (...args: unknown[]) => deleteGroup(...args),
      groupMembers: (...args: unknown[]) => groupMembers(...args),
      addGroupMember: (...args: unknown[]) => addGroupMember(...args),
      removeGroupMember: (...args: unknown[]) => removeGroupMember(...args),
      models: () => Promise.resolve([]),
      roles: (...args: unknown[]) => roles(...args),
    },
  },
}));

const SALES = {
  id: "g1",
  name: "Sales",
  description: "Field sales",
  member_count: 1,
  created_at: "2026-01-05T10:00:00Z",
  updated_at: "2026-01-05T10:00:00Z",
};
const member = (id: string, email: string, name: string | null = null) => ({
  user_id: id,
  email,
  name,
  role: "user",
  is_active: true,
  added_at: "2026-01-06T10:00:00Z",
});

function Elsewhere() {
  const state = useLocation().state as { notice?: string } | null;
  return <p>groups list: {state?.notice}</p>;
}

function renderPage() {
  return render(
    <MemoryRouter initialEntries={["/admin/groups/g1"]}>
      <Routes>
        <Route path="/admin/groups/:id" element={<GroupPage />} />
        <Route path="/admin/groups" element={<Elsewhere />} />
      </Routes>
    </MemoryRouter>,
  );
}

beforeEach(() => {
  group.mockReset().mockResolvedValue(SALES);
  updateGroup.mockReset();
  deleteGroup.mockReset().mockResolvedValue(undefined);
  groupMembers.mockReset().mockResolvedValue({ items: [member("u1", "carol@example.com", "Carol")], total: 1, page: 1, page_size: 50 });
  addGroupMember.mockReset();
  removeGroupMember.mockReset().mockResolvedValue(undefined);
  roles.mockReset().mockResolvedValue([]);
});

const customRole = (name: string) => ({
  id: `r-${name}`,
  name,
  description: "",
  permissions: ["admin:analytics"],
  built_in: false,
  user_count: 0,
  group_count: 0,
  created_at: "2026-01-05T10:00:00Z",
  updated_at: "2026-01-05T10:00:00Z",
});
const builtIn = (name: string) => ({ ...customRole(name), id: null, built_in: true, created_at: null, updated_at: null });

describe("GroupPage role", () => {
  it("gives the group a custom role and takes it away", async () => {
    roles.mockResolvedValue([builtIn("user"), builtIn("admin"), customRole("analyst"), customRole("auditor")]);
    updateGroup.mockImplementation((_id: string, body: { role: string | null }) => Promise.resolve({ ...SALES, role: body.role }));
    renderPage();
    const select = await screen.findByRole("combobox", { name: "Role of the group Sales" });
    await screen.findByRole("option", { name: "analyst" });
    // groups carry custom roles only: the built-in ones are not offered
    expect(within(select).getAllByRole("option").map((option) => option.textContent)).toEqual(["No role", "analyst", "auditor"]);
    await userEvent.selectOptions(select, "analyst");
    expect(updateGroup).toHaveBeenLastCalledWith("g1", { role: "analyst" });
    expect(await screen.findByText("Role of the group saved.")).toBeInTheDocument();
    expect(select).toHaveValue("analyst");
    await userEvent.selectOptions(select, "");
    expect(updateGroup).toHaveBeenLastCalledWith("g1", { role: null });
  });

  it("without the right to list roles the group's role is shown but cannot be changed", async () => {
    group.mockResolvedValue({ ...SALES, role: "analyst" });
    roles.mockRejectedValue(new ParleyApiError({ status: 403, title: "Forbidden", detail: "Your role does not allow this action" }));
    renderPage();
    const select = await screen.findByRole("combobox", { name: "Role of the group Sales" });
    expect(select).toHaveValue("analyst");
    expect(select).toBeDisabled();
  });
});

describe("GroupPage", () => {
  it("adding a member by email lists them, in email order, and counts them", async () => {
    addGroupMember.mockResolvedValue(member("u2", "bob@example.com", "Bob"));
    renderPage();
    expect(await screen.findByRole("heading", { level: 1, name: "Sales" })).toBeInTheDocument();
    const table = await screen.findByRole("table", { name: "Members of Sales" });
    expect(within(table).getByText("carol@example.com")).toBeInTheDocument();

    await userEvent.type(screen.getByRole("textbox", { name: "Email" }), " bob@example.com ");
    await userEvent.click(screen.getByRole("button", { name: "Add member" }));
    expect(addGroupMember).toHaveBeenCalledWith("g1", { user_email: "bob@example.com" });
    expect(await screen.findByRole("status")).toHaveTextContent("bob@example.com added to the group.");
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows.map((row) => row.getAttribute("data-email"))).toEqual(["bob@example.com", "carol@example.com"]);
    expect(within(rows[0]!).getByText("Bob")).toBeInTheDocument();
    expect(screen.getByRole("heading", { name: /Members\s*\(2\)/ })).toBeInTheDocument();
    expect(screen.getByRole("textbox", { name: "Email" })).toHaveValue("");
  });

  it("adding someone already in the group says so and lists them once", async () => {
    addGroupMember.mockResolvedValue(member("u1", "carol@example.com", "Carol"));
    renderPage();
    await screen.findByRole("table", { name: "Members of Sales" });
    await userEvent.type(screen.getByRole("textbox", { name: "Email" }), "carol@example.com");
    await userEvent.click(screen.getByRole("button", { name: "Add member" }));
    expect(await screen.findByRole("status")).toHaveTextContent("carol@example.com is already a member.");
    expect(screen.getAllByRole("button", { name: /^Remove / })).toHaveLength(1);
  });

  it("an unknown email is explained", async () => {
    addGroupMember.mockRejectedValue(new ParleyApiError({ status: 422, title: "Unprocessable Content", detail: "no such user" }));
    renderPage();
    await screen.findByRole("table", { name: "Members of Sales" });
    await userEvent.type(screen.getByRole("textbox", { name: "Email" }), "nobody@example.com");
    await userEvent.click(screen.getByRole("button", { name: "Add member" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("No account uses the email nobody@example.com.");
  });

  it("removes a member", async () => {
    renderPage();
    await userEvent.click(await screen.findByRole("button", { name: "Remove carol@example.com from the group" }));
    expect(removeGroupMember).toHaveBeenCalledWith("g1", "u1");
    expect(await screen.findByText("No members yet. Add people by their email.")).toBeInTheDocument();
    expect(screen.getByRole("status")).toHaveTextContent("carol@example.com removed from the group.");
  });

  it("renames the group; a taken name is explained", async () => {
    updateGroup
      .mockRejectedValueOnce(new ParleyApiError({ status: 409, title: "Conflict", detail: "name taken" }))
      .mockResolvedValueOnce({ ...SALES, name: "Sales EMEA", description: "Europe" });
    renderPage();
    await userEvent.click(await screen.findByRole("button", { name: "Edit" }));
    const name = screen.getByRole("textbox", { name: "Name" });
    await userEvent.clear(name);
    await userEvent.type(name, "Engineering");
    await userEvent.click(screen.getByRole("button", { name: "Save" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("A group named “Engineering” already exists.");
    await userEvent.clear(name);
    await userEvent.type(name, "Sales EMEA");
    const description = screen.getByRole("textbox", { name: "Description (optional)" });
    await userEvent.clear(description);
    await userEvent.type(description, "Europe");
    await userEvent.click(screen.getByRole("button", { name: "Save" }));
    expect(updateGroup).toHaveBeenLastCalledWith("g1", { name: "Sales EMEA", description: "Europe" });
    expect(await screen.findByRole("heading", { level: 1, name: "Sales EMEA" })).toBeInTheDocument();
    expect(screen.getByText("Europe")).toBeInTheDocument();
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("deletes the group only after confirming, then goes back to the list", async () => {
    renderPage();
    await userEvent.click(await screen.findByRole("button", { name: "Delete group" }));
    const dialog = screen.getByRole("alertdialog", { name: "Delete the group “Sales”?" });
    expect(dialog).toHaveTextContent("Its 1 member loses access");
    await userEvent.click(within(dialog).getByRole("button", { name: "Cancel" }));
    expect(deleteGroup).not.toHaveBeenCalled();
    await userEvent.click(screen.getByRole("button", { name: "Delete group" }));
    await userEvent.click(within(screen.getByRole("alertdialog")).getByRole("button", { name: "Delete group" }));
    expect(deleteGroup).toHaveBeenCalledWith("g1");
    expect(await screen.findByText("groups list: Group “Sales” deleted.")).toBeInTheDocument();
  });

  it("a group that does not exist says so", async () => {
    group.mockRejectedValue(new ParleyApiError({ status: 404, title: "Not Found", detail: "group not found" }));
    renderPage();
    expect(await screen.findByRole("alert")).toHaveTextContent("This group does not exist");
    expect(screen.getByRole("link", { name: "← All groups" })).toHaveAttribute("href", "/admin/groups");
  });
});
