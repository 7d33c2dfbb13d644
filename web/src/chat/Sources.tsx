import type { Citation } from "@parley/sdk";
import { type KeyboardEvent, useEffect, useId, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { describeError } from "../api/errors";
import { Icon } from "../components/Icon";
import { Notice } from "../components/Notice";
import { openFile } from "../files/openFile";
import { locationOf, orderSources } from "./citations";

interface ListProps {
  citations: readonly Citation[];
  active: number | null;
  onSelect(n: number, trigger: HTMLElement): void;
}

/** The answer's sources under it: the ones it cites first, then the others it was given. */
export function SourcesList({ citations, active, onSelect }: ListProps) {
  const { t } = useTranslation();
  const headingId = useId();
  const ordered = orderSources(citations);
  return (
    <section className="sources" aria-labelledby={headingId}>
      <h3 id={headingId} className="sources-title">
        {t("chat.sources")}
      </h3>
      <ol className="sources-list">
        {ordered.map((citation) => {
          const where = locationOf(citation, t);
          return (
            <li key={citation.n} className={citation.cited ? "cited" : "not-cited"}>
              <button
                type="button"
                className="source-item"
                aria-expanded={active === citation.n}
                onClick={(event) => onSelect(citation.n, event.currentTarget)}
              >
                <span className="source-n">[{citation.n}]</span>
                <span className="source-name">{citation.filename}</span>
                {where && <span className="muted source-where">{where}</span>}
                {!citation.cited && <span className="muted source-where">· {t("chat.citationNotCited")}</span>}
              </button>
            </li>
          );
        })}
      </ol>
    </section>
  );
}

interface PanelProps {
  citation: Citation;
  onClose(): void;
}

/** One source opened: its file, where in it, the passage, and a way to open the file itself. */
export function SourcePanel({ citation, onClose }: PanelProps) {
  const { t } = useTranslation();
  const titleId = useId();
  const panel = useRef<HTMLDivElement>(null);
  const [opening, setOpening] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const where = locationOf(citation, t);

  useEffect(() => {
    panel.current?.focus();
    setError(null);
  }, [citation.n]);

  // Esc closes the panel even when focus left it (e.g. the "Open file" button is disabled while downloading).
  useEffect(() => {
    function onDocumentKeyDown(event: globalThis.KeyboardEvent) {
      if (event.key === "Escape" && !event.defaultPrevented) {
        event.preventDefault();
        onClose();
      }
    }
    document.addEventListener("keydown", onDocumentKeyDown);
    return () => document.removeEventListener("keydown", onDocumentKeyDown);
  }, [onClose]);

  function onKeyDown(event: KeyboardEvent) {
    if (event.key === "Escape") {
      event.stopPropagation();
      event.preventDefault();
      onClose();
    }
  }

  async function open() {
    setOpening(true);
    setError(null);
    try {
      await openFile(citation.file_id, citation.filename);
    } catch (caught) {
      setError(describeError(caught, t));
    } finally {
      setOpening(false);
    }
  }

  return (
    <div ref={panel} className="source-panel" role="dialog" aria-labelledby={titleId} tabIndex={-1} onKeyDown={onKeyDown}>
      <div className="source-panel-head">
        <h4 id={titleId}>
          <span className="source-n">[{citation.n}]</span> {citation.filename}
          {where && <span className="muted"> · {where}</span>}
        </h4>
        <button type="button" className="icon-button" aria-label={t("chat.closeSource")} title={t("chat.closeSource")} onClick={onClose}>
          <Icon name="close" size={16} />
        </button>
      </div>
      {citation.snippet && <blockquote className="source-snippet">{citation.snippet}</blockquote>}
      <button type="button" className="button small" onClick={() => void open()} disabled={opening}>
        <Icon name="download" size={16} /> {opening ? t("chat.opening") : t("chat.openFile")}
      </button>
      {error && <Notice kind="error">{error}</Notice>}
    </div>
  );
}
