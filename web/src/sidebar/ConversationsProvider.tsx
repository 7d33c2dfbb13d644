/** The sidebar's list of conversations: search (server-side `q`), the archived view, paging, and local updates
 * after rename/archive/delete/new messages so the list stays right without reloading it each time. */
import type { Conversation } from "@parley/sdk";
import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useRef, useState } from "react";
import { api } from "../api/client";

interface ConversationsState {
  items: Conversation[];
  loading: boolean;
  error: unknown;
  query: string;
  archived: boolean;
  hasMore: boolean;
  setQuery(query: string): void;
  setArchived(archived: boolean): void;
  loadMore(): Promise<void>;
  reload(): Promise<void>;
  /** Inserts or updates one (a new chat, a new title, a new message moves it to the top). */
  upsert(conversation: Partial<Conversation> & { id: string }): void;
  remove(id: string): void;
  rename(id: string, title: string): Promise<void>;
  setArchivedFlag(id: string, archived: boolean): Promise<void>;
  destroy(id: string): Promise<void>;
}

const Context = createContext<ConversationsState | null>(null);
const PAGE = 30;

export function ConversationsProvider({ children }: { children: ReactNode }) {
  const [items, setItems] = useState<Conversation[]>([]);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const [query, setQuery] = useState("");
  const [archived, setArchived] = useState(false);
  const [cursor, setCursor] = useState<string | null>(null);
  const request = useRef<AbortController | null>(null);

  const load = useCallback(async (q: string, isArchived: boolean) => {
    request.current?.abort();
    const controller = new AbortController();
    request.current = controller;
    setLoading(true);
    try {
      const page = await api.conversations.list({ q: q || undefined, archived: isArchived, limit: PAGE }, { signal: controller.signal });
      setItems(page.items);
      setCursor(page.next_cursor ?? null);
      setError(null);
    } catch (caught) {
      if (!controller.signal.aborted) setError(caught);
    } finally {
      if (request.current === controller) setLoading(false);
    }
  }, []);

  // A typed search waits for a pause in typing before it asks the server.
  useEffect(() => {
    const timer = setTimeout(() => void load(query.trim(), archived), query ? 250 : 0);
    return () => clearTimeout(timer);
  }, [query, archived, load]);

  const loadMore = useCallback(async () => {
    if (!cursor) return;
    const page = await api.conversations.list({ q: query.trim() || undefined, archived, cursor, limit: PAGE });
    setItems((current) => [...current, ...page.items.filter((item) => !current.some((c) => c.id === item.id))]);
    setCursor(page.next_cursor ?? null);
  }, [cursor, query, archived]);

  const upsert = useCallback(
    (conversation: Partial<Conversation> & { id: string }) => {
      setItems((current) => {
        const existing = current.find((item) => item.id === conversation.id);
        if (existing) return current.map((item) => (item.id === conversation.id ? { ...item, ...conversation } : item));
        // a new conversation shows up only in the unfiltered list of active conversations
        if (query.trim() || archived) return current;
        const now = new Date().toISOString();
        const created: Conversation = {
          title: "",
          model: null,
          is_archived: false,
          created_at: now,
          updated_at: now,
          last_activity_at: now,
          ...conversation,
        };
        return [created, ...current];
      });
    },
    [query, archived],
  );

  const remove = useCallback((id: string) => setItems((current) => current.filter((item) => item.id !== id)), []);

  const rename = useCallback(async (id: string, title: string) => {
    const updated = await api.conversations.rename(id, title);
    setItems((current) => current.map((item) => (item.id === id ? updated : item)));
  }, []);

  const setArchivedFlag = useCallback(
    async (id: string, flag: boolean) => {
      await api.conversations.archive(id, flag);
      // it leaves the list being shown (active ↔ archived)
      if (flag !== archived) remove(id);
    },
    [archived, remove],
  );

  const destroy = useCallback(
    async (id: string) => {
      await api.conversations.delete(id);
      remove(id);
    },
    [remove],
  );

  const value = useMemo<ConversationsState>(
    () => ({
      items,
      loading,
      error,
      query,
      archived,
      hasMore: cursor !== null,
      setQuery,
      setArchived,
      loadMore,
      reload: () => load(query.trim(), archived),
      upsert,
      remove,
      rename,
      setArchivedFlag,
      destroy,
    }),
    [items, loading, error, query, archived, cursor, loadMore, load, upsert, remove, rename, setArchivedFlag, destroy],
  );
  return <Context.Provider value={value}>{children}</Context.Provider>;
}

export function useConversations(): ConversationsState {
  const state = useContext(Context);
  if (!state) throw new Error("useConversations outside ConversationsProvider");
  return state;
}
