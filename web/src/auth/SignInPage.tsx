import { ParleyApiError, type SignInMethods } from "@parley/sdk";
import { type FormEvent, useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, useLocation } from "react-router-dom";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { Notice } from "../components/Notice";
import { AuthLayout } from "./AuthLayout";
import { useAuth } from "./AuthProvider";
import { registrationKnownDisabled } from "./registration";
import { rememberSsoProvider, ssoErrorCode } from "./sso";

export function SignInPage() {
  const { t } = useTranslation();
  const { signIn, notice } = useAuth();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const location = useLocation();
  const ssoError = ssoErrorCode(location.search);
  // null while loading (or when the server could not say): the password form shows, as before SSO existed.
  const [methods, setMethods] = useState<SignInMethods | null>(null);
  const [breakGlassOpen, setBreakGlassOpen] = useState(false);

  useEffect(() => {
    let cancelled = false;
    api.auth
      .providers()
      .then((found) => {
        if (!cancelled) setMethods(found);
      })
      .catch(() => {
        // the form stays: a server that cannot list its methods still takes passwords
      });
    return () => {
      cancelled = true;
    };
  }, []);

  const providers = methods?.methods.filter((method) => method.kind !== "password") ?? [];
  const passwordOffered = methods === null || methods.methods.some((method) => method.kind === "password");
  const showPasswordForm = passwordOffered || breakGlassOpen;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(email.trim(), password);
      rememberSsoProvider(null);
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
      {ssoError && <Notice kind="error">{t(`auth.ssoError.${ssoError}`)}</Notice>}
      {providers.length > 0 && (
        <div className="sso-buttons">
          {providers.map((provider) => (
            <a
              key={provider.id}
              className="button wide"
              href={provider.login_url ?? api.auth.ssoLoginUrl(provider.id)}
              onClick={() => rememberSsoProvider(provider.id)}
            >
              {t("auth.continueWith", { name: provider.display_name })}
            </a>
          ))}
        </div>
      )}
      {providers.length > 0 && showPasswordForm && <p className="sso-or">{t("auth.orPassword")}</p>}
      {!showPasswordForm && methods?.break_glass_password && (
        <button type="button" className="button subtle wide" onClick={() => setBreakGlassOpen(true)}>
          {t("auth.breakGlass")}
        </button>
      )}
      {showPasswordForm && (
        <form onSubmit={submit} className="form" aria-busy={busy}>
          <label className="field">
            <span>{t("auth.email")}</span>
            <input type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} autoFocus={providers.length === 0} />
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
      )}
      {passwordOffered && !registrationKnownDisabled() && (
        <p className="auth-switch">
          {t("auth.noAccount")} <Link to="/register">{t("auth.createOne")}</Link>
        </p>
      )}
    </AuthLayout>
  );
}
