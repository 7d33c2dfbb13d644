import type { UsagePoint } from "@parley/sdk";
import { useTranslation } from "react-i18next";
import { Bar, CartesianGrid, ComposedChart, Legend, Line, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { formatCompact, formatCost, formatDate, formatNumber } from "../format";

interface Props {
  series: UsagePoint[];
  kind: "day" | "model";
  /** For `day`: show every day of the period, also those without use. */
  days?: number;
}

interface Row {
  key: string;
  label: string;
  prompt: number;
  completion: number;
  cost: number;
}

function rows(series: UsagePoint[], kind: Props["kind"], days?: number): Row[] {
  const toRow = (point: UsagePoint, label: string): Row => ({
    key: point.key,
    label,
    prompt: point.prompt_tokens,
    completion: point.completion_tokens,
    cost: Number(point.cost_usd),
  });
  if (kind === "model") return series.map((point) => toRow(point, point.key));
  const byDay = new Map(series.map((point) => [point.key.slice(0, 10), point]));
  const result: Row[] = [];
  const today = new Date();
  for (let back = (days ?? series.length) - 1; back >= 0; back--) {
    const day = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - back));
    const key = day.toISOString().slice(0, 10);
    const point = byDay.get(key) ?? { key, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, cost_usd: "0", requests: 0 };
    result.push(toRow(point, formatDate(day, { month: "short", day: "numeric", timeZone: "UTC" })));
  }
  return result;
}

/** Stacked prompt/completion tokens as bars and the cost as a line on its own axis. */
export function UsageChart({ series, kind, days }: Props) {
  const { t } = useTranslation();
  const data = rows(series, kind, days);
  const title = kind === "day" ? t("usage.perDay") : t("usage.perModel");
  // Free (local or scripted) models cost nothing: then the cost line and its axis would only add noise.
  const hasCost = data.some((row) => row.cost > 0);
  return (
    <figure className="chart" role="img" aria-label={t("usage.chartLabel", { title })}>
      <ResponsiveContainer width="100%" height={280}>
        <ComposedChart data={data} margin={{ top: 8, right: 8, bottom: 8, left: 0 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="var(--border)" vertical={false} />
          <XAxis dataKey="label" tick={{ fill: "var(--text-muted)", fontSize: 12 }} interval="preserveStartEnd" minTickGap={16} />
          <YAxis yAxisId="tokens" tickFormatter={(value: number) => formatCompact(value)} tick={{ fill: "var(--text-muted)", fontSize: 12 }} width={48} />
          {hasCost && (
          <YAxis
            yAxisId="cost"
            orientation="right"
            tickFormatter={(value: number) => formatCost(value)}
            tick={{ fill: "var(--text-muted)", fontSize: 12 }}
            width={64}
            domain={[0, "auto"]}
          />
          )}
          <Tooltip
            contentStyle={{ background: "var(--surface)", border: "1px solid var(--border)", color: "var(--text)" }}
            formatter={(value, name) => (name === t("usage.cost") ? formatCost(Number(value)) : formatNumber(Number(value)))}
          />
          <Legend />
          <Bar yAxisId="tokens" dataKey="prompt" name={t("usage.promptTokens")} stackId="tokens" fill="var(--chart-1)" maxBarSize={56} isAnimationActive={false} />
          <Bar yAxisId="tokens" dataKey="completion" name={t("usage.completionTokens")} stackId="tokens" fill="var(--chart-2)" maxBarSize={56} isAnimationActive={false} />
          {hasCost && <Line yAxisId="cost" dataKey="cost" name={t("usage.cost")} stroke="var(--chart-3)" strokeWidth={2} dot={kind === "model"} isAnimationActive={false} />}
        </ComposedChart>
      </ResponsiveContainer>
    </figure>
  );
}
