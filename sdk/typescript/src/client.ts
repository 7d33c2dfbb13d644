/**
 * The Parley API client: typed methods over `fetch`, with the session's access token attached, one refresh on
 * a 401 (then the session is over), and the account's suspension detected on any call.
 */
import { ChatStream, type ResumeOptions } from "./chat-stream.js";
import {
  ParleyApiError,
  ParleySessionEndedError,
  type Problem,
  type SessionEndReason,
  isSuspension,
  readProblem,
} from "./errors.js";
import { type RefreshOutcome, Session, type SessionMode } from "./session.js";
import type {
  AdminReport,
  AdminReportPage,
  AnswerReport,
  AnswerReportCreate,
  ReportActionCreate,
  ReportReason,
  ReportStatus,
  AdminUserUpdate,
  ApiKey,
  ApiKeyCreate,
  ApiKeyCreated,
  AnalyticsReport,
  AuditEventPage,
  ChainVerification,
  CatalogueModel,
  ChatCreate,
  ChatResult,
  FilePage,
  FileRecord,
  FileStatus,
  Group,
  GroupCreate,
  GroupLimits,
  GroupMember,
  GroupMemberAdd,
  GroupMemberPage,
  GroupPage,
  GroupSummary,
  GroupUpdate,
  KnowledgeBase,
  KnowledgeBaseCreate,
  KnowledgeBaseFile,
  KnowledgeBaseFilePage,
  KnowledgeBaseGrant,
  KnowledgeBaseGrantCreate,
  KnowledgeBasePage,
  KnowledgeBaseUpdate,
  LimitOverrides,
  Conversation,
  ConversationContext,
  ConversationCreate,
  ConversationDetail,
  ConversationPage,
  ConversationUpdate,
  Message,
  MessageFeedbackPut,
  MessagePage,
  ModelInfo,
  ModelList,
  ModelCreate,
  ModelUpdate,
  Plan,
  PlanRead,
  RoleDefinition,
  RoleDefinitionCreate,
  RoleDefinitionUpdate,
  ScimStatus,
  SsoStatus,
  ScimTokenCreated,
  MyLimits,
  ProfileUpdate,
  Regenerate,
  RegisterRequest,
  Role,
  SourceOptions,
  StopResult,
  SignInMethods,
  TokenPair,
  UsageReport,
  User,
  UserPage,
  AdminUser,
  DataExport,
} from "./types.js";

export interface ParleyClientOptions {
  /** Where Parley is served, e.g. `https://chat.example.com`; empty (default) means this page's origin. */
  baseUrl?: string;
  /** An API key (`pk-…`): used as the bearer token; no sign-in, no refresh. */
  apiKey?: string;
  /**
   * `cookie` keeps the refresh token in Parley's httpOnly cookie (browsers, same origin); `tokens` keeps both
   * tokens in memory and sends the refresh token in the body (Node, scripts). Default: `cookie` when a
   * `document` exists, else `tokens`.
   */
  session?: SessionMode;
  /** Tokens mode: called with every new token pair, e.g. to persist the refresh token. */
  onTokens?: (pair: TokenPair) => void;
  /** Called once when the session ends by itself: the refresh failed, or the account was suspended. */
  onSessionEnded?: (reason: SessionEndReason, problem: Problem) => void;
  /** Reconnects of a broken chat stream. */
  resume?: ResumeOptions;
  fetch?: typeof fetch;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | null | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Attach the access token (default true). */
  auth?: boolean;
}

export interface StreamOptions {
  signal?: AbortSignal;
}

export interface ConversationListQuery {
  q?: string;
  archived?: boolean;
  cursor?: string;
  limit?: number;
}

export interface UsageQuery {
  from?: string | Date;
  to?: string | Date;
  group_by?: "day" | "model";
}

/** `GET /api/v1/admin/analytics`: the range (default: the 30 days up to now) and the key of the series. */
export interface AnalyticsQuery {
  from?: string | Date;
  to?: string | Date;
  group_by?: "day" | "week" | "model" | "user" | "group" | "plan" | "cost_centre";
}

export interface PageQuery {
  cursor?: string;
  limit?: number;
}

export interface FileListQuery extends PageQuery {
  conversation_id?: string;
  status?: FileStatus;
}

export interface UploadOptions {
  /** The conversation the file belongs to (its later messages may draw on it too). */
  conversationId?: string | null;
  /** Add the file straight to this knowledge base (needs write access to it). */
  knowledgeBaseId?: string | null;
  /** Called as the bytes go out (browsers: through XMLHttpRequest, the one way to see upload progress). */
  onProgress?: (loaded: number, total: number) => void;
  signal?: AbortSignal;
}

/** A file's bytes, as `GET /api/v1/files/{id}/content` serves them. */
export interface FileContent {
  blob: Blob;
  /** From Content-Disposition, when the server names it. */
  filename: string | null;
  contentType: string;
}

