import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { SharingSection } from "./SharingSection";

const grants = vi.fn();
const grant = vi.fn();
const revokeGrant = vi.fn();
const groupList = vi.fn();
vi.mock("../api/client", () => ({
  api: {
    knowledgeBases: {
      grants: (...args: unknown[]) => grants(...args),
      grant: (...args: unknown[]) => grant(...args),
      revokeGrant: (...args: unknown[]) => revokeGrant(...args),
    },
    groups: { list: (...args: unknown[]) => groupList(...args) },
  },
}));

const base = { knowledge_base_id: "k1", user_id: null, user_email: null, role: null, group_id: null, group_name: null, created_at: "2026-01-05T10:00:00Z" };
const summary = (id: string, name: string) => ({ id, name, description: "", member_count: 2 });

beforeEach(() => {
  grants.mockReset();
  grant.mockReset();
  revokeGrant.mockReset().mockResolvedValue(undefined);
  groupList.mockReset();
});

describe("SharingSection", () => {
  it("shares with a group: sends group_id and lists the grant by the group's name", async () => {
    grants.mockResolvedValue([{ ...base, id: "gr0", user_id: "u9", user_email: "dora@example.com", permission: "read" }]);
    groupList.mockResolvedValue([summary("g1", "Engineering"), summary("g2", "Sales")]);
    grant.mockResolvedValue({ ...base, id: "gr1", group_id: "g2", group_name: "Sales", permission: "write" });
    render(<SharingSection knowledgeBaseId="k1" />);
    const list = await screen.findByRole("list", { name: "Sharing" });
    expect(within(list).getByText("dora@example.com")).toBeInTheDocument();
    expect(groupList).not.toHaveBeenCalled();

    await userEvent.click(screen.getByRole("radio", { name: "A group" }));
    const picker = await screen.findByRole("combobox", { name: "Group" });
    await screen.findByRole("option", { name: "Sales" });
    await userEvent.selectOptions(picker, "Sales");
    await userEvent.selectOptions(screen.getByRole("combobox", { name: "Access" }), "write");
    await userEvent.click(screen.getByRole("button", { name: "Share" }));

    expect(grant).toHaveBeenCalledWith("k1", { group_id: "g2", permission: "write" });
    expect(await screen.findByRole("status")).toHaveTextContent("Shared with Group: Sales");
    const item = within(list).getByText("Group: Sales").closest("li")!;
    expect(within(item).getByText("Can edit")).toBeInTheDocument();
    expect(within(item).getByRole("button", { name: "Stop sharing with Group: Sales" })).toBeInTheDocument();
  });

  it("lists existing group grants by name and finds groups by search", async () => {
    grants.mockResolvedValue([{ ...base, id: "gr1", group_id: "g1", group_name: "Engineering", permission: "read" }]);
    groupList.mockImplementation(async (query: { q?: string }) =>
      query.q ? [summary("g3", "Support")] : [summary("g1", "Engineering"), summary("g2", "Sales")],
    );
    render(<SharingSection knowledgeBaseId="k1" />);
    expect(await screen.findByText("Group: Engineering")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("radio", { name: "A group" }));
    await screen.findByRole("option", { name: "Engineering" });
    await userEvent.type(screen.getByRole("searchbox", { name: "Find a group" }), "sup");
    expect(await screen.findByRole("option", { name: "Support" })).toBeInTheDocument();
    expect(screen.getByRole("combobox", { name: "Group" })).toHaveValue("g3");
    expect(groupList).toHaveBeenLastCalledWith({ q: "sup" });
  });

  it("says when there is no group to share with", async () => {
    grants.mockResolvedValue([]);
    groupList.mockResolvedValue([]);
    render(<SharingSection knowledgeBaseId="k1" />);
    await userEvent.click(await screen.findByRole("radio", { name: "A group" }));
    expect(await screen.findByRole("option", { name: "No groups yet: administrators create them." })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Share" })).toBeDisabled();
  });
});
