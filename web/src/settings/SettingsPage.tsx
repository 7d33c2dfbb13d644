import { useTranslation } from "react-i18next";
import { PageHeader } from "../layout/PageHeader";
import { ApiKeysSection } from "./ApiKeysSection";
import { DataExportSection } from "./DataExportSection";
import { DeleteAccountSection } from "./DeleteAccountSection";
import { PasswordSection } from "./PasswordSection";
import { PreferencesSection } from "./PreferencesSection";
import { ProfileSection } from "./ProfileSection";

export function SettingsPage() {
  const { t } = useTranslation();
  return (
    <div className="page-content narrow">
      <PageHeader title={t("settings.title")} />
      <ProfileSection />
      <PreferencesSection />
      <PasswordSection />
      <ApiKeysSection />
      <DataExportSection />
      <DeleteAccountSection />
    </div>
  );
}
