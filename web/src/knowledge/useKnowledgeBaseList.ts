import type { KnowledgeBase } from "@parley/sdk";
import { useCallback, useEffect, useState } from "react";
import { api } from "../api/client";

/** The knowledge bases the signed-in user may use (own and shared), loaded once per mount. */
export function useKnowledgeBaseList() {
  const [items, setItems] = useState<KnowledgeBase[] | null>(null);
  const [error, setError] = useState<unknown>(null);

  const reload = useCallback(async () => {
    try {
      const all: KnowledgeBase[] = [];
      let cursor: string | undefined;
      // a person has tens of these, not thousands: a few pages at most
      for (let page = 0; page < 10; page++) {
        const answer = await api.knowledgeBases.list({ cursor, limit: 100 });
        all.push(...answer.items);
        if (!answer.next_cursor) break;
        cursor = answer.next_cursor;
      }
      setItems(all);
      setError(null);
    } catch (caught) {
      setError(caught);
      setItems((current) => current ?? []);
    }
  }, []);

  useEffect(() => {
    void reload();
  }, [reload]);

  return { items, error, reload };
}
