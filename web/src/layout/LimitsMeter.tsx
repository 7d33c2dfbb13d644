import type { QuotaStanding } from "@parley/sdk";
import { useTranslation } from "react-i18next";
import { formatCompact, formatCost, formatNumber, formatPercent } from "../format";
import { capitalise, fractionUsed, limitName, meterState, spentLeft, tightest, usedUpSentence } from "./limits";
import { useLimits } from "./LimitsProvider";

/**
 * The sidebar's meter: tokens and budget left this period (of the tightest token quota and the tightest budget),
 * warning from 80 % used, and at 100 % which limit is used up and when it comes back. Hidden for a plan without
 * quotas.
 */
export function LimitsMeter() {
  const { t } = useTranslation();
  const { limits } = useLimits();
  const quotas = limits?.quotas ?? [];
  const tokens = tightest(quotas, "tokens");
  const budget = tightest(quotas, "usd");
  const worst = tightest(quotas);
  if (!worst) return null;
  const state = meterState(fractionUsed(worst));

  return (
    <section className={`limits-meter limits-${state}`} aria-label={t("limits.label")} data-testid="limits-meter">
      {tokens && <MeterRow quota={tokens} />}
      {budget && <MeterRow quota={budget} />}
      {state === "warning" && (
        <p className="limits-message" role="status">
          {capitalise(
            t("limits.warning", {
              percent: formatPercent(fractionUsed(worst)),
              what: limitName(t, worst.name, worst.group_name),
            }),
          )}
        </p>
      )}
      {state === "exhausted" && (
        <p className="limits-message" role="alert">
          {usedUpSentence(t, worst.name, worst.resets_at, worst.group_name)}
        </p>
      )}
    </section>
  );
}

function MeterRow({ quota }: { quota: QuotaStanding }) {
  const { t } = useTranslation();
  const fraction = fractionUsed(quota);
  const money = quota.unit === "usd";
  // Exact below 10,000 tokens (where each answer shows), compact above ("182K").
  const amount = (value: number): string => (money ? formatCost(value) : value < 10_000 ? formatNumber(value) : formatCompact(value));
  const period = quota.name === "tokens-day" ? t("limits.today") : t("limits.thisMonth");
  const label =
    quota.name === "group-usd-month"
      ? t("limits.groupBudgetLeft", { left: amount(spentLeft(quota)), group: quota.group_name ?? "" })
      : money
        ? t("limits.budgetLeft", { left: amount(spentLeft(quota)), period })
        : t("limits.tokensLeft", { left: amount(spentLeft(quota)), period });
  const detail = t("limits.ofLimit", { used: amount(quota.used), limit: amount(quota.limit) });
  return (
    <div className={`limits-row limits-${meterState(fraction)}`} title={detail}>
      <span className="limits-label">{label}</span>
      <div
        className="limits-bar"
        role="meter"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.round(fraction * 100)}
        aria-valuetext={detail}
      >
        <span style={{ width: `${Math.round(fraction * 100)}%` }} />
      </div>
    </div>
  );
}
