import { ParleyApiError } from "@parley/sdk";
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { DeleteAccountSection } from "./DeleteAccountSection";

const deleteMe = vi.fn();
const signOut = vi.fn();
vi.mock("../api/client", () => ({ api: { users: { deleteMe: (...args: unknown[]) => deleteMe(...args) } } }));
vi.mock("../auth/AuthProvider", () => ({ useAuth: () => ({ signOut }) }));

beforeEach(() => vi.clearAllMocks());

describe("DeleteAccountSection", () => {
  it("warns, needs the box ticked, sends the password and signs out", async () => {
    deleteMe.mockResolvedValue(undefined);
    render(<DeleteAccountSection />);
    expect(screen.getByText(/deletes your account and everything in it for good/)).toBeInTheDocument();
    const button = screen.getByRole("button", { name: "Delete my account" });
    expect(button).toBeDisabled();
    await userEvent.type(screen.getByLabelText(/Current password/), "my password 123");
    await userEvent.click(screen.getByRole("checkbox"));
    await userEvent.click(button);
    expect(deleteMe).toHaveBeenCalledWith("my password 123");
    await waitFor(() => expect(signOut).toHaveBeenCalled());
  });

  it("without a password (single sign-on) sends none, and shows a refusal", async () => {
    deleteMe.mockRejectedValue(new ParleyApiError({ type: "about:blank", title: "Forbidden", status: 403, detail: "sign in again (within the last 10 minutes) to delete your account" }));
    render(<DeleteAccountSection />);
    await userEvent.click(screen.getByRole("checkbox"));
    await userEvent.click(screen.getByRole("button", { name: "Delete my account" }));
    expect(deleteMe).toHaveBeenCalledWith(undefined);
    await waitFor(() => expect(screen.getAllByRole("alert").some((alert) => alert.textContent?.includes("sign in again"))).toBe(true));
    expect(signOut).not.toHaveBeenCalled();
    expect(screen.getByRole("button", { name: "Delete my account" })).toBeEnabled();
  });
});
