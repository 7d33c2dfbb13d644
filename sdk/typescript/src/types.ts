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
export type SignInMethods = Schemas["SignInMethods"];
export type SignInMethod = Schemas["SignInMethod"];
export type Conversation = Schemas["Conversation"];
export type ConversationDetail = Schemas["ConversationDetail"];
export type ConversationCreate = Schemas["ConversationCreate"];
export type ConversationUpdate = Schemas["ConversationUpdate"];
export type ConversationPage = Schemas["CursorPage_Conversation_"];
export type Message = Schemas["Message"];
export type MessagePage = Schemas["MessagePage"];
/** A user's thumbs up / down (with an optional comment) on one of their answers. */
export type MessageFeedback = Schemas["Feedback"];
export type MessageFeedbackPut = Schemas["FeedbackPut"];
export type MessageRating = MessageFeedback["rating"];
/** A user's report of one of their answers ("Report this answer"), as they see it. */
export type AnswerReport = Schemas["Report"];
export type AnswerReportCreate = Schemas["ReportCreate"];
export type ReportReason = AnswerReportCreate["reason"];
export type ReportStatus = AnswerReport["status"];
/** The admin Review queue: a row, one report with its exchange and history, and what a reviewer can do. */
export type AdminReportSummary = Schemas["AdminReportSummary"];
export type AdminReportPage = Schemas["Page_AdminReportSummary_"];
export type AdminReport = Schemas["AdminReport"];
export type ReportAction = Schemas["ReportActionRead"];
export type ReportActionCreate = Schemas["ReportActionCreate"];
export type ChatCreate = Schemas["ChatCreate"];
export type Regenerate = Schemas["Regenerate"];
export type StopResult = Schemas["StopResult"];
export type ApiKey = Schemas["ApiKeyRead"];
export type ApiKeyCreate = Schemas["ApiKeyCreate"];
export type ApiKeyCreated = Schemas["ApiKeyCreated"];
export type Permission = Schemas["Permission"];
export type UsageReport = Schemas["UsageReportRead"];
export type UsagePoint = Schemas["UsagePointRead"];
/** A user as administrators see them: also their legal hold. */
export type AdminUser = Schemas["AdminUserRead"];
export type UserPage = Schemas["Page_AdminUserRead_"];
/** A data export (GDPR): queued, running, ready (downloadable until `expires_at`), failed or expired. */
export type DataExport = Schemas["ExportRead"];
export type AuditEvent = Schemas["AuditEventRead"];
export type AuditEventPage = Schemas["Page_AuditEventRead_"];
export type ChainVerification = Schemas["ChainVerification"];
export type ChainProblem = Schemas["ChainProblem"];
export type AnalyticsReport = Schemas["AnalyticsReport"];
export type AnalyticsPoint = Schemas["AnalyticsPoint"];
/** Administrators moving users from one plan to another in the analytics' range (e.g. free → pro). */
export type PlanChange = Schemas["PlanChange"];
export type ChatCompletionRequest = Schemas["ChatCompletionRequest"];

/** What a model can do beyond text (its catalogue entry's capabilities; README, "Function calling"). */
export interface ModelCapabilities {
  tools: boolean;
  json_schema: boolean;
  vision: boolean;
  logprobs: boolean;
}

/** `/v1/models` and `/v1/models/{id}` (OpenAI shape; the schema leaves it open, so it is described here).
 * `auto` (Parley's router) has no capabilities of its own: null. */
export interface ModelInfo {
  id: string;
  object?: string;
  created?: number;
  owned_by?: string;
  name?: string;
  context_window?: number;
  max_output_tokens?: number;
  capabilities?: ModelCapabilities | null;
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
  citations?: Citation[];
}

// ---- files and knowledge bases ----------------------------------------------------------------------------

/** An uploaded file (`POST /api/v1/chat/upload`, `GET /api/v1/files/{id}`); `status` follows ingestion. */
export type FileRecord = Schemas["UploadedFile"];
/** How far a file is: stored (`pending`), being read and indexed (`processing`), usable (`ready`) or not (`failed`). */
export type FileStatus = FileRecord["status"];
export type FileType = FileRecord["file_type"];
export type FilePage = Schemas["CursorPage_UploadedFile_"];
export type KnowledgeBase = Schemas["KnowledgeBase"];
/** What the signed-in user may do with a knowledge base. */
export type KnowledgeBaseAccess = KnowledgeBase["access"];
export type KnowledgeBasePage = Schemas["CursorPage_KnowledgeBase_"];
export type KnowledgeBaseCreate = Schemas["KnowledgeBaseCreate"];
export type KnowledgeBaseUpdate = Schemas["KnowledgeBaseUpdate"];
/** A file in a knowledge base (possibly someone else's: `owner_id`). */
export type KnowledgeBaseFile = Schemas["KnowledgeBaseFile"];
export type KnowledgeBaseFilePage = Schemas["CursorPage_KnowledgeBaseFile_"];
/** Who may use a knowledge base besides its owner: one user, a group, or everyone with a role. */
export type KnowledgeBaseGrant = Schemas["Grant"];
export type GrantPermission = KnowledgeBaseGrant["permission"];
/** Share with one user (by email or id), a group, or everyone with a role. */
export type KnowledgeBaseGrantCreate = Schemas["GrantCreate"];

