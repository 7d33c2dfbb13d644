import type { ReactNode } from "react";
import { useTranslation } from "react-i18next";
import { LanguageSelect } from "../components/LanguageSelect";
import { Logo } from "../components/Logo";

export function AuthLayout({ title, children }: { title: string; children: ReactNode }) {
  const { t } = useTranslation();
  return (
    <main className="auth-page" id="main">
      <div className="auth-card">
        <div className="auth-brand">
          <Logo />
          <span>{t("app.name")}</span>
        </div>
        <h1>{title}</h1>
        {children}
      </div>
      <div className="auth-footer">
        <LanguageSelect />
      </div>
    </main>
  );
}
