import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { GroupLimitsSection } from "./GroupLimitsSection";

const putGroupLimits = vi.fn();
const deleteGroupLimits = vi.fn();
vi.mock("../api/client", () => ({
  api: {
    admin: {
      putGroupLimits: (...args: unknown[]) => putGroupLimits(...args),
      deleteGroupLimits: (...args: unknown[]) => deleteGroupLimits(...args),
      models: () => Promise.resolve([{ name: "echo", label: null, provider: "scripted" }]),
    },
  },
}));

const SALES = {
  id: "g1",
  name: "Sales",
  description: "",
  member_count: 3,
  limits: null as Record<string, unknown> | null,
  created_at: "2026-01-05T10:00:00Z",
  updated_at: "2026-01-05T10:00:00Z",
};

function renderSection(group = SALES) {
  const onChange = vi.fn();
  render(<GroupLimitsSection group={group} onChange={onChange} />);
  return { onChange, section: screen.getByRole("region", { name: "Limits and shared budget" }) };
}

beforeEach(() => {
  putGroupLimits.mockReset().mockImplementation((_id: string, body: object) => Promise.resolve(body));
  deleteGroupLimits.mockReset().mockResolvedValue(undefined);
});

describe("GroupLimitsSection", () => {
  it("sets the shared monthly budget and a limit for the members", async () => {
    const { section, onChange } = renderSection();
    await userEvent.click(within(section).getByRole("checkbox", { name: "Shared budget per month (USD)" }));
    await userEvent.type(within(section).getByRole("spinbutton", { name: "Shared budget per month (USD)" }), "1500");
    await userEvent.click(within(section).getByRole("checkbox", { name: "Tokens per month" }));
    await userEvent.type(within(section).getByRole("spinbutton", { name: "Tokens per month" }), "90000000");
    await userEvent.click(within(section).getByRole("button", { name: "Save limits" }));

    expect(putGroupLimits).toHaveBeenCalledWith("g1", { tokens_per_month: 90000000, shared_usd_budget_per_month: 1500 });
    expect(onChange).toHaveBeenCalledWith({ tokens_per_month: 90000000, shared_usd_budget_per_month: 1500 });
    expect(await within(section).findByRole("status")).toHaveTextContent("Group limits saved.");
  });

  it("a group's PII policy replaces its members' plan's", async () => {
    const { section } = renderSection();
    const policy = within(section).getByRole("combobox", { name: "Personal data in prompts" });
    expect(policy).toBeDisabled();
    await userEvent.click(within(section).getByRole("checkbox", { name: "Personal data in prompts" }));
    await userEvent.selectOptions(policy, "mask");
    await userEvent.click(within(section).getByRole("button", { name: "Save limits" }));
    expect(putGroupLimits).toHaveBeenCalledWith("g1", { pii_policy: "mask" });
  });

  it("shows what the group has and clears it", async () => {
    const { section, onChange } = renderSection({ ...SALES, limits: { shared_usd_budget_per_month: 250.5 } });
    expect(within(section).getByRole("spinbutton", { name: "Shared budget per month (USD)" })).toHaveValue(250.5);
    await userEvent.click(within(section).getByRole("button", { name: "Clear all" }));
    expect(deleteGroupLimits).toHaveBeenCalledWith("g1");
    expect(onChange).toHaveBeenCalledWith(null);
    expect(await within(section).findByRole("status")).toHaveTextContent("The group sets no limits now.");
    expect(within(section).getByRole("checkbox", { name: "Shared budget per month (USD)" })).not.toBeChecked();
  });
});
