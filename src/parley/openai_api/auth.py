"""Who may call the OpenAI-compatible `/v1` surface.

`/v1` is stateless: it answers and counts usage but stores no conversation, so the `chat` scope alone opens it
(completions, models, embeddings). Asking for `conversations:write` too, as the web chat's own routes do, would
refuse the keys the README documents as enough.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from parley.auth.dependencies import require
from parley.auth.permissions import Permission
from parley.auth.principal import Principal

OpenAIUser = Annotated[Principal, Depends(require(Permission.CHAT))]
