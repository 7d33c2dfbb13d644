import { render, screen, within } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { beforeEach, describe, expect, it, vi } from "vitest";
import AdminPage from "./AdminPage";

const users = vi.fn();
vi.mock("../api/client", () => ({
  api: {
    admin: {
      users: (...args: unknown[]) => users(...args),
      roles: () => Promise.resolve([]),
      plans: () => Promise.resolve([]),
    },
  },
}));
const me = { user: { id: "admin", role: "admin", permissions: ["admin:users"] } };
vi.mock("../auth/AuthProvider", () => ({ useAuth: () => me, useAuthIfAny: () => me }));

const person = (id: string, email: string, homeRegion: string | null = null) => ({
  id,
  email,
  full_name: null,
  role: "user",
  subscription_tier: "free",
  is_active: true,
  cost_centre: null,
  home_region: homeRegion,
  created_at: "2026-01-05T10:00:00Z",
  last_login_at: null,
});
const page = (...items: ReturnType<typeof person>[]) => ({ items, total: items.length, page: 1, page_size: 20 });

function renderPage() {
  return render(
    <MemoryRouter initialEntries={["/admin"]}>
      <AdminPage />
    </MemoryRouter>,
  );
}

beforeEach(() => users.mockReset());

describe("AdminPage home region column", () => {
  it("shows each user's home region in a multi-region deployment", async () => {
    users.mockResolvedValue(page(person("u1", "eva@acme.test", "eu-west-1"), person("u2", "sam@acme.test", "us-east-1")));
    renderPage();
    const row = (await screen.findByText("eva@acme.test")).closest("tr")!;
    const table = row.closest("table")!;
    expect(within(table).getByRole("columnheader", { name: "Home region" })).toBeInTheDocument();
    expect(within(row).getByText("eu-west-1")).toBeInTheDocument();
    expect(within(screen.getByText("sam@acme.test").closest("tr")!).getByText("us-east-1")).toBeInTheDocument();
  });

  it("has no region column when no user has a home region (a single region)", async () => {
    users.mockResolvedValue(page(person("u1", "eva@acme.test")));
    renderPage();
    const table = (await screen.findByText("eva@acme.test")).closest("table")!;
    expect(within(table).queryByRole("columnheader", { name: "Home region" })).toBeNull();
  });
});
