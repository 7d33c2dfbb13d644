import type { AdminReport, AdminReportPage, ReportActionCreate, ReportListQuery, ReportReason, ReportStatus } from "@parley/sdk";
import { type FormEvent, useCallback, useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { useAuthIfAny } from "../auth/AuthProvider";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { Notice } from "../components/Notice";
import { ResultsCard } from "../components/ResultsCard";
import { Pager } from "../components/Pager";
import { formatNumber } from "../format";
import { PageHeader } from "../layout/PageHeader";
import { REPORT_REASONS } from "../chat/ReportAnswer";
import { AdminNav } from "./AdminNav";
import { can } from "./access";
import "./ReviewPage.css";

const PAGE_SIZE = 25;
const STATUSES: readonly ReportStatus[] = ["open", "dismissed", "confirmed"];

interface Filters {
  status: ReportStatus | "";
  reason: ReportReason | "";
  model: string;
  user: string;
  since: string;
  until: string;
}

const EMPTY: Filters = { status: "open", reason: "", model: "", user: "", since: "", until: "" };

function toQuery(filters: Filters): ReportListQuery {
  // datetime-local inputs hold local wall-clock time without a zone: sent as the instant they mean
  const instant = (value: string) => (value ? new Date(value).toISOString() : undefined);
  return {
    status: filters.status || undefined,
    reason: filters.reason || undefined,
    model: filters.model.trim() || undefined,
    user_id: filters.user.trim() || undefined,
    since: instant(filters.since),
    until: instant(filters.until),
  };
}

const when = (value: string | null | undefined) => (value ? new Date(value).toLocaleString() : "–");

/** Reviewers (the `admin:reports` permission): the reports users made of answers, filtered, and one report at a
 * time with the reported exchange (never the rest of the conversation), the detectors' scores, its history, notes and
 * the actions: dismiss, confirm, suspend the user, put a phrase on the block list. */
export default function ReviewPage() {
  const { t } = useTranslation();
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [page, setPage] = useState(1);
  const [found, setFound] = useState<AdminReportPage | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [reload, setReload] = useState(0);

  useEffect(() => {
    let cancelled = false;
    api.admin.reports({ ...toQuery(filters), page, page_size: PAGE_SIZE }).then(
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
  }, [filters, page, reload, t]);

  function apply(event: FormEvent) {
    event.preventDefault();
    setPage(1);
    setFilters(draft);
  }

  const pages = found ? Math.max(1, Math.ceil(found.total / PAGE_SIZE)) : 1;
  return (
    <div className="page-content">
      <AdminNav />
      <PageHeader title={t("review.title")} />
      <form className="review-filters card" onSubmit={apply} aria-label={t("review.filters")}>
        <label className="inline-field">
          <span>{t("review.status")}</span>
          <select value={draft.status} onChange={(e) => setDraft({ ...draft, status: e.target.value as Filters["status"] })}>
            <option value="">{t("review.any")}</option>
            {STATUSES.map((status) => (
              <option key={status} value={status}>
                {t(`review.statuses.${status}`)}
              </option>
            ))}
          </select>
        </label>
        <label className="inline-field">
          <span>{t("review.reason")}</span>
          <select value={draft.reason} onChange={(e) => setDraft({ ...draft, reason: e.target.value as Filters["reason"] })}>
            <option value="">{t("review.any")}</option>
            {REPORT_REASONS.map((reason) => (
              <option key={reason} value={reason}>
                {t(`report.reasons.${reason}`)}
              </option>
            ))}
          </select>
        </label>
        <label className="inline-field">
          <span>{t("review.model")}</span>
          <input value={draft.model} onChange={(e) => setDraft({ ...draft, model: e.target.value })} />
        </label>
        <label className="inline-field">
          <span>{t("review.user")}</span>
          <input value={draft.user} placeholder={t("review.userPlaceholder")} onChange={(e) => setDraft({ ...draft, user: e.target.value })} />
        </label>
        <label className="inline-field">
          <span>{t("review.since")}</span>
          <input type="datetime-local" value={draft.since} onChange={(e) => setDraft({ ...draft, since: e.target.value })} />
        </label>
        <label className="inline-field">
          <span>{t("review.until")}</span>
          <input type="datetime-local" value={draft.until} onChange={(e) => setDraft({ ...draft, until: e.target.value })} />
        </label>
        <button type="submit" className="button">
          {t("review.apply")}
        </button>
      </form>
      {error && <Notice kind="error">{error}</Notice>}
      <ResultsCard
        found={found}
        error={error}
        none={t("review.none")}
        count={t("review.count", { formatted: formatNumber(found?.total ?? 0), count: found?.total ?? 0 })}
        footer={
          <Pager page={page} pages={pages} onPage={setPage} />
        }
      >
        <table className="data-table" aria-label={t("review.tableLabel")}>
          <thead>
            <tr>
              <th scope="col">{t("review.reported")}</th>
              <th scope="col">{t("review.user")}</th>
              <th scope="col">{t("review.reason")}</th>
              <th scope="col">{t("review.model")}</th>
              <th scope="col">{t("review.status")}</th>
              <th scope="col">
                <span className="visually-hidden">{t("review.open")}</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {found?.items.map((report) => (
              <tr key={report.id} aria-selected={selected === report.id}>
                <td>{when(report.created_at)}</td>
                <th scope="row">{report.user_email}</th>
                <td>{t(`report.reasons.${report.reason}`)}</td>
                <td>{report.model ?? "–"}</td>
                <td>{t(`review.statuses.${report.status}`)}</td>
                <td>
                  <button
                    type="button"
                    className="button small subtle"
                    onClick={() => setSelected(report.id)}
                    aria-label={t("review.openReport", { user: report.user_email })}
                  >
                    {t("review.open")}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </ResultsCard>
      {selected && (
        <ReportDetail key={selected} reportId={selected} onChanged={() => setReload((n) => n + 1)} onClose={() => setSelected(null)} />
      )}
    </div>
  );
}

interface DetailProps {
  reportId: string;
  onChanged(): void;
  onClose(): void;
}

/** One report: the exchange, the user's text, the detectors' scores, the history, and the actions. */
export function ReportDetail({ reportId, onChanged, onClose }: DetailProps) {
  const { t } = useTranslation();
  const me = useAuthIfAny()?.user;
  const [report, setReport] = useState<AdminReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState("");
  const [phrase, setPhrase] = useState("");
  const [busy, setBusy] = useState(false);
  const [suspending, setSuspending] = useState(false);
  const [done, setDone] = useState<string | null>(null);

  useEffect(() => {
    let cancelled = false;
    api.admin.report(reportId).then(
      (result) => !cancelled && setReport(result),
      (caught: unknown) => !cancelled && setError(describeError(caught, t)),
    );
    return () => {
      cancelled = true;
    };
  }, [reportId, t]);

  const act = useCallback(
    async (body: ReportActionCreate) => {
      setBusy(true);
      setError(null);
      setDone(null);
      try {
        const text = note.trim();
        const updated = await api.admin.actOnReport(reportId, text ? { ...body, note: text } : body);
        setReport(updated);
        setNote("");
        if (body.action === "block_phrase") setPhrase("");
        setDone(t(`review.done.${body.action}`));
        onChanged();
      } catch (caught) {
        setError(describeError(caught, t));
      } finally {
        setBusy(false);
      }
    },
    [note, reportId, onChanged, t],
  );

  if (report === null)
    return (
      <section className="card review-detail">{error ? <Notice kind="error">{error}</Notice> : <p className="muted">{t("app.loading")}</p>}</section>
    );
  // without `admin:users` (or outside an AuthProvider: every action is offered, the server decides)
  const maySuspend = me === undefined || can(me, "admin:users");
  return (
    <section className="card review-detail" aria-label={t("review.detail")}>
      <header className="review-detail-header">
        <h2>
          {t(`report.reasons.${report.reason}`)} · {t(`review.statuses.${report.status}`)}
        </h2>
        <button type="button" className="button subtle" onClick={onClose}>
          {t("review.close")}
        </button>
      </header>
      <p className="muted small-text">
        {t("review.reportedBy", { user: report.user_email, at: when(report.created_at), model: report.model ?? "–" })}
      </p>
      {report.comment && (
        <p>
          <strong>{t("review.userComment")}</strong> {report.comment}
        </p>
      )}
      <h3>{t("review.exchange")}</h3>
      {report.exchange ? (
        <div className="review-exchange">
          <div aria-label={t("review.question")}>
            <strong>{t("review.question")}</strong>
            <blockquote>{report.exchange.question ?? "–"}</blockquote>
          </div>
          <div aria-label={t("review.answer")}>
            <strong>{t("review.answer")}</strong>
            <blockquote>{report.exchange.answer}</blockquote>
          </div>
        </div>
      ) : (
        <p className="muted">{t("review.exchangeHidden")}</p>
      )}
      <h3>{t("review.scores")}</h3>
      {report.scores && Object.keys(report.scores).length > 0 ? (
        <dl className="review-scores">
          {Object.entries(report.scores).map(([name, value]) => (
            <div key={name}>
              <dt>{name}</dt>
              <dd>{typeof value === "number" ? value.toFixed(2) : JSON.stringify(value)}</dd>
            </div>
          ))}
        </dl>
      ) : (
        <p className="muted">{t("review.noScores")}</p>
      )}
      <h3>{t("review.history")}</h3>
      {report.actions.length === 0 ? (
        <p className="muted">{t("review.noHistory")}</p>
      ) : (
        <ol className="review-history" aria-label={t("review.history")}>
          {report.actions.map((action) => (
            <li key={action.id}>
              <span>{when(action.created_at)}</span> · <strong>{t(`review.actions.${action.action}`)}</strong>
              {typeof action.details.phrase === "string" && <> “{action.details.phrase}”</>} ·{" "}
              <span className="muted">{action.actor_email ?? t("review.formerAdmin")}</span>
              {action.note && <p className="review-note">{action.note}</p>}
            </li>
          ))}
        </ol>
      )}
      <div className="form review-actions">
        <label className="field">
          <span>{t("review.note")}</span>
          <textarea value={note} rows={2} maxLength={2000} onChange={(e) => setNote(e.target.value)} />
        </label>
        <div className="review-buttons">
          <button type="button" className="button" disabled={busy || !note.trim()} onClick={() => void act({ action: "note" })}>
            {t("review.addNote")}
          </button>
          <button type="button" className="button" disabled={busy || report.status === "dismissed"} onClick={() => void act({ action: "dismiss" })}>
            {t("review.dismiss")}
          </button>
          <button type="button" className="button primary" disabled={busy || report.status === "confirmed"} onClick={() => void act({ action: "confirm" })}>
            {t("review.confirm")}
          </button>
          {maySuspend && (
            <button type="button" className="button danger" disabled={busy} onClick={() => setSuspending(true)}>
              {t("review.suspend")}
            </button>
          )}
        </div>
        <form
          className="review-block"
          onSubmit={(event) => {
            event.preventDefault();
            if (phrase.trim()) void act({ action: "block_phrase", phrase: phrase.trim() });
          }}
        >
          <label className="inline-field">
            <span>{t("review.phrase")}</span>
            <input value={phrase} maxLength={200} onChange={(e) => setPhrase(e.target.value)} />
          </label>
          <button type="submit" className="button" disabled={busy || !phrase.trim()}>
            {t("review.block")}
          </button>
        </form>
      </div>
      {done && <Notice kind="success">{done}</Notice>}
      {error && <Notice kind="error">{error}</Notice>}
      {suspending && (
        <ConfirmDialog
          title={t("review.suspendTitle", { user: report.user_email })}
          confirmLabel={t("review.suspend")}
          danger
          onCancel={() => setSuspending(false)}
          onConfirm={() => {
            setSuspending(false);
            void act({ action: "suspend_user" });
          }}
        >
          <p>{t("review.suspendBody")}</p>
        </ConfirmDialog>
      )}
    </section>
  );
}