// ---- groups ---------------------------------------------------------------------------------------------

/** A named set of users kept by administrators; knowledge bases can be shared with all its members at once. */
export type Group = Schemas["Group"];
export type GroupCreate = Schemas["GroupCreate"];
export type GroupUpdate = Schemas["GroupUpdate"];
export type GroupPage = Schemas["Page_Group_"];
/** A group's member, as administrators see them. */
export type GroupMember = Schemas["GroupMember"];
export type GroupMemberPage = Schemas["Page_GroupMember_"];
/** Add a member by email or by id (exactly one). */
export type GroupMemberAdd = Schemas["MemberAdd"];
/** What every signed-in user may see of a group: enough to pick it when sharing. */
export type GroupSummary = Schemas["GroupSummary"];

// ---- plans and limits ----------------------------------------------------------------------------------

/** The limits of a plan; null: unlimited (for `models`: every configured model). */
export type Plan = Schemas["Plan"];
/** A plan by the name users' `subscription_tier` holds. */
export type PlanRead = Schemas["PlanRead"];
/** An admin's override of some of one user's plan limits: only the keys given are overridden (null: unlimited). */
export type LimitOverrides = Schemas["LimitOverrides"];
/** Limits a group gives its members (the most generous of plan and groups wins) and its shared monthly budget. */
export type GroupLimits = Schemas["GroupLimits"];
/** A configured model, as administrators see the catalogue. */
export type CatalogueModel = Schemas["CatalogueModel"];
/** A model to add to the catalogue at run time (unset fields take the catalogue's defaults; its key is named by
 * `api_key_env`, never sent). */
export type ModelCreate = Schemas["ModelCreate"];
/** Fields of a model to change; those left out keep their value. `enabled: false` disables it. */
export type ModelUpdate = Schemas["ModelUpdate"];

// ---- roles ---------------------------------------------------------------------------------------------------

/** A role with its permissions: built in (`id` null, not editable) or defined by administrators, with how many users
 * and groups hold it. (`Role` is the name of a built-in one.) */
export type RoleDefinition = Schemas["RoleRead"];
export type RoleDefinitionCreate = Schemas["RoleCreate"];
/** Only the fields given change; renaming keeps the users and groups that hold the role. */
export type RoleDefinitionUpdate = Schemas["RoleUpdate"];

// ---- SCIM provisioning ------------------------------------------------------------------------------------

/** Whether SCIM provisioning is on, the base URL to give the identity provider, token age, last IdP call. */
export type ScimStatus = Schemas["ScimStatusRead"];
export type SsoStatus = Schemas["SSOStatusRead"];
export type SsoProvider = Schemas["SSOProviderRead"];
/** A new SCIM token: shown this once (only its hash is kept). */
export type ScimTokenCreated = Schemas["ScimTokenCreated"];

/** A source an answer drew on; `[n]` in the answer refers to it. */
export type Citation = Schemas["Citation"];

/** Documents one message may draw on (`POST /api/v1/chat`, regenerate). */
export type SourceOptions = Pick<ChatCreate, "file_ids" | "knowledge_base_ids">;

// ---- what users see of their limits --------------------------------------------------------------------

/** Every limit that applies to the signed-in user, as it stands (`users.limits()`). */
export type MyLimits = Schemas["MyLimits"];
/** One token quota or budget: limit, used, reserved, left (tokens, or USD to the cent), when it comes back. */
export type QuotaStanding = Schemas["QuotaRead"];
/** How full a conversation's context window is, and its cost so far (`conversations.context(id)`). */
export type ConversationContext = Schemas["ConversationContext"];
/** Why an answer stopped early (finish_reason `length`): the quota it used up, a sentence, and when it comes
 * back. In the stream's `done` event and in the saved message's `metadata.limit`. */
export interface LimitNotice {
  limit: "tokens-day" | "tokens-month" | "usd-month" | "group-usd-month" | (string & {});
  message: string;
  resets_at: string;
}
