import { ParleyApiError } from "@parley/sdk";
import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router-dom";
import { beforeEach, describe, expect, it, vi } from "vitest";
import PlansPage from "./PlansPage";

const plans = vi.fn();
const putPlan = vi.fn();
const deletePlan = vi.fn();
vi.mock("../api/client", () => ({
  api: {
    admin: {
      plans: (...args: unknown[]) => plans(...args),
      putPlan: (...args: unknown[]) => putPlan(...args),
      deletePlan: (...args: unknown[]) => deletePlan(...args),
      models: () => Promise.resolve([{ name: "echo", label: null, provider: "scripted" }, { name: "cheap", label: null, provider: "scripted" }]),
    },
  },
}));

const UNLIMITED = {
  requests_per_minute: null,
  concurrent_answers: null,
  tokens_per_day: null,
  tokens_per_month: null,
  usd_budget_per_month: null,
  models: null,
  max_upload_mib: null,
  api_key_requests_per_minute: null,
  pii_policy: null,
  conversation_retention_days: null,
  file_retention_days: null,
};
const FREE = { name: "free", limits: { ...UNLIMITED, requests_per_minute: 20, tokens_per_day: 200000, usd_budget_per_month: 5, max_upload_mib: 10 } };
const PRO = { name: "pro", limits: { ...UNLIMITED, tokens_per_day: 2000000, models: ["echo"] } };

function renderPage() {
  return render(
    <MemoryRouter initialEntries={["/admin/plans"]}>
      <PlansPage />
    </MemoryRouter>,
  );
}

const row = async (name: string) => {
  const table = await screen.findByRole("table", { name: "Plans" });
  return within(table).getByRole("row", { name: new RegExp(`^${name}\\b`) });
};

beforeEach(() => {
  plans.mockReset().mockResolvedValue([FREE, PRO]);
  putPlan.mockReset().mockImplementation((name: string, limits: object) => Promise.resolve({ name, limits: { ...UNLIMITED, ...limits } }));
  deletePlan.mockReset().mockResolvedValue(undefined);
});

