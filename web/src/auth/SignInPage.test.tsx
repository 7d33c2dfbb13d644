import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router-dom";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { SignInPage } from "./SignInPage";

const providers = vi.fn();
vi.mock("../api/client", () => ({
  api: {
    auth: {
      providers: (...args: unknown[]) => providers(...args),
      ssoLoginUrl: (id: string) => `/api/v1/auth/oidc/${id}/login`,
    },
  },
}));
vi.mock("./AuthProvider", () => ({ useAuth: () => ({ signIn: vi.fn(), notice: null }) }));

const password = { kind: "password", id: "password", display_name: "Email and password", login_url: null };
const okta = { kind: "oidc", id: "okta", display_name: "Okta", login_url: "/api/v1/auth/oidc/okta/login" };

function renderPage(path = "/signin") {
  return render(
    <MemoryRouter initialEntries={[path]}>
      <SignInPage />
    </MemoryRouter>,
  );
}

beforeEach(() => {
  providers.mockReset();
  localStorage.clear();
});

describe("SignInPage with single sign-on", () => {
  it("offers a button per provider next to the password form", async () => {
    providers.mockResolvedValue({ methods: [password, okta], break_glass_password: false });
    renderPage();
    const button = await screen.findByRole("link", { name: "Continue with Okta" });
    expect(button).toHaveAttribute("href", "/api/v1/auth/oidc/okta/login");
    expect(screen.getByLabelText("Password")).toBeInTheDocument();
    await userEvent.click(button);
    expect(localStorage.getItem("parley.sso-provider")).toBe("okta");
  });

  it("hides the password form when password sign-in is off, behind a link for the break-glass admin", async () => {
    providers.mockResolvedValue({ methods: [okta], break_glass_password: true });
    renderPage();
    await screen.findByRole("link", { name: "Continue with Okta" });
    expect(screen.queryByLabelText("Password")).not.toBeInTheDocument();
    expect(screen.queryByText("Create one")).not.toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Administrator sign-in with a password" }));
    expect(screen.getByLabelText("Password")).toBeInTheDocument();
  });

  it("says why single sign-on failed", async () => {
    providers.mockResolvedValue({ methods: [okta], break_glass_password: false });
    renderPage("/signin?sso_error=domain_not_allowed");
    expect(await screen.findByRole("alert")).toHaveTextContent("Accounts of your email domain may not sign in here.");
  });

  it("offers a SAML identity provider like any other, at its own login URL", async () => {
    const entra = { kind: "saml", id: "entra", display_name: "Entra ID (SAML)", login_url: "/api/v1/auth/saml/entra/login" };
    providers.mockResolvedValue({ methods: [password, okta, entra], break_glass_password: false });
    renderPage();
    const button = await screen.findByRole("link", { name: "Continue with Entra ID (SAML)" });
    expect(button).toHaveAttribute("href", "/api/v1/auth/saml/entra/login");
    expect(screen.getByRole("link", { name: "Continue with Okta" })).toBeInTheDocument();
  });

  it("says why a SAML sign-in was refused", async () => {
    providers.mockResolvedValue({ methods: [okta], break_glass_password: false });
    renderPage("/signin?sso_error=assertion_replayed");
    expect(await screen.findByRole("alert")).toHaveTextContent("This sign-in was already used. Sign in again.");
  });

  it("explains an unknown failure in general words", async () => {
    providers.mockResolvedValue({ methods: [okta], break_glass_password: false });
    renderPage("/signin?sso_error=made_up");
    expect(await screen.findByRole("alert")).toHaveTextContent("Single sign-on did not work.");
  });

  it("keeps the password form when the server cannot list its sign-in methods", async () => {
    providers.mockRejectedValue(new Error("offline"));
    renderPage();
    expect(screen.getByLabelText("Password")).toBeInTheDocument();
  });
});
