import type { ApiKey, ApiKeyCreated } from "@parley/sdk";
import { type FormEvent, useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { CopyButton } from "../components/CopyButton";
import { Notice } from "../components/Notice";
import { formatDate } from "../format";

/** Create (the key is shown once, with a copy button), list and revoke API keys. */
export function ApiKeysSection() {
  const { t } = useTranslation();
  const [keys, setKeys] = useState<ApiKey[] | null>(null);
  const [name, setName] = useState("");
  const [days, setDays] = useState("");
  const [created, setCreated] = useState<ApiKeyCreated | null>(null);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    api.apiKeys.list().then(setKeys, (caught: unknown) => setError(describeError(caught, t)));
  }, [t]);

  async function create(event: FormEvent) {
    event.preventDefault();
    setError(null);
    try {
      const key = await api.apiKeys.create({ name: name.trim(), expires_in_days: days ? Number(days) : null });
      setCreated(key);
      setKeys((current) => [key, ...(current ?? [])]);
      setName("");
      setDays("");
    } catch (caught) {
      setError(describeError(caught, t));
    }
  }

  async function revoke(key: ApiKey) {
    setRevoking(null);
    try {
      await api.apiKeys.revoke(key.id);
      setKeys((current) => (current ?? []).filter((item) => item.id !== key.id));
      if (created?.id === key.id) setCreated(null);
    } catch (caught) {
      setError(describeError(caught, t));
    }
  }

  return (
    <section className="card" aria-labelledby="keys-title">
      <h2 id="keys-title">{t("settings.apiKeys")}</h2>
      <p className="muted">{t("settings.apiKeysHint")}</p>
      <form className="form inline-form" onSubmit={create}>
        <label className="field">
          <span>{t("settings.keyName")}</span>
          <input required maxLength={100} value={name} onChange={(event) => setName(event.target.value)} />
        </label>
        <label className="field small">
          <span>{t("settings.expiresInDays")}</span>
          <input type="number" min={1} max={3650} inputMode="numeric" value={days} onChange={(event) => setDays(event.target.value)} />
        </label>
        <button type="submit" className="button primary">
          {t("settings.createKey")}
        </button>
      </form>
      {error && <Notice kind="error">{error}</Notice>}
      {created && (
        <div className="new-key" role="status">
          <strong>{t("settings.newKeyTitle")}</strong>
          <p className="muted small-text">{t("settings.newKeyHint")}</p>
          <div className="key-line">
            <code data-testid="new-api-key">{created.key}</code>
            <CopyButton text={() => created.key} label={t("app.copy")} doneLabel={t("app.copied")} />
            <button type="button" className="button subtle" onClick={() => setCreated(null)}>
              {t("app.close")}
            </button>
          </div>
        </div>
      )}
      {keys === null ? null : keys.length === 0 ? (
        <p className="muted">{t("settings.noKeys")}</p>
      ) : (
        <div className="table-wrap">
          <table className="data-table">
            <thead>
              <tr>
                <th scope="col">{t("settings.keyName")}</th>
                <th scope="col">{t("settings.keyPrefix")}</th>
                <th scope="col">{t("settings.created")}</th>
                <th scope="col">{t("settings.lastUsed")}</th>
                <th scope="col">{t("settings.expires")}</th>
                <th scope="col">
                  <span className="visually-hidden">{t("admin.actions")}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.map((key) => (
                <tr key={key.id}>
                  <td>{key.name}</td>
                  <td>
                    <code>{key.prefix}…</code>
                  </td>
                  <td>{formatDate(key.created_at)}</td>
                  <td>{key.last_used_at ? formatDate(key.last_used_at) : "—"}</td>
                  <td>{key.expires_at ? formatDate(key.expires_at) : t("settings.never")}</td>
                  <td>
                    <button type="button" className="button danger small" onClick={() => setRevoking(key)} aria-label={`${t("settings.revoke")}: ${key.name}`}>
                      {t("settings.revoke")}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {revoking && (
        <ConfirmDialog title={t("settings.revokeTitle")} confirmLabel={t("settings.revoke")} danger onCancel={() => setRevoking(null)} onConfirm={() => void revoke(revoking)}>
          <p>{t("settings.revokeBody", { name: revoking.name })}</p>
        </ConfirmDialog>
      )}
    </section>
  );
}
