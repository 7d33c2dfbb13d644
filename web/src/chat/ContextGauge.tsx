import type { ConversationContext } from "@parley/sdk";
import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { formatCompact, formatCost, formatNumber, formatPercent } from "../format";
import { meterState } from "../layout/limits";

/**
 * The chat header's gauge: how much of the model's context window the conversation takes (as its last answer
 * counted it) and what the conversation has cost. Read again whenever `version` changes (after each answer).
 */
export function ContextGauge({ conversationId, version }: { conversationId: string; version: number }) {
  const { t } = useTranslation();
  const [context, setContext] = useState<ConversationContext | null>(null);

  useEffect(() => {
    const controller = new AbortController();
    api.conversations
      .context(conversationId, { signal: controller.signal })
      .then((found) => {
        if (!controller.signal.aborted) setContext(found);
      })
      // Not read now: the gauge keeps what it showed (or stays hidden) until the next answer.
      .catch(() => undefined);
    return () => controller.abort();
  }, [conversationId, version]);

  // A gauge of another conversation (just switched from) is not shown for this one.
  useEffect(() => setContext(null), [conversationId]);

  if (!context) return null;
  const size = context.context_window;
  const fraction = size ? Math.min(1, context.context_tokens / size) : 0;
  const cost = formatCost(context.cost_usd);
  const title = size
    ? t("limits.contextTitle", {
        used: formatNumber(context.context_tokens),
        window: formatNumber(size),
        model: context.model,
        percent: formatPercent(fraction),
        cost,
      })
    : undefined;

  return (
    <div className={`context-gauge limits-${meterState(fraction)}`} title={title} data-testid="context-gauge">
      {size ? (
        <>
          <div
            className="limits-bar"
            role="meter"
            aria-label={t("limits.contextLabel")}
            aria-valuemin={0}
            aria-valuemax={size}
            aria-valuenow={context.context_tokens}
            aria-valuetext={title}
          >
            <span style={{ width: `${Math.round(fraction * 100)}%` }} />
          </div>
          <span className="context-tokens">
            {t("limits.context", { used: formatCompact(context.context_tokens), window: formatCompact(size) })}
          </span>
        </>
      ) : null}
      <span className="context-cost">{cost}</span>
    </div>
  );
}
