import { type FormEvent, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { useAuth } from "../auth/AuthProvider";
import { Notice } from "../components/Notice";

/**
 * "Delete my account": a clear warning, the current password (accounts that sign in only through single sign-on
 * have none: they are asked to have signed in recently instead), then the account and all its data are gone and
 * the session ends.
 */
export function DeleteAccountSection() {
  const { t } = useTranslation();
  const { signOut } = useAuth();
  const [password, setPassword] = useState("");
  const [understood, setUnderstood] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.users.deleteMe(password || undefined);
      await signOut();
    } catch (caught) {
      setError(describeError(caught, t));
      setBusy(false);
    }
  }

  return (
    <section className="card danger-zone" aria-labelledby="delete-account-title">
      <h2 id="delete-account-title">{t("settings.deleteAccountTitle")}</h2>
      <Notice kind="error">{t("settings.deleteAccountWarning")}</Notice>
      <form className="form" onSubmit={submit}>
        <label className="field">
          <span>{t("settings.deleteAccountPassword")}</span>
          <input type="password" autoComplete="current-password" value={password} onChange={(event) => setPassword(event.target.value)} />
        </label>
        <label className="checkbox-field">
          <input type="checkbox" checked={understood} onChange={(event) => setUnderstood(event.target.checked)} />
          <span>{t("settings.deleteAccountConfirm")}</span>
        </label>
        {error && <Notice kind="error">{error}</Notice>}
        <div>
          <button type="submit" className="button danger" disabled={busy || !understood}>
            {t("settings.deleteAccountButton")}
          </button>
        </div>
      </form>
    </section>
  );
}
