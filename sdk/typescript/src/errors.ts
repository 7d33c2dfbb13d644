/** Errors: every failure of Parley's API is an RFC 9457 problem (`/v1` answers in OpenAI's error shape). */

export interface Problem {
  type?: string;
  title?: string;
  status: number;
  detail?: string;
  instance?: string;
  [extension: string]: unknown;
}

/** The API answered with an error status. */
export class ParleyApiError extends Error {
  readonly status: number;
  readonly problem: Problem;

  constructor(problem: Problem) {
    super(problem.detail || problem.title || `HTTP ${problem.status}`);
    this.name = "ParleyApiError";
    this.status = problem.status;
    this.problem = problem;
  }

  /** The account was suspended by an administrator: the session is over. */
  get isSuspended(): boolean {
    return isSuspension(this.problem);
  }
}

/** The server could not be reached (or the connection broke) after the retries the call allows. */
export class ParleyNetworkError extends Error {
  override readonly cause: unknown;

  constructor(message: string, cause?: unknown) {
    super(message);
    this.name = "ParleyNetworkError";
    this.cause = cause;
  }
}

/** The session ended (refresh failed, or the account was suspended): sign in again. */
export class ParleySessionEndedError extends ParleyApiError {
  readonly reason: SessionEndReason;

  constructor(problem: Problem, reason: SessionEndReason) {
    super(problem);
    this.name = "ParleySessionEndedError";
    this.reason = reason;
  }
}

export type SessionEndReason = "expired" | "suspended" | "signed_out";

export function isSuspension(problem: Problem): boolean {
  return problem.status === 403 && /suspended/i.test(`${problem.detail ?? ""} ${problem.title ?? ""}`);
}

/** Reads an error response into a Problem, whatever its shape (problem+json, OpenAI's `{error}`, text). */
export async function readProblem(response: Response): Promise<Problem> {
  const fallback: Problem = { status: response.status, title: response.statusText || `HTTP ${response.status}` };
  let text: string;
  try {
    text = await response.text();
  } catch {
    return fallback;
  }
  if (!text) return fallback;
  try {
    const body: unknown = JSON.parse(text);
    if (body && typeof body === "object") {
      const record = body as Record<string, unknown>;
      const openai = record["error"];
      if (openai && typeof openai === "object") {
        const error = openai as Record<string, unknown>;
        const message = typeof error["message"] === "string" ? error["message"] : undefined;
        return { ...fallback, ...error, status: response.status, detail: message };
      }
      return { ...fallback, ...record, status: response.status };
    }
  } catch {
    // not JSON: use the text as the detail
  }
  return { ...fallback, detail: text.slice(0, 500) };
}

/** True for a failure to reach the server or a broken connection (not an HTTP error, not a cancel). */
export function isNetworkFailure(error: unknown): boolean {
  if (error instanceof ParleyApiError) return false;
  if (isAbort(error)) return false;
  return error instanceof TypeError || error instanceof ParleyNetworkError || isConnectionError(error);
}

export function isAbort(error: unknown): boolean {
  return (
    typeof error === "object" &&
    error !== null &&
    "name" in error &&
    ((error as { name: unknown }).name === "AbortError" || (error as { name: unknown }).name === "TimeoutError")
  );
}

function isConnectionError(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|UND_ERR_SOCKET|UND_ERR_CLOSED)/.test(code);
}