export interface UserListQuery {
  q?: string;
  /** `user`, `admin` or a custom role's name. */
  role?: Role | (string & {});
  is_active?: boolean;
  page?: number;
  page_size?: number;
}

export interface ReportListQuery {
  status?: ReportStatus;
  reason?: ReportReason;
  model?: string;
  user_id?: string;
  /** Reported at or after / before; ISO strings or Dates. */
  since?: string | Date;
  until?: string | Date;
  page?: number;
  page_size?: number;
}

export interface GroupListQuery {
  q?: string;
  page?: number;
  page_size?: number;
}

export interface GroupSummaryQuery {
  q?: string;
  limit?: number;
}

export class ParleyClient {
  readonly session: Session;
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;
  private readonly apiKey: string | undefined;

  constructor(private readonly options: ParleyClientOptions = {}) {
    this.baseUrl = (options.baseUrl ?? "").replace(/\/+$/, "");
    const fetchImpl = options.fetch ?? globalThis.fetch;
    this.fetchImpl = (input, init) => fetchImpl(input, init);
    this.apiKey = options.apiKey;
    const mode = options.session ?? (typeof document === "undefined" ? "tokens" : "cookie");
    this.session = new Session({
      mode,
      refresh: (token) => this.refreshRequest(token),
      onTokens: options.onTokens,
    });
  }

  // ---- transport ---------------------------------------------------------------------------------------

