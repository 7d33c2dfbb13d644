/** The signed-in user's limits as they stand (`GET /api/v1/users/me/limits`), read when the app opens and again
 * whenever a page says something changed them (an answer ended, a message was refused). */
import type { MyLimits } from "@parley/sdk";
import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useRef, useState } from "react";
import { api } from "../api/client";

interface LimitsState {
  /** null until read (or when they cannot be read: the meter then stays hidden). */
  limits: MyLimits | null;
  refresh(): void;
}

const Context = createContext<LimitsState>({ limits: null, refresh: () => undefined });

export function LimitsProvider({ children }: { children: ReactNode }) {
  const [limits, setLimits] = useState<MyLimits | null>(null);
  const request = useRef<AbortController | null>(null);

  const refresh = useCallback(() => {
    request.current?.abort();
    const controller = new AbortController();
    request.current = controller;
    api.users
      .limits({ signal: controller.signal })
      .then((found) => {
        if (!controller.signal.aborted) setLimits(found);
      })
      // Not read now (offline, restarting): the meter keeps what it showed and the next answer reads again.
      .catch(() => undefined);
  }, []);

  useEffect(() => {
    refresh();
    return () => request.current?.abort();
  }, [refresh]);

  const state = useMemo(() => ({ limits, refresh }), [limits, refresh]);
  return <Context.Provider value={state}>{children}</Context.Provider>;
}

export function useLimits(): LimitsState {
  return useContext(Context);
}
