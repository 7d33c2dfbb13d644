import type { Group } from "@parley/sdk";
import { type FormEvent, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { Notice } from "../components/Notice";
import { LimitFields, useCatalogue } from "./LimitFields";
import { type Draft, GROUP_LIMITS, type LimitKey, type Limits, draftOf, limitsOf } from "./limitsDraft";

interface Props {
  group: Group;
  /** The group's limits as the server now stores them (null: none). */
  onChange(limits: Limits | null): void;
}

/** Administrators: the limits a group gives its members (each member gets the most generous of their plan and their
 * groups) and the monthly budget the members share; set or cleared. */
export function GroupLimitsSection({ group, onChange }: Props) {
  const { t } = useTranslation();
  const catalogue = useCatalogue();
  const stored = (group.limits as Limits | null | undefined) ?? null;
  const [draft, setDraft] = useState<Draft>(() => draftOf(GROUP_LIMITS, stored, true));
  const [invalid, setInvalid] = useState<LimitKey | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function run(call: () => Promise<Limits | null>, done: string) {
    setBusy(true);
    setError(null);
    setMessage(null);
    try {
      const limits = await call();
      setDraft(draftOf(GROUP_LIMITS, limits, true));
      onChange(limits);
      setMessage(done);
    } catch (caught) {
      setError(describeError(caught, t));
    } finally {
      setBusy(false);
    }
  }

  function save(event: FormEvent) {
    event.preventDefault();
    const result = limitsOf(GROUP_LIMITS, draft);
    setInvalid(result.invalid);
    if (result.invalid) {
      setMessage(null);
      setError(t("plans.notANumber", { limit: t(`plans.limits.${result.invalid}`) }));
      return;
    }
    const limits = result.limits;
    if (Object.keys(limits).length === 0) {
      void run(async () => (await api.admin.deleteGroupLimits(group.id), null), t("plans.groupLimitsCleared"));
    } else {
      void run(async () => (await api.admin.putGroupLimits(group.id, limits)) as Limits, t("plans.groupLimitsSaved"));
    }
  }

  return (
    <section className="card group-limits" aria-labelledby="group-limits-title">
      <h2 id="group-limits-title">{t("plans.groupLimitsTitle")}</h2>
      <p className="muted small-text">{t("plans.groupLimitsHint")}</p>
      <form className="form" onSubmit={save} aria-labelledby="group-limits-title">
        <LimitFields keys={GROUP_LIMITS} draft={draft} onChange={setDraft} partial catalogue={catalogue} invalid={invalid} />
        <div className="row-end">
          <button
            type="button"
            className="button danger"
            disabled={busy || !stored}
            onClick={() => void run(async () => (await api.admin.deleteGroupLimits(group.id), null), t("plans.groupLimitsCleared"))}
          >
            {t("plans.clearGroupLimits")}
          </button>
          <button type="submit" className="button primary" disabled={busy}>
            {t("plans.saveGroupLimits")}
          </button>
        </div>
      </form>
      {error && <Notice kind="error">{error}</Notice>}
      {message && <Notice kind="success">{message}</Notice>}
    </section>
  );
}
