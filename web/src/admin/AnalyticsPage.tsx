import type { AnalyticsPoint, AnalyticsQuery, AnalyticsReport, PlanChange } from "@parley/sdk";
import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { Notice } from "../components/Notice";
import { formatCost, formatNumber } from "../format";
import { PageHeader } from "../layout/PageHeader";
import { AdminNav } from "./AdminNav";
import { AnalyticsChart } from "./AnalyticsChart";

const RANGES = [7, 30, 90, 365] as const;
type Range = (typeof RANGES)[number];
type GroupBy = NonNullable<AnalyticsQuery["group_by"]>;
const GROUPINGS: GroupBy[] = ["day", "week", "model", "user", "group", "plan", "cost_centre"];

const percent = (value: number | null | undefined) => (value == null ? "–" : `${formatNumber(Math.round(value * 1000) / 10)} %`);
const millis = (value: number | null | undefined) => (value == null ? "–" : `${formatNumber(Math.round(value))} ms`);
const money = (value: string | number | null | undefined) => (value == null ? "–" : formatCost(value));
const count = (value: number | null | undefined) => (value == null ? "–" : formatNumber(value));

/** The range ends now; the server counts DAU/WAU/MAU at its end. */
function rangeOf(days: Range): { from: Date; to: Date } {
  const to = new Date();
  return { from: new Date(to.getTime() - days * 86_400_000), to };
}

/** Administrators: activity, spend, cache savings, retention, errors, latency, refusals by limits and satisfaction
 * of the organisation, grouped by a key, plan changes, with a CSV export of the same figures for chargeback. */
