"""ORM models, one file per table. Importing this package registers every table on `Base.metadata`."""

from parley.models.api_key import ApiKey
from parley.models.audit_event import AuditEvent
from parley.models.base import Base
from parley.models.conversation import Conversation
from parley.models.file import File
from parley.models.message import Message
from parley.models.refresh_token import RefreshToken
from parley.models.usage_log import UsageLog
from parley.models.user import User

__all__ = [
    "ApiKey",
    "AuditEvent",
    "Base",
    "Conversation",
    "File",
    "Message",
    "RefreshToken",
    "UsageLog",
    "User",
]
