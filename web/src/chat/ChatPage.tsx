import { type ModelInfo, ParleyApiError } from "@parley/sdk";
import { type DragEvent, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { useNavigate, useParams } from "react-router-dom";
import { describeError } from "../api/errors";
import { Icon } from "../components/Icon";
import { Notice } from "../components/Notice";
import { useUploads } from "../files/useUploads";
import { ConversationKnowledgeBases } from "../knowledge/ConversationKnowledgeBases";
import { useKnowledgeBaseList } from "../knowledge/useKnowledgeBaseList";
import { useLimits } from "../layout/LimitsProvider";
import { useConversations } from "../sidebar/ConversationsProvider";
import { Composer } from "./Composer";
import { ContextGauge } from "./ContextGauge";
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
  const [models, setModels] = useState<ModelInfo[]>([]);
  // A chosen model known not to read images (the default and `auto` are the server's to choose).
  const chosen = models.find((entry) => entry.id === model);
  const modelWithoutVision = chosen?.capabilities && !chosen.capabilities.vision ? chosen.id : null;
  const { refresh: refreshLimits } = useLimits();

  const callbacks = useMemo(
    () => ({
      onStarted: (conversationId: string) => {
        conversations.upsert({ id: conversationId, title: "" });
        navigate(`/chat/${conversationId}`, { replace: !id });
      },
      onTitle: (conversationId: string, title: string) => conversations.upsert({ id: conversationId, title }),
      onActivity: (conversationId: string) => {
        conversations.upsert({ id: conversationId, last_activity_at: new Date().toISOString() });
        // Also when a stream closes: the title written after the answer spent tokens too.
        refreshLimits();
      },
    }),
    [conversations, navigate, id, refreshLimits],
  );
  const chat = useChat(id, model, callbacks);
  const scroller = useRef<HTMLDivElement>(null);
  const lastContent = chat.messages[chat.messages.length - 1]?.content;
  const { atBottom, jumpToLatest, pin } = useAutoScroll(scroller, `${chat.messages.length}:${lastContent?.length ?? 0}`);

  // Files attached to the next message, and the knowledge bases chosen for the messages of this page.
  const attachments = useUploads({ conversationId: id });
  const knowledgeBases = useKnowledgeBaseList();
  const [selectedBases, setSelectedBases] = useState<string[]>([]);
  const [dragging, setDragging] = useState(false);
  const dragDepth = useRef(0);
  const { clear: clearAttachments } = attachments;
  // Attachments not sent belong to the conversation they were uploaded to: another one starts without them.
  useEffect(() => clearAttachments(), [id, clearAttachments]);

  const send = useCallback(
    (text: string) => {
      pin();
      const files = attachments.uploads
        .filter((upload) => upload.file && upload.state !== "failed" && upload.state !== "rejected")
        .map((upload) => ({ id: upload.file!.id, filename: upload.file!.filename, image: upload.file!.file_type === "image" }));
      chat.send(text, { files, knowledgeBaseIds: selectedBases });
      attachments.clear();
    },
    [attachments, chat, pin, selectedBases],
  );

  const hasFiles = (event: DragEvent): boolean => Array.from(event.dataTransfer?.types ?? []).includes("Files");
  const dropHandlers = {
    onDragEnter: (event: DragEvent) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      dragDepth.current++;
      setDragging(true);
    },
    onDragOver: (event: DragEvent) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    },
    onDragLeave: (event: DragEvent) => {
      if (!hasFiles(event)) return;
      dragDepth.current = Math.max(0, dragDepth.current - 1);
      if (dragDepth.current === 0) setDragging(false);
    },
    onDrop: (event: DragEvent) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      dragDepth.current = 0;
      setDragging(false);
      const files = Array.from(event.dataTransfer.files);
      if (files.length) attachments.add(files);
    },
  };

  // Fetch the markdown renderer while the user reads or types, so answers render richly from the first token.
  useEffect(() => {
    // Not fetched now (offline, the server restarting): the answers try again when they render.
    import("./Markdown").catch(() => undefined);
  }, []);

  // After each answer (or refusal) the limits meter and the context gauge read what it spent.
  const [answersEnded, setAnswersEnded] = useState(0);
  const wasStreaming = useRef(false);
  useEffect(() => {
    if (wasStreaming.current && !chat.streaming) {
      setAnswersEnded((count) => count + 1);
      refreshLimits();
    }
    wasStreaming.current = chat.streaming;
  }, [chat.streaming, refreshLimits]);

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
    <div className={`chat-page ${dragging ? "dragging" : ""}`} {...dropHandlers}>
      {dragging && (
        <div className="drop-overlay" aria-hidden="true">
          <Icon name="paperclip" size={28} />
          <span>{t("chat.dropFiles")}</span>
        </div>
      )}
      <header className="chat-header">
        <ModelPicker value={model} onChange={setModel} onModels={setModels} />
        {id && !notFound && <ConversationKnowledgeBases conversationId={id} available={knowledgeBases.items} />}
        {id && !notFound && <ContextGauge conversationId={id} version={answersEnded} />}
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
        {chat.undelivered && (
          <Notice kind="error">
            {chat.undelivered.text !== undefined
              ? t("chat.notSent", { message: chat.undelivered.error })
              : t("chat.notRegenerated", { message: chat.undelivered.error })}
          </Notice>
        )}
        <Composer
          restore={chat.undelivered}
          streaming={chat.streaming}
          disabled={notFound}
          onSend={send}
          onStop={() => void chat.stop()}
          attachments={attachments.uploads}
          onAttach={attachments.add}
          onRemoveAttachment={attachments.remove}
          knowledgeBases={knowledgeBases.items}
          selectedKnowledgeBases={selectedBases}
          onKnowledgeBasesChange={setSelectedBases}
          modelWithoutVision={modelWithoutVision}
        />
      </div>
    </div>
  );
}
