import { ParleyApiError } from "@parley/sdk";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { useNavigate, useParams } from "react-router-dom";
import { describeError } from "../api/errors";
import { Icon } from "../components/Icon";
import { Notice } from "../components/Notice";
import { useConversations } from "../sidebar/ConversationsProvider";
import { Composer } from "./Composer";
import { MessageView } from "./MessageView";
import { ModelPicker, savedModel } from "./ModelPicker";
import { useAutoScroll } from "./useAutoScroll";
import { useChat } from "./useChat";

export function ChatPage() {
  const { t } = useTranslation();
  const { id } = useParams<{ id?: string }>();
  const navigate = useNavigate();
  const conversations = useConversations();
  const [model, setModel] = useState(savedModel);

  const callbacks = useMemo(
    () => ({
      onStarted: (conversationId: string) => {
        conversations.upsert({ id: conversationId, title: "" });
        navigate(`/chat/${conversationId}`, { replace: !id });
      },
      onTitle: (conversationId: string, title: string) => conversations.upsert({ id: conversationId, title }),
      onActivity: (conversationId: string) =>
        conversations.upsert({ id: conversationId, last_activity_at: new Date().toISOString() }),
    }),
    [conversations, navigate, id],
  );
  const chat = useChat(id, model, callbacks);
  const scroller = useRef<HTMLDivElement>(null);
  const lastContent = chat.messages[chat.messages.length - 1]?.content;
  const { atBottom, jumpToLatest, pin } = useAutoScroll(scroller, `${chat.messages.length}:${lastContent?.length ?? 0}`);

  const send = useCallback(
    (text: string) => {
      pin();
      chat.send(text);
    },
    [chat, pin],
  );

  // Fetch the markdown renderer while the user reads or types, so answers render richly from the first token.
  useEffect(() => {
    void import("./Markdown");
  }, []);

  // Esc stops the answer from anywhere on the page (the composer handles it too when it has focus).
  const { streaming, stop } = chat;
  useEffect(() => {
    if (!streaming) return undefined;
    const onKey = (event: KeyboardEvent): void => {
      if (event.key === "Escape" && !event.defaultPrevented) void stop();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [streaming, stop]);

  const lastUser = chat.messages.map((message) => message.role).lastIndexOf("user");
  const lastAssistant = chat.messages.map((message) => message.role).lastIndexOf("assistant");
  const notFound = chat.loadError instanceof ParleyApiError && chat.loadError.status === 404;

  return (
    <div className="chat-page">
      <header className="chat-header">
        <ModelPicker value={model} onChange={setModel} />
        {chat.connection === "reconnecting" && (
          <span className="connection-status" role="status">
            {t("chat.reconnecting")}
          </span>
        )}
      </header>
      <div className="chat-scroll" ref={scroller}>
        <section className="messages" aria-label={t("chat.messages")} aria-live="off">
          {chat.hasEarlier && (
            <button type="button" className="button subtle" onClick={() => void chat.loadEarlier()}>
              {t("chat.loadEarlier")}
            </button>
          )}
          {notFound && <Notice kind="error">{t("chat.notFound")}</Notice>}
          {chat.loadError != null && !notFound && <Notice kind="error">{describeError(chat.loadError, t)}</Notice>}
          {!id && chat.messages.length === 0 && (
            <div className="chat-empty">
              <h1>{t("chat.emptyTitle")}</h1>
              <p className="muted">{t("chat.emptyHint")}</p>
            </div>
          )}
          {chat.messages.map((message, index) => (
            <MessageView
              key={message.id}
              message={message}
              canEdit={!chat.streaming && index === lastUser && !!id}
              canRegenerate={!chat.streaming && index === lastAssistant && index > lastUser && !!id}
              onEdit={(text) => {
                pin();
                chat.regenerate(text);
              }}
              onRegenerate={() => {
                pin();
                chat.regenerate();
              }}
            />
          ))}
        </section>
      </div>
      {!atBottom && (
        <button type="button" className="jump-latest" onClick={jumpToLatest}>
          <Icon name="down" size={16} /> {t("chat.jumpToLatest")}
        </button>
      )}
      <div className="composer-wrap">
        <Composer streaming={chat.streaming} disabled={notFound} onSend={send} onStop={() => void chat.stop()} />
      </div>
    </div>
  );
}
