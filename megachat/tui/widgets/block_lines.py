"""One line (or a few) of text for content blocks that are not prose: images and JSON values.

Shared by the message widgets and the tool blocks (an image can be a user's attachment or a
tool's result). Every string returned is sanitized (`megachat.sanitize.clean`): show it as
`Content(...)` or with `markup=False`.
"""

from __future__ import annotations

import base64
import binascii
import json

from megachat.sanitize import clean

__all__ = ["describe_image", "pretty_json"]


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB"):
        if size < 1024 or unit == "MB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} MB"  # pragma: no cover


def describe_image(block: dict, name: str | None = None) -> str:
    """One line for an image block: "[image: name WxH, size]" (dimensions read from the header).

    API image blocks carry no file name: `name` comes from the message's display metadata
    (ChatMessage.image_name), so the name is shown without ever being part of the block."""
    source = block.get("source") or {}
    name = name or "image"
    media_type = str(source.get("media_type") or "")
    parts: list[str] = []
    data = source.get("data")
    if isinstance(data, str | bytes) and data:
        raw_len = len(data) * 3 // 4 - (data[-2:].count("=") if isinstance(data, str) else 0)
        try:
            head = base64.b64decode(data[: 64 * 1024 // 3 * 4] if len(data) > 65536 else data)
        except (binascii.Error, ValueError):
            head = b""
        dims = None
        if head:
            try:
                from megachat.chat.images import header_size

                dims = header_size(head, media_type or None)
            except Exception:
                dims = None
        if dims:
            parts.append(f"{dims[0]}x{dims[1]}")
        parts.append(_human_size(raw_len))
    elif source.get("type") == "url":
        parts.append(str(source.get("url", "")))
    detail = ", ".join(parts)
    text = f"[image: {name} {detail}]" if detail else f"[image: {name}]"
    return clean(text)


def pretty_json(value: object) -> str:
    """A JSON value indented for reading (its repr when it is not JSON), sanitized."""
    try:
        return clean(json.dumps(value, indent=2, ensure_ascii=False))
    except (TypeError, ValueError):
        return clean(repr(value))
