export { ParleyClient } from "./client.js";
export { filenameOf } from "./client.js";
export type {
  ParleyClientOptions,
  RequestOptions,
  StreamOptions,
  ConversationListQuery,
  UsageQuery,
  AnalyticsQuery,
  AuditQuery,
  UserListQuery,
  ReportListQuery,
  GroupListQuery,
  GroupSummaryQuery,
  PageQuery,
  FileListQuery,
  UploadOptions,
  FileContent,
} from "./client.js";
export { ChatStream } from "./chat-stream.js";
export type {
  ChatEvent,
  ResumeOptions,
  MessageEventData,
  DeltaEventData,
  FallbackEventData,
  DoneEventData,
  StatusEventData,
  StatusStage,
  ErrorEventData,
  TitleEventData,
} from "./chat-stream.js";
export { SSEParser, readSSE } from "./sse.js";
export type { SSEMessage } from "./sse.js";
export { Session } from "./session.js";
export type { SessionMode } from "./session.js";
export {
  ParleyApiError,
  ParleyNetworkError,
  ParleySessionEndedError,
  isSuspension,
  readProblem,
  isNetworkFailure,
  isAbort,
} from "./errors.js";
export type { Problem, SessionEndReason } from "./errors.js";
export type * from "./types.js";
export type { paths, components, operations } from "./schema.js";
