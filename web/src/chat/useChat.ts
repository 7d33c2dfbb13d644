/**
 * The state of one conversation's chat: loading its messages, sending, streaming the answer token by token
 * (batched per animation frame), stopping, regenerating and editing the last question. The SDK reconnects a
 * broken stream by itself; this hook shows that, and reloads the messages if the answer ended meanwhile.
 *
 * A question the server never acknowledged (no `message` event: the network was down, or the server refused it)
 * was not saved: it leaves the conversation and comes back as `undelivered`, whose text the page puts back in
 * the message box (kept for the tab, so a reload does not lose it either). It is never shown as asked, so the
 * Regenerate of the answer before it stays what it says: the answer to the question before.
 */
import { type ChatStream, ParleyApiError, ParleySessionEndedError, isAbort } from "@parley/sdk";
import { useCallback, useEffect, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { describeRefusal } from "../layout/limits";
import { fromServer } from "./fromServer";
import type { ChatMessage } from "./types";
import { forgetUnsent, keepUnsent, unsentOf } from "./unsent";

export interface ChatCallbacks {
  /** The first answer of a new conversation started: it now has an id. */
  onStarted(conversationId: string): void;
  onTitle(conversationId: string, title: string): void;
  onActivity(conversationId: string): void;
}

type Connection = "ok" | "reconnecting";

/** A request that did not reach the server: a question (`text`, to send again) or a regenerate. `id` grows
 * with each one, so the message box takes the text back each time. */
export interface Undelivered {
  id: number;
  error: string;
  text?: string;
}

/** What a stream's caller does about its request being acknowledged by the server (the `message` event), or not. */
interface Delivery {
  delivered(): void;
  undelivered(error: unknown, placeholderId: string): void;
}

/** Documents a question may draw on: files attached to it (ready or still being read) and knowledge bases. */
export interface ChatSources {
  files?: { id: string; filename: string }[];
  knowledgeBaseIds?: string[];
}

const nextFrame: (callback: () => void) => void =
  typeof requestAnimationFrame === "function" ? (callback) => requestAnimationFrame(callback) : (callback) => setTimeout(callback, 16);

let temporaryIds = 0;
const temporaryId = (): string => `local-${++temporaryIds}`;
let undeliveredIds = 0;

export function useChat(conversationId: string | undefined, model: string, callbacks: ChatCallbacks) {
  const { t } = useTranslation();
  const [messages, setMessages] = useState<ChatMessage[]>([]);
  const [loading, setLoading] = useState(false);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [earlierCursor, setEarlierCursor] = useState<string | null>(null);
  const [streaming, setStreaming] = useState(false);
  const [connection, setConnection] = useState<Connection>("ok");
  const [undelivered, setUndelivered] = useState<Undelivered | null>(null);
  /** The messages on screen, for putting them back when a regenerate did not reach the server. */
  const shown = useRef<ChatMessage[]>(messages);
  shown.current = messages;
  /** The conversation whose messages are in `messages` (a new chat gets its id mid-stream). */
  const shownFor = useRef<string | undefined>(undefined);
  /** A new chat's id, learnt from the stream: navigating to it must not reload (and lose) the live answer. */
  const adopted = useRef<string | undefined>(undefined);
  const controller = useRef<AbortController | null>(null);
  /** The newest stream's answer has not ended yet (no `done` or `error`): its title, if any, comes after that. */
  const answerOpen = useRef(false);
  const runs = useRef(0);
  /** Settles when the previous stream has closed: the server takes a new question only after that (a title may
   * still be written after the answer is done). */
  const previousClosed = useRef<Promise<void>>(Promise.resolve());
  const activeConversation = useRef<string | undefined>(undefined);
  const callbacksRef = useRef(callbacks);
  callbacksRef.current = callbacks;

  const patchLast = useCallback((id: string, patch: (message: ChatMessage) => ChatMessage) => {
    setMessages((current) => current.map((message) => (message.id === id ? patch(message) : message)));
  }, []);

  /** Reads a stream of events into the assistant message `placeholderId`. */
  const consume = useCallback(
    async (stream: ChatStream, placeholderId: string, userId: string | null, resumed = false, delivery?: Delivery) => {
      let assistantId = placeholderId;
      // The server saved the question (or took the regenerate): from here on a failure is the answer's.
      let acknowledged = false;
      let pending = "";
      let scheduled = false;
      const flush = (): void => {
        scheduled = false;
        if (!pending) return;
        const text = pending;
        pending = "";
        patchLast(assistantId, (message) => ({ ...message, content: message.content + text, progress: undefined }));
      };
      const run = ++runs.current;
      // Only the newest run may say whether something is streaming (an older one may still be reading its title).
      const setMine = (value: boolean): void => {
        if (runs.current !== run) return;
        setStreaming(value);
        answerOpen.current = value;
      };
      setMine(true);
      setConnection("ok");
      try {
        for await (const event of stream) {
          switch (event.event) {
            case "message": {
              const { conversation_id: id, assistant_message_id: answerId, user_message_id: questionId, model: used } = event.data;
              if (!acknowledged) {
                acknowledged = true;
                delivery?.delivered();
              }
              const previous = assistantId;
              assistantId = answerId;
              setMessages((current) =>
                current.map((message) => {
                  if (message.id === previous) return { ...message, id: answerId, model: used };
                  if (userId && message.id === userId) return { ...message, id: questionId };
                  return message;
                }),
              );
              activeConversation.current = id;
              if (shownFor.current !== id) {
                shownFor.current = id;
                adopted.current = id;
                callbacksRef.current.onStarted(id);
              } else {
                callbacksRef.current.onActivity(id);
              }
              break;
            }
            case "delta":
              pending += event.data.text;
              if (!scheduled) {
                scheduled = true;
                nextFrame(flush);
              }
              break;
            case "status": {
              const progress = event.data;
              patchLast(assistantId, (message) => ({ ...message, progress }));
              break;
            }
            case "fallback": {
              const { from_model: from, model: to } = event.data;
              patchLast(assistantId, (message) => ({ ...message, fallback: { from, to }, model: to }));
              break;
            }
            case "done":
              flush();
              patchLast(assistantId, (message) => ({
                ...message,
                status: "done",
                finishReason: event.data.finish_reason,
                model: event.data.model,
                completionTokens: event.data.usage.completion_tokens,
                progress: undefined,
                citations: event.data.citations?.length ? event.data.citations : message.citations,
                ...(event.data.limit ? { limit: event.data.limit } : {}),
              }));
              // the answer is complete: a title may still follow, but the user can go on
              setMine(false);
              break;
            case "error":
              flush();
              patchLast(assistantId, (message) => ({
                ...message,
                status: "error",
                finishReason: "error",
                progress: undefined,
                error: event.data.problem.detail || event.data.problem.title || t("chat.interrupted"),
              }));
              setMine(false);
              break;
            case "title":
              callbacksRef.current.onTitle(event.data.conversation_id, event.data.title);
              break;
            case "reconnecting":
              setConnection("reconnecting");
              break;
            case "reconnected":
              setConnection("ok");
              break;
          }
        }
        flush();
        if (stream.detached && stream.conversationId) {
          // The answer ended while we were disconnected: the server has the whole of it.
          const page = await api.chat.messages(stream.conversationId, { limit: 100 });
          setMessages(fromServer(page.items));
        }
      } catch (caught) {
        flush();
        if (isAbort(caught) || caught instanceof ParleySessionEndedError) return;
        if (!acknowledged && !stream.detached && delivery) {
          // Nothing was saved: the caller takes the request back rather than show an answer that "failed".
          delivery.undelivered(caught, placeholderId);
          return;
        }
        if (resumed && caught instanceof ParleyApiError && caught.status === 404 && stream.conversationId) {
          // nothing is being written after all (it ended just now): show what the server has
          const page = await api.chat.messages(stream.conversationId, { limit: 100 }).catch(() => null);
          if (page) setMessages(fromServer(page.items));
          return;
        }
        const message = describeError(caught, t);
        patchLast(assistantId, (current) => ({ ...current, status: "error", error: t("chat.failed", { message }) }));
      } finally {
        setMine(false);
        if (runs.current === run) setConnection("ok");
        if (stream.conversationId && (acknowledged || !delivery)) callbacksRef.current.onActivity(stream.conversationId);
      }
    },
    [patchLast, t],
  );

  // Load the conversation's messages when it changes (not when a new chat just got its id).
  const consumeRef = useRef(consume);
  consumeRef.current = consume;
  useEffect(() => {
    if (conversationId !== undefined && conversationId === adopted.current) {
      adopted.current = undefined;
      return;
    }
    adopted.current = undefined;
    controller.current?.abort();
    shownFor.current = conversationId;
    setMessages([]);
    setLoadError(null);
    setEarlierCursor(null);
    // A question that did not reach the server before a reload (or a switch to another chat) goes back in the box.
    const unsent = unsentOf(conversationId);
    setUndelivered(unsent ? { id: ++undeliveredIds, ...unsent } : null);
    if (!conversationId) return;
    let cancelled = false;
    setLoading(true);
    api.chat
      .messages(conversationId, { limit: 100 })
      .then((page) => {
        if (cancelled) return;
        const loaded = fromServer(page.items);
        const last = loaded[loaded.length - 1];
        const unfinished = last?.role === "assistant" && !last.finishReason && last.status !== "error";
        if (last && unfinished) loaded[loaded.length - 1] = { ...last, status: "streaming", content: "" };
        setMessages(loaded);
        setEarlierCursor(page.next_cursor ?? null);
        if (last && unfinished) {
          // An answer is still being written (after a reload): reattach, replay it and watch it finish.
          const abort = new AbortController();
          controller.current = abort;
          activeConversation.current = conversationId;
          const resumed = consumeRef.current(api.chat.resume(conversationId, undefined, { signal: abort.signal }), last.id, null, true);
          previousClosed.current = resumed.catch(() => undefined);
        }
      })
      .catch((caught: unknown) => !cancelled && setLoadError(caught))
      .finally(() => !cancelled && setLoading(false));
    return () => {
      cancelled = true;
    };
  }, [conversationId]);

  useEffect(() => () => controller.current?.abort(), []);

  const start = useCallback(
    (stream: (signal: AbortSignal) => ChatStream, userId: string | null, abort: AbortController, delivery: Delivery) => {
      const placeholder: ChatMessage = { id: temporaryId(), role: "assistant", content: "", status: "streaming", model };
      setMessages((current) => [...current, placeholder]);
      setStreaming(true);
      setUndelivered(null);
      const previous = previousClosed.current;
      const done = previous.then(() => {
        controller.current = abort;
        return consume(stream(abort.signal), placeholder.id, userId, false, delivery);
      });
      previousClosed.current = done.catch(() => undefined);
    },
    [consume, model],
  );

  const send = useCallback(
    (text: string, sources: ChatSources = {}) => {
      if (streaming || !text.trim()) return;
      const question: ChatMessage = { id: temporaryId(), role: "user", content: text, status: "done" };
      if (sources.files?.length) question.attachments = sources.files;
      const fileIds = sources.files?.map((file) => file.id) ?? [];
      const knowledgeBaseIds = sources.knowledgeBaseIds ?? [];
      setMessages((current) => [...current, question]);
      activeConversation.current = conversationId;
      const delivery: Delivery = {
        delivered: () => forgetUnsent(conversationId),
        undelivered: (error, placeholderId) => {
          setMessages((current) => current.filter((message) => message.id !== question.id && message.id !== placeholderId));
          const unsent = { text, error: describeRefusal(error, t) ?? describeError(error, t) };
          keepUnsent(conversationId, unsent);
          // Shown only while its conversation is; otherwise it waits there for the person's return.
          if (shownFor.current === conversationId) setUndelivered({ id: ++undeliveredIds, ...unsent });
        },
      };
      start(
        (signal) =>
          api.chat.send(
            {
              message: text,
              conversation_id: conversationId ?? null,
              model: model || null,
              ...(fileIds.length ? { file_ids: fileIds } : {}),
              ...(knowledgeBaseIds.length ? { knowledge_base_ids: knowledgeBaseIds } : {}),
            },
            { signal },
          ),
        question.id,
        new AbortController(),
        delivery,
      );
    },
    [conversationId, model, start, streaming, t],
  );

  const regenerate = useCallback(
    (edited?: string) => {
      if (streaming || !conversationId) return;
      const before = shown.current;
      setMessages((current) => {
        const lastUser = current.map((message) => message.role).lastIndexOf("user");
        const kept = current.slice(0, lastUser + 1);
        const question = kept[lastUser];
        if (edited !== undefined && question) kept[lastUser] = { ...question, content: edited };
        return kept;
      });
      activeConversation.current = conversationId;
      start(
        (signal) =>
          api.chat.regenerate(conversationId, { model: model || null, ...(edited !== undefined ? { message: edited } : {}) }, { signal }),
        null,
        new AbortController(),
        {
          delivered: () => undefined,
          // The server still has the previous answer (and question): show them again, as they are.
          undelivered: (error) => {
            setMessages(before);
            setUndelivered({ id: ++undeliveredIds, error: describeRefusal(error, t) ?? describeError(error, t) });
          },
        },
      );
    },
    [conversationId, model, start, streaming, t],
  );

  const stop = useCallback(async () => {
    const id = activeConversation.current;
    const running = controller.current;
    if (!id) {
      running?.abort();
      return;
    }
    try {
      // The stream then ends with `done` (finish_reason "cancelled") and the text so far.
      await api.chat.stop(id);
    } catch {
      running?.abort();
      return;
    }
    // Only an answer that has still not ended is cut off: one that ended may be waiting for its title, which a
    // stopped first answer gets too.
    setTimeout(() => {
      if (controller.current === running && answerOpen.current) running?.abort();
    }, 5000);
  }, []);

  const loadEarlier = useCallback(async () => {
    if (!conversationId || !earlierCursor) return;
    const page = await api.chat.messages(conversationId, { limit: 100, cursor: earlierCursor });
    setMessages((current) => [...fromServer(page.items), ...current]);
    setEarlierCursor(page.next_cursor ?? null);
  }, [conversationId, earlierCursor]);

  return {
    messages,
    loading,
    loadError,
    streaming,
    connection,
    undelivered,
    send,
    stop,
    regenerate,
    hasEarlier: earlierCursor !== null,
    loadEarlier,
  };
}
