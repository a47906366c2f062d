"""What a conversation is, and how it becomes a Messages API request.

Messages hold Messages-API content blocks so that what is stored, exported and sent is the same
structure. Images are held in memory as base64 blocks; the store keeps their bytes once, by sha256.
The file an image came from is display-only metadata beside the blocks (ChatMessage.image_names,
keyed by the sha256 of the image bytes), so it never reaches a request or a JSON export.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Literal

from megachat.chat.ids import new_id
from megachat.chat.images import PreparedImage, image_block

Role = Literal["user", "assistant"]
Status = Literal["complete", "streaming", "interrupted", "cancelled", "error"]
STATUSES = ("complete", "streaming", "interrupted", "cancelled", "error")
DEFAULT_MAX_TOKENS = 4096
TITLE_LENGTH = 60

# Block types replayed to the API from history. Thinking and tool blocks from earlier replies are
# left out: without the tools and thinking settings of that request they would be rejected.
_SENDABLE = {"text", "image", "document"}


def text_of(content: Iterable[dict]) -> str:
    """Plain text of the text blocks, joined by blank lines."""
    return "\n\n".join(b.get("text", "") for b in content if b.get("type") == "text")


def title_from(text: str) -> str:
    """A title from the first non-empty line of text, whitespace collapsed, at most 60 chars."""
    for line in text.splitlines():
        line = " ".join(line.split())
        if line:
            if len(line) > TITLE_LENGTH:
                line = line[: TITLE_LENGTH - 1].rstrip() + "…"
            return line
    return ""


def check_temperature(value: float | None) -> float | None:
    """None (unset) or a number in 0..1; ValueError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"temperature must be a number from 0 to 1, not {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"temperature must be from 0 to 1, not {value}")
    return float(value)


def prefill_sent(prefill: str) -> str:
    """The prefill as sent: the API rejects a final assistant turn ending in whitespace."""
    return prefill.rstrip()


def merge_prefill(prefill: str, content: list[dict]) -> list[dict]:
    """The reply to store after a prefilled request: prefill + continuation as one message.

    `content` is the reply's content blocks (the continuation only, as the API returns it). The
    (right-stripped, as sent) prefill is put in front of the first text block.
    """
    sent = prefill_sent(prefill)
    blocks = [dict(b) for b in content]
    if not sent:
        return blocks
    for b in blocks:
        if b.get("type") == "text":
            b["text"] = sent + b.get("text", "")
            return blocks
    return [{"type": "text", "text": sent}, *blocks]


@dataclass
class ChatMessage:
    """One turn: a role and its content blocks, with how the reply ended."""

    role: Role
    content: list[dict] = field(default_factory=list)
    id: str = field(default_factory=new_id)
    status: Status = "complete"
    created_at: float = field(default_factory=time.time)
    usage: dict | None = None
    stop_reason: str | None = None
    model: str | None = None
    # sha256 of an image's bytes -> the file name it was attached under (display only, not sent)
    image_names: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        """Plain text of the text blocks."""
        return text_of(self.content)

    def images(self) -> list[dict]:
        """The image blocks."""
        return [b for b in self.content if b.get("type") == "image"]

    def image_name(self, block: dict) -> str | None:
        """The file name an image block of this message was attached under, when known."""
        if not self.image_names:
            return None
        source = block.get("source") if isinstance(block, dict) else None
        if not isinstance(source, dict):
            return None
        sha = source.get("sha256")
        if not isinstance(sha, str) and source.get("type") == "base64":
            try:
                sha = hashlib.sha256(
                    base64.b64decode(source.get("data") or "", validate=True)
                ).hexdigest()
            except (binascii.Error, ValueError, TypeError):
                return None
        return self.image_names.get(sha) if isinstance(sha, str) else None

    def set_text(self, text: str) -> None:
        """Replace the text (keeping non-text blocks before it); used while a reply streams."""
        others = [b for b in self.content if b.get("type") not in ("text",)]
        self.content = [*others, {"type": "text", "text": text}] if text else others


