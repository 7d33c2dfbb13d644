import type { Conversation } from "@parley/sdk";
import { type KeyboardEvent, useEffect, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { NavLink } from "react-router-dom";
import { Icon } from "../components/Icon";

interface Props {
  conversation: Conversation;
  onRename(title: string): Promise<void>;
  onArchive(): void;
  onDelete(): void;
  onNavigate(): void;
}

/** One conversation in the sidebar: a link, with rename (inline), archive/unarchive and delete. */
export function ConversationItem({ conversation, onRename, onArchive, onDelete, onNavigate }: Props) {
  const { t } = useTranslation();
  const title = conversation.title || t("sidebar.untitled");
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(title);
  const input = useRef<HTMLInputElement>(null);

  useEffect(() => {
    if (editing) input.current?.select();
  }, [editing]);

  async function commit() {
    const next = draft.trim();
    setEditing(false);
    if (next && next !== conversation.title) await onRename(next);
  }

  function onKey(event: KeyboardEvent<HTMLInputElement>) {
    if (event.key === "Enter") {
      event.preventDefault();
      void commit();
    } else if (event.key === "Escape") {
      event.preventDefault();
      setDraft(title);
      setEditing(false);
    }
  }

  if (editing) {
    return (
      <li className="conversation-item editing">
        <input
          ref={input}
          className="rename-input"
          aria-label={t("sidebar.renameLabel", { title })}
          value={draft}
          maxLength={200}
          onChange={(event) => setDraft(event.target.value)}
          onKeyDown={onKey}
          onBlur={() => void commit()}
        />
      </li>
    );
  }

  return (
    <li className="conversation-item">
      <NavLink to={`/chat/${conversation.id}`} className="conversation-link" onClick={onNavigate} title={title}>
        <span className="conversation-title">{title}</span>
      </NavLink>
      <div className="conversation-actions" role="group" aria-label={t("sidebar.actionsFor", { title })}>
        <button
          type="button"
          className="icon-button small"
          aria-label={`${t("sidebar.rename")}: ${title}`}
          title={t("sidebar.rename")}
          onClick={() => {
            setDraft(title);
            setEditing(true);
          }}
        >
          <Icon name="edit" size={15} />
        </button>
        <button
          type="button"
          className="icon-button small"
          aria-label={`${conversation.is_archived ? t("sidebar.unarchive") : t("sidebar.archive")}: ${title}`}
          title={conversation.is_archived ? t("sidebar.unarchive") : t("sidebar.archive")}
          onClick={onArchive}
        >
          <Icon name={conversation.is_archived ? "unarchive" : "archive"} size={15} />
        </button>
        <button
          type="button"
          className="icon-button small danger"
          aria-label={`${t("sidebar.delete")}: ${title}`}
          title={t("sidebar.delete")}
          onClick={onDelete}
        >
          <Icon name="trash" size={15} />
        </button>
      </div>
    </li>
  );
}
