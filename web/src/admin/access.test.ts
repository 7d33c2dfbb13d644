import type { User } from "@parley/sdk";
import { describe, expect, it } from "vitest";
import { ADMIN_SECTIONS, can, firstAdminSection } from "./access";

const person = (role: string, permissions?: string[]): User =>
  ({ id: "u1", email: "a@example.com", full_name: null, role, subscription_tier: "free", is_active: true, created_at: "", last_login_at: null, permissions }) as User;

describe("administration access", () => {
  it("a custom role opens the sections of its permissions only, starting with the first of them", () => {
    const analyst = person("analyst", ["profile:read", "admin:analytics", "admin:groups"]);
    expect(ADMIN_SECTIONS.filter((section) => can(analyst, section.permission)).map((section) => section.path)).toEqual([
      "/admin/groups",
      "/admin/analytics",
    ]);
    expect(firstAdminSection(analyst)).toBe("/admin/groups");
  });

  it("a user without administration permissions has no section; an auditor opens the audit trail; an admin starts with users", () => {
    expect(firstAdminSection(person("user", ["chat", "profile:read"]))).toBeNull();
    expect(firstAdminSection(person("auditor", ["admin:audit"]))).toBe("/admin/audit");
    expect(firstAdminSection(person("admin", ["admin:users", "admin:roles"]))).toBe("/admin");
    // a profile read before permissions were listed: the built-in admin still gets in
    expect(can(person("admin"), "admin:roles")).toBe(true);
    expect(can(person("user"), "admin:roles")).toBe(false);
  });
});
