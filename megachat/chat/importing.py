"""Read back what `megachat export --format json` writes, as a new conversation (no I/O here).

The input is `{id, title, model, system, temperature, messages}` and, from `--all-branches`,
`tree`: one `{id, parent_id, role, content, status, created_at}` per message, every branch.
Everything is validated before anything is built, so a malformed file changes nothing: the
caller gets one ImportFormatError naming the place and the problem.

- Without `tree`, `messages` (Messages API shapes: roles alternating, starting with the user)
  become a chain of complete messages.
- With `tree`, the tree is rebuilt with new ids and the parent links remapped. `messages` then
  picks the active path: the last leaf (in tree order) whose path would send exactly `messages`;
  when no path does (an edited file), the last leaf in the tree.
- Ids and times are never taken over: the conversation and every message get new ids, the
  conversation is created now; message times are kept when the tree gives them.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from megachat.chat.conversation import STATUSES, ChatMessage, Conversation, check_temperature
from megachat.chat.conversation import title_from as _title_from
from megachat.chat.ids import new_id
from megachat.chat.images import MAX_IMAGE_FILE_BYTES, MEDIA_TYPES, sniff_media_type

_ROLES = ("user", "assistant")


class ImportFormatError(ValueError):
    """The input is not an export megachat can read; the message says where and why."""


@dataclass
class ImportedConversation:
    """A validated export: settings, every message (new ids, parents first) and the active leaf."""

    title: str
    model: str
    system: str
    temperature: float | None
    messages: list[ChatMessage] = field(default_factory=list)  # all branches, creation order
    active_leaf: str | None = None  # the new id of the active path's last message


def parse_export(data: bytes | str) -> ImportedConversation:
    """Validate an export's bytes fully and build its messages; ImportFormatError otherwise."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ImportFormatError(f"not UTF-8 text (byte {exc.start})") from None
    else:
        text = data
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFormatError(
            f"not JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise ImportFormatError("not an export: JSON nested too deeply") from None
    return from_export(obj)


def from_export(obj: object) -> ImportedConversation:
    """from an already-parsed export object (see parse_export)."""
    if not isinstance(obj, dict):
        raise ImportFormatError(f"not an export: expected a JSON object, not {_kind(obj)}")
    title = _optional_str(obj, "title")
    model = _optional_str(obj, "model")
    system = _optional_str(obj, "system")
    temperature = obj.get("temperature")
    try:
        temperature = check_temperature(temperature)
    except ValueError as exc:
        raise ImportFormatError(f"temperature: {exc}") from None
    if "messages" not in obj:
        raise ImportFormatError("not an export: no `messages`")
    request = _request_messages(obj["messages"])
    if obj.get("tree") is None:
        messages, active = _chain(request)
    else:
        messages, active = _tree(obj["tree"], request)
    if not title:
        first_user = next((m for m in messages if m.role == "user"), None)
        title = _title_from(first_user.text()) if first_user else ""
    return ImportedConversation(title, model, system, temperature, messages, active)


# -- the Messages API part: `messages` -----------------------------------------------------------


def _request_messages(value: object) -> list[dict]:
    """`messages` checked as Messages API turns: user first, roles alternating, content given."""
    if not isinstance(value, list):
        raise ImportFormatError(f"messages: expected an array, not {_kind(value)}")
    out = []
    for i, item in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(item, dict):
            raise ImportFormatError(f"{where}: expected an object, not {_kind(item)}")
        role = item.get("role")
        if role not in _ROLES:
            raise ImportFormatError(f"{where}.role: expected user or assistant, not {role!r}")
        expected = "user" if i % 2 == 0 else "assistant"
        if role != expected:
            raise ImportFormatError(
                f"{where}: roles must alternate starting with user; expected {expected}"
            )
        content = item.get("content")
        if isinstance(content, str):  # the API's shorthand for one text block
            content = [{"type": "text", "text": content}]
        blocks = _content(content, f"{where}.content")
        if not blocks:
            raise ImportFormatError(f"{where}.content: empty")
        out.append({"role": role, "content": blocks})
    return out


def _chain(request: list[dict]) -> tuple[list[ChatMessage], str | None]:
    """`messages` as a chain: each turn the child of the one before it."""
    messages: list[ChatMessage] = []
    now = time.time()
    parent: str | None = None
    for turn in request:
        msg = ChatMessage(role=turn["role"], content=turn["content"], created_at=now)
        msg.parent_id = parent
        messages.append(msg)
        parent = msg.id
    return messages, parent


# -- the tree --------------------------------------------------------------------------------


def _tree(value: object, request: list[dict]) -> tuple[list[ChatMessage], str | None]:
    """`tree` checked (ids unique, parents known, no cycles) and rebuilt with new ids."""
    if not isinstance(value, list):
        raise ImportFormatError(f"tree: expected an array, not {_kind(value)}")
    nodes: dict[str, dict] = {}
    order: list[str] = []
    now = time.time()
    for i, item in enumerate(value):
        where = f"tree[{i}]"
        if not isinstance(item, dict):
            raise ImportFormatError(f"{where}: expected an object, not {_kind(item)}")
        node_id = item.get("id")
        if not isinstance(node_id, str) or not node_id:
            raise ImportFormatError(f"{where}.id: expected a non-empty string")
        if node_id in nodes:
            raise ImportFormatError(f"{where}.id: {node_id!r} appears twice")
        parent = item.get("parent_id")
        if parent is not None and not isinstance(parent, str):
            raise ImportFormatError(f"{where}.parent_id: expected a string or null")
        role = item.get("role")
        if role not in _ROLES:
            raise ImportFormatError(f"{where}.role: expected user or assistant, not {role!r}")
        status = item.get("status", "complete")
        if status not in STATUSES:
            raise ImportFormatError(
                f"{where}.status: expected one of {', '.join(STATUSES)}, not {status!r}"
            )
        if status == "streaming":  # its writer is gone: what arrived is all there is
            status = "interrupted"
        nodes[node_id] = {
            "where": where,
            "parent": parent,
            "role": role,
            "status": status,
            "content": _content(item.get("content"), f"{where}.content"),
            "created_at": _time(item.get("created_at"), f"{where}.created_at", now),
        }
        order.append(node_id)
    for node_id in order:
        parent = nodes[node_id]["parent"]
        if parent is not None and parent not in nodes:
            raise ImportFormatError(
                f"{nodes[node_id]['where']}.parent_id: no message with id {parent!r}"
            )
    placed = _parents_first(nodes, order)

    new_ids = {old: new_id() for old in placed}
    messages: list[ChatMessage] = []
    by_old: dict[str, ChatMessage] = {}
    for old in placed:
        node = nodes[old]
        msg = ChatMessage(
            role=node["role"],
            content=node["content"],
            id=new_ids[old],
            status=node["status"],
            created_at=node["created_at"],
        )
        msg.parent_id = None if node["parent"] is None else new_ids[node["parent"]]
        messages.append(msg)
        by_old[old] = msg
    return messages, _active_leaf(nodes, order, by_old, request)


def _parents_first(nodes: dict[str, dict], order: list[str]) -> list[str]:
    """The ids in the given order, except that a parent always comes before its children;
    ImportFormatError for a cycle."""
    placed: list[str] = []
    done: set[str] = set()
    for start in order:
        chain: list[str] = []
        seen: set[str] = set()
        node_id: str | None = start
        while node_id is not None and node_id not in done:
            if node_id in seen:
                raise ImportFormatError(
                    f"{nodes[start]['where']}.parent_id: the parent links form a cycle "
                    f"(through {node_id!r})"
                )
            seen.add(node_id)
            chain.append(node_id)
            node_id = nodes[node_id]["parent"]
        for node_id in reversed(chain):
            done.add(node_id)
            placed.append(node_id)
    return placed


def _active_leaf(
    nodes: dict[str, dict], order: list[str], by_old: dict[str, ChatMessage], request: list[dict]
) -> str | None:
    """The new id of the last leaf whose path sends `request`, else of the last leaf."""
    if not order:
        return None
    with_children = {n["parent"] for n in nodes.values() if n["parent"] is not None}
    leaves = [node_id for node_id in order if node_id not in with_children]
    for leaf in reversed(leaves):
        path: list[ChatMessage] = []
        node_id: str | None = leaf
        while node_id is not None:
            path.append(by_old[node_id])
            node_id = nodes[node_id]["parent"]
        path.reverse()
        if request_of(path) == request:
            return by_old[leaf].id
    return by_old[leaves[-1]].id


def request_of(path: list[ChatMessage]) -> list[dict]:
    """The `messages` a path would send (the same function export and the next request use)."""
    chain = [replace(m) for m in path]  # Conversation links what it is given: leave ours alone
    return Conversation(messages=chain).export_messages()


def build_conversation(imported: ImportedConversation) -> Conversation:
    """A new conversation (new id, created now) holding the imported tree and active path."""
    conv = Conversation(
        title=imported.title,
        model=imported.model,
        system=imported.system,
        temperature=imported.temperature,
    )
    conv.load_tree(imported.messages, imported.active_leaf)
    conv.updated_at = max([conv.created_at, *(m.created_at for m in imported.messages)])
    return conv


# -- values ------------------------------------------------------------------------------------


def _content(value: object, where: str) -> list[dict]:
    """Content blocks: each an object with a string `type`; text has text, images are base64
    of a PNG, JPEG, GIF or WebP whose bytes match the declared media_type."""
    if not isinstance(value, list):
        raise ImportFormatError(f"{where}: expected an array of content blocks, not {_kind(value)}")
    blocks = []
    for i, block in enumerate(value):
        here = f"{where}[{i}]"
        if not isinstance(block, dict):
            raise ImportFormatError(f"{here}: expected an object, not {_kind(block)}")
        kind = block.get("type")
        if not isinstance(kind, str) or not kind:
            raise ImportFormatError(f"{here}.type: expected a string")
        if kind == "text" and not isinstance(block.get("text"), str):
            raise ImportFormatError(f"{here}.text: expected a string")
        if kind == "image":
            _check_image(block.get("source"), f"{here}.source")
        elif kind == "document":
            _check_document(block.get("source"), f"{here}.source")
        elif kind == "tool_use":
            _check_tool_use(block, here)
        elif kind == "tool_result":
            _check_tool_result(block, here)
        blocks.append(block)
    return blocks


def _check_tool_use(block: dict, where: str) -> None:
    """A tool call as the API shapes it: a string id and name, an object input."""
    for key in ("id", "name"):
        if not isinstance(block.get(key), str) or not block[key]:
            raise ImportFormatError(f"{where}.{key}: expected a non-empty string")
    if not isinstance(block.get("input"), dict):
        raise ImportFormatError(f"{where}.input: expected an object")


def _check_tool_result(block: dict, where: str) -> None:
    """A tool result: the id of its call; content absent, a string or content blocks (checked
    as any others: its images too)."""
    if not isinstance(block.get("tool_use_id"), str) or not block["tool_use_id"]:
        raise ImportFormatError(f"{where}.tool_use_id: expected a non-empty string")
    if "is_error" in block and not isinstance(block["is_error"], bool):
        raise ImportFormatError(f"{where}.is_error: expected true or false")
    content = block.get("content")
    if content is not None and not isinstance(content, str):
        _content(content, f"{where}.content")


def _check_image(source: object, where: str) -> None:
    if not isinstance(source, dict) or source.get("type") != "base64":
        raise ImportFormatError(f"{where}: expected a base64 image source")
    media_type = source.get("media_type")
    if media_type not in MEDIA_TYPES:
        raise ImportFormatError(
            f"{where}.media_type: expected one of {', '.join(MEDIA_TYPES)}, not {media_type!r}"
        )
    data = source.get("data")
    if not isinstance(data, str) or not data:
        raise ImportFormatError(f"{where}.data: expected base64 text")
    if len(data) > 4 * ((MAX_IMAGE_FILE_BYTES + 2) // 3):
        raise ImportFormatError(f"{where}.data: the image is larger than any megachat sends")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ImportFormatError(f"{where}.data: not valid base64") from None
    found = sniff_media_type(raw)
    if found is None:
        raise ImportFormatError(f"{where}.data: not a PNG, JPEG, GIF or WebP image")
    if found != media_type:
        raise ImportFormatError(f"{where}.data: the image is {found}, not {media_type}")


def _check_document(source: object, where: str) -> None:
    """A document as megachat sends one: a base64 PDF or plain text (the store keeps the bytes)."""
    if not isinstance(source, dict):
        raise ImportFormatError(f"{where}: expected a document source")
    data = source.get("data")
    if source.get("type") == "text" and isinstance(data, str):
        return
    if source.get("type") != "base64" or source.get("media_type") != "application/pdf":
        raise ImportFormatError(f"{where}: expected a base64 PDF or a text document source")
    try:
        raw = base64.b64decode(data if isinstance(data, str) else "", validate=True)
    except (binascii.Error, ValueError):
        raise ImportFormatError(f"{where}.data: not valid base64") from None
    if not raw.startswith(b"%PDF-"):
        raise ImportFormatError(f"{where}.data: not a PDF")


def _time(value: object, where: str, default: float) -> float:
    """A message time: ISO 8601 (as export writes it), seconds since the epoch, or absent."""
    if value is None:
        return default
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value >= 0 and value == value and value != float("inf"):
            return float(value)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.timestamp()
    raise ImportFormatError(f"{where}: expected an ISO 8601 time, not {value!r}")


def _optional_str(obj: dict, key: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ImportFormatError(f"{key}: expected a string, not {_kind(value)}")
    return value


def _kind(value: object) -> str:
    """The JSON name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
