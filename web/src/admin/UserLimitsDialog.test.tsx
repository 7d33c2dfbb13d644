import { ParleyApiError } from "@parley/sdk";
import { cleanup, render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { UserLimitsDialog } from "./UserLimitsDialog";

const putUserLimits = vi.fn();
const deleteUserLimits = vi.fn();
vi.mock("../api/client", () => ({
  api: {
    admin: {
      putUserLimits: (...args: unknown[]) => putUserLimits(...args),
      deleteUserLimits: (...args: unknown[]) => deleteUserLimits(...args),
      models: () => Promise.resolve([{ name: "echo", label: null, provider: "scripted" }, { name: "cheap", label: null, provider: "scripted" }]),
    },
  },
}));

const DANA = {
  id: "u1",
  email: "dana@acme.test",
  full_name: null,
  role: "user",
  subscription_tier: "free",
  is_active: true,
  cost_centre: null,
  limits: null as Record<string, unknown> | null,
  created_at: "2026-01-05T10:00:00Z",
  last_login_at: null,
};

function renderDialog(user = DANA) {
  const onSaved = vi.fn();
  const onClose = vi.fn();
  render(<UserLimitsDialog user={user} onSaved={onSaved} onClose={onClose} />);
  return { onSaved, onClose, dialog: screen.getByRole("dialog", { name: "Limits of dana@acme.test" }) };
}

beforeEach(() => {
  putUserLimits.mockReset().mockImplementation((_id: string, body: object) => Promise.resolve(body));
  deleteUserLimits.mockReset().mockResolvedValue(undefined);
});

describe("UserLimitsDialog", () => {
  it("sends only the limits ticked: a number, or unlimited when left empty", async () => {
    const { dialog, onSaved } = renderDialog();
    const perDay = within(dialog).getByRole("spinbutton", { name: "Tokens per day" });
    expect(perDay).toBeDisabled();
    await userEvent.click(within(dialog).getByRole("checkbox", { name: "Tokens per day" }));
    await userEvent.type(perDay, "1000000");
    await userEvent.click(within(dialog).getByRole("checkbox", { name: "Requests per minute" }));
    await userEvent.click(within(dialog).getByRole("button", { name: "Save limits" }));

    expect(putUserLimits).toHaveBeenCalledWith("u1", { tokens_per_day: 1000000, requests_per_minute: null });
    expect(onSaved).toHaveBeenCalledWith(
      { ...DANA, limits: { tokens_per_day: 1000000, requests_per_minute: null } },
      "Limits of dana@acme.test saved.",
    );
  });

  it("shows the stored overrides ticked, and a model list from the catalogue", async () => {
    const { dialog } = renderDialog({ ...DANA, limits: { models: ["cheap"], usd_budget_per_month: 20 } });
    expect(within(dialog).getByRole("spinbutton", { name: "Budget per month (USD)" })).toHaveValue(20);
    expect(within(dialog).getByRole("checkbox", { name: "Models" })).toBeChecked();
    expect(within(dialog).getByRole("checkbox", { name: "Every model" })).not.toBeChecked();
    const models = await within(dialog).findByRole("listbox", { name: "Models" });
    await within(models).findByRole("option", { name: "echo" });
    await userEvent.selectOptions(models, ["echo", "cheap"]);
    await userEvent.click(within(dialog).getByRole("button", { name: "Save limits" }));
    expect(putUserLimits).toHaveBeenCalledWith("u1", { usd_budget_per_month: 20, models: ["echo", "cheap"] });
  });

  it("clearing removes every override; unticking all does the same", async () => {
    const first = renderDialog({ ...DANA, limits: { tokens_per_day: 5 } });
    await userEvent.click(within(first.dialog).getByRole("button", { name: "Clear all" }));
    expect(deleteUserLimits).toHaveBeenCalledWith("u1");
    expect(first.onSaved).toHaveBeenCalledWith({ ...DANA, limits: null }, "dana@acme.test has the limits of their plan again.");
    cleanup();

    deleteUserLimits.mockClear();
    const second = renderDialog({ ...DANA, limits: { tokens_per_day: 5 } });
    await userEvent.click(within(second.dialog).getByRole("checkbox", { name: "Tokens per day" }));
    await userEvent.click(within(second.dialog).getByRole("button", { name: "Save limits" }));
    expect(deleteUserLimits).toHaveBeenCalledWith("u1");
    expect(putUserLimits).not.toHaveBeenCalled();
  });

  it("the server's refusal is shown and the dialog stays open", async () => {
    putUserLimits.mockRejectedValue(new ParleyApiError({ type: "validation_error", title: "Unprocessable", status: 422, detail: "models: not in the model catalogue: gpt-9" }));
    const { dialog, onSaved } = renderDialog();
    await userEvent.click(within(dialog).getByRole("checkbox", { name: "Answers at once" }));
    await userEvent.click(within(dialog).getByRole("button", { name: "Save limits" }));
    expect(await within(dialog).findByRole("alert")).toHaveTextContent("models: not in the model catalogue: gpt-9");
    expect(onSaved).not.toHaveBeenCalled();
  });

  it("Escape closes it", async () => {
    const { onClose } = renderDialog();
    await userEvent.keyboard("{Escape}");
    expect(onClose).toHaveBeenCalled();
  });
});
