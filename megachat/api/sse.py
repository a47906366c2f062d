"""Server-sent events decoding as WHATWG and the SDK do it (protocol.md §4.3).

Lines are split on bytes (CR, LF, CRLF) before UTF-8 decoding, so U+2028 and friends inside data
never split a line and multi-byte characters may straddle network chunks.

A line, and an event's data, are at most MAX_EVENT_BYTES: a server that sends more (a line that
never ends, a decompression bomb) gets EventTooLarge instead of all the memory there is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from megachat.api.limits import MAX_EVENT_BYTES


@dataclass(slots=True)
class ServerSentEvent:
    event: str | None
    data: str
    id: str | None = None
    retry: int | None = None


class EventTooLarge(ValueError):
    """A line or an event's data passed MAX_EVENT_BYTES. ``events`` are the events the same
    ``feed`` call completed before it, so nothing that arrived whole is lost."""

    def __init__(self, message: str, events: list[ServerSentEvent]) -> None:
        super().__init__(message)
        self.events = events


class SSEDecoder:
    """Incremental decoder: ``feed(bytes)`` returns the events completed by that chunk.

    ``feed`` raises EventTooLarge when a line or an event passes ``max_bytes``; the decoder is
    then reset (a stream that broke the limit is not worth reading on).
    """

    __slots__ = ("_buf", "_data", "_event", "_last_id", "_retry", "_size", "_skip_lf", "max_bytes")

    def __init__(self, max_bytes: int = MAX_EVENT_BYTES) -> None:
        self.max_bytes = max_bytes
        self._buf = bytearray()  # the unfinished last line (appended to, never re-scanned)
        self._skip_lf = False
        self._event: str | None = None
        self._data: list[str] = []
        self._size = 0  # bytes of data in the pending event
        self._last_id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        if not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[0] == 10:  # the LF of a CRLF split across chunks
                chunk = chunk[1:]
                if not chunk:
                    return []
        last = chunk[-1]
        ended = last == 10 or last == 13
        lines = chunk.splitlines()  # bytes.splitlines splits on \r, \n and \r\n only
        if not ended and len(lines) == 1:  # the middle of a line: no line ends here
            self._buf += chunk
            if len(self._buf) > self.max_bytes:
                self._too_large("line", [])
            return []
        if self._buf:  # the first line of this chunk ends the pending one
            self._buf += lines[0]
            lines[0] = bytes(self._buf)
            self._buf.clear()
        if not ended:
            self._buf += lines.pop()
        self._skip_lf = last == 13
        out: list[ServerSentEvent] = []
        limit = self.max_bytes
        long = len(chunk) > limit or len(lines[0]) > limit  # else no line here can be too long
        for raw in lines:
            if long and len(raw) > limit:
                self._too_large("line", out)
            event = self._line(raw)
            if event is not None:
                out.append(event)
            elif self._size > limit:
                self._too_large("event", out)
        if len(self._buf) > limit:
            self._too_large("line", out)
        return out

    def _too_large(self, what: str, events: list[ServerSentEvent]) -> NoReturn:
        self.close()
        size = f"{self.max_bytes >> 20} MiB" if self.max_bytes >= 1 << 20 else f"{self.max_bytes} B"
        raise EventTooLarge(f"a stream {what} over {size}", events)

    def close(self) -> list[ServerSentEvent]:
        """End of stream: an event without its terminating blank line is discarded (as the SDK)."""
        self._buf = bytearray()
        self._event = None
        self._data = []
        self._size = 0
        return []

    def _line(self, raw: bytes) -> ServerSentEvent | None:
        if not raw:
            if self._event is None and not self._data:
                return None
            event = ServerSentEvent(self._event, "\n".join(self._data), self._last_id, self._retry)
            self._event = None
            self._data = []
            self._size = 0
            self._retry = None
            return event
        if raw.startswith(b"data:"):  # fast path: most lines
            value = raw[6:] if raw[5:6] == b" " else raw[5:]
            self._size += len(value)
            self._data.append(value.decode("utf-8", "replace"))
            return None
        if raw[0] == 58:  # ":" comment
            return None
        line = raw.decode("utf-8", "replace")
        name, sep, value = line.partition(":")
        if sep and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._size += len(value)
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        return None


def iter_events(chunks: list[bytes] | tuple[bytes, ...]) -> list[ServerSentEvent]:
    """Decode a whole byte stream given as chunks (for tests and benchmarks)."""
    decoder = SSEDecoder()
    out: list[ServerSentEvent] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    decoder.close()
    return out
