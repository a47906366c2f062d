"""Typed stream events, one per meaningful SSE event (ping, unknown events, [DONE] dropped)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from megachat.api.types import ContentBlock, Message, Usage


@dataclass(frozen=True)
class MessageStart:
    message: Message


@dataclass(frozen=True)
class BlockStart:
    index: int
    block: ContentBlock


@dataclass(frozen=True)
class TextDelta:
    index: int
    text: str


@dataclass(frozen=True)
class ThinkingDelta:
    index: int
    thinking: str


@dataclass(frozen=True)
class SignatureDelta:
    index: int
    signature: str


@dataclass(frozen=True)
class InputJsonDelta:
    index: int
    partial_json: str


@dataclass(frozen=True)
class CitationDelta:
    index: int
    citation: dict[str, Any]


@dataclass(frozen=True)
class BlockStop:
    index: int


@dataclass(frozen=True)
class MessageDelta:
    """``usage`` is the accumulated usage after this delta (cumulative, not the increment)."""

    stop_reason: str | None
    stop_sequence: str | None
    usage: Usage


@dataclass(frozen=True)
class MessageStop:
    message: Message


StreamEvent = (
    MessageStart
    | BlockStart
    | TextDelta
    | ThinkingDelta
    | SignatureDelta
    | InputJsonDelta
    | CitationDelta
    | BlockStop
    | MessageDelta
    | MessageStop
)
