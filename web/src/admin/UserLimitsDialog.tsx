import type { User } from "@parley/sdk";
import { type FormEvent, useEffect, useId, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { Notice } from "../components/Notice";
import { LimitFields, useCatalogue } from "./LimitFields";
import { type Draft, type LimitKey, type Limits, PLAN_LIMITS, draftOf, limitsOf } from "./limitsDraft";

interface Props {
  user: User;
  /** The user as the server now has them (their `limits` changed), after a save or a clear. */
  onSaved(user: User, message: string): void;
  onClose(): void;
}

/** A modal to override some of one user's plan limits (an override wins over the plan and the user's groups), or to
 * clear the overrides. Esc closes it; focus returns to where it was. */
export function UserLimitsDialog({ user, onSaved, onClose }: Props) {
  const { t } = useTranslation();
  const titleId = useId();
  const panel = useRef<HTMLDivElement>(null);
  const catalogue = useCatalogue();
  const [draft, setDraft] = useState<Draft>(() => draftOf(PLAN_LIMITS, (user.limits as Limits | null | undefined) ?? null, true));
  const [invalid, setInvalid] = useState<LimitKey | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null;
    panel.current?.querySelector<HTMLElement>("input")?.focus();
    return () => previous?.focus?.();
  }, []);

  async function save(event: FormEvent) {
    event.preventDefault();
    const result = limitsOf(PLAN_LIMITS, draft);
    setInvalid(result.invalid);
    if (result.invalid) {
      setError(t("plans.notANumber", { limit: t(`plans.limits.${result.invalid}`) }));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      if (Object.keys(result.limits).length === 0) {
        await api.admin.deleteUserLimits(user.id);
        onSaved({ ...user, limits: null }, t("plans.overridesCleared", { email: user.email }));
      } else {
        const stored = await api.admin.putUserLimits(user.id, result.limits);
        onSaved({ ...user, limits: stored }, t("plans.overridesSaved", { email: user.email }));
      }
    } catch (caught) {
      setError(describeError(caught, t));
      setBusy(false);
    }
  }

  async function clear() {
    setBusy(true);
    setError(null);
    try {
      await api.admin.deleteUserLimits(user.id);
      onSaved({ ...user, limits: null }, t("plans.overridesCleared", { email: user.email }));
    } catch (caught) {
      setError(describeError(caught, t));
      setBusy(false);
    }
  }

  return (
    <div className="modal-backdrop" onMouseDown={(event) => event.target === event.currentTarget && onClose()}>
      <div
        ref={panel}
        className="modal limits-modal"
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        onKeyDown={(event) => {
          if (event.key === "Escape") {
            event.stopPropagation();
            onClose();
          }
        }}
      >
        <h2 id={titleId}>{t("plans.overridesTitle", { email: user.email })}</h2>
        <p className="muted small-text">{t("plans.overridesHint", { plan: user.subscription_tier })}</p>
        <form className="form" onSubmit={save}>
          <LimitFields keys={PLAN_LIMITS} draft={draft} onChange={setDraft} partial catalogue={catalogue} invalid={invalid} />
          {error && <Notice kind="error">{error}</Notice>}
          <div className="modal-actions">
            <button type="button" className="button danger" disabled={busy || !user.limits} onClick={() => void clear()}>
              {t("plans.clearOverrides")}
            </button>
            <button type="button" className="button" onClick={onClose}>
              {t("app.cancel")}
            </button>
            <button type="submit" className="button primary" disabled={busy}>
              {t("plans.saveOverrides")}
            </button>
          </div>
        </form>
      </div>
    </div>
  );
}
