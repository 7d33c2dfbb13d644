import { ParleyApiError } from "@parley/sdk";
import { type FormEvent, useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, useNavigate } from "react-router-dom";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { Notice } from "../components/Notice";
import { AuthLayout } from "./AuthLayout";
import { useAuth } from "./AuthProvider";
import { registrationKnownDisabled, rememberRegistrationDisabled } from "./registration";

export function RegisterPage() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const { setNotice } = useAuth();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [fullName, setFullName] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [disabled, setDisabled] = useState(registrationKnownDisabled());

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.auth.register({ email: email.trim(), password, full_name: fullName.trim() || null });
      rememberRegistrationDisabled(false);
      setNotice("registered");
      navigate("/signin", { replace: true });
    } catch (caught) {
      if (caught instanceof ParleyApiError && caught.status === 403) {
        rememberRegistrationDisabled(true);
        setDisabled(true);
      } else {
        setError(describeError(caught, t));
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <AuthLayout title={t("auth.registerTitle")}>
      {disabled ? (
        <Notice kind="info">{t("auth.registrationDisabled")}</Notice>
      ) : (
        <form onSubmit={submit} className="form" aria-busy={busy}>
          <label className="field">
            <span>{t("auth.fullName")}</span>
            <input autoComplete="name" value={fullName} onChange={(e) => setFullName(e.target.value)} maxLength={200} />
          </label>
          <label className="field">
            <span>{t("auth.email")}</span>
            <input type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
          </label>
          <label className="field">
            <span>{t("auth.password")}</span>
            <input
              type="password"
              autoComplete="new-password"
              required
              minLength={12}
              value={password}
              aria-describedby="password-hint"
              onChange={(e) => setPassword(e.target.value)}
            />
            <small id="password-hint">{t("auth.passwordHint")}</small>
          </label>
          {error && <Notice kind="error">{error}</Notice>}
          <button type="submit" className="button primary wide" disabled={busy}>
            {busy ? t("auth.registering") : t("auth.register")}
          </button>
        </form>
      )}
      <p className="auth-switch">
        {t("auth.haveAccount")} <Link to="/signin">{t("auth.signIn")}</Link>
      </p>
    </AuthLayout>
  );
}
