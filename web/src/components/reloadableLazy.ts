import { type ComponentType, lazy, type LazyExoticComponent } from "react";

/**
 * `React.lazy`, but one whose failed import is not kept for good: React.lazy remembers a rejected import and
 * throws it on every later render, so a page whose chunk failed once (the server restarting, a network blip)
 * could only come back with a reload of the whole app. Call the returned function at render time: it gives
 * the same component while its import succeeds or is pending, and a fresh one (importing again) after a
 * failure.
 */
export function reloadableLazy<C extends ComponentType<any>>(load: () => Promise<{ default: C }>): () => LazyExoticComponent<C> {
  let current: LazyExoticComponent<C> | null = null;
  return () => {
    if (current === null) {
      const attempt = lazy<C>(() =>
        load().catch((error: unknown): never => {
          // The next render after this failure (a Retry) imports again.
          if (current === attempt) current = null;
          throw error;
        }),
      );
      current = attempt;
    }
    return current;
  };
}