describe("PlansPage", () => {
  it("lists each plan with every limit, unlimited ones said so", async () => {
    renderPage();
    const free = await row("free");
    expect(within(free).getByText("200,000")).toBeInTheDocument();
    expect(within(free).getByText("$5.00")).toBeInTheDocument();
    expect(within(free).getAllByText("Unlimited")).toHaveLength(5); // and both retention periods (kept for ever)
    expect(within(free).getByText("Every model")).toBeInTheDocument();
    expect(within(await row("pro")).getByText("echo")).toBeInTheDocument();
  });

  it("editing a plan sends every limit: the changed one, the others as they were, emptied ones as unlimited", async () => {
    renderPage();
    await userEvent.click(within(await row("free")).getByRole("button", { name: "Edit the plan free" }));
    const form = screen.getByRole("form", { name: "Edit the plan “free”" });
    const perDay = within(form).getByRole("spinbutton", { name: "Tokens per day" });
    expect(perDay).toHaveValue(200000);
    await userEvent.clear(perDay);
    await userEvent.type(perDay, "50000");
    await userEvent.clear(within(form).getByRole("spinbutton", { name: "Largest upload (MiB)" }));
    await userEvent.click(within(form).getByRole("button", { name: "Save plan" }));

    expect(putPlan).toHaveBeenCalledWith("free", { ...FREE.limits, tokens_per_day: 50000, max_upload_mib: null });
    expect(await screen.findByRole("status")).toHaveTextContent("Plan “free” saved.");
    expect(within(await row("free")).getByText("50,000")).toBeInTheDocument();
  });

  it("a plan's PII policy is shown and chosen among the four, or left to each model", async () => {
    plans.mockResolvedValue([{ ...FREE, limits: { ...FREE.limits, pii_policy: "block" } }, PRO]);
    renderPage();
    expect(within(await row("free")).getByText("Refused")).toBeInTheDocument();
    expect(within(await row("pro")).getByText("Each model's own")).toBeInTheDocument();
    await userEvent.click(within(await row("pro")).getByRole("button", { name: "Edit the plan pro" }));
    const form = screen.getByRole("form", { name: "Edit the plan “pro”" });
    const policy = within(form).getByRole("combobox", { name: "Personal data in prompts" });
    expect(policy).toHaveValue("");
    await userEvent.selectOptions(policy, "pseudonymise");
    await userEvent.click(within(form).getByRole("button", { name: "Save plan" }));
    expect(putPlan).toHaveBeenCalledWith("pro", { ...PRO.limits, pii_policy: "pseudonymise" });
    expect(within(await row("pro")).getByText("Pseudonymised (restored in answers)")).toBeInTheDocument();
  });

  it("a new plan may be limited to some models of the catalogue", async () => {
    renderPage();
    const form = await screen.findByRole("form", { name: "Create plan" });
    await userEvent.type(within(form).getByRole("textbox", { name: "Name" }), "team");
    await userEvent.click(within(form).getByRole("checkbox", { name: "Every model" }));
    await userEvent.selectOptions(await within(form).findByRole("listbox", { name: "Models" }), ["cheap"]);
    await userEvent.type(within(form).getByRole("spinbutton", { name: "Budget per month (USD)" }), "12.5");
    await userEvent.click(within(form).getByRole("button", { name: "Create plan" }));

    expect(putPlan).toHaveBeenCalledWith("team", { ...UNLIMITED, models: ["cheap"], usd_budget_per_month: 12.5 });
    expect(within(await row("team")).getByText("cheap")).toBeInTheDocument();
  });

  it("a negative or fractional count is refused by the form and nothing is sent", async () => {
    renderPage();
    const form = await screen.findByRole("form", { name: "Create plan" });
    await userEvent.type(within(form).getByRole("textbox", { name: "Name" }), "team");
    const atOnce = within(form).getByRole("spinbutton", { name: "Answers at once" });
    await userEvent.type(atOnce, "-2");
    expect(atOnce).toBeInvalid();
    await userEvent.click(within(form).getByRole("button", { name: "Create plan" }));
    await userEvent.clear(atOnce);
    await userEvent.type(atOnce, "1.5");
    expect(atOnce).toBeInvalid();
    await userEvent.click(within(form).getByRole("button", { name: "Create plan" }));
    expect(putPlan).not.toHaveBeenCalled();
    // cents are fine for money
    await userEvent.clear(atOnce);
    await userEvent.type(within(form).getByRole("spinbutton", { name: "Budget per month (USD)" }), "0.25");
    await userEvent.click(within(form).getByRole("button", { name: "Create plan" }));
    expect(putPlan).toHaveBeenCalledWith("team", { ...UNLIMITED, usd_budget_per_month: 0.25 });
  });

  it("deleting a plan users are on shows the server's reason and keeps the plan", async () => {
    deletePlan.mockRejectedValue(
      new ParleyApiError({ type: "conflict", title: "Conflict", status: 409, detail: "2 user(s) are on the pro plan: move them to another plan first" }),
    );
    renderPage();
    await userEvent.click(within(await row("pro")).getByRole("button", { name: "Delete the plan pro" }));
    await userEvent.click(within(screen.getByRole("alertdialog")).getByRole("button", { name: "Delete" }));
    expect(deletePlan).toHaveBeenCalledWith("pro");
    expect(await screen.findByRole("alert")).toHaveTextContent(
      "The plan “pro” was not deleted: 2 user(s) are on the pro plan: move them to another plan first",
    );
    expect(await row("pro")).toBeInTheDocument();
  });

  it("a deleted plan leaves the list", async () => {
    renderPage();
    await row("pro");
    plans.mockResolvedValue([FREE]);
    await userEvent.click(within(await row("pro")).getByRole("button", { name: "Delete the plan pro" }));
    await userEvent.click(within(screen.getByRole("alertdialog")).getByRole("button", { name: "Delete" }));
    expect(await screen.findByRole("status")).toHaveTextContent("Plan “pro” deleted.");
    expect(within(screen.getByRole("table", { name: "Plans" })).queryByRole("row", { name: /^pro\b/ })).toBeNull();
  });
});
