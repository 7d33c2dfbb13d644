import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { UserRow } from "./UserRow";

vi.mock("../auth/AuthProvider", () => ({ useAuth: () => ({ user: { id: "admin" } }) }));

const user = {
  id: "u1",
  email: "dana@acme.test",
  full_name: null,
  role: "user",
  subscription_tier: "free",
  is_active: true,
  cost_centre: "CC-1",
  created_at: "2026-01-05T10:00:00Z",
  last_login_at: null,
};

function renderRow(onCostCentre = vi.fn(), { plans = ["enterprise", "free", "pro"], onTier = vi.fn(), shown = user }: { plans?: string[]; onTier?: (tier: string) => void; shown?: typeof user & { limits?: Record<string, unknown> | null } } = {}) {
  render(
    <table>
      <tbody>
        <UserRow user={shown} plans={plans} onRole={vi.fn()} onTier={onTier} onCostCentre={onCostCentre} onSuspend={vi.fn()} onUnsuspend={vi.fn()} onLimits={vi.fn()} />
      </tbody>
    </table>,
  );
  return { onCostCentre, field: screen.getByRole("textbox", { name: "Cost centre of dana@acme.test" }) };
}

describe("UserRow cost centre", () => {
  it("saves a changed cost centre on Enter, and clears it when emptied", async () => {
    const { onCostCentre, field } = renderRow();
    expect(field).toHaveValue("CC-1");
    await userEvent.clear(field);
    await userEvent.type(field, " CC-2 {Enter}");
    expect(onCostCentre).toHaveBeenLastCalledWith("CC-2");
    await userEvent.clear(field);
    field.blur();
    expect(onCostCentre).toHaveBeenLastCalledWith(null);
  });

  it("sends nothing when the field is left unchanged", async () => {
    const { onCostCentre, field } = renderRow();
    await userEvent.click(field);
    field.blur();
    expect(onCostCentre).not.toHaveBeenCalled();
  });
});

describe("UserRow plan", () => {
  it("offers every plan the server has, custom ones by name, and sends the one picked", async () => {
    const onTier = vi.fn();
    renderRow(vi.fn(), { plans: ["enterprise", "free", "pro", "team"], onTier });
    const select = screen.getByRole("combobox", { name: "Plan of dana@acme.test" });
    expect(Array.from((select as HTMLSelectElement).options, (option) => option.text)).toEqual(["Enterprise", "Free", "Pro", "team"]);
    await userEvent.selectOptions(select, "team");
    expect(onTier).toHaveBeenCalledWith("team");
  });

  it("keeps the user's plan listed while the plans load, and marks own limits", () => {
    renderRow(vi.fn(), { plans: [], shown: { ...user, subscription_tier: "gold", limits: { tokens_per_day: 5 } } });
    expect(screen.getByRole("combobox", { name: "Plan of dana@acme.test" })).toHaveValue("gold");
    expect(screen.getByText("Own limits")).toBeInTheDocument();
  });
});

describe("UserRow home region", () => {
  it("shows the user's home region in a multi-region deployment, a dash when it is unknown", () => {
    const { unmount } = render(
      <table>
        <tbody>
          <UserRow user={{ ...user, home_region: "eu-west-1" }} plans={[]} showRegion onRole={vi.fn()} onTier={vi.fn()} onCostCentre={vi.fn()} onSuspend={vi.fn()} onUnsuspend={vi.fn()} onLimits={vi.fn()} />
          <UserRow user={{ ...user, id: "u2", email: "old@acme.test" }} plans={[]} showRegion onRole={vi.fn()} onTier={vi.fn()} onCostCentre={vi.fn()} onSuspend={vi.fn()} onUnsuspend={vi.fn()} onLimits={vi.fn()} />
        </tbody>
      </table>,
    );
    const cells = Array.from(document.querySelectorAll("td.home-region"), (cell) => cell.textContent);
    expect(cells).toEqual(["eu-west-1", "—"]);
    unmount();
  });

  it("has no region cell in a single-region deployment", () => {
    renderRow();
    expect(document.querySelector("td.home-region")).toBeNull();
  });
});

describe("UserRow deletion and legal hold", () => {
  function renderWith(shown: typeof user & { legal_hold_at?: string | null }, onDelete = vi.fn(), onLegalHold = vi.fn()) {
    render(
      <table>
        <tbody>
          <UserRow user={shown} plans={[]} onRole={vi.fn()} onTier={vi.fn()} onCostCentre={vi.fn()} onSuspend={vi.fn()} onUnsuspend={vi.fn()} onLimits={vi.fn()} onDelete={onDelete} onLegalHold={onLegalHold} />
        </tbody>
      </table>,
    );
    return { onDelete, onLegalHold };
  }

  it("deletes and places on hold", async () => {
    const { onDelete, onLegalHold } = renderWith(user);
    await userEvent.click(screen.getByRole("button", { name: "Delete: dana@acme.test" }));
    expect(onDelete).toHaveBeenCalled();
    await userEvent.click(screen.getByRole("button", { name: "Hold: dana@acme.test" }));
    expect(onLegalHold).toHaveBeenCalledWith(true);
  });

  it("shows a held user's hold, lifts it, and cannot delete them meanwhile", async () => {
    const { onLegalHold } = renderWith({ ...user, legal_hold_at: "2026-12-01T00:00:00Z" });
    expect(screen.getByText("Legal hold")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Delete: dana@acme.test" })).toBeDisabled();
    await userEvent.click(screen.getByRole("button", { name: "Lift hold: dana@acme.test" }));
    expect(onLegalHold).toHaveBeenCalledWith(false);
  });
});
