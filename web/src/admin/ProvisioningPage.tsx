import type { ScimStatus, ScimTokenCreated } from "@parley/sdk";
import { useCallback, useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { CopyButton } from "../components/CopyButton";
import { Notice } from "../components/Notice";
import { formatDateTime } from "../format";
import { PageHeader } from "../layout/PageHeader";
import { AdminNav } from "./AdminNav";
import "./ProvisioningPage.css";
import { SingleSignOnSection } from "./SingleSignOnSection";

/** Administrators: SCIM provisioning. Whether it is on, the base URL and token to give the identity provider
 * (the token is shown once, when it is created or rotated), and when the identity provider last called. */
export default function ProvisioningPage() {
  const { t } = useTranslation();
  const [status, setStatus] = useState<ScimStatus | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<ScimTokenCreated | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    try {
      setStatus(await api.admin.scim());
    } catch (caught) {
      setError(describeError(caught, t));
    }
  }, [t]);

  useEffect(() => {
    void load();
  }, [load]);

  async function rotate() {
    setConfirming(false);
    setBusy(true);
    setError(null);
    try {
      setCreated(await api.admin.rotateScimToken());
      await load();
    } catch (caught) {
      setError(describeError(caught, t));
    } finally {
      setBusy(false);
    }
  }

  const hasAdminToken = Boolean(status?.token_created_at);
  return (
    <div className="page-content">
      <AdminNav />
      <PageHeader title={t("scim.title")} />
      <p className="muted">{t("scim.intro")}</p>
      {error && <Notice kind="error">{error}</Notice>}
      {status && (
        <section className="card" aria-label={t("scim.title")}>
          <dl className="details-list">
            <dt>{t("scim.status")}</dt>
            <dd data-testid="scim-status">{status.enabled ? t("scim.on") : t("scim.off")}</dd>
            <dt>{t("scim.baseUrl")}</dt>
            <dd className="key-line">
              <code data-testid="scim-base-url">{status.base_url}</code>
              <CopyButton text={() => status.base_url} label={t("app.copy")} doneLabel={t("app.copied")} />
            </dd>
            <dt>{t("scim.token")}</dt>
            <dd>
              {hasAdminToken ? t("scim.tokenCreated", { when: formatDateTime(status.token_created_at) }) : t("scim.noToken")}
              {status.settings_token && <div className="muted small-text">{t("scim.settingsToken")}</div>}
            </dd>
            <dt>{t("scim.lastCall")}</dt>
            <dd>{status.last_call_at ? formatDateTime(status.last_call_at) : t("scim.never")}</dd>
          </dl>
          <button
            type="button"
            className="button primary"
            disabled={busy}
            onClick={() => (hasAdminToken ? setConfirming(true) : void rotate())}
          >
            {hasAdminToken ? t("scim.rotate") : t("scim.create")}
          </button>
        </section>
      )}
      {created && (
        <div className="new-key" role="status">
          <strong>{t("scim.newTokenTitle")}</strong>
          <p className="muted small-text">{t("scim.newTokenHint")}</p>
          <div className="key-line">
            <code data-testid="new-scim-token">{created.token}</code>
            <CopyButton text={() => created.token} label={t("app.copy")} doneLabel={t("app.copied")} />
            <button type="button" className="button subtle" onClick={() => setCreated(null)}>
              {t("app.close")}
            </button>
          </div>
        </div>
      )}
      <SingleSignOnSection />
      {confirming && (
        <ConfirmDialog
          title={t("scim.rotateTitle")}
          confirmLabel={t("scim.rotate")}
          danger
          onCancel={() => setConfirming(false)}
          onConfirm={() => void rotate()}
        >
          <p>{t("scim.rotateBody")}</p>
        </ConfirmDialog>
      )}
    </div>
  );
}
