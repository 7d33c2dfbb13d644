import type { AnalyticsPoint } from "@parley/sdk";
import { useTranslation } from "react-i18next";
import { formatCost, formatNumber } from "../format";

const WIDTH = 640;
const HEIGHT = 200;
const LABEL_SPACE = 24;

/**
 * One bar per key of the series: its cost, or its tokens when nothing cost money (local or free models).
 * Plain SVG: a handful of rectangles does not need a charting library, and each bar carries its figure as a title.
 */
export function AnalyticsChart({ series }: { series: AnalyticsPoint[] }) {
  const { t } = useTranslation();
  const byCost = series.some((point) => Number(point.cost_usd) > 0);
  const value = (point: AnalyticsPoint) => (byCost ? Number(point.cost_usd) : point.total_tokens);
  const highest = Math.max(...series.map(value), 0) || 1;
  const slot = WIDTH / Math.max(series.length, 1);
  const barWidth = Math.max(2, Math.min(48, slot * 0.7));
  const measure = byCost ? t("analytics.cost") : t("analytics.tokens");
  return (
    <figure className="chart" role="img" aria-label={t("analytics.chartLabel", { measure })}>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT + LABEL_SPACE}`} width="100%" style={{ maxHeight: 280 }}>
        {series.map((point, index) => {
          const height = (value(point) / highest) * HEIGHT;
          const x = index * slot + (slot - barWidth) / 2;
          const key = point.key ?? t("analytics.none");
          const figure = byCost ? formatCost(point.cost_usd) : formatNumber(point.total_tokens);
          return (
            <g key={key} data-key={key}>
              <rect x={x} y={HEIGHT - height} width={barWidth} height={height} fill="var(--chart-1)">
                <title>{`${key}: ${figure}`}</title>
              </rect>
              {series.length <= 16 && (
                <text x={x + barWidth / 2} y={HEIGHT + 16} textAnchor="middle" fontSize="11" fill="var(--text-muted)">
                  {key.length > 12 ? `${key.slice(0, 11)}…` : key}
                </text>
              )}
            </g>
          );
        })}
      </svg>
      <figcaption className="muted small-text">{measure}</figcaption>
    </figure>
  );
}
