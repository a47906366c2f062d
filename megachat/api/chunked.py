"""A chunked HTTP/1.1 response body read straight off the connection, a network read at a time.

Why: h11 hands a chunked body over one chunk per event, through seven async generators (h11,
httpcore, httpx). A server that flushes every SSE event as its own chunk (API servers do) then
costs ~9 µs of CPU per event before a byte of it is decoded: more than decoding it, and 20,000
text deltas (an 80 KB reply) pay it 20,000 times. Read here, one network read (hundreds of
events) comes out as one piece.

This reaches into httpcore's HTTP/1.1 connection (private attributes of httpcore 1.x). When
anything is not as expected (HTTP/2, another transport, a body that is not chunked)
`raw_chunked_body` returns None and the caller reads through httpx as before. Once the body has
ended, h11 is told so, and the connection goes back to the pool; if that cannot be done the
connection is closed when the response is (never reused out of step). Errors are httpx's own
(ReadTimeout, ReadError, RemoteProtocolError), as reading through httpx raises them.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx

READ_BYTES = 64 * 1024  # as httpcore reads
MAX_LINE = 16 * 1024  # a chunk-size or trailer line (h11's limit for an unfinished event)
_SIZE = re.compile(rb"([0-9A-Fa-f]{1,20})[ \t]*(?:;.*)?")

_IN_SIZE, _IN_DATA, _IN_CRLF, _IN_TRAILER = range(4)


class ChunkedDecoder:
    """Incremental ``Transfer-Encoding: chunked`` decoding: ``feed(bytes)`` returns the payload
    those bytes complete or continue (joined: one piece per call). ``done`` after the last chunk
    and its trailer; ``rest`` is what came after that (nothing, from a well-behaved server).

    A malformed size line or a missing CRLF after a chunk raises httpx.RemoteProtocolError.
    """

    __slots__ = ("_buf", "_left", "_state", "done", "rest")

    def __init__(self) -> None:
        self._buf = b""  # an unfinished size, CRLF or trailer line
        self._left = 0  # payload bytes still to come in the current chunk
        self._state = _IN_SIZE
        self.done = False
        self.rest = b""

    def feed(self, data: bytes) -> bytes:
        if self._buf:
            data = self._buf + data
            self._buf = b""
        out: list[bytes] = []
        pos, end = 0, len(data)
        state = self._state
        while pos < end:
            if state == _IN_DATA:
                take = min(self._left, end - pos)
                out.append(data[pos : pos + take])
                pos += take
                self._left -= take
                if not self._left:
                    state = _IN_CRLF
            elif state == _IN_CRLF:
                if end - pos < 2:
                    break
                if data[pos : pos + 2] != b"\r\n":
                    raise httpx.RemoteProtocolError("malformed chunked body: no CRLF after a chunk")
                pos += 2
                state = _IN_SIZE
            else:
                eol = data.find(b"\r\n", pos)
                if eol == -1:
                    if end - pos > MAX_LINE:
                        raise httpx.RemoteProtocolError("malformed chunked body: a line too long")
                    break
                line = data[pos:eol]
                pos = eol + 2
                if state == _IN_TRAILER:
                    if not line:
                        self.done = True
                        self.rest = data[pos:]
                        pos = end
                    continue
                match = _SIZE.fullmatch(line)
                if match is None:
                    raise httpx.RemoteProtocolError("malformed chunked body: a bad chunk size")
                self._left = int(match.group(1), 16)
                state = _IN_DATA if self._left else _IN_TRAILER
        self._state = state
        if pos < end:
            self._buf = data[pos:]
        if not out:
            return b""
        return out[0] if len(out) == 1 else b"".join(out)


def raw_chunked_body(response: httpx.Response) -> AsyncIterator[bytes] | None:
    """The response's chunked body, still content-encoded, a network read per piece; None when
    it cannot be read that way (then read ``response.aiter_raw()``)."""
    if response.http_version != "HTTP/1.1" or response.is_stream_consumed:
        return None
    codings = response.headers.get_list("transfer-encoding", split_commas=True)
    if [c.strip().lower() for c in codings] != ["chunked"]:
        return None
    connection = _h11_connection(response)
    network = response.extensions.get("network_stream")
    if connection is None or network is None:
        return None
    h11_state = connection._h11_state
    if type(h11_state._reader).__name__ != "ChunkedReader":
        return None
    timeout = (response.request.extensions.get("timeout") or {}).get("read")
    response.is_stream_consumed = True  # httpx must not read it too
    return _read(network, h11_state, timeout)


def _h11_connection(response: httpx.Response) -> Any:
    """httpcore's AsyncHTTP11Connection behind ``response`` (httpx 0.2x, httpcore 1.x), or None."""
    stream: Any = response.stream
    for attr in ("_stream", "_httpcore_stream", "_stream", "_connection"):
        stream = getattr(stream, attr, None)
        if stream is None:
            return None
    h11_state = getattr(stream, "_h11_state", None)
    if h11_state is None or getattr(h11_state, "their_state", None) is None:
        return None
    import h11

    if h11_state.their_state is not h11.SEND_BODY or not hasattr(h11_state, "_receive_buffer"):
        return None
    return stream


async def _read(network: Any, h11_state: Any, timeout: float | None) -> AsyncIterator[bytes]:
    import httpcore

    decoder = ChunkedDecoder()
    data, _ = h11_state.trailing_data  # what h11 read past the headers
    while True:
        if data:
            piece = decoder.feed(data)
            if piece:
                yield piece
            if decoder.done:
                break
        try:
            data = await network.read(READ_BYTES, timeout=timeout)
        except httpcore.TimeoutException as exc:
            raise httpx.ReadTimeout(str(exc)) from exc
        except httpcore.ProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc)) from exc
        except (httpcore.NetworkError, OSError) as exc:
            raise httpx.ReadError(str(exc)) from exc
        if not data:
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body: "
                "incomplete chunked read"
            )
    if not decoder.rest:
        _end_body(h11_state)


def _end_body(h11_state: Any) -> None:
    """Tell h11 the body ended (as if it had read it), so httpcore can reuse the connection."""
    import h11

    try:
        h11_state._receive_buffer = type(h11_state._receive_buffer)()
        h11_state.receive_data(b"0\r\n\r\n")
        h11_state.next_event()  # EndOfMessage: their_state becomes DONE
    except h11.ProtocolError:  # pragma: no cover - not DONE: httpcore closes the connection
        pass
