import type { KnowledgeBase } from "@parley/sdk";
import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { Icon } from "../components/Icon";
import { Notice } from "../components/Notice";
import { usePopover } from "../components/usePopover";

interface Props {
  conversationId: string;
  /** All knowledge bases the user may use (to attach one of them). */
  available: KnowledgeBase[] | null;
}

/** The conversation header's knowledge bases: those attached to the whole conversation, attach and detach. */
export function ConversationKnowledgeBases({ conversationId, available }: Props) {
  const { t } = useTranslation();
  const [attached, setAttached] = useState<KnowledgeBase[] | null>(null);
  const { open, setOpen, panelId, root, button, onKeyDown } = usePopover();
  const [choice, setChoice] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    let cancelled = false;
    setAttached(null);
    setError(null);
    api.conversations.knowledgeBases(conversationId).then(
      (items) => !cancelled && setAttached(items),
      () => !cancelled && setAttached([]),
    );
    return () => {
      cancelled = true;
    };
  }, [conversationId]);

  const attachedIds = new Set((attached ?? []).map((base) => base.id));
  const candidates = (available ?? []).filter((base) => !attachedIds.has(base.id));

  async function attach() {
    const base = candidates.find((item) => item.id === choice);
    if (!base) return;
    setBusy(true);
    setError(null);
    try {
      await api.conversations.attachKnowledgeBase(conversationId, base.id);
      setAttached((current) => [...(current ?? []), base]);
      setChoice("");
    } catch (caught) {
      setError(describeError(caught, t));
    } finally {
      setBusy(false);
    }
  }

  async function detach(base: KnowledgeBase) {
    setBusy(true);
    setError(null);
    try {
      await api.conversations.detachKnowledgeBase(conversationId, base.id);
      setAttached((current) => (current ?? []).filter((item) => item.id !== base.id));
    } catch (caught) {
      setError(describeError(caught, t));
    } finally {
      setBusy(false);
    }
  }

  const count = attached?.length ?? 0;
  return (
    <div
      className="conversation-kbs"
      ref={root}
      onKeyDown={onKeyDown}
    >
      <button
        ref={button}
        type="button"
        className={`button small subtle ${count ? "active" : ""}`}
        aria-expanded={open}
        aria-controls={panelId}
        aria-label={t("chat.attachedCount", { count })}
        title={t("chat.conversationSources")}
        onClick={() => setOpen((value) => !value)}
      >
        <Icon name="book" size={16} />{" "}
        <span className="label-wide" aria-hidden="true">
          {t("chat.attachedCount", { count })}
        </span>
        <span className="label-narrow" aria-hidden="true">
          {count}
        </span>
      </button>
      {open && (
        <section id={panelId} className="popover conversation-kbs-panel" aria-label={t("chat.conversationSources")}>
          <h2 className="popover-title">{t("chat.conversationSources")}</h2>
          <p className="muted small-text">{t("chat.conversationSourcesHint")}</p>
          {attached === null ? (
            <p className="muted small-text">{t("app.loading")}</p>
          ) : attached.length === 0 ? (
            <p className="muted small-text">{t("chat.noneAttached")}</p>
          ) : (
            <ul className="plain-list">
              {attached.map((base) => (
                <li key={base.id} className="row-between">
                  <span>
                    <Icon name="book" size={14} /> {base.name}
                  </span>
                  <button
                    type="button"
                    className="button small"
                    disabled={busy}
                    aria-label={t("chat.detachLabel", { name: base.name })}
                    onClick={() => void detach(base)}
                  >
                    {t("chat.detach")}
                  </button>
                </li>
              ))}
            </ul>
          )}
          {candidates.length > 0 && (
            <div className="row-between attach-row">
              <select aria-label={t("chat.attachKnowledgeBaseLabel")} value={choice} onChange={(event) => setChoice(event.target.value)}>
                <option value="">{t("chat.attachKnowledgeBase")}</option>
                {candidates.map((base) => (
                  <option key={base.id} value={base.id}>
                    {base.name}
                  </option>
                ))}
              </select>
              <button type="button" className="button small primary" disabled={!choice || busy} onClick={() => void attach()}>
                {t("knowledge.add")}
              </button>
            </div>
          )}
          {error && <Notice kind="error">{error}</Notice>}
        </section>
      )}
    </div>
  );
}
