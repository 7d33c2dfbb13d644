import type { Conversation } from "@parley/sdk";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { useMatch, useNavigate } from "react-router-dom";
import { describeError } from "../api/errors";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { Notice } from "../components/Notice";
import { formatMonth } from "../format";
import { ConversationItem } from "./ConversationItem";
import { useConversations } from "./ConversationsProvider";
import { type DateGroup, groupByDate } from "./groupByDate";

export function ConversationList({ onNavigate }: { onNavigate(): void }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const open = useMatch("/chat/:id")?.params.id;
  const conversations = useConversations();
  const [deleting, setDeleting] = useState<Conversation | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);

  async function act(run: () => Promise<void>) {
    setActionError(null);
    try {
      await run();
    } catch (caught) {
      setActionError(describeError(caught, t));
    }
  }

  const label = (group: DateGroup): string =>
    group.month ? formatMonth(group.month) : t(`sidebar.${group.key as "today" | "yesterday" | "previous7" | "previous30"}`);

  const groups = groupByDate(conversations.items);
  return (
    <div className="conversation-list">
      {actionError && <Notice kind="error">{actionError}</Notice>}
      {conversations.error != null && <Notice kind="error">{describeError(conversations.error, t)}</Notice>}
      {!conversations.loading && conversations.items.length === 0 && (
        <p className="muted small-text list-empty">
          {conversations.query ? t("sidebar.noResults", { query: conversations.query }) : t("sidebar.empty")}
        </p>
      )}
      {groups.map((group) => (
        <section key={group.key} className="conversation-group" aria-label={label(group)}>
          <h2 className="group-title">{label(group)}</h2>
          <ul>
            {group.items.map((conversation) => (
              <ConversationItem
                key={conversation.id}
                conversation={conversation}
                onNavigate={onNavigate}
                onRename={(title) => act(() => conversations.rename(conversation.id, title))}
                onArchive={() =>
                  void act(async () => {
                    await conversations.setArchivedFlag(conversation.id, !conversation.is_archived);
                    if (open === conversation.id && !conversation.is_archived) navigate("/chat");
                  })
                }
                onDelete={() => setDeleting(conversation)}
              />
            ))}
          </ul>
        </section>
      ))}
      {conversations.hasMore && (
        <button type="button" className="button subtle wide" onClick={() => void act(conversations.loadMore)}>
          {t("sidebar.loadMore")}
        </button>
      )}
      {deleting && (
        <ConfirmDialog
          title={t("sidebar.deleteTitle")}
          confirmLabel={t("sidebar.delete")}
          danger
          onCancel={() => setDeleting(null)}
          onConfirm={() => {
            const target = deleting;
            setDeleting(null);
            void act(async () => {
              await conversations.destroy(target.id);
              if (open === target.id) navigate("/chat");
            });
          }}
        >
          <p>{t("sidebar.deleteBody", { title: deleting.title || t("sidebar.untitled") })}</p>
        </ConfirmDialog>
      )}
    </div>
  );
}
