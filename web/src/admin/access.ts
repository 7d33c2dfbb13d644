import type { Permission, User } from "@parley/sdk";

/** The administration's sections, each with the permission it needs (GET /users/me lists the caller's). */
export const ADMIN_SECTIONS = [
  { path: "/admin", permission: "admin:users", label: "admin.usersTab" },
  { path: "/admin/groups", permission: "admin:groups", label: "admin.groupsTab" },
  { path: "/admin/roles", permission: "admin:roles", label: "admin.rolesTab" },
  { path: "/admin/plans", permission: "admin:plans", label: "admin.plansTab" },
  { path: "/admin/models", permission: "admin:models", label: "admin.modelsTab" },
  { path: "/admin/analytics", permission: "admin:analytics", label: "admin.analyticsTab" },
  { path: "/admin/provisioning", permission: "admin:users", label: "admin.provisioningTab" },
  { path: "/admin/audit", permission: "admin:audit", label: "audit.tab" },
  { path: "/admin/review", permission: "admin:reports", label: "review.tab" },
] as const satisfies readonly { path: string; permission: Permission; label: string }[];

/** Whether the signed-in user holds `permission` (an admin holds every administration permission). */
export function can(user: User | null | undefined, permission: Permission): boolean {
  if (!user) return false;
  return user.permissions ? user.permissions.includes(permission) : user.role === "admin";
}

/** The first administration section the user may open, or null when they may open none. */
export function firstAdminSection(user: User | null | undefined): string | null {
  return ADMIN_SECTIONS.find((section) => can(user, section.permission))?.path ?? null;
}

/** Every permission, in the order the roles page lists them, with the key of its description (`roles.what.*`).
 * A `Record` over `Permission`: a permission the server adds fails to compile here until it is described. */
export const PERMISSION_DESCRIPTIONS: Record<Permission, string> = {
  "profile:read": "profileRead",
  "profile:write": "profileWrite",
  "conversations:read": "conversationsRead",
  "conversations:write": "conversationsWrite",
  chat: "chat",
  "files:read": "filesRead",
  "files:write": "filesWrite",
  "knowledge_bases:manage": "knowledgeBasesManage",
  "admin:users": "adminUsers",
  "admin:audit": "adminAudit",
  "admin:analytics": "adminAnalytics",
  "admin:models": "adminModels",
  "admin:plans": "adminPlans",
  "admin:groups": "adminGroups",
  "admin:roles": "adminRoles",
  "admin:reports": "adminReports",
};

export const ALL_PERMISSIONS = Object.keys(PERMISSION_DESCRIPTIONS) as Permission[];

/** What a new role starts with: the everyday permissions of the built-in `user` (a role replaces it as a user's own). */
export const EVERYDAY_PERMISSIONS: readonly Permission[] = [
  "profile:read",
  "profile:write",
  "conversations:read",
  "conversations:write",
  "chat",
  "files:read",
  "files:write",
];
