"""Export a conversation as Markdown (to read) or JSON (to replay through the API).

The JSON is `{id, title, model, system, temperature, messages}` where `messages` are exactly the
Messages API shapes that would be sent next (CONTRACT.md): build_request's messages, images as
base64 blocks. Image file names (display metadata) appear in the Markdown only, never in the JSON.
"""

from __future__ import annotations

import base64
import binascii
import json

from megachat.chat.conversation import Conversation
from megachat.chat.images import data_size
from megachat.chat.store import iso_time


def to_json(conv: Conversation) -> dict:
    """The export object; `messages` is what build_request() would send next."""
    return {
        "id": conv.id,
        "title": conv.title,
        "model": conv.model,
        "system": conv.system,
        "temperature": conv.temperature,
        "messages": conv.build_request(stream=False)["messages"],
    }


def to_json_text(conv: Conversation) -> str:
    """to_json as pretty-printed UTF-8 text with a final newline."""
    return json.dumps(to_json(conv), ensure_ascii=False, indent=2) + "\n"


def _fence(text: str) -> str:
    """A code fence longer than any backtick run in text, so the block cannot be closed early."""
    longest = run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)


def _md_escape(text: str) -> str:
    """Text shown literally in Markdown (a file name cannot open emphasis, links or code)."""
    text = " ".join(text.split())
    return "".join("\\" + ch if ch in "\\`*_[]()<>#!|~" else ch for ch in text)


def _image_line(block: dict, name: str | None = None) -> str:
    source = block.get("source") or {}
    media_type = source.get("media_type", "image")
    detail = media_type
    data = source.get("data")
    if isinstance(data, str):
        try:
            raw = base64.b64decode(data)
            size = data_size(raw)
            detail = f"{media_type}, {len(raw):,} bytes" + (
                f", {size[0]}x{size[1]}" if size else ""
            )
        except (binascii.Error, ValueError):
            pass
    if name:
        detail = f"{_md_escape(name)}, {detail}"
    return f"*[image: {detail}]*"


def to_markdown(conv: Conversation) -> str:
    """A readable Markdown document: title, settings, then each turn under a heading."""
    title = " ".join((conv.title or "Untitled conversation").split())
    lines = [f"# {title}", ""]
    lines.append(f"- id: `{conv.id}`")
    if conv.model:
        lines.append(f"- model: `{conv.model}`")
    if conv.temperature is not None:
        lines.append(f"- temperature: {conv.temperature}")
    lines.append(f"- created: {iso_time(conv.created_at)}")
    lines.append(f"- updated: {iso_time(conv.updated_at)}")
    lines.append("")
    if conv.system.strip():
        fence = _fence(conv.system)
        lines += ["## System", "", fence, conv.system, fence, ""]
    for msg in conv.messages:
        heading = "User" if msg.role == "user" else "Assistant"
        if msg.status != "complete":
            heading += f" ({msg.status})"
        lines += [f"## {heading}", ""]
        for block in msg.content:
            kind = block.get("type")
            if kind == "text":
                lines += [block.get("text", "").rstrip(), ""]
            elif kind == "image":
                lines += [_image_line(block, msg.image_name(block)), ""]
            elif kind == "thinking":
                lines += ["> *thinking:* " + " ".join(block.get("thinking", "").split()), ""]
            else:
                lines += [f"*[{kind} block]*", ""]
    return "\n".join(lines).rstrip() + "\n"
