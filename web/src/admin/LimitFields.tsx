import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { formatCost, formatNumber } from "../format";
import { type Draft, type LimitDraft, type LimitKey, PII_POLICIES, isMoney } from "./limitsDraft";

interface Props {
  keys: readonly LimitKey[];
  draft: Draft;
  onChange(draft: Draft): void;
  /** Overrides: each limit has a "set" box, and a limit not set is left to the plan. */
  partial?: boolean;
  /** The configured models' names, for the model list. */
  catalogue: string[];
  /** The limit the last save refused as not a number, to point at. */
  invalid?: LimitKey | null;
}

/** The inputs for a set of limits: a number each (empty: unlimited) and the models as a multi-select. */
export function LimitFields({ keys, draft, onChange, partial = false, catalogue, invalid = null }: Props) {
  const { t } = useTranslation();
  const update = (key: LimitKey, change: Partial<LimitDraft>) => {
    const current = draft[key] ?? { set: true, text: "", allModels: true, models: [] };
    onChange({ ...draft, [key]: { ...current, ...change } });
  };
  return (
    <div className="limit-fields">
      {keys.map((key) => {
        const field = draft[key] ?? { set: !partial, text: "", allModels: true, models: [] };
        const label = t(`plans.limits.${key}`);
        const disabled = partial && !field.set;
        return (
          <div key={key} className={`limit-field${disabled ? " unset" : ""}`} data-limit={key}>
            {partial ? (
              <label className="limit-set">
                <input type="checkbox" checked={field.set} onChange={(event) => update(key, { set: event.target.checked })} />
                <span>{label}</span>
              </label>
            ) : (
              <span className="limit-name">{label}</span>
            )}
            {key === "models" ? (
              <div className="limit-models">
                <label className="limit-set">
                  <input
                    type="checkbox"
                    checked={field.allModels}
                    disabled={disabled}
                    onChange={(event) => update(key, { allModels: event.target.checked })}
                  />
                  <span>{t("plans.allModels")}</span>
                </label>
                <select
                  multiple
                  aria-label={label}
                  disabled={disabled || field.allModels}
                  value={field.models}
                  size={Math.min(6, Math.max(2, catalogue.length))}
                  onChange={(event) => update(key, { models: Array.from(event.target.selectedOptions, (option) => option.value) })}
                >
                  {[...catalogue, ...field.models.filter((name) => !catalogue.includes(name))].map((name) => (
                    <option key={name} value={name}>
                      {name}
                    </option>
                  ))}
                </select>
              </div>
            ) : key === "pii_policy" ? (
              <select aria-label={label} disabled={disabled} value={field.text} onChange={(event) => update(key, { text: event.target.value })}>
                <option value="">{t("plans.pii.default")}</option>
                {PII_POLICIES.map((policy) => (
                  <option key={policy} value={policy}>
                    {t(`plans.pii.${policy}`)}
                  </option>
                ))}
              </select>
            ) : (
              <input
                type="number"
                min={0}
                step={isMoney(key) ? 0.01 : 1}
                aria-label={label}
                aria-invalid={invalid === key || undefined}
                placeholder={disabled ? t("plans.fromPlan") : t("plans.unlimited")}
                disabled={disabled}
                value={field.text}
                onChange={(event) => update(key, { text: event.target.value })}
              />
            )}
          </div>
        );
      })}
    </div>
  );
}

/** One limit as the tables show it: unlimited, every model, a number, an amount in USD, or a PII policy. */
export function LimitValue({ limit, value }: { limit: LimitKey; value: number | string | string[] | null | undefined }) {
  const { t } = useTranslation();
  if (limit === "pii_policy") {
    return value ? <>{t(`plans.pii.${value}`)}</> : <span className="muted">{t("plans.pii.default")}</span>;
  }
  if (typeof value === "string") return <>{value}</>;
  if (value === null || value === undefined) {
    return <span className="muted">{limit === "models" ? t("plans.allModels") : t("plans.unlimited")}</span>;
  }
  if (Array.isArray(value)) return <>{value.length ? value.join(", ") : t("plans.noModels")}</>;
  return <>{isMoney(limit) ? formatCost(value) : formatNumber(value)}</>;
}

/** The configured models' names (an admin route: whatever the admin's own plan allows), disabled ones left out (the
 * server refuses a plan naming one); empty until loaded. */
export function useCatalogue(): string[] {
  const [names, setNames] = useState<string[]>([]);
  useEffect(() => {
    let cancelled = false;
    api.admin
      .models()
      .then((models) => !cancelled && setNames(models.filter((model) => model.enabled !== false).map((model) => model.name)))
      .catch(() => undefined);
    return () => {
      cancelled = true;
    };
  }, []);
  return names;
}
