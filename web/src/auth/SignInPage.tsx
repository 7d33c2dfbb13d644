import { ParleyApiError } from "@parley/sdk";
import { type FormEvent, useState } from "react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router-dom";
import { describeError } from "../api/errors";
import { Notice } from "../components/Notice";
import { AuthLayout } from "./AuthLayout";
import { useAuth } from "./AuthProvider";
import { registrationKnownDisabled } from "./registration";

export function SignInPage() {
  const { t } = useTranslation();
  const { signIn, notice } = useAuth();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(email.trim(), password);
    } catch (caught) {
      if (caught instanceof ParleyApiError && caught.status === 401) setError(t("auth.invalid"));
      else if (caught instanceof ParleyApiError && caught.status === 429) setError(t("auth.throttled"));
      else if (caught instanceof ParleyApiError && caught.isSuspended) setError(t("auth.suspended"));
      else setError(describeError(caught, t));
      setBusy(false);
    }
  }

  return (
    <AuthLayout title={t("auth.signInTitle")}>
      {notice === "suspended" && !error && <Notice kind="error">{t("auth.suspended")}</Notice>}
      {notice === "expired" && <Notice kind="info">{t("auth.expired")}</Notice>}
      {notice === "signedOut" && <Notice kind="info">{t("auth.signedOut")}</Notice>}
      {notice === "registered" && <Notice kind="success">{t("auth.registered")}</Notice>}
      <form onSubmit={submit} className="form" aria-busy={busy}>
        <label className="field">
          <span>{t("auth.email")}</span>
          <input type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} autoFocus />
        </label>
        <label className="field">
          <span>{t("auth.password")}</span>
          <input type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        {error && <Notice kind="error">{error}</Notice>}
        <button type="submit" className="button primary wide" disabled={busy}>
          {busy ? t("auth.signingIn") : t("auth.signIn")}
        </button>
      </form>
      {!registrationKnownDisabled() && (
        <p className="auth-switch">
          {t("auth.noAccount")} <Link to="/register">{t("auth.createOne")}</Link>
        </p>
      )}
    </AuthLayout>
  );
}
