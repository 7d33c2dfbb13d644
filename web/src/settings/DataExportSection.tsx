import type { DataExport } from "@parley/sdk";
import { useCallback, useEffect, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { Notice } from "../components/Notice";
import { formatDateTime } from "../format";

// While an export is being built its status is asked again this often.
const POLL_MS = 2000;

/** "Export my data": start an export, watch it being built, download the zip until it expires. */
export function DataExportSection({ pollMs = POLL_MS }: { pollMs?: number }) {
  const { t } = useTranslation();
  const [latest, setLatest] = useState<DataExport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);

  const follow = useCallback(
    (current: DataExport) => {
      setLatest(current);
      if (current.status !== "queued" && current.status !== "running") return;
      timer.current = setTimeout(() => {
        api.users.export(current.id).then(follow, (caught: unknown) => setError(describeError(caught, t)));
      }, pollMs);
    },
    [pollMs, t],
  );

  useEffect(() => {
    let cancelled = false;
    api.users.exports().then(
      (found) => !cancelled && found[0] && follow(found[0]),
      () => undefined, // the section still offers a new export
    );
    return () => {
      cancelled = true;
      if (timer.current) clearTimeout(timer.current);
    };
  }, [follow]);

  async function start() {
    setBusy(true);
    setError(null);
    try {
      follow(await api.users.startExport());
    } catch (caught) {
      setError(describeError(caught, t));
    } finally {
      setBusy(false);
    }
  }

  async function download(target: DataExport) {
    setError(null);
    try {
      // fetched with the bearer token (a bare link would carry none), then handed to the browser as a file
      const file = await api.users.downloadExport(target.id);
      const url = URL.createObjectURL(file.blob);
      const link = document.createElement("a");
      link.href = url;
      link.download = file.filename || "parley-export.zip";
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (caught) {
      setError(describeError(caught, t));
    }
  }

  const building = latest?.status === "queued" || latest?.status === "running";
  return (
    <section className="card" aria-labelledby="data-export-title">
      <h2 id="data-export-title">{t("settings.exportTitle")}</h2>
      <p className="muted">{t("settings.exportHint")}</p>
      {latest && (
        <p role="status" data-export-status={latest.status}>
          {building && t("settings.exportBuilding")}
          {latest.status === "ready" && latest.expires_at && t("settings.exportReady", { expires: formatDateTime(latest.expires_at) })}
          {latest.status === "failed" && t("settings.exportFailed")}
          {latest.status === "expired" && t("settings.exportExpired")}
        </p>
      )}
      {error && <Notice kind="error">{error}</Notice>}
      <div className="row-actions">
        {latest?.status === "ready" && (
          <button type="button" className="button primary" onClick={() => void download(latest)}>
            {t("settings.exportDownload")}
          </button>
        )}
        <button type="button" className="button" disabled={busy || building} onClick={() => void start()}>
          {t("settings.exportStart")}
        </button>
      </div>
    </section>
  );
}
