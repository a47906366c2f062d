"""A cheap token estimate, and the warning when a request may not fit the context window.

The estimate is the usual rule of thumb: characters / 4 for text, width * height / 750 per image
(images as sent, i.e. after resizing). Where the server serves count_tokens, callers should prefer
its exact figure; this estimate is for when it does not, and for live feedback while typing.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterable, Mapping
from typing import Any

from megachat.chat.images import data_size, header_size

DEFAULT_CONTEXT_WINDOW = 200_000
_HEADER_B64 = 4 * (65536 // 3)  # base64 characters for the first 64 KB (a multiple of 4)
_UNKNOWN_IMAGE_TOKENS = 1600  # an image whose size cannot be read: about the API's maximum


def image_tokens(width: int, height: int) -> int:
    """Estimated tokens for an image of this size."""
    return math.ceil(width * height / 750)


def _block_chars_and_images(block: Any) -> tuple[int, int]:
    if isinstance(block, str):
        return len(block), 0
    if not isinstance(block, Mapping):
        return 0, 0
    kind = block.get("type")
    if kind == "text":
        return len(block.get("text") or ""), 0
    if kind == "thinking":
        return len(block.get("thinking") or ""), 0
    if kind == "tool_use":
        return len(str(block.get("input") or "")), 0
    if kind == "document":  # a text document's characters; a PDF's pages are not estimated
        source = block.get("source") or {}
        data = source.get("data") if source.get("type") == "text" else None
        return (len(data) if isinstance(data, str) else 0), 0
    if kind == "image":
        source = block.get("source") or {}
        data = source.get("data")
        size = None
        if isinstance(data, str):
            try:
                # Headers sit in the first bytes (JPEG's SOF after EXIF, within 64 KB): decode
                # only that much, so estimating while typing stays cheap with many images.
                size = header_size(base64.b64decode(data[:_HEADER_B64], validate=False))
                if size is None:
                    size = data_size(base64.b64decode(data, validate=False))
            except (binascii.Error, ValueError):
                size = None
        elif "width" in source and "height" in source:
            size = (int(source["width"]), int(source["height"]))
        return 0, image_tokens(*size) if size else _UNKNOWN_IMAGE_TOKENS
    return 0, 0


def estimate_tokens(request_or_blocks: Any) -> int:
    """Estimated input tokens of a request body, a list of messages, blocks, or a string."""
    chars = 0
    image_total = 0

    def walk_content(content: Any) -> None:
        nonlocal chars, image_total
        if isinstance(content, str):
            chars += len(content)
            return
        for block in content or ():
            c, i = _block_chars_and_images(block)
            chars += c
            image_total += i

    def walk_messages(messages: Iterable[Any]) -> None:
        for m in messages:
            if isinstance(m, Mapping) and "role" in m:
                walk_content(m.get("content"))
            elif hasattr(m, "content") and hasattr(m, "role"):  # ChatMessage
                walk_content(m.content)
            else:
                walk_content([m])

    obj = request_or_blocks
    if isinstance(obj, str):
        chars += len(obj)
    elif isinstance(obj, Mapping) and "messages" in obj:
        walk_content(obj.get("system") or "")
        walk_messages(obj.get("messages") or ())
    elif isinstance(obj, Mapping):
        walk_content([obj])
    elif hasattr(obj, "messages") and hasattr(obj, "system"):  # Conversation
        walk_content(obj.system or "")
        walk_messages(obj.messages)
    else:
        walk_messages(obj)
    return math.ceil(chars / 4) + image_total


def format_usage(usage: Mapping[str, Any] | None) -> str | None:
    """A reply's token counts as every view shows them: "2,095 in / 503 out", then the prompt
    cache's part when it had one: "(cache: 1,800 written, 12,000 read)" (input_tokens counts
    neither, as the API reports them).

    None when the output count is not known (no usage yet, or a reply still streaming). A count
    that is not a number shows as "?": usage comes from the server and is not trusted.
    """
    if not isinstance(usage, Mapping):
        return None
    out = _count(usage.get("output_tokens"))
    if out is None:
        return None
    used_in = _count(usage.get("input_tokens"))
    shown = f"{'?' if used_in is None else f'{used_in:,}'} in / {out:,} out"
    written = _count(usage.get("cache_creation_input_tokens"))
    read = _count(usage.get("cache_read_input_tokens"))
    cache = [f"{count:,} {what}" for count, what in ((written, "written"), (read, "read")) if count]
    return f"{shown} (cache: {', '.join(cache)})" if cache else shown


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def context_window(
    model: str, models: Iterable[Any] | Mapping[str, int | None] | None = None
) -> int:
    """The model's context window from a models list (ModelInfo-like objects or a mapping of
    id -> window); 200,000 when unknown."""
    if isinstance(models, Mapping):
        value = models.get(model)
        return int(value) if value else DEFAULT_CONTEXT_WINDOW
    for info in models or ():
        if getattr(info, "id", None) == model and getattr(info, "context_window", None):
            return int(info.context_window)
    return DEFAULT_CONTEXT_WINDOW


def context_warning(estimate: int, max_tokens: int, window: int | None = None) -> str | None:
    """A one-line warning when estimate + max_tokens passes the context window, else None."""
    window = window or DEFAULT_CONTEXT_WINDOW
    if estimate + max_tokens <= window:
        return None
    return (
        f"about {estimate:,} input tokens + {max_tokens:,} max output tokens exceeds the "
        f"model's {window:,}-token context window; the request may be rejected"
    )


async def count_input_tokens(client: Any, request: Mapping[str, Any]) -> tuple[int, bool]:
    """(tokens, exact): the server's count_tokens figure where it serves it, else the estimate.

    `client` is a megachat.api.MessagesClient (anything with `async count_tokens(request)` that
    returns an int, or None when not served). A failing count falls back to the estimate: the
    figure is advice and must never stop a turn.
    """
    try:
        exact = await client.count_tokens(dict(request))
    except Exception:
        exact = None
    if isinstance(exact, int) and not isinstance(exact, bool):
        return exact, True
    return estimate_tokens(request), False
