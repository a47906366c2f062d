"""Server-sent events decoding as WHATWG and the SDK do it (protocol.md §4.3).

Lines are split on bytes (CR, LF, CRLF) before UTF-8 decoding, so U+2028 and friends inside data
never split a line and multi-byte characters may straddle network chunks.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class ServerSentEvent:
    event: str | None
    data: str
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Incremental decoder: ``feed(bytes)`` returns the events completed by that chunk."""

    __slots__ = ("_buf", "_data", "_event", "_last_id", "_retry", "_skip_lf")

    def __init__(self) -> None:
        self._buf = b""
        self._skip_lf = False
        self._event: str | None = None
        self._data: list[str] = []
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
        data = self._buf + chunk if self._buf else chunk
        lines = data.splitlines()  # bytes.splitlines splits on \r, \n and \r\n only
        last = data[-1]
        if last == 13:
            self._skip_lf = True
            self._buf = b""
        elif last == 10:
            self._buf = b""
        else:
            self._buf = lines.pop()
        out: list[ServerSentEvent] = []
        for raw in lines:
            event = self._line(raw)
            if event is not None:
                out.append(event)
        return out

    def close(self) -> list[ServerSentEvent]:
        """End of stream: an event without its terminating blank line is discarded (as the SDK)."""
        self._buf = b""
        self._event = None
        self._data = []
        return []

    def _line(self, raw: bytes) -> ServerSentEvent | None:
        if not raw:
            if self._event is None and not self._data:
                return None
            event = ServerSentEvent(self._event, "\n".join(self._data), self._last_id, self._retry)
            self._event = None
            self._data = []
            self._retry = None
            return event
        if raw.startswith(b"data:"):  # fast path: most lines
            value = raw[6:] if raw[5:6] == b" " else raw[5:]
            self._data.append(value.decode("utf-8", "replace"))
            return None
        if raw[0] == 58:  # ":" comment
            return None
        line = raw.decode("utf-8", "replace")
        name, sep, value = line.partition(":")
        if sep and value[:1] == " ":
            value = value[1:]
        if name == "data":
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
