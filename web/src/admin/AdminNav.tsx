import { useTranslation } from "react-i18next";
import { NavLink } from "react-router-dom";

/** The administration's sections (users, groups, plans, analytics): links, so each section has its own address and history entry. */
export function AdminNav() {
  const { t } = useTranslation();
  return (
    <nav className="admin-nav" aria-label={t("admin.navLabel")}>
      <NavLink to="/admin" end className="admin-nav-link">
        {t("admin.usersTab")}
      </NavLink>
      <NavLink to="/admin/groups" className="admin-nav-link">
        {t("admin.groupsTab")}
      </NavLink>
      <NavLink to="/admin/plans" className="admin-nav-link">
        {t("admin.plansTab")}
      </NavLink>
      <NavLink to="/admin/analytics" className="admin-nav-link">
        {t("admin.analyticsTab")}
      </NavLink>
      <NavLink to="/admin/provisioning" className="admin-nav-link">
        {t("admin.provisioningTab")}
      </NavLink>
    </nav>
  );
}
