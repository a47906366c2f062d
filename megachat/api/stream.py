"""Bytes in, typed events out: SSE decoding + event dispatch + accumulation for one stream.

Separate from the HTTP code so tests and benchmarks can feed bytes directly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from megachat.api.accumulate import Accumulator
from megachat.api.errors import ResponseTooLarge, StreamInterrupted, make_stream_error
from megachat.api.events import StreamEvent
from megachat.api.limits import MAX_STREAM_BYTES
from megachat.api.sse import EventTooLarge, SSEDecoder
from megachat.api.types import Message


class StreamState:
    """``feed(chunk)`` -> events; raises StreamError on an ``error`` event. ``finish()`` at EOF.

    Dispatch is on the ``event:`` name. When a gateway omits ``event:`` lines, ``data.type``
    names the event instead (the official SDK would yield nothing for such a stream).
    ``ping``, ``[DONE]``, unknown events and undecodable data are ignored; undecodable data
    (not JSON, or not a JSON object) is counted in ``skipped_events`` so a UI can say that the
    reply may be incomplete. (The official SDK raises its JSONDecodeError instead, ending the
    stream at the first broken line; skipping keeps the rest of the reply.)

    A line or event over the SSE size limit, or a stream longer than ``max_bytes`` in all, sets
    ``failure`` (ResponseTooLarge with the partial message): ``feed`` still returns the events
    completed before it, and the caller raises ``failure`` once it has passed them on; ``feed``
    and ``finish`` raise it after that.
    """

    __slots__ = (
        "_acc",
        "_decoder",
        "_left",
        "failure",
        "max_bytes",
        "request_id",
        "secret",
        "skipped_events",
    )

    def __init__(
        self,
        model: str | None = None,
        *,
        request_id: str | None = None,
        secret: str | None = None,
        max_bytes: int = MAX_STREAM_BYTES,
    ) -> None:
        self.max_bytes = max_bytes
        self._left = max_bytes  # bytes the stream may still bring
        self._decoder = SSEDecoder()
        self._acc = Accumulator(model)
        self.request_id = request_id
        self.secret = secret
        self.skipped_events = 0  # malformed data lines dropped so far
        self.failure: ResponseTooLarge | None = None

    @property
    def snapshot(self) -> Message:
        return self._acc.snapshot

    @property
    def done(self) -> bool:
        """``message_stop`` has arrived; later bytes are ignored."""
        return self._acc.done

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        return list(self.iter_feed(chunk))

    def iter_feed(self, chunk: bytes) -> Iterator[StreamEvent]:
        """``feed`` lazily: each event is accumulated just before it is yielded, so ``snapshot``
        read between two events is the message after the first (as the SDK's per-event
        snapshot); the chunk is SSE-decoded at once. Exhaust it before feeding the next chunk."""
        acc = self._acc
        if acc.done:
            return
        if self.failure is not None:
            raise self.failure
        self._left -= len(chunk)
        too_large: EventTooLarge | None = None
        try:
            decoded = self._decoder.feed(chunk)
        except EventTooLarge as exc:
            decoded, too_large = exc.events, exc
        loads = json.loads
        for sse in decoded:
            name = sse.event
            data = sse.data
            parsed: Any
            if name is None or name == "message":
                if not data or data == "[DONE]":
                    continue
                try:
                    parsed = loads(data)
                except (ValueError, RecursionError):  # RecursionError: [[[[... 100k deep
                    self.skipped_events += 1
                    continue
                if not isinstance(parsed, dict) or not isinstance(parsed.get("type"), str):
                    self.skipped_events += 1
                    continue
                name = parsed["type"]
            elif name == "ping":
                continue
            else:
                try:
                    parsed = loads(data)
                except (ValueError, RecursionError):  # RecursionError: [[[[... 100k deep
                    self.skipped_events += 1
                    continue
                if not isinstance(parsed, dict):
                    self.skipped_events += 1
                    continue
            if name == "error":
                raise make_stream_error(
                    parsed, acc.snapshot, request_id=self.request_id, secret=self.secret
                )
            event = acc.feed(name, parsed)
            if event is not None:
                yield event
                if acc.done:
                    break
        if too_large is not None and not acc.done:
            self.failure = ResponseTooLarge(
                f"{too_large} (not a Messages API stream)", partial=acc.snapshot
            )
        elif self._left < 0 and not acc.done:
            self.failure = ResponseTooLarge(
                f"a stream over {self.max_bytes >> 20} MiB without its end (not a Messages API "
                "stream)",
                partial=acc.snapshot,
            )

    def feed_message(self, message: Any) -> list[StreamEvent]:
        """A whole JSON message where a stream was expected (a gateway that ignored ``stream``):
        replayed as the events a stream of it would have produced. An error body raises."""
        if not isinstance(message, dict) or message.get("type") != "message":
            raise make_stream_error(
                message, self._acc.snapshot, request_id=self.request_id, secret=self.secret
            )
        feed = self._acc.feed
        head = {k: v for k, v in message.items() if k not in ("content", "stop_reason")}
        events = [feed("message_start", {"message": {**head, "content": [], "stop_reason": None}})]
        content = message.get("content")
        for index, block in enumerate(content if isinstance(content, list) else []):
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text":
                start = {k: v for k, v in block.items() if k != "citations"}
                events.append(feed("content_block_start", {"index": index,
                                   "content_block": {**start, "text": ""}}))  # fmt: skip
                for citation in block.get("citations") or []:
                    delta = {"type": "citations_delta", "citation": citation}
                    events.append(feed("content_block_delta", {"index": index, "delta": delta}))
                delta = {"type": "text_delta", "text": block.get("text", "")}
                events.append(feed("content_block_delta", {"index": index, "delta": delta}))
            elif kind == "thinking":
                start = {**block, "thinking": "", "signature": ""}
                events.append(feed("content_block_start", {"index": index, "content_block": start}))
                for delta in (
                    {"type": "thinking_delta", "thinking": block.get("thinking", "")},
                    {"type": "signature_delta", "signature": block.get("signature", "")},
                ):
                    events.append(feed("content_block_delta", {"index": index, "delta": delta}))
            elif kind in ("tool_use", "server_tool_use"):
                start = {**block, "input": {}}
                events.append(feed("content_block_start", {"index": index, "content_block": start}))
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block.get("input"))}
                events.append(feed("content_block_delta", {"index": index, "delta": delta}))
            else:
                events.append(feed("content_block_start", {"index": index, "content_block": block}))
            events.append(feed("content_block_stop", {"index": index}))
        delta = {"stop_reason": message.get("stop_reason"),
                 "stop_sequence": message.get("stop_sequence")}  # fmt: skip
        events.append(feed("message_delta", {"delta": delta, "usage": message.get("usage") or {}}))
        events.append(feed("message_stop", {}))
        return [e for e in events if e is not None]

    def finish(self) -> Message:
        """End of the byte stream: the final message, or StreamInterrupted with the partial."""
        self._decoder.close()
        if self.failure is not None:
            raise self.failure
        if not self._acc.done:
            raise StreamInterrupted(
                "connection closed before message_stop", partial=self._acc.snapshot
            )
        return self._acc.snapshot


def accumulate_bytes(chunks: list[bytes] | tuple[bytes, ...], model: str | None = None) -> Message:
    """Decode and accumulate a whole stream given as byte chunks (tests, benchmarks)."""
    state = StreamState(model)
    for chunk in chunks:
        state.feed(chunk)
        if state.done or state.failure is not None:
            break
    return state.finish()
