import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router-dom";
import { beforeEach, describe, expect, it, vi } from "vitest";
import ProvisioningPage from "./ProvisioningPage";

const scim = vi.fn();
const rotateScimToken = vi.fn();
const sso = vi.fn();
vi.mock("../api/client", () => ({
  api: {
    admin: {
      scim: (...args: unknown[]) => scim(...args),
      rotateScimToken: (...args: unknown[]) => rotateScimToken(...args),
      sso: (...args: unknown[]) => sso(...args),
    },
  },
}));

const OFF = {
  enabled: false,
  base_url: "https://chat.example.com/scim/v2",
  settings_token: false,
  token_created_at: null,
  last_call_at: null,
};
const ON = { ...OFF, enabled: true, token_created_at: "2026-12-07T13:00:00Z", last_call_at: "2026-12-07T13:05:00Z" };

function renderPage() {
  return render(
    <MemoryRouter initialEntries={["/admin/provisioning"]}>
      <ProvisioningPage />
    </MemoryRouter>,
  );
}

beforeEach(() => {
  scim.mockReset();
  sso.mockReset().mockResolvedValue({ password_sign_in: true, break_glass_email: null, providers: [] });
  rotateScimToken.mockReset().mockResolvedValue({ token: "scim-new-token-value", created_at: "2026-12-07T14:00:00Z", base_url: OFF.base_url });
});

describe("ProvisioningPage", () => {
  it("shows that SCIM is off and the base URL, and creates a token shown once with a copy button", async () => {
    scim.mockResolvedValueOnce(OFF).mockResolvedValueOnce(ON);
    renderPage();
    expect(await screen.findByTestId("scim-status")).toHaveTextContent("Off");
    expect(screen.getByTestId("scim-base-url")).toHaveTextContent("https://chat.example.com/scim/v2");
    expect(screen.getByText("Never")).toBeInTheDocument();

    await userEvent.click(screen.getByRole("button", { name: "Create token" }));
    expect(rotateScimToken).toHaveBeenCalledOnce();
    expect(await screen.findByTestId("new-scim-token")).toHaveTextContent("scim-new-token-value");
    expect(screen.getByText(/not shown again/)).toBeInTheDocument();
    expect(screen.getAllByRole("button", { name: "Copy" })).toHaveLength(2);
    expect(await screen.findByTestId("scim-status")).toHaveTextContent("On");

    await userEvent.click(screen.getByRole("button", { name: "Close" }));
    expect(screen.queryByTestId("new-scim-token")).not.toBeInTheDocument();
  });

  it("asks before rotating a token that is in use", async () => {
    scim.mockResolvedValue(ON);
    renderPage();
    await userEvent.click(await screen.findByRole("button", { name: "Rotate token" }));
    expect(screen.getByRole("alertdialog")).toHaveTextContent("stops working at once");
    expect(rotateScimToken).not.toHaveBeenCalled();
    await userEvent.click(screen.getByRole("button", { name: "Cancel" }));
    expect(rotateScimToken).not.toHaveBeenCalled();

    await userEvent.click(screen.getByRole("button", { name: "Rotate token" }));
    await userEvent.click(within(screen.getByRole("alertdialog")).getByRole("button", { name: "Rotate token" }));
    expect(rotateScimToken).toHaveBeenCalledOnce();
    expect(await screen.findByTestId("new-scim-token")).toHaveTextContent("scim-new-token-value");
  });

  it("lists the single sign-on providers with their linked accounts and last sign-in", async () => {
    scim.mockResolvedValue(ON);
    sso.mockResolvedValue({
      password_sign_in: false,
      break_glass_email: "root@example.com",
      providers: [
        { kind: "oidc", id: "entra", display_name: "Microsoft Entra ID", issuer: "https://login.example.com/v2.0", linked_accounts: 12, last_sign_in_at: "2026-12-07T13:30:00Z", synced_groups: 3 },
        { kind: "saml", id: "okta", display_name: "Okta", issuer: "http://www.okta.com/abc", linked_accounts: 0, last_sign_in_at: null, synced_groups: 0 },
      ],
    });
    renderPage();
    const entra = await screen.findByTestId("sso-provider-entra");
    expect(entra).toHaveTextContent("Microsoft Entra ID");
    expect(entra).toHaveTextContent("OpenID Connect");
    expect(within(entra).getAllByRole("cell")[2]).toHaveTextContent("12");
    expect(within(screen.getByTestId("sso-provider-okta")).getByText("Never")).toBeInTheDocument();
    expect(screen.getByTestId("sso-passwords")).toHaveTextContent("only root@example.com may still use a password");
  });
});
