"""A loopback fake of the Messages API: a real HTTP/1.1 server on 127.0.0.1 in a thread.

Tests (and subprocesses such as ``megachat ask`` or the TUI in tmux) talk to it over real sockets,
so the client's HTTP, SSE framing, retries and error handling are exercised for real, not mocked.

Responses are scripted: ``server.enqueue(Reply(...))`` appends to a FIFO queue per path; when a
path's queue is empty, ``server.defaults[path]`` answers (a short text reply for
``POST /v1/messages`` that follows the request's ``stream`` flag, a model list for
``GET /v1/models``, 404 elsewhere).

``server.last_body_sent_at`` is the ``time.perf_counter()`` just after the latest complete
response body was written (benchmarks in the same process time "last byte sent -> shown").

Hostile replies for the fault tests: ``gzip_bomb_reply`` (a small gzip body that decodes to
hundreds of megabytes), ``endless_line_reply`` (an SSE line that never ends) and
``web_page_reply`` (a captive portal's HTML page with status 200).

What a model rejects (opt-in): ``FakeServer(model_rules=[ModelRule("claude-opus-4-7", ...)])``
answers a request breaking its model's rule with 400 ``invalid_request_error``, in the real API's
words, before any queued reply is used; ``ModelRule("*", cache_control=False)`` is a proxy that
refuses prompt caching. ``server.refused`` lists the messages of the 400s given.

Standalone, for manual testing: ``python -m tests.fakeserver --port 8765 [--reply-text T]
[--script replies.json] [--delay S] [--chunk-size N]``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json as jsonlib
import re
import socket
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

MESSAGES_PATH = "/v1/messages"
MODELS_PATH = "/v1/models"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
DEFAULT_TEXT = "Hello from the fake server."
FIXTURES_DIR = Path(__file__).parent / "fixtures" / "sse"

SseEvent = dict | str | bytes | tuple


@dataclass
class Reply:
    """One scripted response.

    ``sse`` is a raw body (str/bytes, split into events at blank lines) or a list of events: a
    dict (sent as ``event: <type>`` + ``data: <json>``), a ``(name, data)`` tuple, or raw str/bytes.
    When both ``json`` and ``sse`` are given, the request's ``stream`` flag picks one.
    ``body`` is a raw non-JSON body (e.g. a proxy's HTML error page).
    ``drop_after_events=N`` sends N events then closes the socket without ending the chunked body.
    ``chunk_size=N`` writes the body in N-byte pieces. ``disconnect=True`` closes the connection
    without any response (a transport error for the client).
    ``endless`` (with ``sse``): after the events, these bytes are sent again and again until the
    client hangs up (e.g. an SSE line that never ends).
    ``hold`` (with ``sse``): after ``hold_after_events`` events the stream waits, open and silent,
    until the test sets the event (e.g. after changing the store under a streaming client).
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    sse: str | bytes | Sequence[SseEvent] | None = None
    delay_per_event: float = 0.0
    drop_after_events: int | None = None
    chunk_size: int | None = None
    path: str = MESSAGES_PATH
    body: str | bytes | None = None
    disconnect: bool = False
    delay_before: float = 0.0
    endless: bytes | None = None
    hold: threading.Event | None = None
    hold_after_events: int = 0


@dataclass
class RecordedRequest:
    """A request as the server saw it (headers lower-cased)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    peer: tuple[str, int] = ("", 0)  # the client's address: same port = same connection

    @property
    def json(self) -> Any:
        try:
            return jsonlib.loads(self.body) if self.body else None
        except ValueError:
            return None


# --------------------------------------------------------------------------- SSE building helpers


def sse_event(event: SseEvent) -> bytes:
    """Encode one event; dicts use their ``type`` as the event name."""
    if isinstance(event, bytes):
        return event
    if isinstance(event, str):
        return event.encode("utf-8")
    if isinstance(event, tuple):
        name, data = event
        payload = data if isinstance(data, str) else jsonlib.dumps(data)
        return f"event: {name}\ndata: {payload}\n\n".encode()
    return f"event: {event['type']}\ndata: {jsonlib.dumps(event)}\n\n".encode()


_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r|\r\n\n|\n\r\n")


def split_events(raw: bytes) -> list[bytes]:
    """Split a raw SSE body after each blank line (only to time delays/drops; bytes are kept)."""
    pieces, start = [], 0
    for m in _EVENT_END.finditer(raw):
        pieces.append(raw[start : m.end()])
        start = m.end()
    if start < len(raw):
        pieces.append(raw[start:])
    return pieces


def _split_text(text: str, chunks: int | Sequence[str] | None) -> list[str]:
    if chunks is None:
        parts = re.findall(r"\S+\s*|\s+", text)
        return parts or [text]
    if isinstance(chunks, int):
        n = max(1, chunks)
        size = max(1, -(-len(text) // n))
        return [text[i : i + size] for i in range(0, len(text), size)] or [""]
    return list(chunks)


def message_events(
    content: Sequence[dict],
    *,
    model: str = "claude-sonnet-4",
    usage: dict | None = None,
    stop_reason: str | None = "end_turn",
    stop_sequence: str | None = None,
    message_id: str = "msg_fake_0001",
    with_stop: bool = True,
    ping: bool = True,
) -> list[dict]:
    """A complete Messages event list for final ``content`` blocks (text/thinking/tool_use/...).

    A text block may carry ``"chunks"`` (int or list of deltas) to control how it is split.
    """
    usage = dict(usage or {"input_tokens": 10, "output_tokens": 0})
    # message_start carries the input side (cache writes and reads too), as the API sends it
    start_usage = {**usage, "input_tokens": usage.get("input_tokens", 10), "output_tokens": 1}
    events: list[dict] = [
        {
            "type": "message_start",
            "message": {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": model,
                "stop_reason": None,
                "stop_sequence": None,
                "usage": start_usage,
            },
        }
    ]
    if ping:
        events.append({"type": "ping"})
    for index, block in enumerate(content):
        kind = block["type"]
        if kind == "text":
            events.append(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                }
            )
            for piece in _split_text(block["text"], block.get("chunks")):
                events.append(
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "text_delta", "text": piece},
                    }
                )
        elif kind == "thinking":
            events.append(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                }
            )
            for piece in _split_text(block["thinking"], block.get("chunks")):
                delta = {"type": "thinking_delta", "thinking": piece}
                events.append({"type": "content_block_delta", "index": index, "delta": delta})
            sig = {"type": "signature_delta", "signature": block.get("signature", "sig_fake")}
            events.append({"type": "content_block_delta", "index": index, "delta": sig})
        elif kind == "tool_use":
            start = {
                "type": "tool_use",
                "id": block.get("id", f"toolu_fake_{index}"),
                "name": block["name"],
                "input": {},
            }
            events.append({"type": "content_block_start", "index": index, "content_block": start})
            raw = jsonlib.dumps(block.get("input", {}))
            for i in range(0, len(raw), 8):
                delta = {"type": "input_json_delta", "partial_json": raw[i : i + 8]}
                events.append({"type": "content_block_delta", "index": index, "delta": delta})
        else:
            events.append(
                {"type": "content_block_start", "index": index, "content_block": dict(block)}
            )
        events.append({"type": "content_block_stop", "index": index})
    if "output_tokens" not in usage or not usage["output_tokens"]:
        usage["output_tokens"] = max(1, sum(len(str(b)) // 4 for b in content))
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
            "usage": {"output_tokens": usage["output_tokens"]},
        }
    )
    if with_stop:
        events.append({"type": "message_stop"})
    return events


def message_json(
    content: Sequence[dict] | str,
    *,
    model: str = "claude-sonnet-4",
    usage: dict | None = None,
    stop_reason: str = "end_turn",
    message_id: str = "msg_fake_0001",
) -> dict:
    """A non-streaming Messages response body."""
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    blocks = [{k: v for k, v in b.items() if k != "chunks"} for b in content]
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "content": blocks,
        "model": model,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage or {"input_tokens": 10, "output_tokens": max(1, len(str(blocks)) // 4)},
    }


def sse_text_reply(
    text: str = DEFAULT_TEXT,
    chunks: int | Sequence[str] | None = None,
    model: str = "claude-sonnet-4",
    usage: dict | None = None,
    *,
    stop_reason: str = "end_turn",
    **reply_kwargs: Any,
) -> Reply:
    """A valid Messages stream of one text block, split into ``chunks`` deltas (default: words)."""
    events = message_events(
        [{"type": "text", "text": text, "chunks": chunks}],
        model=model,
        usage=usage,
        stop_reason=stop_reason,
    )
    return Reply(sse=events, **reply_kwargs)


def message_reply(
    text: str = DEFAULT_TEXT, model: str = "claude-sonnet-4", **reply_kwargs: Any
) -> Reply:
    """A non-streaming JSON message with one text block."""
    return Reply(json=message_json(text, model=model), **reply_kwargs)


def text_reply(
    text: str = DEFAULT_TEXT, model: str = "claude-sonnet-4", **reply_kwargs: Any
) -> Reply:
    """SSE when the request asked to stream, JSON otherwise."""
    return Reply(
        json=message_json(text, model=model),
        sse=message_events([{"type": "text", "text": text}], model=model),
        **reply_kwargs,
    )


def blocks_reply(content: Sequence[dict], **kwargs: Any) -> Reply:
    """A stream (or JSON, by the request's flag) of arbitrary final blocks: thinking, tool_use..."""
    reply_keys = {f for f in Reply.__dataclass_fields__}
    reply_kwargs = {k: v for k, v in kwargs.items() if k in reply_keys}
    event_kwargs = {k: v for k, v in kwargs.items() if k not in reply_keys}
    json_keys = {"model", "usage", "message_id", "stop_reason"}
    json_kwargs = {k: v for k, v in event_kwargs.items() if k in json_keys and v is not None}
    return Reply(
        json=message_json(content, **json_kwargs),
        sse=message_events(content, **event_kwargs),
        **reply_kwargs,
    )


def error_reply(
    status: int,
    error_type: str = "api_error",
    message: str = "error",
    *,
    shape: str = "anthropic",
    request_id: str | None = None,
    headers: dict[str, str] | None = None,
    path: str = MESSAGES_PATH,
) -> Reply:
    """An HTTP error in Anthropic's ``{"type":"error",...}`` or MegaLLM's ``{"error":{}}`` shape."""
    if shape == "anthropic":
        body: dict = {"type": "error", "error": {"type": error_type, "message": message}}
        if request_id:
            body["request_id"] = request_id
    else:
        body = {"error": {"message": message, "type": error_type}}
    return Reply(status=status, json=body, headers=dict(headers or {}), path=path)


@lru_cache(maxsize=8)
def gzip_bomb(decoded_size: int, prefix: bytes = b"") -> bytes:
    """``prefix`` then NUL bytes up to ``decoded_size``, gzip-compressed: about 1/1000 of the
    size on the wire. Built once per size and prefix (2 GiB takes a few seconds)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    parts = [packer.compress(prefix)]
    zeros = bytes(1 << 20)
    left = decoded_size - len(prefix)
    while left > 0:
        parts.append(packer.compress(zeros[: min(left, len(zeros))]))
        left -= len(zeros)
    parts.append(packer.flush())
    return b"".join(parts)


def gzip_bomb_reply(
    decoded_size: int,
    *,
    status: int = 200,
    content_type: str = "text/event-stream; charset=utf-8",
    prefix: bytes = b"",
    **reply_kwargs: Any,
) -> Reply:
    """A decompression bomb: a ``content-encoding: gzip`` body (``prefix`` + NULs) that decodes
    to ``decoded_size`` bytes, sent with a content-length in 64 KiB writes."""
    headers = {"content-encoding": "gzip", "content-type": content_type}
    reply_kwargs.setdefault("chunk_size", 65536)
    return Reply(
        status=status, body=gzip_bomb(decoded_size, prefix), headers=headers, **reply_kwargs
    )


def endless_line_reply(text_before: str = "", **reply_kwargs: Any) -> Reply:
    """A stream that starts a reply (``text_before`` as text deltas, if any), then sends a
    ``data:`` line that never ends, 64 KiB at a time, until the client hangs up."""
    events = message_events([{"type": "text", "text": text_before}])[:-3] if text_before else []
    head = [*events, b"event: content_block_delta\ndata: "]
    return Reply(sse=head, endless=b"x" * 65536, **reply_kwargs)


def web_page_reply(
    page: str = "<!DOCTYPE html><html><head><title>Hotel WiFi - Sign in</title></head>"
    "<body><h1>Welcome</h1><p>Accept the terms to get online.</p></body></html>",
    *,
    status: int = 200,
    **reply_kwargs: Any,
) -> Reply:
    """A web page where the API should be (a captive portal, a wrong base URL)."""
    headers = {"content-type": "text/html; charset=utf-8", **reply_kwargs.pop("headers", {})}
    return Reply(status=status, body=page, headers=headers, **reply_kwargs)


def fixture_reply(name: str, **reply_kwargs: Any) -> Reply:
    """Serve a recorded SSE fixture from tests/fixtures/sse/ byte for byte."""
    return Reply(sse=(FIXTURES_DIR / name).read_bytes(), **reply_kwargs)


def models_reply(models: Iterable[dict] | None = None) -> Reply:
    """An Anthropic-shaped one-page model list."""
    data = list(models if models is not None else DEFAULT_MODELS)
    return Reply(
        json={
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        },
        path=MODELS_PATH,
    )


DEFAULT_MODELS = [
    {
        "type": "model",
        "id": "claude-sonnet-4",
        "display_name": "Claude Sonnet 4",
        "created_at": "2025-05-22T00:00:00Z",
        "max_input_tokens": 200000,
        "max_tokens": 64000,
    },
    {
        "type": "model",
        "id": "claude-3.7-sonnet",
        "display_name": "Claude 3.7 Sonnet",
        "created_at": "2025-02-24T00:00:00Z",
        "max_input_tokens": 200000,
        "max_tokens": 64000,
    },
    {
        "type": "model",
        "id": "claude-opus-4-1-20250805",
        "display_name": "Claude Opus 4.1",
        "created_at": "2025-08-05T00:00:00Z",
        "max_input_tokens": 200000,
        "max_tokens": 32000,
    },
]


def _default_replies(reply_text: str = DEFAULT_TEXT) -> dict[str, Reply]:
    not_found = error_reply(404, "not_found_error", "Not found", path=COUNT_TOKENS_PATH)
    return {
        MESSAGES_PATH: text_reply(reply_text),
        MODELS_PATH: models_reply(),
        COUNT_TOKENS_PATH: not_found,
    }


# --------------------------------------------------------------------------- model rules


@dataclass(frozen=True)
class ModelRule:
    """What one model (or "*": every model) rejects, as the real API (or a proxy) does."""

    model: str
    prefill: bool = True
    thinking: Literal["budget", "adaptive", "none"] = "budget"
    sampling: bool = True  # temperature / top_p / top_k at all
    cache_control: bool = True  # False: a proxy that refuses any cache_control


def _has_cache_control(value: Any) -> bool:
    if isinstance(value, dict):
        return "cache_control" in value or any(_has_cache_control(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_cache_control(v) for v in value)
    return False


def rule_violation(rule: ModelRule, body: dict) -> str | None:
    """The 400 message the API gives for what `rule`'s model rejects in `body`; None if fine."""
    if not rule.cache_control and _has_cache_control(body):
        return "cache_control: Extra inputs are not permitted"
    messages = body.get("messages") or []
    if not rule.prefill and messages and messages[-1].get("role") == "assistant":
        return (
            "This model does not support assistant message prefill. "
            "The conversation must end with a user message."
        )
    if not rule.sampling:
        for name in ("temperature", "top_p", "top_k"):
            if name in body:
                return f"`{name}` is deprecated for this model."
    thinking = body.get("thinking") or {}
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind in ("enabled", "adaptive"):
        if rule.thinking == "none":
            return "thinking: this model does not support extended thinking"
        if kind == "enabled" and rule.thinking == "adaptive":
            return (
                "thinking.type.enabled is not supported for this model. Use "
                "thinking.type.adaptive and output_config.effort to control thinking behavior."
            )
        if kind == "adaptive" and rule.thinking == "budget":
            return "thinking.type.adaptive is not supported for this model"
        if body.get("temperature", 1) != 1:
            return "`temperature` may only be set to 1 when thinking is enabled."
        if "top_k" in body:
            return "`top_k` is not supported when thinking is enabled."
        if body.get("top_p", 1) < 0.95:
            return "`top_p` must be between 0.95 and 1 when thinking is enabled."
        if messages and messages[-1].get("role") == "assistant":
            return "Expected `thinking` or `redacted_thinking`, but found `text`."
    return None


# --------------------------------------------------------------------------- the server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.fake.verbose:
            sys.stderr.write("fakeserver: " + (format % args) + "\n")

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        fake = self.server.fake
        parts = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self._read_body(),
            peer=tuple(self.client_address[:2]),
        )
        reply = fake._take(request)
        try:
            self._send(reply, request)
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    def _send(self, reply: Reply, request: RecordedRequest) -> None:
        stop = self.server.fake._stopping
        if reply.delay_before and stop.wait(reply.delay_before):
            return
        if reply.disconnect:
            self._abort()
            return
        streaming = reply.sse is not None
        if streaming and reply.json is not None:
            body_json = request.json
            streaming = bool(isinstance(body_json, dict) and body_json.get("stream"))
        headers = {k.lower(): v for k, v in reply.headers.items()}
        self.send_response(reply.status)
        if streaming:
            headers.setdefault("content-type", "text/event-stream; charset=utf-8")
            headers.setdefault("cache-control", "no-cache")
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            self._send_sse(reply)
            return
        if reply.body is not None:
            body = reply.body.encode() if isinstance(reply.body, str) else reply.body
            headers.setdefault("content-type", "text/plain; charset=utf-8")
        else:
            body = jsonlib.dumps(reply.json).encode() if reply.json is not None else b""
            headers.setdefault("content-type", "application/json")
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self._write_pieces(body, reply.chunk_size, chunked=False)
        self.server.fake.last_body_sent_at = time.perf_counter()

    def _send_sse(self, reply: Reply) -> None:
        stop = self.server.fake._stopping
        sse = reply.sse
        if isinstance(sse, (str, bytes)):
            raw = sse.encode("utf-8") if isinstance(sse, str) else sse
            events = split_events(raw)
        else:
            events = [sse_event(e) for e in sse or []]
        for sent, event in enumerate(events):
            if reply.drop_after_events is not None and sent >= reply.drop_after_events:
                self._abort()
                return
            if reply.hold is not None and sent == reply.hold_after_events:
                while not reply.hold.is_set():  # until the test says so, or the server stops
                    if stop.wait(0.01):
                        self._abort()
                        return
            if reply.delay_per_event and stop.wait(reply.delay_per_event):
                self._abort()
                return
            self._write_pieces(event, reply.chunk_size, chunked=True)
        while reply.endless and not stop.is_set():
            self._write_pieces(reply.endless, reply.chunk_size, chunked=True)
        if reply.drop_after_events is not None:
            self._abort()
            return
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        self.server.fake.last_body_sent_at = time.perf_counter()

    def _write_pieces(self, data: bytes, size: int | None, *, chunked: bool) -> None:
        step = size if size and size > 0 else max(1, len(data))
        for i in range(0, len(data), step):
            piece = data[i : i + step]
            if chunked:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            else:
                self.wfile.write(piece)
            self.wfile.flush()

    def _abort(self) -> None:
        """Close the socket mid-response, as a dropped connection would."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        if self.fake.verbose:
            super().handle_error(request, client_address)

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().server_bind()


class FakeServer:
    """The fake Messages server. Start with ``start()`` (or as a context manager)."""

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        verbose: bool = False,
        model_rules: Iterable[ModelRule] = (),
    ) -> None:
        self.verbose = verbose
        # opt-in: model id (or "*") -> what it rejects, answered with 400 (see rule_violation)
        self.model_rules: dict[str, ModelRule] = {rule.model: rule for rule in model_rules}
        self.refused: list[str] = []  # the messages of the 400s the rules gave
        self.requests: list[RecordedRequest] = []
        self.defaults: dict[str, Reply] = _default_replies()
        self._queues: dict[str, collections.deque[Reply]] = collections.defaultdict(
            collections.deque
        )
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.fake = self
        self._thread: threading.Thread | None = None
        self.on_request: Callable[[RecordedRequest], None] | None = None
        # time.perf_counter() just after the last byte of the latest complete response body was
        # written: benchmarks in this process time "last byte sent -> shown" on the same clock.
        self.last_body_sent_at: float | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def default(self) -> Reply:
        """The reply for ``POST /v1/messages`` when the queue is empty."""
        return self.defaults[MESSAGES_PATH]

    @default.setter
    def default(self, reply: Reply) -> None:
        self.defaults[reply.path] = reply

    def enqueue(self, *replies: Reply) -> None:
        """Append replies to the FIFO queue of their ``path``."""
        with self._lock:
            for reply in replies:
                self._queues[reply.path].append(reply)

    def pending(self, path: str = MESSAGES_PATH) -> int:
        """How many enqueued replies for ``path`` have not been served yet."""
        with self._lock:
            return len(self._queues[path])

    def clear(self) -> None:
        """Forget every queued reply and recorded request: one server shared by many examples
        (a Hypothesis test) starts each example clean, whatever the last one left behind."""
        with self._lock:
            self._queues.clear()
            self.requests.clear()
        self.on_request = None

    def requests_to(self, path: str = MESSAGES_PATH) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _refusal(self, request: RecordedRequest) -> Reply | None:
        """The rules' 400 for a Messages request that breaks its model's rule (or "*")."""
        if not self.model_rules or request.path != MESSAGES_PATH:
            return None
        try:
            body = request.json
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        for key in (body.get("model"), "*"):
            rule = self.model_rules.get(key) if isinstance(key, str) else None
            message = rule_violation(rule, body) if rule is not None else None
            if message is not None:
                self.refused.append(message)
                return error_reply(400, "invalid_request_error", message)
        return None

    def _take(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            queue = self._queues.get(request.path)
            refused = self._refusal(request)
            if refused is not None:
                reply = refused  # the queue is left for the requests that pass
            elif queue:
                reply = queue.popleft()
            else:
                reply = self.defaults.get(request.path) or error_reply(
                    404, "not_found_error", f"Not found: {request.path}", path=request.path
                )
        if self.on_request is not None:
            self.on_request(request)
        return reply

    def start(self) -> FakeServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def reply_from_dict(data: dict) -> Reply:
    """Build a Reply from JSON (``--script``); ``fixture`` names a file in tests/fixtures/sse;
    ``blocks`` are final content blocks (tool_use, thinking...) with e.g. ``stop_reason``."""
    data = dict(data)
    if "blocks" in data:
        return blocks_reply(data.pop("blocks"), **data)
    if "fixture" in data:
        return fixture_reply(data.pop("fixture"), **data)
    if "text" in data:
        text = data.pop("text")
        return text_reply(text, **data)
    return Reply(**data)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakeserver", description=__doc__)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--reply-text", default=DEFAULT_TEXT, help="default assistant reply text")
    parser.add_argument("--script", type=Path, help="JSON list of replies served in order")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between SSE events")
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    server = FakeServer(args.port, args.host, verbose=not args.quiet)
    default = text_reply(args.reply_text, delay_per_event=args.delay, chunk_size=args.chunk_size)
    server.default = default
    if args.script:
        for item in jsonlib.loads(args.script.read_text()):
            server.enqueue(reply_from_dict(item))

    def log(request: RecordedRequest) -> None:
        if not args.quiet:
            sys.stderr.write(
                f"fakeserver: {request.method} {request.path} {request.body[:200]!r}\n"
            )

    server.on_request = log
    server.start()
    print(f"fake Messages server on {server.base_url} (ctrl+c to stop)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
