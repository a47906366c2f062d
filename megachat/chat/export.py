"""Export a conversation as Markdown (to read) or JSON (to replay through the API).

The JSON is `{id, title, model, system, temperature, messages}` where `messages` are exactly the
Messages API shapes that would be sent next (CONTRACT.md): Conversation.export_messages(), what
every next request starts with, images as base64 blocks; when a tool loop ran, with its tool_use
and tool_result blocks and the thinking (signatures kept), as a request carrying tools sends them.
Image file names (display metadata) appear in the Markdown only, never in the JSON. An
unanswered last user turn is marked in the Markdown (Conversation.unanswered).
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re

from megachat.chat.conversation import (
    UNANSWERED_NOTE,
    ChatMessage,
    Conversation,
    tool_label,
    tool_result_text,
)
from megachat.chat.documents import describe_document_block
from megachat.chat.images import data_size
from megachat.chat.store import iso_time


def to_json(conv: Conversation, *, all_branches: bool = False) -> dict:
    """The export object; `messages` is what the next request sends before its new turn.

    With `all_branches` it gains `tree`: every message of every branch in creation order, as
    stored (all its blocks, images as base64), so `megachat import` can rebuild the whole tree.
    """
    data = {
        "id": conv.id,
        "title": conv.title,
        "model": conv.model,
        "system": conv.system,
        "temperature": conv.temperature,
        "messages": conv.export_messages(),
    }
    if all_branches:
        data["tree"] = [tree_node(msg) for msg in conv.all_messages()]
    return data


def tree_node(msg: ChatMessage) -> dict:
    """One message of an --all-branches export (CONTRACT.md): created_at as ISO 8601 UTC."""
    return {
        "id": msg.id,
        "parent_id": msg.parent_id,
        "role": msg.role,
        "content": copy.deepcopy(msg.content),
        "status": msg.status,
        "created_at": iso_time(msg.created_at),
    }


def to_json_text(conv: Conversation, *, all_branches: bool = False) -> str:
    """to_json as pretty-printed UTF-8 text with a final newline."""
    data = to_json(conv, all_branches=all_branches)
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


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


def to_markdown(conv: Conversation, *, all_branches: bool = False) -> str:
    """A readable Markdown document: title, settings, then each turn under a heading.

    With `all_branches`, a turn with other versions shows which one it is, and every other
    branch follows as its own section."""
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
    names = _tool_names(conv)
    for msg in conv.messages:
        lines += _message_lines(conv, msg, "##", all_branches, names)
    if conv.unanswered() is not None:
        lines += [f"*{UNANSWERED_NOTE} (F5 in megachat retries)*", ""]
    if all_branches:
        lines += _branch_sections(conv, names)
    return "\n".join(lines).rstrip() + "\n"


def _message_lines(
    conv: Conversation, msg: ChatMessage, level: str, versions: bool, names: dict[str, str]
) -> list[str]:
    """A turn under its heading; with `versions`, a turn with siblings shows which it is (2/3).
    `names`: tool_use id -> SERVER.TOOL, so a result names the call it answers."""
    heading = "User" if msg.role == "user" else "Assistant"
    if msg.status != "complete":
        heading += f" ({msg.status})"
    if versions:
        siblings = conv.siblings(msg)
        if len(siblings) > 1:
            heading += f" ({[m.id for m in siblings].index(msg.id) + 1}/{len(siblings)})"
    lines = [f"{level} {heading}", ""]
    for block in msg.content:
        kind = block.get("type")
        if kind == "text":
            lines += [block.get("text", "").rstrip(), ""]
        elif kind == "image":
            lines += [_image_line(block, msg.image_name(block)), ""]
        elif kind == "document":  # the line only: the JSON export carries the whole block
            lines += [f"*[{_md_escape(describe_document_block(block))}]*", ""]
        elif kind == "thinking":
            lines += ["> *thinking:* " + " ".join(block.get("thinking", "").split()), ""]
        elif kind == "tool_use":
            lines += _tool_use_lines(block)
        elif kind == "tool_result":
            lines += _tool_result_lines(block, names)
        else:
            lines += [f"*[{kind} block]*", ""]
    return lines


def _code_span(text: str) -> str:
    """Inline code showing `text` literally: longer than any backtick run in it, so it cannot
    be closed early (CommonMark code spans)."""
    text = " ".join(text.split())
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _fenced(text: str, info: str = "") -> list[str]:
    fence = _fence(text)
    return [fence + info, text, fence, ""]


def _tool_use_lines(block: dict) -> list[str]:
    """A tool call: its SERVER.TOOL, then its input as pretty JSON."""
    label = tool_label(str(block.get("name", "")))
    arguments = json.dumps(block.get("input", {}), ensure_ascii=False, indent=2)
    return [f"*tool call* {_code_span(label)}", "", *_fenced(arguments, "json")]


def _tool_result_lines(block: dict, names: dict[str, str]) -> list[str]:
    """A tool result: which call it answers (when known), whether it is an error, its text in a
    fence and each image as the image line."""
    heading = "*tool result*"
    label = names.get(str(block.get("tool_use_id", "")))
    if label:
        heading += f" {_code_span(label)}"
    if block.get("is_error"):
        heading += " (error)"
    lines = [heading, ""]
    text = tool_result_text(block)
    if text:
        lines += _fenced(text)
    content = block.get("content")
    for part in content if isinstance(content, list) else ():
        if isinstance(part, dict) and part.get("type") == "image":
            lines += [_image_line(part), ""]
    return lines


def _tool_names(conv: Conversation) -> dict[str, str]:
    """tool_use id -> SERVER.TOOL, over every branch (a result names the call it answers)."""
    return {
        str(block.get("id")): tool_label(str(block.get("name", "")))
        for msg in conv.all_messages()
        if msg.role == "assistant"
        for block in msg.content
        if block.get("type") == "tool_use"
    }


def _branch_sections(conv: Conversation, names: dict[str, str]) -> list[str]:
    """Every branch off the active path, each once: "## Branch at message N (k/m)", then its
    turns down to the newest leaf under it. Branches off those branches follow, breadth first."""
    shown = {m.id for m in conv.messages}
    # (first message's position in the conversation, 1-based; the path from there down). With an
    # empty active path (an edit of the first message begun), the roots are all branches.
    queue: list[tuple[int, list[ChatMessage]]] = [
        (1, list(conv.messages) or conv.children(None)[-1:])
    ]
    lines: list[str] = []
    index = 0
    while index < len(queue):
        start, path = queue[index]
        index += 1
        for offset, msg in enumerate(path):
            siblings = conv.siblings(msg)
            for number, sibling in enumerate(siblings, 1):
                if sibling.id in shown:
                    continue
                branch = [sibling]
                while kids := conv.children(branch[-1].id):
                    branch.append(kids[-1])
                shown.update(m.id for m in branch)
                queue.append((start + offset, branch))
                lines += [
                    f"## Branch at message {start + offset} ({number}/{len(siblings)})",
                    "",
                ]
                for turn in branch:
                    lines += _message_lines(conv, turn, "###", True, names)
    return lines
