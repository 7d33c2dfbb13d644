"""The images of a conversation's questions (README, "Images"): a question names the user's image files (its
`metadata.attachments.image_file_ids`), and every answer in the conversation, a regenerated one and one written
after a reload included, shows them to the model again, read from storage (sealed like every upload)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import structlog

from parley.chat.generation import Said
from parley.chat.grounding import Attachments
from parley.config import ImageSettings
from parley.db import Database
from parley.files import service as file_service
from parley.images.loader import ImageLoader, ImageRefused
from parley.llm.base import ChatMessage, ChatRequest, ImagePart
from parley.storage import Storage, StorageError

_logger = structlog.get_logger("parley.chat")

# What `vision_probe` shows the router: a request with an image needs the vision capability.
_PROBE = ImagePart("image/png", b"")


def vision_probe(question: str, attachments: Attachments) -> ChatRequest | None:
    """A request the router can check a model against (`Router.resolve`), when the question shows images: a
    model without vision is then a 400 naming `messages`, and `auto` picks a vision model."""
    if not attachments.image_file_ids:
        return None
    return ChatRequest([ChatMessage("user", question, images=(_PROBE,))])


def image_ids(message: Said) -> tuple[uuid.UUID, ...]:
    """The image files a stored message names (a history `Turn`'s attachments, or a `Message`'s metadata)."""
    attached: Any = getattr(message, "attachments", None)
    if attached is None:
        extra = getattr(message, "extra", None)
        attached = extra.get("attachments") if isinstance(extra, dict) else None
    return Attachments.from_json(attached).image_file_ids


class ChatImages:
    """Reads the images a history's questions name, for the prompt."""

    def __init__(self, database: Database, storage: Storage, settings: ImageSettings) -> None:
        self.database = database
        self.storage = storage
        self.loader = ImageLoader(settings)

    async def of_history(
        self, user_id: uuid.UUID, history: Sequence[Said]
    ) -> Mapping[uuid.UUID, tuple[ImagePart, ...]]:
        """Message id → its images, in the order it named them. An image deleted since is left out (the question
        is asked again without it), as is one whose bytes are gone."""
        named = {message.id: ids for message in history if (ids := image_ids(message))}
        if not named:
            return {}
        wanted = list(dict.fromkeys(i for ids in named.values() for i in ids))
        async with self.database.session() as session:
            files = await file_service.own_images(session, user_id=user_id, file_ids=wanted)
        read: dict[uuid.UUID, ImagePart] = {}
        for file in files:
            try:
                read[file.id] = self.loader.image(await self.storage.get(file.storage_key))
            except (StorageError, ImageRefused) as exc:
                _logger.warning("chat_image_unreadable", file_id=str(file.id), error=str(exc))
        return {message_id: tuple(read[i] for i in ids if i in read) for message_id, ids in named.items()}
