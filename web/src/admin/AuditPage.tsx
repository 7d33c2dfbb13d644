import type { AuditEvent, AuditEventPage, AuditQuery, ChainVerification } from "@parley/sdk";
import { type FormEvent, useCallback, useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { Notice } from "../components/Notice";
import { ResultsCard } from "../components/ResultsCard";
import { formatNumber } from "../format";
import { PageHeader } from "../layout/PageHeader";
import { AdminNav } from "./AdminNav";
import "./AuditPage.css";

const PAGE_SIZE = 50;
// Offered in the action filter (any other action name can still be typed).
export const KNOWN_ACTIONS = [
  "auth.login",
  "auth.login_failed",
  "api_key.create",
  "api_key.revoke",
  "admin.user_update",
  "admin.user_data_read",
  "plan.put",
  "group.member_add",
  "knowledge_base.grant_create",
  "file.access_by_other",
  "chat.retrieval_provenance",
  "user.export",
  "user.erase",
  "audit.export",
];

interface Filters {
  since: string;
  until: string;
  action: string;
  actor: string;
}

const EMPTY: Filters = { since: "", until: "", action: "", actor: "" };

/** datetime-local inputs hold local wall-clock time without a zone: sent as the instant they mean. */
function toQuery(filters: Filters): AuditQuery {
  const instant = (value: string) => (value ? new Date(value).toISOString() : undefined);
  return {
    since: instant(filters.since),
    until: instant(filters.until),
    action: filters.action.trim() || undefined,
    actor_id: filters.actor.trim() || undefined,
  };
}

const when = (value: string | null | undefined) => (value ? new Date(value).toLocaleString() : "–");

/** Administrators (the `admin:audit` permission): the tamper-evident audit trail, filtered by time, action and actor,
 * each event's details, whether the hash chain still verifies, and an export (JSON Lines) for a SIEM. */
export default function AuditPage() {
  const { t } = useTranslation();
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [page, setPage] = useState(1);
  const [found, setFound] = useState<AuditEventPage | null>(null);
  const [selected, setSelected] = useState<AuditEvent | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [exporting, setExporting] = useState(false);

  useEffect(() => {
    let cancelled = false;
    api.admin.auditEvents({ ...toQuery(filters), page, page_size: PAGE_SIZE }).then(
      (result) => {
        if (cancelled) return;
        setFound(result);
        setError(null);
      },
      (caught: unknown) => !cancelled && setError(describeError(caught, t)),
    );
    return () => {
      cancelled = true;
    };
  }, [filters, page, t]);

  function apply(event: FormEvent) {
    event.preventDefault();
    setSelected(null);
    setPage(1);
    setFilters(draft);
  }

  async function exportLines() {
    setExporting(true);
    try {
      // fetched with the bearer token (a bare link would carry none), then handed to the browser as a file
      const file = await api.admin.auditExport(toQuery(filters));
      const url = URL.createObjectURL(file.blob);
      const link = document.createElement("a");
      link.href = url;
      link.download = file.filename || "parley-audit.jsonl";
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (caught) {
      setError(describeError(caught, t));
    } finally {
      setExporting(false);
    }
  }

  const pages = found ? Math.max(1, Math.ceil(found.total / PAGE_SIZE)) : 1;
  return (
    <div className="page-content">
      <AdminNav />
      <PageHeader title={t("audit.title")}>
        <button type="button" className="button" onClick={() => void exportLines()} disabled={exporting}>
          {t("audit.export")}
        </button>
      </PageHeader>
      <ChainStatus />
      <form className="audit-filters card" onSubmit={apply} aria-label={t("audit.filters")}>
        <label className="inline-field">
          <span>{t("audit.since")}</span>
          <input type="datetime-local" value={draft.since} onChange={(e) => setDraft({ ...draft, since: e.target.value })} />
        </label>
        <label className="inline-field">
          <span>{t("audit.until")}</span>
          <input type="datetime-local" value={draft.until} onChange={(e) => setDraft({ ...draft, until: e.target.value })} />
        </label>
        <label className="inline-field">
          <span>{t("audit.action")}</span>
          <input list="audit-actions" value={draft.action} onChange={(e) => setDraft({ ...draft, action: e.target.value })} />
          <datalist id="audit-actions">
            {KNOWN_ACTIONS.map((action) => (
              <option key={action} value={action} />
            ))}
          </datalist>
        </label>
        <label className="inline-field">
          <span>{t("audit.actor")}</span>
          <input
            value={draft.actor}
            placeholder={t("audit.actorPlaceholder")}
            onChange={(e) => setDraft({ ...draft, actor: e.target.value })}
          />
        </label>
        <button type="submit" className="button">
          {t("audit.apply")}
        </button>
      </form>
      {error && <Notice kind="error">{error}</Notice>}
      <ResultsCard
        found={found}
        error={error}
        none={t("audit.none")}
        count={t("audit.count", { formatted: formatNumber(found?.total ?? 0), count: found?.total ?? 0 })}
        footer={
          <nav className="audit-pages" aria-label={t("audit.pages")}>
      <button type="button" className="button" disabled={page <= 1} onClick={() => setPage(page - 1)}>
        {t("audit.previous")}
      </button>
      <span>{t("audit.pageOf", { page, pages })}</span>
      <button type="button" className="button" disabled={page >= pages} onClick={() => setPage(page + 1)}>
        {t("audit.next")}
      </button>
    </nav>
        }
      >
        <table className="data-table audit-table" aria-label={t("audit.tableLabel")}>
          <thead>
            <tr>
              <th scope="col">{t("audit.seq")}</th>
              <th scope="col">{t("audit.time")}</th>
              <th scope="col">{t("audit.action")}</th>
              <th scope="col">{t("audit.actor")}</th>
              <th scope="col">{t("audit.target")}</th>
              <th scope="col">
                <span className="visually-hidden">{t("audit.details")}</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {found?.items.map((event) => (
              <tr key={event.id} aria-selected={selected?.id === event.id}>
                <td>{event.seq ?? "–"}</td>
                <td>{when(event.created_at)}</td>
                <th scope="row">
                  <code>{event.action}</code>
                </th>
                <td>{event.actor_id ? <code>{event.actor_id}</code> : t("audit.system")}</td>
                <td>{event.target_type ? `${event.target_type} ${event.target_id ?? ""}`.trim() : "–"}</td>
                <td>
                  <button
                    type="button"
                    className="button small subtle"
                    onClick={() => setSelected(event)}
                    aria-label={t("audit.showDetails", { action: event.action, seq: event.seq ?? "–" })}
                  >
                    {t("audit.details")}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </ResultsCard>
      {selected && <EventDetails event={selected} onClose={() => setSelected(null)} />}
    </div>
  );
}

/** Whether the chain verifies (up to which signed checkpoint), or where it is broken; verified again on demand. */
export function ChainStatus() {
  const { t } = useTranslation();
  const [verdict, setVerdict] = useState<ChainVerification | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [checking, setChecking] = useState(true);

  const check = useCallback(() => {
    setChecking(true);
    api.admin.auditVerification().then(
      (result) => {
        setVerdict(result);
        setError(null);
        setChecking(false);
      },
      (caught: unknown) => {
        setError(describeError(caught, t));
        setChecking(false);
      },
    );
  }, [t]);

  useEffect(check, [check]);

  let body;
  if (error) body = <Notice kind="error">{error}</Notice>;
  else if (verdict === null) body = <p className="muted">{t("audit.verifying")}</p>;
  else if (verdict.status === "verified")
    body = (
      <p className="audit-chain-ok" role="status">
        {verdict.verified_checkpoint_seq != null
          ? t("audit.verifiedToCheckpoint", {
              rows: formatNumber(verdict.rows),
              seq: verdict.verified_checkpoint_seq,
              at: when(verdict.verified_checkpoint_at),
            })
          : t("audit.verifiedNoCheckpoint", { rows: formatNumber(verdict.rows) })}
      </p>
    );
  else
    body = (
      <div className="audit-chain-broken" role="alert">
        <p>
          <strong>
            {verdict.problem?.seq != null ? t("audit.brokenAt", { seq: verdict.problem.seq }) : t("audit.broken")}
          </strong>
        </p>
        <p>{verdict.problem?.message}</p>
      </div>
    );
  return (
    <section className="card audit-chain" aria-labelledby="audit-chain-heading">
      <h2 id="audit-chain-heading">{t("audit.chain")}</h2>
      {body}
      <button type="button" className="button" onClick={check} disabled={checking}>
        {t("audit.verifyAgain")}
      </button>
    </section>
  );
}

/** Everything stored of one event, including its place in the chain. */
export function EventDetails({ event, onClose }: { event: AuditEvent; onClose: () => void }) {
  const { t } = useTranslation();
  const fields: [string, string][] = [
    [t("audit.seq"), event.seq == null ? "–" : String(event.seq)],
    [t("audit.time"), when(event.created_at)],
    [t("audit.action"), event.action],
    [t("audit.actor"), event.actor_id ?? t("audit.system")],
    [t("audit.target"), event.target_type ? `${event.target_type} ${event.target_id ?? ""}`.trim() : "–"],
    [t("audit.ip"), event.ip ?? "–"],
    [t("audit.id"), event.id],
    [t("audit.prevHash"), event.prev_hash ?? "–"],
    [t("audit.hash"), event.hash ?? "–"],
  ];
  return (
    <section className="card audit-details" aria-labelledby="audit-details-heading">
      <h2 id="audit-details-heading">{t("audit.detailsOf", { action: event.action })}</h2>
      <dl>
        {fields.map(([label, value]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd>
              <code>{value}</code>
            </dd>
          </div>
        ))}
      </dl>
      <h3>{t("audit.data")}</h3>
      <pre aria-label={t("audit.data")}>{JSON.stringify(event.details, null, 2)}</pre>
      <button type="button" className="button" onClick={onClose}>
        {t("audit.close")}
      </button>
    </section>
  );
}
