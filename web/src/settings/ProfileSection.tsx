import { type FormEvent, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { useAuth } from "../auth/AuthProvider";
import { Notice } from "../components/Notice";

export function ProfileSection() {
  const { t } = useTranslation();
  const { user, setUser } = useAuth();
  const [fullName, setFullName] = useState(user?.full_name ?? "");
  const [status, setStatus] = useState<{ kind: "success" | "error"; text: string } | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setStatus(null);
    try {
      setUser(await api.users.updateMe({ full_name: fullName.trim() || null }));
      setStatus({ kind: "success", text: t("settings.saved") });
    } catch (caught) {
      setStatus({ kind: "error", text: describeError(caught, t) });
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card" aria-labelledby="profile-title">
      <h2 id="profile-title">{t("settings.profile")}</h2>
      <form className="form" onSubmit={submit}>
        <label className="field">
          <span>{t("settings.email")}</span>
          <input value={user?.email ?? ""} readOnly />
        </label>
        <label className="field">
          <span>{t("settings.fullName")}</span>
          <input value={fullName} maxLength={200} autoComplete="name" onChange={(event) => setFullName(event.target.value)} />
        </label>
        <p className="muted small-text">
          {t("settings.role")}: {user?.role === "admin" ? t("admin.admin") : t("admin.user")} · {t("settings.tier")}:{" "}
          {user ? t(`admin.${user.subscription_tier as "free" | "pro" | "enterprise"}`) : ""}
        </p>
        {status && <Notice kind={status.kind}>{status.text}</Notice>}
        <div>
          <button type="submit" className="button primary" disabled={busy}>
            {t("app.save")}
          </button>
        </div>
      </form>
    </section>
  );
}
