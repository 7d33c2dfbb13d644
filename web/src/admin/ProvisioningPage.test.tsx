import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router-dom";
import { beforeEach, describe, expect, it, vi } from "vitest";
import ProvisioningPage from "./ProvisioningPage";

const scim = vi.fn();
const rotateScimToken = vi.fn();
vi.mock("../api/client", () => ({
  api: {
    admin: {
      scim: (...args: unknown[]) => scim(...args),
      rotateScimToken: (...args: unknown[]) => rotateScimToken(...args),
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
});
