import { type FormEvent, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { Notice } from "../components/Notice";

export function PasswordSection() {
  const { t } = useTranslation();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [repeat, setRepeat] = useState("");
  const [status, setStatus] = useState<{ kind: "success" | "error"; text: string } | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (next !== repeat) {
      setStatus({ kind: "error", text: t("settings.passwordMismatch") });
      return;
    }
    setBusy(true);
    setStatus(null);
    try {
      await api.users.changePassword(current, next);
      setCurrent("");
      setNext("");
      setRepeat("");
      setStatus({ kind: "success", text: t("settings.passwordChanged") });
    } catch (caught) {
      setStatus({ kind: "error", text: describeError(caught, t) });
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card" aria-labelledby="password-title">
      <h2 id="password-title">{t("settings.password")}</h2>
      <form className="form" onSubmit={submit}>
        <label className="field">
          <span>{t("settings.currentPassword")}</span>
          <input type="password" autoComplete="current-password" required value={current} onChange={(event) => setCurrent(event.target.value)} />
        </label>
        <label className="field">
          <span>{t("settings.newPassword")}</span>
          <input type="password" autoComplete="new-password" required minLength={12} value={next} onChange={(event) => setNext(event.target.value)} />
        </label>
        <label className="field">
          <span>{t("settings.confirmPassword")}</span>
          <input type="password" autoComplete="new-password" required minLength={12} value={repeat} onChange={(event) => setRepeat(event.target.value)} />
        </label>
        {status && <Notice kind={status.kind}>{status.text}</Notice>}
        <div>
          <button type="submit" className="button primary" disabled={busy}>
            {t("settings.changePassword")}
          </button>
        </div>
      </form>
    </section>
  );
}
