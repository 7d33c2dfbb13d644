import type { UsageReport } from "@parley/sdk";
import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { Notice } from "../components/Notice";
import { formatCost, formatNumber } from "../format";
import { PageHeader } from "../layout/PageHeader";
import { UsageChart } from "./UsageChart";

const RANGES = [7, 30, 90] as const;

/** Tokens and cost per day and per model, as charts (with the figures in the chart's tooltips and totals). */
export default function UsagePage() {
  const { t } = useTranslation();
  const [days, setDays] = useState<(typeof RANGES)[number]>(30);
  const [byDay, setByDay] = useState<UsageReport | null>(null);
  const [byModel, setByModel] = useState<UsageReport | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let cancelled = false;
    const to = new Date();
    const from = new Date(to.getTime() - days * 86_400_000);
    Promise.all([api.users.usage({ from, to, group_by: "day" }), api.users.usage({ from, to, group_by: "model" })]).then(
      ([day, model]) => {
        if (cancelled) return;
        setByDay(day);
        setByModel(model);
        setError(null);
      },
      (caught: unknown) => !cancelled && setError(describeError(caught, t)),
    );
    return () => {
      cancelled = true;
    };
  }, [days, t]);

  const total = byDay?.total;
  return (
    <div className="page-content">
      <PageHeader title={t("usage.title")}>
        <label className="inline-field">
          <span>{t("usage.range")}</span>
          <select value={days} onChange={(event) => setDays(Number(event.target.value) as (typeof RANGES)[number])}>
            {RANGES.map((range) => (
              <option key={range} value={range}>
                {t(`usage.last${range}`)}
              </option>
            ))}
          </select>
        </label>
      </PageHeader>
      {error && <Notice kind="error">{error}</Notice>}
      {total && (
        <dl className="stat-cards">
          <div className="stat">
            <dt>{t("usage.totalTokens")}</dt>
            <dd>{formatNumber(total.total_tokens)}</dd>
          </div>
          <div className="stat">
            <dt>{t("usage.cost")}</dt>
            <dd>{formatCost(total.cost_usd)}</dd>
          </div>
          <div className="stat">
            <dt>{t("usage.requests")}</dt>
            <dd>{formatNumber(total.requests)}</dd>
          </div>
        </dl>
      )}
      {byDay && (
        <section className="card" aria-labelledby="per-day">
          <h2 id="per-day">{t("usage.perDay")}</h2>
          {byDay.series.length ? <UsageChart series={byDay.series} kind="day" days={days} /> : <p className="muted">{t("usage.noData")}</p>}
        </section>
      )}
      {byModel && (
        <section className="card" aria-labelledby="per-model">
          <h2 id="per-model">{t("usage.perModel")}</h2>
          {byModel.series.length ? <UsageChart series={byModel.series} kind="model" /> : <p className="muted">{t("usage.noData")}</p>}
        </section>
      )}
    </div>
  );
}