export default function AnalyticsPage() {
  const { t } = useTranslation();
  const [days, setDays] = useState<Range>(30);
  const [groupBy, setGroupBy] = useState<GroupBy>("day");
  const [report, setReport] = useState<AnalyticsReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [downloading, setDownloading] = useState(false);

  useEffect(() => {
    let cancelled = false;
    api.admin.analytics({ ...rangeOf(days), group_by: groupBy }).then(
      (found) => {
        if (cancelled) return;
        setReport(found);
        setError(null);
      },
      (caught: unknown) => !cancelled && setError(describeError(caught, t)),
    );
    return () => {
      cancelled = true;
    };
  }, [days, groupBy, t]);

  async function download() {
    setDownloading(true);
    try {
      // fetched with the bearer token (a bare link would carry none), then handed to the browser as a file
      const file = await api.admin.analyticsCsv({ ...rangeOf(days), group_by: groupBy });
      const url = URL.createObjectURL(file.blob);
      const link = document.createElement("a");
      link.href = url;
      link.download = file.filename || `parley-analytics-${groupBy}.csv`;
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (caught) {
      setError(describeError(caught, t));
    } finally {
      setDownloading(false);
    }
  }

  const total = report?.total;
  const stats: [string, string][] = report && total
    ? [
        [t("analytics.activeUsers"), `${formatNumber(report.active.dau)} / ${formatNumber(report.active.wau)} / ${formatNumber(report.active.mau)}`],
        [t("analytics.conversations"), formatNumber(total.conversations)],
        [t("analytics.messages"), formatNumber(total.messages)],
        [t("analytics.tokens"), formatNumber(total.total_tokens)],
        [t("analytics.cost"), money(total.cost_usd)],
        [t("analytics.costPerConversation"), money(total.cost_per_conversation_usd)],
        [t("analytics.errorRate"), percent(total.error_rate)],
        [t("analytics.retention"), `${percent(total.retention_7d)} / ${percent(total.retention_30d)}`],
        [t("analytics.saved"), money(total.saved_usd)],
        [t("analytics.refused"), count(total.refused)],
        [t("analytics.satisfaction"), percent(total.satisfaction)],
      ]
    : [];
  return (
    <div className="page-content">
      <AdminNav />
      <PageHeader title={t("analytics.title")}>
        <label className="inline-field">
          <span>{t("analytics.range")}</span>
          <select value={days} onChange={(event) => setDays(Number(event.target.value) as Range)}>
            {RANGES.map((range) => (
              <option key={range} value={range}>
                {t("analytics.lastDays", { count: range })}
              </option>
            ))}
          </select>
        </label>
        <label className="inline-field">
          <span>{t("analytics.groupBy")}</span>
          <select value={groupBy} onChange={(event) => setGroupBy(event.target.value as GroupBy)}>
            {GROUPINGS.map((grouping) => (
              <option key={grouping} value={grouping}>
                {t(`analytics.by.${grouping}`)}
              </option>
            ))}
          </select>
        </label>
        <button type="button" className="button" onClick={() => void download()} disabled={downloading}>
          {t("analytics.downloadCsv")}
        </button>
      </PageHeader>
      {error && <Notice kind="error">{error}</Notice>}
      {report === null ? (
        !error && (
          <p className="muted" role="status">
            {t("app.loading")}
          </p>
        )
      ) : (
        <>
          <dl className="stat-cards">
            {stats.map(([label, figure]) => (
              <div className="stat" key={label}>
                <dt>{label}</dt>
                <dd>{figure}</dd>
              </div>
            ))}
          </dl>
          {total && <Breakdowns total={total} planChanges={report.plan_changes} />}
          {report.series.length === 0 ? (
            <p className="muted">{t("analytics.noData")}</p>
          ) : (
            <section className="card">
              <AnalyticsChart series={report.series} />
              <SeriesTable series={report.series} groupBy={groupBy} />
            </section>
          )}
        </>
      )}
    </div>
  );
}

function SeriesTable({ series, groupBy }: { series: AnalyticsPoint[]; groupBy: GroupBy }) {
  const { t } = useTranslation();
  const columns: [string, (point: AnalyticsPoint) => string][] = [
    [t("analytics.activeUsersShort"), (p) => formatNumber(p.active_users)],
    [t("analytics.conversations"), (p) => formatNumber(p.conversations)],
    [t("analytics.messages"), (p) => formatNumber(p.messages)],
    [t("analytics.tokens"), (p) => formatNumber(p.total_tokens)],
    [t("analytics.cost"), (p) => money(p.cost_usd)],
    [t("analytics.costPerConversation"), (p) => money(p.cost_per_conversation_usd)],
    [t("analytics.saved"), (p) => money(p.saved_usd)],
    [t("analytics.refused"), (p) => count(p.refused)],
    [t("analytics.satisfaction"), (p) => percent(p.satisfaction)],
    [t("analytics.errorRate"), (p) => percent(p.error_rate)],
    [t("analytics.ttft"), (p) => `${millis(p.ttft_p50_ms)} / ${millis(p.ttft_p95_ms)}`],
    [t("analytics.latency"), (p) => `${millis(p.latency_p50_ms)} / ${millis(p.latency_p95_ms)}`],
  ];
  return (
    <div className="table-wrap">
      <table className="data-table" aria-label={t("analytics.tableLabel")}>
        <thead>
          <tr>
            <th scope="col">{t(`analytics.by.${groupBy}`)}</th>
            {columns.map(([label]) => (
              <th scope="col" key={label}>
                {label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {series.map((point) => (
            <tr key={point.key ?? ""}>
              <th scope="row">{point.key ?? t("analytics.none")}</th>
              {columns.map(([label, cell]) => (
                <td key={label}>{cell(point)}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** What the totals do not show as one figure: refusals per limit, the thumbs behind the satisfaction, and who moved
 * from which plan to which. */
function Breakdowns({ total, planChanges }: { total: AnalyticsPoint; planChanges: PlanChange[] }) {
  const { t } = useTranslation();
  const refusals = Object.entries(total.refused_by_limit ?? {});
  return (
    <div className="analytics-breakdowns">
      <section className="card" aria-labelledby="analytics-refusals">
        <h2 id="analytics-refusals">{t("analytics.refusedByLimit")}</h2>
        {refusals.length === 0 ? (
          <p className="muted">{t("analytics.nothingInPeriod")}</p>
        ) : (
          <ul className="plain-list">
            {refusals.map(([limit, times]) => (
              <li key={limit}>
                <code>{limit}</code>: {formatNumber(times)}
              </li>
            ))}
          </ul>
        )}
      </section>
      <section className="card" aria-labelledby="analytics-feedback">
        <h2 id="analytics-feedback">{t("analytics.feedback")}</h2>
        <p>{t("analytics.thumbs", { up: formatNumber(total.thumbs_up), down: formatNumber(total.thumbs_down) })}</p>
      </section>
      <section className="card" aria-labelledby="analytics-plan-changes">
        <h2 id="analytics-plan-changes">{t("analytics.planChanges")}</h2>
        {planChanges.length === 0 ? (
          <p className="muted">{t("analytics.nothingInPeriod")}</p>
        ) : (
          <ul className="plain-list">
            {planChanges.map((change) => (
              <li key={`${change.from_plan}→${change.to_plan}`}>
                {t("analytics.planChange", { from: change.from_plan, to: change.to_plan, count: change.count })}
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}
