import type { ReactNode } from "react";
import { useTranslation } from "react-i18next";
import { BrowserRouter, Navigate, Route, Routes, useLocation } from "react-router-dom";
import type { Permission } from "@parley/sdk";
import { can, firstAdminSection } from "./admin/access";
import { AuthProvider, useAuth } from "./auth/AuthProvider";
import { RegisterPage } from "./auth/RegisterPage";
import { SignInPage } from "./auth/SignInPage";
import { ChatPage } from "./chat/ChatPage";
import { lazyPage } from "./components/LazyPage";
import { AppShell } from "./layout/AppShell";
import { SettingsPage } from "./settings/SettingsPage";

// The chart, files and admin pages load on first visit: most sessions never open them. Each says so and offers
// Try again when its code cannot be fetched, instead of taking the whole app down.
const UsagePage = lazyPage(() => import("./usage/UsagePage"));
const AdminPage = lazyPage(() => import("./admin/AdminPage"));
const GroupsPage = lazyPage(() => import("./admin/GroupsPage"));
const GroupPage = lazyPage(() => import("./admin/GroupPage"));
const AnalyticsPage = lazyPage(() => import("./admin/AnalyticsPage"));
const PlansPage = lazyPage(() => import("./admin/PlansPage"));
const ModelsPage = lazyPage(() => import("./admin/ModelsPage"));
const ProvisioningPage = lazyPage(() => import("./admin/ProvisioningPage"));
const RolesPage = lazyPage(() => import("./admin/RolesPage"));
const AuditPage = lazyPage(() => import("./admin/AuditPage"));
const ReviewPage = lazyPage(() => import("./admin/ReviewPage"));
const FilesPage = lazyPage(() => import("./files/FilesPage"));
const KnowledgeBasesPage = lazyPage(() => import("./knowledge/KnowledgeBasesPage"));
const KnowledgeBasePage = lazyPage(() => import("./knowledge/KnowledgeBasePage"));

function Loading() {
  const { t } = useTranslation();
  return (
    <div className="loading" role="status">
      {t("app.loading")}
    </div>
  );
}

function SignedIn({ children }: { children: ReactNode }) {
  const { status, signedOutOnPurpose } = useAuth();
  const location = useLocation();
  if (status === "loading") return <Loading />;
  if (status === "signed-out") {
    // Back to where they were after an expired session; after signing out, the next sign-in starts at the chat.
    return <Navigate to="/signin" replace state={signedOutOnPurpose ? undefined : { from: location.pathname }} />;
  }
  return children;
}

function SignedOut({ children }: { children: ReactNode }) {
  const { status } = useAuth();
  const location = useLocation();
  if (status === "loading") return <Loading />;
  if (status === "signed-in") {
    const from = (location.state as { from?: string } | null)?.from;
    return <Navigate to={from && from !== "/signin" ? from : "/chat"} replace />;
  }
  return children;
}

/** A section of the administration: for users holding its permission; others go to a section they may open. */
function AdminOnly({ permission, children }: { permission: Permission; children: ReactNode }) {
  const { user } = useAuth();
  if (can(user, permission)) return children;
  return <Navigate to={firstAdminSection(user) ?? "/chat"} replace />;
}

export function AppRoutes() {
  return (
    <Routes>
      <Route path="/signin" element={<SignedOut><SignInPage /></SignedOut>} />
      <Route path="/register" element={<SignedOut><RegisterPage /></SignedOut>} />
      <Route element={<SignedIn><AppShell /></SignedIn>}>
        <Route path="/chat/:id?" element={<ChatPage />} />
        <Route path="/settings" element={<SettingsPage />} />
        <Route path="/files" element={<FilesPage />} />
        <Route path="/knowledge-bases" element={<KnowledgeBasesPage />} />
        <Route path="/knowledge-bases/:id" element={<KnowledgeBasePage />} />
        <Route path="/usage" element={<UsagePage />} />
        <Route path="/admin" element={<AdminOnly permission="admin:users"><AdminPage /></AdminOnly>} />
        <Route path="/admin/groups" element={<AdminOnly permission="admin:groups"><GroupsPage /></AdminOnly>} />
        <Route path="/admin/groups/:id" element={<AdminOnly permission="admin:groups"><GroupPage /></AdminOnly>} />
        <Route path="/admin/roles" element={<AdminOnly permission="admin:roles"><RolesPage /></AdminOnly>} />
        <Route path="/admin/analytics" element={<AdminOnly permission="admin:analytics"><AnalyticsPage /></AdminOnly>} />
        <Route path="/admin/plans" element={<AdminOnly permission="admin:plans"><PlansPage /></AdminOnly>} />
        <Route path="/admin/models" element={<AdminOnly permission="admin:models"><ModelsPage /></AdminOnly>} />
        <Route path="/admin/provisioning" element={<AdminOnly permission="admin:users"><ProvisioningPage /></AdminOnly>} />
        <Route path="/admin/audit" element={<AdminOnly permission="admin:audit"><AuditPage /></AdminOnly>} />
        <Route path="/admin/review" element={<AdminOnly permission="admin:reports"><ReviewPage /></AdminOnly>} />
      </Route>
      <Route path="*" element={<Navigate to="/chat" replace />} />
    </Routes>
  );
}

export function App() {
  return (
    <BrowserRouter>
      <AuthProvider>
        <AppRoutes />
      </AuthProvider>
    </BrowserRouter>
  );
}