  url(path: string, query?: RequestOptions["query"]): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
    }
    const search = params.toString();
    return `${this.baseUrl}${path}${search ? `?${search}` : ""}`;
  }

  /** Sends a request with auth; on a 401 refreshes once and retries; ends the session when that fails. */
  async fetch(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const attempt = (token: string | null): Promise<Response> => {
      const headers: Record<string, string> = { Accept: "application/json, text/event-stream", ...options.headers };
      if (options.body !== undefined && !(options.body instanceof FormData)) headers["Content-Type"] = "application/json";
      if (token) headers["Authorization"] = `Bearer ${token}`;
      const body = options.body === undefined || options.body instanceof FormData ? options.body : JSON.stringify(options.body);
      return this.fetchImpl(this.url(path, options.query), {
        method,
        headers,
        body: body as BodyInit | undefined,
        signal: options.signal,
        credentials: "same-origin",
      });
    };
    return this.authorized(attempt, options.auth ?? true);
  }

  /** Runs `attempt` with the access token; on a 401 refreshes once and runs it again with the new one. */
  private async authorized(attempt: (token: string | null) => Promise<Response>, withAuth = true): Promise<Response> {
    if (!withAuth) return attempt(null);
    if (this.apiKey) return this.watchSuspension(await attempt(this.apiKey));

    const used = this.session.accessToken;
    let response = await attempt(used);
    if (response.status === 401 && this.session.canRefresh) {
      const outcome = await this.session.renew(used);
      if (!outcome.ok && outcome.status !== 401 && outcome.status !== 403) {
        // the refresh itself failed (a 5xx, a 429): the session may still be fine, so it does not end
        throw new ParleyApiError(outcome.problem as Problem);
      }
      if (!outcome.ok) {
        const problem = await readProblem(response);
        const reason: SessionEndReason = isSuspension(outcome.problem as Problem) ? "suspended" : "expired";
        this.endSession(reason, problem);
        throw new ParleySessionEndedError(problem, reason);
      }
      response = await attempt(outcome.accessToken);
      if (response.status === 401) {
        const problem = await readProblem(response);
        this.session.clear();
        this.endSession("expired", problem);
        throw new ParleySessionEndedError(problem, "expired");
      }
    }
    return this.watchSuspension(response);
  }

  /**
   * Uploads a multipart form. With `onProgress` and XMLHttpRequest available (browsers) it goes through XHR, whose
   * upload events report the bytes sent (fetch cannot); otherwise through fetch. Same auth and refresh either way.
   */
  private upload(path: string, form: FormData, options: UploadOptions): Promise<Response> {
    const { onProgress, signal } = options;
    if (!onProgress || typeof XMLHttpRequest === "undefined") {
      return this.fetch("POST", path, { body: form, signal });
    }
    const attempt = (token: string | null): Promise<Response> =>
      new Promise<Response>((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        xhr.open("POST", this.url(path));
        xhr.setRequestHeader("Accept", "application/json");
        if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
        xhr.upload.addEventListener("progress", (event) => {
          if (event.lengthComputable) onProgress(event.loaded, event.total);
        });
        const onAbort = (): void => xhr.abort();
        signal?.addEventListener("abort", onAbort, { once: true });
        xhr.addEventListener("load", () => {
          signal?.removeEventListener("abort", onAbort);
          const headers = new Headers();
          for (const line of xhr.getAllResponseHeaders().trim().split(/[\r\n]+/)) {
            const colon = line.indexOf(":");
            if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
          }
          const empty = xhr.status === 204 || xhr.status === 205 || xhr.status === 304;
          resolve(new Response(empty ? null : xhr.responseText, { status: xhr.status, statusText: xhr.statusText, headers }));
        });
        xhr.addEventListener("error", () => {
          signal?.removeEventListener("abort", onAbort);
          reject(new TypeError("the upload could not reach the server"));
        });
        xhr.addEventListener("abort", () => {
          signal?.removeEventListener("abort", onAbort);
          reject(signal?.reason ?? new DOMException("The upload was cancelled", "AbortError"));
        });
        if (signal?.aborted) {
          reject(signal.reason ?? new DOMException("The upload was cancelled", "AbortError"));
          return;
        }
        xhr.send(form);
      });
    return this.authorized(attempt);
  }

  private async watchSuspension(response: Response): Promise<Response> {
    if (response.status !== 403) return response;
    const problem = await readProblem(response.clone());
    if (isSuspension(problem)) {
      this.session.clear();
      this.endSession("suspended", problem);
      throw new ParleySessionEndedError(problem, "suspended");
    }
    return response;
  }

  private endSession(reason: SessionEndReason, problem: Problem): void {
    this.options.onSessionEnded?.(reason, problem);
  }

  /** Sends a request and decodes the JSON answer; throws ParleyApiError on an error status. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.fetch(method, path, options);
    if (!response.ok) throw new ParleyApiError(await readProblem(response));
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  private async refreshRequest(token: string | null): Promise<RefreshOutcome & { pair?: TokenPair }> {
    const response = await this.fetchImpl(this.url("/api/v1/auth/refresh"), {
      method: "POST",
      headers: token ? { "Content-Type": "application/json", Accept: "application/json" } : { Accept: "application/json" },
      body: token ? JSON.stringify({ refresh_token: token }) : undefined,
      credentials: "same-origin",
    });
    if (!response.ok) return { ok: false, status: response.status, problem: await readProblem(response) };
    const pair = (await response.json()) as TokenPair;
    return { ok: true, accessToken: pair.access_token, pair };
  }

  private stream(method: string, path: string, body: unknown, conversationId: string | undefined, options: StreamOptions): ChatStream {
    return new ChatStream(
      {
        conversationId,
        open: async (signal) => {
          const response = await this.fetch(method, path, { body, signal });
          if (!response.ok) throw new ParleyApiError(await readProblem(response));
          return response;
        },
        resume: async (id, lastEventId, signal) => {
          const response = await this.fetch("GET", `/api/v1/chat/${id}/stream`, {
            signal,
            headers: lastEventId ? { "Last-Event-ID": lastEventId } : {},
          });
          if (response.status === 404) return null;
          if (!response.ok) throw new ParleyApiError(await readProblem(response));
          return response;
        },
      },
      options.signal,
      this.options.resume,
    );
  }

  // ---- auth ----------------------------------------------------------------------------------------------

  readonly auth = {
    register: (body: RegisterRequest): Promise<User> =>
      this.request("POST", "/api/v1/auth/register", { body, auth: false }),
    /** Signs in; cookie mode keeps only the access token (the refresh token stays in the httpOnly cookie). */
    login: async (email: string, password: string): Promise<User> => {
      const pair = await this.request<TokenPair>("POST", "/api/v1/auth/login", { body: { email, password }, auth: false });
      this.session.setTokens(pair);
      this.options.onTokens?.(pair);
      return this.users.me();
    },
    /** Uses an existing pair (tokens mode), e.g. one persisted from an earlier run. */
    useTokens: (pair: Pick<TokenPair, "access_token" | "refresh_token">): void => this.session.setTokens(pair),
    /** Restores the session from the refresh cookie (or the held refresh token); null when there is none. */
    restore: async (): Promise<User | null> => {
      if (!this.session.canRefresh) return null;
      const outcome = await this.session.refresh();
      if (!outcome.ok) return null;
      return this.users.me();
    },
    /** The ways to sign in here (public): password (when enabled) and each single sign-on provider. */
    providers: (): Promise<SignInMethods> => this.request("GET", "/api/v1/auth/providers", { auth: false }),
    /** Where to send a browser to sign in with a provider; it comes back to the web app signed in (cookie). */
    ssoLoginUrl: (provider: string): string => this.url(`/api/v1/auth/oidc/${encodeURIComponent(provider)}/login`),
    /** Where to send a browser to sign out here and, for a single sign-on session, at its provider too. */
    ssoLogoutUrl: (): string => this.url("/api/v1/auth/oidc/logout"),
    logout: async (): Promise<void> => {
      const token = this.session.currentRefreshToken;
      this.session.clear();
      await this.request("POST", "/api/v1/auth/logout", {
        body: token ? { refresh_token: token } : undefined,
        auth: false,
      });
    },
  };

  // ---- users ---------------------------------------------------------------------------------------------

  readonly users = {
    me: (): Promise<User> => this.request("GET", "/api/v1/users/me"),
    updateMe: (body: ProfileUpdate): Promise<User> => this.request("PATCH", "/api/v1/users/me", { body }),
    changePassword: (currentPassword: string, newPassword: string): Promise<User> =>
      this.request("PATCH", "/api/v1/users/me", {
        body: { current_password: currentPassword, new_password: newPassword },
      }),
    usage: (query: UsageQuery = {}): Promise<UsageReport> =>
      this.request("GET", "/api/v1/users/me/usage", {
        query: { from: isoDate(query.from), to: isoDate(query.to), group_by: query.group_by },
      }),
    /** The groups I am a member of. */
    groups: (): Promise<GroupSummary[]> => this.request("GET", "/api/v1/users/me/groups"),
    /** Every limit that applies to me (plan, groups, overrides): each quota's use, what is left and when it comes
     * back; requests per minute, answers at once, largest upload, models. */
    limits: (options: StreamOptions = {}): Promise<MyLimits> =>
      this.request("GET", "/api/v1/users/me/limits", { signal: options.signal }),
    /** Start an export of all my data (a zip built in the background; one at a time, a few a day). */
    startExport: (): Promise<DataExport> => this.request("POST", "/api/v1/users/me/export"),
    /** My recent exports, newest first. */
    exports: (options: StreamOptions = {}): Promise<DataExport[]> =>
      this.request("GET", "/api/v1/users/me/exports", { signal: options.signal }),
    export: (id: string, options: StreamOptions = {}): Promise<DataExport> =>
      this.request("GET", `/api/v1/users/me/exports/${id}`, { signal: options.signal }),
    /** A ready export's zip (until it expires). */
    downloadExport: async (id: string, options: StreamOptions = {}): Promise<FileContent> => {
      const response = await this.fetch("GET", `/api/v1/users/me/exports/${id}/download`, {
        signal: options.signal,
        headers: { Accept: "application/zip" },
      });
      if (!response.ok) throw new ParleyApiError(await readProblem(response));
      return {
        blob: await response.blob(),
        filename: filenameOf(response.headers.get("Content-Disposition")),
        contentType: response.headers.get("Content-Type") ?? "application/zip",
      };
    },
    /** Delete my account and all its data, for good. `password`: the current one (single sign-on accounts
     * without a password leave it out and must have signed in within the last few minutes). */
    deleteMe: async (password?: string): Promise<void> => {
      await this.request("DELETE", "/api/v1/users/me", { body: password === undefined ? {} : { password } });
      this.session.clear();
    },
  };

  /** Groups as every signed-in user sees them: to pick one when sharing (administrators manage them in `admin`). */
  readonly groups = {
    list: (query: GroupSummaryQuery = {}, options: StreamOptions = {}): Promise<GroupSummary[]> =>
      this.request("GET", "/api/v1/groups", { query: { ...query }, signal: options.signal }),
  };

  readonly apiKeys = {
    list: (): Promise<ApiKey[]> => this.request("GET", "/api/v1/users/me/api-keys"),
    /** The answer's `key` is shown this once: Parley keeps only its hash. */
    create: (body: ApiKeyCreate): Promise<ApiKeyCreated> => this.request("POST", "/api/v1/users/me/api-keys", { body }),
    revoke: (id: string): Promise<void> => this.request("DELETE", `/api/v1/users/me/api-keys/${id}`),
  };

  // ---- conversations and chat ----------------------------------------------------------------------------

  readonly conversations = {
    list: (query: ConversationListQuery = {}, options: StreamOptions = {}): Promise<ConversationPage> =>
      this.request("GET", "/api/v1/conversations", { query: { ...query }, signal: options.signal }),
    create: (body: ConversationCreate = {}): Promise<Conversation> =>
      this.request("POST", "/api/v1/conversations", { body }),
    get: (id: string): Promise<ConversationDetail> => this.request("GET", `/api/v1/conversations/${id}`),
    /** How full the conversation's context window is (tokens of the last prompt and answer against the model's
     * window) and what the conversation has cost so far. */
    context: (id: string, options: StreamOptions = {}): Promise<ConversationContext> =>
      this.request("GET", `/api/v1/conversations/${id}/context`, { signal: options.signal }),
    /** The knowledge bases attached to a conversation: every later message of it draws on them. */
    knowledgeBases: (id: string): Promise<KnowledgeBase[]> => this.request("GET", `/api/v1/conversations/${id}/knowledge-bases`),
    attachKnowledgeBase: (id: string, knowledgeBaseId: string): Promise<KnowledgeBase> =>
      this.request("PUT", `/api/v1/conversations/${id}/knowledge-bases/${knowledgeBaseId}`),
    detachKnowledgeBase: (id: string, knowledgeBaseId: string): Promise<void> =>
      this.request("DELETE", `/api/v1/conversations/${id}/knowledge-bases/${knowledgeBaseId}`),
    update: (id: string, body: ConversationUpdate): Promise<Conversation> =>
      this.request("PATCH", `/api/v1/conversations/${id}`, { body }),
    rename: (id: string, title: string): Promise<Conversation> =>
      this.request("PATCH", `/api/v1/conversations/${id}`, { body: { title } }),
    archive: (id: string, archived = true): Promise<Conversation> =>
      this.request("PATCH", `/api/v1/conversations/${id}`, { body: { is_archived: archived } }),
    delete: (id: string): Promise<void> => this.request("DELETE", `/api/v1/conversations/${id}`),
  };

  readonly chat = {
    /** Sends a message; iterate the result for its events (`for await (const e of client.chat.send(…))`). */
    send: (body: Omit<ChatCreate, "stream"> & SourceOptions, options: StreamOptions = {}): ChatStream =>
      this.stream("POST", "/api/v1/chat", { ...body, stream: true }, body.conversation_id ?? undefined, options),
    /** The whole answer at once (`stream: false`). */
    complete: (body: Omit<ChatCreate, "stream"> & SourceOptions): Promise<ChatResult> =>
      this.request("POST", "/api/v1/chat", { body: { ...body, stream: false } }),
    /** Answers the last question again; with `message`, edits that question first. Without `file_ids` /
     * `knowledge_base_ids` the question keeps the documents it named. */
    regenerate: (conversationId: string, body: Omit<Regenerate, "stream"> & SourceOptions = {}, options: StreamOptions = {}): ChatStream =>
      this.stream("POST", `/api/v1/chat/${conversationId}/regenerate`, { ...body, stream: true }, conversationId, options),
    /** Reattaches to an answer still being written (after a reload); throws a 404 ParleyApiError when none is. */
    resume: (conversationId: string, lastEventId?: string, options: StreamOptions = {}): ChatStream =>
      new ChatStream(
        {
          conversationId,
          open: async (signal) => {
            const response = await this.fetch("GET", `/api/v1/chat/${conversationId}/stream`, {
              signal,
              headers: lastEventId ? { "Last-Event-ID": lastEventId } : {},
            });
            if (!response.ok) throw new ParleyApiError(await readProblem(response));
            return response;
          },
          resume: async (id, last, signal) => {
            const response = await this.fetch("GET", `/api/v1/chat/${id}/stream`, {
              signal,
              headers: last ? { "Last-Event-ID": last } : {},
            });
            if (response.status === 404) return null;
            if (!response.ok) throw new ParleyApiError(await readProblem(response));
            return response;
          },
        },
        options.signal,
        this.options.resume,
      ),
    stop: (conversationId: string): Promise<StopResult> => this.request("POST", `/api/v1/chat/${conversationId}/stop`),
    messages: (conversationId: string, query: { cursor?: string; limit?: number } = {}): Promise<MessagePage> =>
      this.request("GET", `/api/v1/chat/${conversationId}/messages`, { query: { ...query } }),
    deleteMessage: (messageId: string): Promise<void> => this.request("DELETE", `/api/v1/chat/messages/${messageId}`),
    /** Rates one of your answers thumbs up or down, with an optional comment (replacing an earlier rating); returns
     * the message with its `feedback`. Someone else's message is a 404, a question a 422. */
    setFeedback: (messageId: string, body: MessageFeedbackPut): Promise<Message> =>
      this.request("PUT", `/api/v1/messages/${messageId}/feedback`, { body }),
    /** Withdraws your rating of an answer. */
    deleteFeedback: (messageId: string): Promise<void> => this.request("DELETE", `/api/v1/messages/${messageId}/feedback`),
    /** Reports one of your answers to the administrators (a reason, optional text). While an earlier report of it
     * is open: 409. Someone else's message is a 404, a question a 422. */
    reportAnswer: (messageId: string, body: AnswerReportCreate): Promise<AnswerReport> =>
      this.request("POST", `/api/v1/chat/messages/${messageId}/report`, { body }),
  };

  // ---- files and knowledge bases -------------------------------------------------------------------------

  readonly files = {
    /** Uploads a file (201: stored, `pending`); it is then read and indexed in the background: poll `get`. */
    upload: async (file: Blob, options: UploadOptions = {}, filename?: string): Promise<FileRecord> => {
      const form = new FormData();
      const name = filename ?? (typeof (file as { name?: unknown }).name === "string" ? (file as File).name : "upload");
      form.append("file", file, name);
      if (options.conversationId) form.append("conversation_id", options.conversationId);
      if (options.knowledgeBaseId) form.append("knowledge_base_id", options.knowledgeBaseId);
      const response = await this.upload("/api/v1/chat/upload", form, options);
      if (!response.ok) throw new ParleyApiError(await readProblem(response));
      return (await response.json()) as FileRecord;
    },
    list: (query: FileListQuery = {}, options: StreamOptions = {}): Promise<FilePage> =>
      this.request("GET", "/api/v1/files", { query: { ...query }, signal: options.signal }),
    get: (id: string, options: StreamOptions = {}): Promise<FileRecord> =>
      this.request("GET", `/api/v1/files/${id}`, { signal: options.signal }),
    /** The file's bytes, fetched with the access token (a bare link would carry no bearer token). */
    content: async (id: string, options: StreamOptions = {}): Promise<FileContent> => {
      const response = await this.fetch("GET", `/api/v1/files/${id}/content`, {
        signal: options.signal,
        headers: { Accept: "*/*" },
      });
      if (!response.ok) throw new ParleyApiError(await readProblem(response));
      return {
        blob: await response.blob(),
        filename: filenameOf(response.headers.get("Content-Disposition")),
        contentType: response.headers.get("Content-Type") ?? "application/octet-stream",
      };
    },
    delete: (id: string): Promise<void> => this.request("DELETE", `/api/v1/files/${id}`),
  };

  readonly knowledgeBases = {
    list: (query: PageQuery = {}, options: StreamOptions = {}): Promise<KnowledgeBasePage> =>
      this.request("GET", "/api/v1/knowledge-bases", { query: { ...query }, signal: options.signal }),
    create: (body: KnowledgeBaseCreate): Promise<KnowledgeBase> => this.request("POST", "/api/v1/knowledge-bases", { body }),
    get: (id: string): Promise<KnowledgeBase> => this.request("GET", `/api/v1/knowledge-bases/${id}`),
    update: (id: string, body: KnowledgeBaseUpdate): Promise<KnowledgeBase> =>
      this.request("PATCH", `/api/v1/knowledge-bases/${id}`, { body }),
    delete: (id: string): Promise<void> => this.request("DELETE", `/api/v1/knowledge-bases/${id}`),
    files: (id: string, query: PageQuery = {}): Promise<KnowledgeBaseFilePage> =>
      this.request("GET", `/api/v1/knowledge-bases/${id}/files`, { query: { ...query } }),
    addFile: (id: string, fileId: string): Promise<KnowledgeBaseFile> =>
      this.request("POST", `/api/v1/knowledge-bases/${id}/files`, { body: { file_id: fileId } }),
    removeFile: (id: string, fileId: string): Promise<void> =>
      this.request("DELETE", `/api/v1/knowledge-bases/${id}/files/${fileId}`),
    grants: (id: string): Promise<KnowledgeBaseGrant[]> => this.request("GET", `/api/v1/knowledge-bases/${id}/grants`),
    /** Shares with one user (`user_email`), a group (`group_id`) or everyone with a role, to read or also to add
     * and remove files. */
    grant: (id: string, body: KnowledgeBaseGrantCreate): Promise<KnowledgeBaseGrant> =>
      this.request("POST", `/api/v1/knowledge-bases/${id}/grants`, { body }),
    revokeGrant: (id: string, grantId: string): Promise<void> =>
      this.request("DELETE", `/api/v1/knowledge-bases/${id}/grants/${grantId}`),
  };

  /** `/v1/models`: the models this account may use (includes `auto`), each with its capabilities. */
  readonly models = {
    list: (): Promise<ModelList> => this.request("GET", "/v1/models"),
    /** One of them; another name is 404 (OpenAI's `model_not_found`). */
    get: (id: string): Promise<ModelInfo> => this.request("GET", `/v1/models/${encodeURIComponent(id)}`),
  };

  // ---- administration ------------------------------------------------------------------------------------

  readonly admin = {
    users: (query: UserListQuery = {}): Promise<UserPage> =>
      this.request("GET", "/api/v1/admin/users", { query: { ...query } }),
    suspend: (id: string): Promise<User> => this.request("POST", `/api/v1/admin/users/${id}/suspend`),
    unsuspend: (id: string): Promise<User> => this.request("POST", `/api/v1/admin/users/${id}/unsuspend`),
    /** Delete a user's account and all their data (not the last admin, not a user under legal hold). */
    deleteUser: (id: string): Promise<void> => this.request("DELETE", `/api/v1/admin/users/${id}`),
    /** Set or lift a legal hold: while set, nothing of the user's is deleted by retention or erasure. */
    setLegalHold: (id: string, hold: boolean, reason?: string): Promise<AdminUser> =>
      this.request("POST", `/api/v1/admin/users/${id}/legal-hold`, { body: { hold, reason: reason ?? null } }),
    updateUser: (id: string, body: AdminUserUpdate): Promise<User> =>
      this.request("PATCH", `/api/v1/admin/users/${id}`, { body }),
    /** The Review queue (`admin:reports`): reports of answers, newest first, filtered. */
    reports: (query: ReportListQuery = {}, options: StreamOptions = {}): Promise<AdminReportPage> =>
      this.request("GET", "/api/v1/admin/reports", {
        query: {
          ...query,
          since: query.since instanceof Date ? query.since.toISOString() : query.since,
          until: query.until instanceof Date ? query.until.toISOString() : query.until,
        },
        signal: options.signal,
      }),
    /** One report: the reported exchange, the detectors' scores and its history (reading it is audited). */
    report: (id: string): Promise<AdminReport> => this.request("GET", `/api/v1/admin/reports/${id}`),
    /** Dismiss or confirm a report, suspend its user, block a phrase, or add a note; returns the report. */
    actOnReport: (id: string, body: ReportActionCreate): Promise<AdminReport> =>
      this.request("POST", `/api/v1/admin/reports/${id}/actions`, { body }),
    /** The audit trail, newest first, filtered by action, actor and time. */
    auditEvents: (query: AuditQuery & { page?: number; page_size?: number } = {}, options: StreamOptions = {}): Promise<AuditEventPage> =>
      this.request("GET", "/api/v1/admin/audit-events", {
        query: { ...auditQuery(query), page: query.page, page_size: query.page_size },
        signal: options.signal,
      }),
    /** The audit trail as a JSON Lines file for a SIEM (oldest first, one event per line, with its chain links). */
    auditExport: async (query: AuditQuery & { target_type?: string } = {}, options: StreamOptions = {}): Promise<FileContent> => {
      const response = await this.fetch("GET", "/api/v1/admin/audit-events/export", {
        query: { ...auditQuery(query), target_type: query.target_type },
        signal: options.signal,
        headers: { Accept: "application/x-ndjson" },
      });
      if (!response.ok) throw new ParleyApiError(await readProblem(response));
      return {
        blob: await response.blob(),
        filename: filenameOf(response.headers.get("Content-Disposition")),
        contentType: response.headers.get("Content-Type") ?? "application/x-ndjson",
      };
    },
    /** Walks the audit hash chain and its signed checkpoints: verified, or the first edited, deleted or reordered row. */
    auditVerification: (options: StreamOptions = {}): Promise<ChainVerification> =>
      this.request("GET", "/api/v1/admin/audit-events/verification", { signal: options.signal }),
    /** Organisation analytics: active users, spend, retention, errors and latency, in total and per key. */
    analytics: (query: AnalyticsQuery = {}, options: StreamOptions = {}): Promise<AnalyticsReport> =>
      this.request("GET", "/api/v1/admin/analytics", { query: analyticsQuery(query), signal: options.signal }),
    /** The same series as a CSV file, for chargeback (e.g. `group_by: "cost_centre"`). */
    analyticsCsv: async (query: AnalyticsQuery = {}, options: StreamOptions = {}): Promise<FileContent> => {
      const response = await this.fetch("GET", "/api/v1/admin/analytics.csv", {
        query: analyticsQuery(query),
        signal: options.signal,
        headers: { Accept: "text/csv" },
      });
      if (!response.ok) throw new ParleyApiError(await readProblem(response));
      return {
        blob: await response.blob(),
        filename: filenameOf(response.headers.get("Content-Disposition")),
        contentType: response.headers.get("Content-Type") ?? "text/csv",
      };
    },
    /** Groups by name; `q` searches names and descriptions. */
    groups: (query: GroupListQuery = {}, options: StreamOptions = {}): Promise<GroupPage> =>
      this.request("GET", "/api/v1/admin/groups", { query: { ...query }, signal: options.signal }),
    group: (id: string): Promise<Group> => this.request("GET", `/api/v1/admin/groups/${id}`),
    /** A 409 ParleyApiError when another group has the name (names are unique whatever their case). */
    createGroup: (body: GroupCreate): Promise<Group> => this.request("POST", "/api/v1/admin/groups", { body }),
    updateGroup: (id: string, body: GroupUpdate): Promise<Group> =>
      this.request("PATCH", `/api/v1/admin/groups/${id}`, { body }),
    /** Deletes the group with its memberships and everything shared with it. */
    deleteGroup: (id: string): Promise<void> => this.request("DELETE", `/api/v1/admin/groups/${id}`),
    groupMembers: (id: string, query: { page?: number; page_size?: number } = {}): Promise<GroupMemberPage> =>
      this.request("GET", `/api/v1/admin/groups/${id}/members`, { query: { ...query } }),
    /** Adds a user by email or id; adding a member again answers with the existing membership. */
    addGroupMember: (id: string, body: GroupMemberAdd): Promise<GroupMember> =>
      this.request("POST", `/api/v1/admin/groups/${id}/members`, { body }),
    removeGroupMember: (id: string, userId: string): Promise<void> =>
      this.request("DELETE", `/api/v1/admin/groups/${id}/members/${userId}`),
    /** Replaces the limits the group gives its members and its shared monthly budget; answers what is stored. */
    putGroupLimits: (id: string, body: GroupLimits): Promise<GroupLimits> =>
      this.request("PUT", `/api/v1/admin/groups/${id}/limits`, { body }),
    /** Removes the group's limits and shared budget. */
    deleteGroupLimits: (id: string): Promise<void> => this.request("DELETE", `/api/v1/admin/groups/${id}/limits`),
    /** Replaces the user's overrides of their plan's limits (only the keys given; null: unlimited). */
    putUserLimits: (id: string, body: LimitOverrides): Promise<LimitOverrides> =>
      this.request("PUT", `/api/v1/admin/users/${id}/limits`, { body }),
    /** Removes the user's overrides: their plan and groups decide again. */
    deleteUserLimits: (id: string): Promise<void> => this.request("DELETE", `/api/v1/admin/users/${id}/limits`),
    /** Every plan users can be on, by name, with its limits. */
    plans: (): Promise<PlanRead[]> => this.request("GET", "/api/v1/admin/plans"),
    /** Creates a plan or replaces its limits (limits left out become unlimited). */
    putPlan: (name: string, limits: Plan): Promise<PlanRead> =>
      this.request("PUT", `/api/v1/admin/plans/${encodeURIComponent(name)}`, { body: limits }),
    /** A 409 ParleyApiError while users are on the plan, and always for `free`. */
    deletePlan: (name: string): Promise<void> => this.request("DELETE", `/api/v1/admin/plans/${encodeURIComponent(name)}`),
    /** Every configured model (the names plans and limits may list), whatever the admin's own plan allows. */
    models: (): Promise<CatalogueModel[]> => this.request("GET", "/api/v1/admin/models"),
    /** Add a model to the catalogue: every replica serves it within seconds. */
    createModel: (body: ModelCreate): Promise<CatalogueModel> => this.request("POST", "/api/v1/admin/models", { body }),
    /** Change a model's fields (prices, fallbacks, capabilities…), or disable or enable it. */
    updateModel: (name: string, body: ModelUpdate): Promise<CatalogueModel> =>
      this.request("PATCH", `/api/v1/admin/models/${modelPath(name)}`, { body }),
    /** Delete a model added at run time, or undo the changes to one of the models file. */
    deleteModel: (name: string): Promise<void> => this.request("DELETE", `/api/v1/admin/models/${modelPath(name)}`),
    /** SCIM provisioning: on or off, the base URL for the identity provider, token age, the last provisioning call. */
    scim: (): Promise<ScimStatus> => this.request("GET", "/api/v1/admin/scim"),
    /** A new SCIM token (returned once); the previous admin-created token stops working. Needs a signed-in admin. */
    rotateScimToken: (): Promise<ScimTokenCreated> => this.request("POST", "/api/v1/admin/scim/token"),
    /** Single sign-on: whether passwords still sign in, and each OpenID Connect / SAML provider with its linked
     * accounts, last sign-in and synced groups. */
    sso: (): Promise<SsoStatus> => this.request("GET", "/api/v1/admin/sso"),
    /** Every role: the built-in `user` and `admin` first, then custom ones, with how many users and groups hold each. */
    roles: (): Promise<RoleDefinition[]> => this.request("GET", "/api/v1/admin/roles"),
    /** A 409 ParleyApiError for a name taken or built in; 422 for an unknown permission. */
    createRole: (body: RoleDefinitionCreate): Promise<RoleDefinition> =>
      this.request("POST", "/api/v1/admin/roles", { body }),
    /** Holders have the new permissions from their next request. */
    updateRole: (id: string, body: RoleDefinitionUpdate): Promise<RoleDefinition> =>
      this.request("PATCH", `/api/v1/admin/roles/${id}`, { body }),
    /** A 409 ParleyApiError while users or groups hold the role. */
    deleteRole: (id: string): Promise<void> => this.request("DELETE", `/api/v1/admin/roles/${id}`),
  };
}

