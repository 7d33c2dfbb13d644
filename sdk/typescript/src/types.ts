/** Friendly names for the generated API types (src/schema.ts comes from openapi.json: do not edit it). */
import type { components } from "./schema.js";

type Schemas = components["schemas"];

export type User = Schemas["UserRead"];
export type Role = Schemas["Role"];
export type SubscriptionTier = NonNullable<Schemas["AdminUserUpdate"]["subscription_tier"]>;
export type AdminUserUpdate = Schemas["AdminUserUpdate"];
export type ProfileUpdate = Schemas["ProfileUpdate"];
export type RegisterRequest = Schemas["RegisterRequest"];
export type LoginRequest = Schemas["LoginRequest"];
export type TokenPair = Schemas["TokenPairResponse"];
export type Conversation = Schemas["Conversation"];
export type ConversationDetail = Schemas["ConversationDetail"];
export type ConversationCreate = Schemas["ConversationCreate"];
export type ConversationUpdate = Schemas["ConversationUpdate"];
export type ConversationPage = Schemas["CursorPage_Conversation_"];
export type Message = Schemas["Message"];
export type MessagePage = Schemas["MessagePage"];
export type ChatCreate = Schemas["ChatCreate"];
export type Regenerate = Schemas["Regenerate"];
export type StopResult = Schemas["StopResult"];
export type ApiKey = Schemas["ApiKeyRead"];
export type ApiKeyCreate = Schemas["ApiKeyCreate"];
export type ApiKeyCreated = Schemas["ApiKeyCreated"];
export type Permission = Schemas["Permission"];
export type UsageReport = Schemas["UsageReportRead"];
export type UsagePoint = Schemas["UsagePointRead"];
export type UserPage = Schemas["Page_UserRead_"];
export type AuditEvent = Schemas["AuditEventRead"];
export type AuditEventPage = Schemas["Page_AuditEventRead_"];
export type ChatCompletionRequest = Schemas["ChatCompletionRequest"];

/** `/v1/models` (OpenAI shape; the schema leaves it open, so it is described here). */
export interface ModelInfo {
  id: string;
  object?: string;
  owned_by?: string;
  [extra: string]: unknown;
}

export interface ModelList {
  object?: string;
  data: ModelInfo[];
}

/** The whole answer of `POST /api/v1/chat` with `stream: false`. */
export interface ChatResult {
  conversation_id: string;
  user_message_id: string;
  message_id: string;
  content: string;
  finish_reason: string;
  model: string;
  usage: { prompt_tokens: number; completion_tokens: number };
  cost: string;
  problem?: Record<string, unknown> | null;
}
