import type { PlanRead } from "@parley/sdk";
import { type FormEvent, useEffect, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { Icon } from "../components/Icon";
import { Notice } from "../components/Notice";
import { PageHeader } from "../layout/PageHeader";
import { AdminNav } from "./AdminNav";
import { LimitFields, LimitValue, useCatalogue } from "./LimitFields";
import { type Draft, type LimitKey, type Limits, PLAN_LIMITS, draftOf, limitsOf } from "./limitsDraft";

// What users' subscription_tier holds, and what appears in the plan's URL.
const NAME_PATTERN = "[a-z0-9][a-z0-9_\\-]{0,31}";

/** Administrators: the plans users can be on, with every limit; create, edit and delete them. */
export default function PlansPage() {
  const { t } = useTranslation();
  const catalogue = useCatalogue();
  const [plans, setPlans] = useState<PlanRead[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  // null: creating a new plan; a name: editing that plan
  const [editing, setEditing] = useState<string | null>(null);
  const [name, setName] = useState("");
  const [draft, setDraft] = useState<Draft>(() => draftOf(PLAN_LIMITS, null, false));
  const [invalid, setInvalid] = useState<LimitKey | null>(null);
  const [formError, setFormError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const formCard = useRef<HTMLElement>(null);

  useEffect(() => {
    let cancelled = false;
    api.admin.plans().then(
      (found) => !cancelled && setPlans(found),
      (caught: unknown) => !cancelled && setLoadError(describeError(caught, t)),
    );
    return () => {
      cancelled = true;
    };
  }, [t]);

  function startEdit(plan: PlanRead | null) {
    setEditing(plan?.name ?? null);
    setName(plan?.name ?? "");
    setDraft(draftOf(PLAN_LIMITS, (plan?.limits as Limits | undefined) ?? null, false));
    setInvalid(null);
    setFormError(null);
    setMessage(null);
    // the form is above the list: bring it into view for a plan picked far down
    if (plan) formCard.current?.scrollIntoView({ block: "start", behavior: "smooth" });
  }

  async function save(event: FormEvent) {
    event.preventDefault();
    const planName = (editing ?? name).trim();
    const result = limitsOf(PLAN_LIMITS, draft);
    setInvalid(result.invalid);
    if (result.invalid) {
      setFormError(t("plans.notANumber", { limit: t(`plans.limits.${result.invalid}`) }));
      return;
    }
    setBusy(true);
    setFormError(null);
    setMessage(null);
    try {
      const saved = await api.admin.putPlan(planName, result.limits);
      setPlans((current) => [...(current ?? []).filter((plan) => plan.name !== saved.name), saved].sort((a, b) => a.name.localeCompare(b.name)));
      setMessage(t("plans.saved", { name: saved.name }));
      resetForm();
    } catch (caught) {
      setFormError(describeError(caught, t));
    } finally {
      setBusy(false);
    }
  }

  function resetForm() {
    setEditing(null);
    setName("");
    setDraft(draftOf(PLAN_LIMITS, null, false));
  }

  async function remove(planName: string) {
    setDeleting(null);
    setError(null);
    setMessage(null);
    try {
      await api.admin.deletePlan(planName);
      // a plan of the plan file comes back with the file's limits: ask the server what is left
      setPlans(await api.admin.plans());
      setMessage(t("plans.deleted", { name: planName }));
      if (editing === planName) resetForm();
    } catch (caught) {
      const detail = describeError(caught, t);
      setError(describeError(caught, t, { 409: t("plans.deleteRefused", { name: planName, detail }) }));
    }
  }

  return (
    <div className="page-content">
      <AdminNav />
      <PageHeader title={t("plans.title")} />
      <p className="muted">{t("plans.hint")}</p>
      <section ref={formCard} className="card" aria-labelledby="plan-form-title">
        <h2 id="plan-form-title">{editing ? t("plans.editTitle", { name: editing }) : t("plans.create")}</h2>
        <form className="form plan-form" onSubmit={save} aria-labelledby="plan-form-title">
          {editing === null && (
            <div className="field">
              <label className="field">
                <span>{t("plans.name")}</span>
                <input
                  required
                  maxLength={32}
                  pattern={NAME_PATTERN}
                  aria-describedby="plan-name-rule"
                  value={name}
                  onChange={(event) => setName(event.target.value)}
                  autoComplete="off"
                />
              </label>
              <small id="plan-name-rule">{t("plans.nameRule")}</small>
            </div>
          )}
          <LimitFields keys={PLAN_LIMITS} draft={draft} onChange={setDraft} catalogue={catalogue} invalid={invalid} />
          <div className="row-end">
            {editing !== null && (
              <button type="button" className="button" onClick={() => startEdit(null)}>
                {t("app.cancel")}
              </button>
            )}
            <button type="submit" className="button primary" disabled={busy || (editing === null && !name.trim())}>
              {editing === null ? t("plans.create") : t("plans.save")}
            </button>
          </div>
        </form>
        {formError && <Notice kind="error">{formError}</Notice>}
      </section>
      {error && <Notice kind="error">{error}</Notice>}
      {message && <Notice kind="success">{message}</Notice>}
      {loadError && <Notice kind="error">{loadError}</Notice>}
      {plans === null ? (
        !loadError && (
          <p className="muted" role="status">
            {t("app.loading")}
          </p>
        )
      ) : (
        <div className="table-wrap">
          <table className="data-table plans-table" aria-label={t("plans.title")}>
            <thead>
              <tr>
                <th scope="col">{t("plans.plan")}</th>
                {PLAN_LIMITS.map((key) => (
                  <th key={key} scope="col">
                    {t(`plans.limits.${key}`)}
                  </th>
                ))}
                <th scope="col">{t("admin.actions")}</th>
              </tr>
            </thead>
            <tbody>
              {plans.map((plan) => {
                const limits = plan.limits as Limits;
                return (
                  <tr key={plan.name} data-plan={plan.name}>
                    <th scope="row">{plan.name}</th>
                    {PLAN_LIMITS.map((key) => (
                      <td key={key} data-limit={key}>
                        <LimitValue limit={key} value={limits[key]} />
                      </td>
                    ))}
                    <td>
                      <div className="row-actions">
                        <button type="button" className="button small" onClick={() => startEdit(plan)} aria-label={t("plans.editLabel", { name: plan.name })}>
                          <Icon name="edit" size={16} /> {t("plans.edit")}
                        </button>
                        <button type="button" className="button small danger" onClick={() => setDeleting(plan.name)} aria-label={t("plans.deleteLabel", { name: plan.name })}>
                          <Icon name="trash" size={16} /> {t("plans.delete")}
                        </button>
                      </div>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {deleting && (
        <ConfirmDialog
          title={t("plans.deleteTitle", { name: deleting })}
          confirmLabel={t("plans.delete")}
          danger
          onCancel={() => setDeleting(null)}
          onConfirm={() => void remove(deleting)}
        >
          <p>{t("plans.deleteBody")}</p>
        </ConfirmDialog>
      )}
    </div>
  );
}
