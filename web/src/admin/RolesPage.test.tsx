import { ParleyApiError } from "@parley/sdk";
import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router-dom";
import { beforeEach, describe, expect, it, vi } from "vitest";
import RolesPage from "./RolesPage";

const roles = vi.fn();
const createRole = vi.fn();
const updateRole = vi.fn();
const deleteRole = vi.fn();
vi.mock("../api/client", () => ({
  api: {
    admin: {
      roles: (...args: unknown[]) => roles(...args),
      createRole: (...args: unknown[]) => createRole(...args),
      updateRole: (...args: unknown[]) => updateRole(...args),
      deleteRole: (...args: unknown[]) => deleteRole(...args),
    },
  },
}));

const EVERYDAY = ["chat", "conversations:read", "conversations:write", "files:read", "files:write", "profile:read", "profile:write"];
const role = (name: string, permissions: string[], extra: Record<string, unknown> = {}) => ({
  id: `r-${name}`,
  name,
  description: "",
  permissions,
  built_in: false,
  user_count: 0,
  group_count: 0,
  created_at: "2026-01-05T10:00:00Z",
  updated_at: "2026-01-05T10:00:00Z",
  ...extra,
});
const USER = role("user", EVERYDAY, { id: null, built_in: true, description: "Built in", user_count: 40 });
const ADMIN = role("admin", ["admin:users", "admin:roles"], { id: null, built_in: true, user_count: 2 });

function renderPage() {
  return render(
    <MemoryRouter initialEntries={["/admin/roles"]}>
      <RolesPage />
    </MemoryRouter>,
  );
}

beforeEach(() => {
  roles.mockReset().mockResolvedValue([USER, ADMIN, role("auditor", ["admin:audit", "profile:read"], { user_count: 3, group_count: 1 })]);
  createRole.mockReset();
  updateRole.mockReset();
  deleteRole.mockReset();
});

describe("RolesPage", () => {
  it("lists the roles with their permissions and holders; built-in ones cannot be edited", async () => {
    renderPage();
    const table = await screen.findByRole("table", { name: "Roles" });
    const auditor = within(table).getByRole("rowheader", { name: /auditor/ }).closest("tr")!;
    expect(within(auditor).getByText("admin:audit, profile:read")).toBeInTheDocument();
    expect(within(auditor).getByText("3 users, 1 groups")).toBeInTheDocument();
    expect(within(auditor).getByRole("button", { name: "Edit the role auditor" })).toBeInTheDocument();
    const admin = within(table).getByRole("rowheader", { name: /admin/ }).closest("tr")!;
    expect(within(admin).getByText("Built in")).toBeInTheDocument();
    expect(within(admin).queryByRole("button")).toBeNull();
  });

  it("creates a role from the checked permissions, starting from the everyday ones", async () => {
    createRole.mockImplementation((body: { name: string; permissions: string[] }) => Promise.resolve(role(body.name, body.permissions)));
    renderPage();
    await screen.findByRole("table", { name: "Roles" });
    await userEvent.type(screen.getByRole("textbox", { name: "Name" }), "curator");
    expect(screen.getByRole("checkbox", { name: /^chat/ })).toBeChecked();
    await userEvent.click(screen.getByRole("checkbox", { name: /^knowledge_bases:manage/ }));
    await userEvent.click(screen.getByRole("checkbox", { name: /^chat/ }));
    await userEvent.click(screen.getByRole("button", { name: "Create role" }));
    expect(createRole).toHaveBeenCalledWith({
      name: "curator",
      description: "",
      permissions: ["profile:read", "profile:write", "conversations:read", "conversations:write", "files:read", "files:write", "knowledge_bases:manage"],
    });
    expect(await screen.findByText("Role “curator” created.")).toBeInTheDocument();
    expect(within(screen.getByRole("table", { name: "Roles" })).getByRole("rowheader", { name: /curator/ })).toBeInTheDocument();
  });

  it("edits a role's permissions", async () => {
    updateRole.mockImplementation((_id: string, body: { name: string; permissions: string[] }) => Promise.resolve(role(body.name, body.permissions)));
    renderPage();
    await userEvent.click(await screen.findByRole("button", { name: "Edit the role auditor" }));
    expect(screen.getByRole("heading", { name: "Edit the role “auditor”" })).toBeInTheDocument();
    expect(screen.getByRole("checkbox", { name: /^admin:audit/ })).toBeChecked();
    expect(screen.getByRole("checkbox", { name: /^chat/ })).not.toBeChecked();
    await userEvent.click(screen.getByRole("checkbox", { name: /^admin:analytics/ }));
    await userEvent.click(screen.getByRole("button", { name: "Save" }));
    expect(updateRole).toHaveBeenCalledWith("r-auditor", { name: "auditor", description: "", permissions: ["profile:read", "admin:audit", "admin:analytics"] });
    const auditor = within(await screen.findByRole("table", { name: "Roles" })).getByRole("rowheader", { name: /auditor/ }).closest("tr")!;
    expect(await within(auditor).findByText("profile:read, admin:audit, admin:analytics")).toBeInTheDocument();
  });

  it("a duplicate name is explained", async () => {
    createRole.mockRejectedValue(new ParleyApiError({ status: 409, title: "Conflict", detail: "a role with this name already exists" }));
    renderPage();
    await screen.findByRole("table", { name: "Roles" });
    await userEvent.type(screen.getByRole("textbox", { name: "Name" }), "auditor");
    await userEvent.click(screen.getByRole("button", { name: "Create role" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("The name “auditor” is taken (or built in). Choose another name.");
  });

  it("deletes a role after confirmation, and says why a held role cannot be", async () => {
    const detail = "the role 'auditor' is held by 3 user(s) and 1 group(s); give them another role first";
    deleteRole.mockRejectedValueOnce(new ParleyApiError({ status: 409, title: "Conflict", detail })).mockResolvedValueOnce(undefined);
    renderPage();
    await userEvent.click(await screen.findByRole("button", { name: "Delete the role auditor" }));
    await userEvent.click(within(screen.getByRole("alertdialog")).getByRole("button", { name: "Delete" }));
    expect(await screen.findByRole("alert")).toHaveTextContent(detail);
    await userEvent.click(screen.getByRole("button", { name: "Delete the role auditor" }));
    await userEvent.click(within(screen.getByRole("alertdialog")).getByRole("button", { name: "Delete" }));
    expect(await screen.findByText("Role “auditor” deleted.")).toBeInTheDocument();
    expect(deleteRole).toHaveBeenLastCalledWith("r-auditor");
    expect(within(screen.getByRole("table", { name: "Roles" })).queryByRole("rowheader", { name: /auditor/ })).toBeNull();
  });
});
