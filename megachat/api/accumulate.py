"""Turn raw stream events into a Message snapshot exactly as the SDK's ``accumulate_event`` does.

Differences from the SDK, all on inputs where the SDK crashes or loses data (protocol.md §4.4, §8):
missing ``usage`` defaults to ``{}``; events before ``message_start`` accumulate into an empty
snapshot instead of raising; a delta for an unknown block index is ignored; a tool input that is
not valid (partial) JSON keeps its last good value instead of raising. Tool inputs are re-parsed
lazily: whenever ``snapshot`` is read, every input is the best-effort parse of all deltas so far.
"""

from __future__ import annotations

import copy
from typing import Any

from megachat.api.events import (
    BlockStart,
    BlockStop,
    CitationDelta,
    InputJsonDelta,
    MessageDelta,
    MessageStart,
    MessageStop,
    SignatureDelta,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
)
from megachat.api.partial_json import parse_partial_json
from megachat.api.types import Message

TOOL_INPUT_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
# message_delta usage fields the SDK copies only when non-null (output_tokens is always copied).
_DELTA_FIELDS_SKIP = frozenset({"stop_reason", "stop_sequence"})
# Snapshot fields a message_delta may not replace (a delta {"content": 5} would break the snapshot).
_SNAPSHOT_SHAPE = frozenset({"content", "usage"})


def empty_message(model: str | None = None) -> Message:
    """The snapshot before ``message_start``: a valid, empty assistant message."""
    return {
        "id": "",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": model or "",
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {},
    }


class Accumulator:
    """Feed ``(event name, parsed data)``; read ``snapshot``. ``done`` after ``message_stop``."""

    __slots__ = ("_json_bufs", "_parts", "_pending", "_snapshot", "done", "started")

    def __init__(self, model: str | None = None) -> None:
        self._snapshot: Message = empty_message(model)
        self._json_bufs: dict[int, str] = {}
        self._pending: set[int] = set()
        # text/thinking deltas not yet joined into their block: index -> (field, pieces)
        self._parts: dict[int, tuple[str, list[str]]] = {}
        self.started = False
        self.done = False

    @property
    def snapshot(self) -> Message:
        if self._parts:
            self._flush_parts()
        if self._pending:
            self._flush_inputs()
        return self._snapshot

    def _flush_parts(self) -> None:
        """Join pending deltas (one join per read instead of one copy per delta)."""
        content = self._snapshot["content"]
        for index, (field, pieces) in self._parts.items():
            block = content[index]
            old = block.get(field, "")
            old = old if isinstance(old, str) else ""  # a start block with "text": 5
            block[field] = old + "".join(pieces)  # type: ignore[literal-required]
        self._parts.clear()

    def _append(self, index: int, field: str, text: str) -> None:
        entry = self._parts.get(index)
        if entry is None or entry[0] != field:
            if entry is not None:
                self._flush_parts()
            self._parts[index] = (field, [text])
        else:
            entry[1].append(text)

    def _flush_inputs(self) -> None:
        content = self._snapshot["content"]
        for index in self._pending:
            try:
                content[index]["input"] = parse_partial_json(self._json_bufs[index])
            except (ValueError, RecursionError):
                pass  # keep the last good value (the SDK would raise out of the stream)
        self._pending.clear()

    def feed(self, name: str, data: Any) -> StreamEvent | None:
        """Accumulate one event; return the typed event, or None for ignored ones."""
        if name == "content_block_delta":
            index = data.get("index")
            delta = data.get("delta")
            content = self._snapshot["content"]
            if not isinstance(index, int) or not 0 <= index < len(content):
                return None
            if not isinstance(delta, dict):
                return None
            block = content[index]
            if not isinstance(block, dict):
                return None
            kind = delta.get("type")
            btype = block.get("type")
            if kind == "text_delta":
                if btype != "text":
                    return None
                text = delta.get("text", "")
                if not isinstance(text, str):
                    return None
                self._append(index, "text", text)
                return TextDelta(index, text)
            if kind == "input_json_delta":
                if btype not in TOOL_INPUT_BLOCKS:
                    return None
                partial = delta.get("partial_json", "")
                if not isinstance(partial, str):
                    return None
                buf = self._json_bufs.get(index, "") + partial
                self._json_bufs[index] = buf
                if buf:
                    self._pending.add(index)
                return InputJsonDelta(index, partial)
            if kind == "thinking_delta":
                if btype != "thinking":
                    return None
                thinking = delta.get("thinking", "")
                if not isinstance(thinking, str):
                    return None
                self._append(index, "thinking", thinking)
                return ThinkingDelta(index, thinking)
            if kind == "signature_delta":
                if btype != "thinking":
                    return None
                signature = delta.get("signature", "")
                if not isinstance(signature, str):
                    return None
                block["signature"] = signature
                return SignatureDelta(index, signature)
            if kind == "citations_delta":
                if btype != "text":
                    return None
                citation = delta.get("citation")
                if not isinstance(block.get("citations"), list):
                    block["citations"] = [citation]
                else:
                    block["citations"].append(citation)
                return CitationDelta(index, citation)
            return None
        if name == "message_start":
            message = data.get("message")
            message = copy.deepcopy(message) if isinstance(message, dict) else {}
            snapshot = empty_message()
            snapshot.update(message)
            if not isinstance(snapshot.get("content"), list):
                snapshot["content"] = []
            if not isinstance(snapshot.get("usage"), dict):
                snapshot["usage"] = {}
            self._snapshot = snapshot
            self._json_bufs.clear()
            self._pending.clear()
            self._parts.clear()
            self.started = True
            return MessageStart(copy.deepcopy(snapshot))
        if name == "content_block_start":
            block = data.get("content_block")
            block = copy.deepcopy(block) if isinstance(block, dict) else {}
            self._snapshot["content"].append(block)
            index = data.get("index")
            if not isinstance(index, int):
                index = len(self._snapshot["content"]) - 1
            return BlockStart(index, dict(block))
        if name == "content_block_stop":
            index = data.get("index", 0)
            if not isinstance(index, int):
                return None
            if self._parts:
                self._flush_parts()
            if index in self._pending:
                self._flush_inputs()
            return BlockStop(index)
        if name == "message_delta":
            snap = self._snapshot
            delta = data.get("delta")
            delta = delta if isinstance(delta, dict) else {}
            snap["stop_reason"] = delta.get("stop_reason")
            snap["stop_sequence"] = delta.get("stop_sequence")
            for key, value in delta.items():  # stop_details, container (SDK 2.x)
                if key not in _DELTA_FIELDS_SKIP and key not in _SNAPSHOT_SHAPE:
                    snap[key] = value
            usage = snap["usage"]
            new = data.get("usage")
            new = new if isinstance(new, dict) else {}
            if "output_tokens" in new:
                usage["output_tokens"] = new["output_tokens"]
            for key, value in new.items():
                if value is not None:
                    usage[key] = value
            return MessageDelta(snap["stop_reason"], snap["stop_sequence"], dict(usage))
        if name == "message_stop":
            self.done = True
            return MessageStop(self.snapshot)
        return None