/** The file name in a Content-Disposition header (RFC 6266: `filename*` wins over `filename`). */
export function filenameOf(header: string | null): string | null {
  if (!header) return null;
  const extended = /filename\*\s*=\s*([^']*)'[^']*'([^;]+)/i.exec(header);
  if (extended?.[2]) {
    try {
      return decodeURIComponent(extended[2].trim());
    } catch {
      // malformed escape: fall back to the plain parameter
    }
  }
  const plain = /filename\s*=\s*("((?:[^"\\]|\\.)*)"|[^;]+)/i.exec(header);
  if (!plain) return null;
  return (plain[2] !== undefined ? plain[2].replace(/\\(.)/g, "$1") : (plain[1] ?? "").trim()) || null;
}

/** Filters of the audit trail (list and export); times as ISO strings or Dates. */
export interface AuditQuery {
  action?: string;
  actor_id?: string;
  since?: string | Date;
  until?: string | Date;
}

function auditQuery(query: AuditQuery): Record<string, string | undefined> {
  return { action: query.action, actor_id: query.actor_id, since: isoDate(query.since), until: isoDate(query.until) };
}

function analyticsQuery(query: AnalyticsQuery): Record<string, string | undefined> {
  return { from: isoDate(query.from), to: isoDate(query.to), group_by: query.group_by };
}

function isoDate(value: string | Date | undefined): string | undefined {
  if (value === undefined) return undefined;
  return value instanceof Date ? value.toISOString() : value;
}

/** A model's name in a URL path: it may hold slashes (`org/model`), which the route takes as they are. */
function modelPath(name: string): string {
  return name.split("/").map(encodeURIComponent).join("/");
}
