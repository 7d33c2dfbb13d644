/**
 * Holds the tokens of one signed-in session and refreshes them.
 *
 * Two modes:
 * - `cookie` (browsers): the access token lives in memory only; the refresh token is the httpOnly
 *   `parley_refresh` cookie that Parley sets and rotates, so no script can ever read it.
 * - `tokens` (Node, scripts, third parties): both tokens are kept in memory and the refresh token travels in the
 *   request body. Pass `onTokens` to persist them yourself.
 *
 * A refresh token works once and presenting a used one revokes the whole session, so refreshes are
 * single-flight: concurrent callers share one request, and in browsers a Web Lock keeps two tabs from racing
 * with the same cookie.
 */
import type { TokenPair } from "./types.js";

export type SessionMode = "cookie" | "tokens";

export type RefreshOutcome = { ok: true; accessToken: string } | { ok: false; status: number; problem: unknown };

export interface SessionOptions {
  mode: SessionMode;
  /** Performs the refresh request: `refreshToken` is null in cookie mode. */
  refresh: (refreshToken: string | null) => Promise<RefreshOutcome & { pair?: TokenPair }>;
  /** Called with every new pair (tokens mode: the place to persist them). */
  onTokens?: (pair: TokenPair) => void;
  /** Name of the Web Lock that serialises refreshes across tabs (cookie mode). */
  lockName?: string;
}

interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

export class Session {
  private access: string | null = null;
  private refreshToken: string | null = null;
  private inflight: Promise<RefreshOutcome> | null = null;
  /** Bumped on every sign-in/out, so a refresh that finishes after a sign-out does not revive the session. */
  private generation = 0;

  constructor(private readonly options: SessionOptions) {}

  get mode(): SessionMode {
    return this.options.mode;
  }

  get accessToken(): string | null {
    return this.access;
  }

  /** Whether a refresh could succeed at all (tokens mode needs a refresh token; cookie mode always may). */
  get canRefresh(): boolean {
    return this.options.mode === "cookie" || this.refreshToken !== null;
  }

  /** Tokens mode: the current refresh token (to persist it, or to sign out with it). */
  get currentRefreshToken(): string | null {
    return this.refreshToken;
  }

  setTokens(pair: Pick<TokenPair, "access_token" | "refresh_token"> & Partial<TokenPair>): void {
    this.generation++;
    this.access = pair.access_token;
    // In cookie mode the refresh token stays in its httpOnly cookie: the copy in the body is dropped.
    this.refreshToken = this.options.mode === "tokens" ? pair.refresh_token : null;
  }

  clear(): void {
    this.generation++;
    this.access = null;
    this.refreshToken = null;
    this.inflight = null;
  }

  /**
   * A fresh access token after `rejected` was refused. When another caller already replaced `rejected`, that
   * newer token is returned without a new refresh; otherwise one refresh runs, shared by all callers.
   */
  async renew(rejected: string | null): Promise<RefreshOutcome> {
    if (this.access !== null && this.access !== rejected) return { ok: true, accessToken: this.access };
    return this.refresh();
  }

  /** Refreshes now (single-flight). */
  refresh(): Promise<RefreshOutcome> {
    if (this.inflight) return this.inflight;
    const generation = this.generation;
    const run = async (): Promise<RefreshOutcome> => {
      const outcome = await this.withLock(() => this.options.refresh(this.refreshToken));
      if (generation !== this.generation) {
        // signed out (or in as someone else) meanwhile: this result belongs to a session that is gone
        return this.access ? { ok: true, accessToken: this.access } : { ok: false, status: 401, problem: null };
      }
      if (outcome.ok && outcome.pair) {
        this.setTokens(outcome.pair);
        this.options.onTokens?.(outcome.pair);
      } else if (!outcome.ok && (outcome.status === 401 || outcome.status === 403)) {
        this.clear();
      }
      return outcome.ok ? { ok: true, accessToken: outcome.accessToken } : outcome;
    };
    const promise = run().finally(() => {
      if (this.inflight === promise) this.inflight = null;
    });
    this.inflight = promise;
    return promise;
  }

  private async withLock<T>(task: () => Promise<T>): Promise<T> {
    const locks = this.options.mode === "cookie" ? browserLocks() : undefined;
    if (!locks) return task();
    return locks.request(this.options.lockName ?? "parley-refresh", task);
  }
}

function browserLocks(): LockManagerLike | undefined {
  const nav = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator;
  return nav?.locks && typeof nav.locks.request === "function" ? nav.locks : undefined;
}