@dataclass
class Conversation:
    """A conversation and its settings. The title follows the first user text until renamed."""

    id: str = field(default_factory=new_id)
    title: str = ""
    model: str = ""
    system: str = ""
    temperature: float | None = None
    max_tokens: int = DEFAULT_MAX_TOKENS
    created_at: float = field(default_factory=time.time)
    updated_at: float = 0.0
    messages: list[ChatMessage] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.temperature = check_temperature(self.temperature)
        if isinstance(self.max_tokens, bool) or int(self.max_tokens) < 1:
            raise ValueError(f"max_tokens must be a positive integer, not {self.max_tokens!r}")
        self.max_tokens = int(self.max_tokens)
        if not self.updated_at:
            self.updated_at = self.created_at

    def add_user(self, text: str, images: Iterable[PreparedImage] = ()) -> ChatMessage:
        """Append a user turn (images first, then the text, as the API recommends)."""
        images = list(images)
        content = [image_block(img) for img in images]
        if text.strip():
            content.append({"type": "text", "text": text})
        if not content:
            raise ValueError("an empty message (no text, no images)")
        msg = ChatMessage(role="user", content=content)
        # the file name only: the directories it was attached from are nobody's business
        msg.image_names = {
            img.sha256: PurePath(img.name).name for img in images if PurePath(img.name).name
        }
        self.messages.append(msg)
        if not self.title:
            self.title = title_from(text)
        self.updated_at = msg.created_at
        return msg

    def add_assistant(
        self, text: str = "", *, model: str | None = None, status: Status = "streaming"
    ) -> ChatMessage:
        """Append an assistant turn, by default a reply about to stream (text: prefill sent)."""
        content = [{"type": "text", "text": text}] if text else []
        msg = ChatMessage(role="assistant", content=content, status=status, model=model)
        self.messages.append(msg)
        self.updated_at = msg.created_at
        return msg

    def build_request(self, *, prefill: str = "", stream: bool = True) -> dict:
        """The Messages API body for the next request.

        Only text/image/document blocks are replayed; whitespace-only text blocks and turns left
        empty are dropped; neighbouring same-role turns are merged; leading assistant turns are
        dropped so the first message is the user's; the prefill (right-stripped) becomes the final
        assistant message; `system` only when non-empty; `temperature` only when set.
        """
        temperature = check_temperature(self.temperature)  # it may have been set since
        messages: list[dict] = []
        for msg in self.messages:
            blocks = [
                copy.deepcopy(b)
                for b in msg.content
                if b.get("type") in _SENDABLE
                and not (b.get("type") == "text" and not str(b.get("text", "")).strip())
            ]
            if not blocks:
                continue
            if not messages and msg.role != "user":
                continue
            if messages and messages[-1]["role"] == msg.role:
                messages[-1]["content"].extend(blocks)
            else:
                messages.append({"role": msg.role, "content": blocks})
        sent = prefill_sent(prefill)
        if sent and messages:
            if messages[-1]["role"] == "assistant":
                messages[-1]["content"].append({"type": "text", "text": sent})
            else:
                messages.append({"role": "assistant", "content": [{"type": "text", "text": sent}]})
        if messages and messages[-1]["role"] == "assistant":
            _strip_final(messages)
        body: dict = {"model": self.model, "max_tokens": self.max_tokens, "messages": messages}
        if self.system.strip():
            body["system"] = self.system
        if temperature is not None:
            body["temperature"] = temperature
        if stream:
            body["stream"] = True
        return body

    def truncate_from(self, message_id: str) -> list[ChatMessage]:
        """Remove the message with that id and every later one (as Store.delete_messages_from
        does); returns the removed messages. KeyError when no message has that id."""
        for index, msg in enumerate(self.messages):
            if msg.id == message_id:
                removed = self.messages[index:]
                del self.messages[index:]
                self.updated_at = max(self.updated_at, time.time())
                return removed
        raise KeyError(message_id)

    def last(self, role: Role | None = None) -> ChatMessage | None:
        """The last message (of a role)."""
        for msg in reversed(self.messages):
            if role is None or msg.role == role:
                return msg
        return None


def _strip_final(messages: list[dict]) -> None:
    """Right-strip the text ending a final assistant turn, dropping what becomes empty."""
    content = messages[-1]["content"]
    while content and content[-1].get("type") == "text":
        stripped = content[-1]["text"].rstrip()
        if stripped:
            content[-1]["text"] = stripped
            break
        content.pop()
    if not content:
        messages.pop()
