import { useTranslation } from "react-i18next";
import { NavLink, useNavigate } from "react-router-dom";
import { firstAdminSection } from "../admin/access";
import { useAuth } from "../auth/AuthProvider";
import { Icon } from "../components/Icon";
import { Logo } from "../components/Logo";
import { LimitsMeter } from "../layout/LimitsMeter";
import { ConversationList } from "./ConversationList";
import { useConversations } from "./ConversationsProvider";

/** New chat, search, the conversation list, and the way to the other pages. */
export function Sidebar({ onNavigate }: { onNavigate(): void }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const { user, signOut } = useAuth();
  // administration shows for anyone holding an `admin:*` permission, opening on the first section they may use
  const adminSection = firstAdminSection(user);
  const conversations = useConversations();

  return (
    <div className="sidebar-inner">
      <div className="sidebar-top">
        <div className="brand">
          <Logo size={26} />
          <span>{t("app.name")}</span>
        </div>
        <button
          type="button"
          className="button primary wide"
          onClick={() => {
            navigate("/chat");
            onNavigate();
          }}
        >
          <Icon name="plus" /> {t("sidebar.newChat")}
        </button>
        <div className="search">
          <Icon name="search" size={16} />
          <input
            type="search"
            aria-label={t("sidebar.search")}
            placeholder={t("sidebar.searchPlaceholder")}
            value={conversations.query}
            onChange={(event) => conversations.setQuery(event.target.value)}
          />
        </div>
        <label className="toggle">
          <input type="checkbox" checked={conversations.archived} onChange={(event) => conversations.setArchived(event.target.checked)} />
          <span>{t("sidebar.showArchived")}</span>
        </label>
      </div>
      <nav className="sidebar-conversations" aria-label={t("sidebar.label")}>
        <ConversationList onNavigate={onNavigate} />
      </nav>
      <LimitsMeter />
      <nav className="sidebar-bottom" aria-label={t("nav.mainNavigation")}>
        <NavLink to="/files" className="nav-link" onClick={onNavigate}>
          <Icon name="file" /> {t("nav.files")}
        </NavLink>
        <NavLink to="/knowledge-bases" className="nav-link" onClick={onNavigate}>
          <Icon name="book" /> {t("nav.knowledgeBases")}
        </NavLink>
        <NavLink to="/usage" className="nav-link" onClick={onNavigate}>
          <Icon name="chart" /> {t("nav.usage")}
        </NavLink>
        <NavLink to="/settings" className="nav-link" onClick={onNavigate}>
          <Icon name="settings" /> {t("nav.settings")}
        </NavLink>
        {adminSection && (
          <NavLink to={adminSection} className="nav-link" onClick={onNavigate}>
            <Icon name="shield" /> {t("nav.admin")}
          </NavLink>
        )}
        <div className="user-line">
          <span className="user-name" title={user?.email}>
            {user?.full_name || user?.email}
          </span>
          <button type="button" className="icon-button" aria-label={t("nav.signOut")} title={t("nav.signOut")} onClick={() => void signOut()}>
            <Icon name="logout" />
          </button>
        </div>
      </nav>
    </div>
  );
}
