"""What goes into a data export and how it reads: conversations as JSON and Markdown, uploaded files as they were
stored, usage records, the profile. Pure rendering; `exports` gathers the data and stores the zip."""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Sequence
from datetime import datetime
from typing import IO, Any

from parley.models import AnswerReport, Conversation, File, Message, UsageLog, User

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_ROLE_HEADINGS = {"user": "You", "assistant": "Assistant", "system": "System"}

README = """\
Your Parley data
================

profile.json              your account as Parley holds it
conversations/*.json      every conversation with all its messages (timestamps, models, token counts, sources)
conversations/*.md        the same conversations, readable
files/                    the files you uploaded, as you uploaded them (files.json lists them)
batch-files/              your Batch API files (/v1/files): batch inputs and results (files.json lists them)
usage.json                every request counted against you: model, tokens, cost, time
reports.json              the answers you reported: reason, your text, the exchange, status
"""


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def safe_name(name: str, *, limit: int = 80) -> str:
    """A file name safe in any zip reader: letters, digits, `.`, `_`, `-` only."""
    cleaned = _UNSAFE.sub("-", name).strip("-.")[:limit]
    return cleaned or "untitled"


def profile_document(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "email": user.email,
        "full_name": user.full_name,
        "role": user.role,
        "subscription_tier": user.subscription_tier,
        "cost_centre": user.cost_centre,
        "home_region": user.home_region,
        "created_at": _when(user.created_at),
        "last_login_at": _when(user.last_login_at),
    }


def message_document(message: Message) -> dict[str, Any]:
    return {
        "id": str(message.id),
        "role": message.role,
        "content": message.content,
        "model": message.model,
        "created_at": _when(message.created_at),
        "finish_reason": message.finish_reason,
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "citations": message.citations,
        "feedback": None
        if message.feedback_rating is None
        else {
            "rating": "up" if message.feedback_rating > 0 else "down",
            "comment": message.feedback_comment,
            "at": _when(message.feedback_at),
        },
    }


def conversation_document(conversation: Conversation, messages: Sequence[Message]) -> dict[str, Any]:
    return {
        "id": str(conversation.id),
        "title": conversation.title,
        "model": conversation.model,
        "system_prompt": conversation.system_prompt,
        "archived": conversation.is_archived,
        "created_at": _when(conversation.created_at),
        "last_activity_at": _when(conversation.last_activity_at),
        "summary": conversation.summary,
        "messages": [message_document(message) for message in messages],
    }


def conversation_markdown(conversation: Conversation, messages: Sequence[Message]) -> str:
    lines = [f"# {conversation.title}", ""]
    lines.append(f"- Started: {_when(conversation.created_at)}")
    lines.append(f"- Last activity: {_when(conversation.last_activity_at)}")
    if conversation.model:
        lines.append(f"- Model: {conversation.model}")
    if conversation.is_archived:
        lines.append("- Archived")
    if conversation.system_prompt:
        lines += ["", "**System prompt:**", "", conversation.system_prompt]
    for message in messages:
        heading = _ROLE_HEADINGS.get(message.role, message.role)
        if message.role == "assistant" and message.model:
            heading += f" ({message.model})"
        lines += ["", f"## {heading} · {_when(message.created_at)}", "", message.content or ""]
        if message.finish_reason not in (None, "stop"):
            lines += ["", f"_({message.finish_reason})_"]
        for citation in message.citations or []:
            where = f", page {citation['page']}" if citation.get("page") is not None else ""
            snippet = str(citation.get("snippet") or "").replace("\n", " ")
            lines.append(f"> [{citation.get('n')}] {citation.get('filename')}{where}: {snippet}")
    return "\n".join(lines) + "\n"


def conversation_base_name(conversation: Conversation) -> str:
    day = conversation.created_at.date().isoformat()
    return f"{day}-{safe_name(conversation.title, limit=60)}-{str(conversation.id)[:8]}"


def file_entry_name(file: File) -> str:
    return f"files/{str(file.id)[:8]}-{safe_name(file.filename, limit=120)}"


def file_document(file: File) -> dict[str, Any]:
    return {
        "id": str(file.id),
        "filename": file.filename,
        "path": file_entry_name(file),
        "media_type": file.mime_type,
        "size_bytes": file.file_size,
        "sha256": file.sha256,
        "conversation_id": str(file.conversation_id) if file.conversation_id else None,
        "uploaded_at": _when(file.created_at),
    }


def report_document(report: AnswerReport) -> dict[str, Any]:
    return {
        "id": str(report.id),
        "message_id": str(report.message_id) if report.message_id else None,
        "model": report.model,
        "reason": report.reason,
        "comment": report.comment,
        "question": report.question,
        "answer": report.answer,
        "status": report.status,
        "created_at": _when(report.created_at),
        "resolved_at": _when(report.resolved_at),
    }


def usage_document(row: UsageLog) -> dict[str, Any]:
    return {
        "at": _when(row.created_at),
        "model": row.model,
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "cost_usd": str(row.cost_usd),
        "cached": row.cache_hit,
        "conversation_id": str(row.conversation_id) if row.conversation_id else None,
        "via_api_key": row.api_key_id is not None,
    }


class ZipWriter:
    """Entries into a zip on a file-like object. Blocking: run it in a worker thread."""

    def __init__(self, target: IO[bytes]) -> None:
        self._zip = zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)

    def text(self, name: str, content: str) -> None:
        self._zip.writestr(name, content.encode())

    def json(self, name: str, document: Any) -> None:
        self.text(name, json.dumps(document, ensure_ascii=False, indent=2) + "\n")

    def open(self, name: str) -> IO[bytes]:
        """A writable entry, for bytes that arrive in chunks (an uploaded file)."""
        return self._zip.open(name, "w", force_zip64=True)

    def close(self) -> None:
        self._zip.close()
