"""JSON-shaped types for messages, as the Messages API sends them (plain dicts, no models)."""

from __future__ import annotations

from typing import Any, TypedDict


class Usage(TypedDict, total=False):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int | None
    cache_read_input_tokens: int | None


class ContentBlock(TypedDict, total=False):
    """Any content block: text, tool_use, thinking, redacted_thinking, image, tool_result..."""

    type: str
    text: str
    citations: list[dict[str, Any]] | None
    id: str
    name: str
    input: Any
    thinking: str
    signature: str
    data: str


class Message(TypedDict, total=False):
    id: str
    type: str
    role: str
    content: list[ContentBlock]
    model: str
    stop_reason: str | None
    stop_sequence: str | None
    usage: Usage
