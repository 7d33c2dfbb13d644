import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { Outlet, useLocation } from "react-router-dom";
import { Icon } from "../components/Icon";
import { Logo } from "../components/Logo";
import { ConversationsProvider } from "../sidebar/ConversationsProvider";
import { Sidebar } from "../sidebar/Sidebar";
import { LimitsProvider } from "./LimitsProvider";
import { OfflineBanner } from "./OfflineBanner";

/** The signed-in layout: the sidebar (a drawer on narrow screens) and the page. */
export function AppShell() {
  const { t } = useTranslation();
  const [drawerOpen, setDrawerOpen] = useState(false);
  const location = useLocation();

  useEffect(() => setDrawerOpen(false), [location.pathname]);
  useEffect(() => {
    if (!drawerOpen) return undefined;
    const onKey = (event: KeyboardEvent): void => {
      if (event.key === "Escape") setDrawerOpen(false);
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [drawerOpen]);

  return (
    <LimitsProvider>
      <ConversationsProvider>
        <a href="#main" className="skip-link">
          {t("app.skipToContent")}
        </a>
        <div className={`shell ${drawerOpen ? "drawer-open" : ""}`}>
          <header className="topbar">
            <button
              type="button"
              className="icon-button"
              aria-label={drawerOpen ? t("nav.closeMenu") : t("nav.openMenu")}
              aria-expanded={drawerOpen}
              aria-controls="sidebar"
              onClick={() => setDrawerOpen((open) => !open)}
            >
              <Icon name={drawerOpen ? "close" : "menu"} />
            </button>
            <span className="brand">
              <Logo size={22} /> {t("app.name")}
            </span>
          </header>
          <aside id="sidebar" className="sidebar" aria-label={t("sidebar.label")}>
            <Sidebar onNavigate={() => setDrawerOpen(false)} />
          </aside>
          {drawerOpen && <div className="drawer-backdrop" onClick={() => setDrawerOpen(false)} aria-hidden="true" />}
          <main id="main" className="page" tabIndex={-1}>
            <OfflineBanner />
            <Outlet />
          </main>
        </div>
      </ConversationsProvider>
    </LimitsProvider>
  );
}
