"""ORM models, one file per table. Importing this package registers every table on `Base.metadata`."""

from parley.models.answer_report import AnswerReport, BlockListEntry, ReportAction
from parley.models.api_key import ApiKey
from parley.models.audit_event import AuditEvent
from parley.models.base import Base
from parley.models.conversation import Conversation
from parley.models.conversation_knowledge_base import ConversationKnowledgeBase
from parley.models.data_key import DataKey, KeyEncryptionKey
from parley.models.external_group import ExternalGroup
from parley.models.external_identity import ExternalIdentity
from parley.models.file import File
from parley.models.file_chunk import EMBEDDING_DIMENSIONS, FileChunk
from parley.models.group import Group, GroupMember
from parley.models.job import Job
from parley.models.knowledge_base import KnowledgeBase
from parley.models.knowledge_base_file import KnowledgeBaseFile
from parley.models.knowledge_base_grant import KnowledgeBaseGrant
from parley.models.message import Message
from parley.models.model_catalogue_entry import ModelCatalogueEntry
from parley.models.openai_batch import Batch, BatchFile, BatchResult
from parley.models.plan import Plan
from parley.models.quota import LimitRefusal, QuotaAlert, QuotaCounter
from parley.models.refresh_token import RefreshToken
from parley.models.region import session_region
from parley.models.role import CustomRole
from parley.models.saml_assertion import SamlAssertion
from parley.models.scim_state import ScimState
from parley.models.sso_login_request import SsoLoginRequest
from parley.models.usage_log import UsageLog
from parley.models.user import User
from parley.models.user_export import UserExport

__all__ = [
    "EMBEDDING_DIMENSIONS",
    "AnswerReport",
    "ApiKey",
    "AuditEvent",
    "Base",
    "Batch",
    "BatchFile",
    "BatchResult",
    "BlockListEntry",
    "Conversation",
    "ConversationKnowledgeBase",
    "CustomRole",
    "DataKey",
    "ExternalGroup",
    "ExternalIdentity",
    "File",
    "FileChunk",
    "Group",
    "GroupMember",
    "Job",
    "KeyEncryptionKey",
    "KnowledgeBase",
    "KnowledgeBaseFile",
    "KnowledgeBaseGrant",
    "LimitRefusal",
    "Message",
    "ModelCatalogueEntry",
    "Plan",
    "QuotaAlert",
    "QuotaCounter",
    "RefreshToken",
    "ReportAction",
    "SamlAssertion",
    "ScimState",
    "SsoLoginRequest",
    "UsageLog",
    "User",
    "UserExport",
    "session_region",
]
