import { useTranslation } from "react-i18next";
import { NavLink } from "react-router-dom";
import { useAuthIfAny } from "../auth/AuthProvider";
import { ADMIN_SECTIONS, can } from "./access";

/** The administration's sections the user may open (users, groups, roles, plans, analytics, provisioning): links, so
 * each section has its own address and history entry. */
export function AdminNav() {
  const { t } = useTranslation();
  // outside an AuthProvider (a page rendered on its own) every section is listed; the server still decides
  const user = useAuthIfAny()?.user;
  return (
    <nav className="admin-nav" aria-label={t("admin.navLabel")}>
      {ADMIN_SECTIONS.filter((section) => user === undefined || can(user, section.permission)).map((section) => (
        <NavLink key={section.path} to={section.path} end={section.path === "/admin"} className="admin-nav-link">
          {t(section.label)}
        </NavLink>
      ))}
    </nav>
  );
}
