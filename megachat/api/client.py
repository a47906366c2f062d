"""The Messages client: one ``httpx.AsyncClient``, SDK-compatible headers, retries and errors."""

from __future__ import annotations

import json
import re
import ssl
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import aclosing
from typing import Any

import httpx

from megachat import __version__
from megachat.api.errors import (
    APIConnectionError,
    APIError,
    APIKeyError,
    APIStatusError,
    APITimeoutError,
    ResponseTooLarge,
    StreamInterrupted,
    WebPageError,
    looks_like_html,
    make_status_error,
    make_web_page_error,
    scrub,
)
from megachat.api.events import StreamEvent
from megachat.api.limits import DECODE_CHUNK, MAX_BODY, MAX_ERROR_BODY
from megachat.api.models import ModelInfo, parse_model_page
from megachat.api.ratelimit import RateLimiter, shared_rate_limiter
from megachat.api.retry import DEFAULT_MAX_RETRIES, WaitNotice, retry_delay, should_retry_status
from megachat.api.stream import StreamState
from megachat.api.types import Message

API_VERSION = "2023-06-01"
CONNECT_TIMEOUT = 5.0
DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=CONNECT_TIMEOUT)
COUNT_TOKENS_FIELDS = ("model", "messages", "system", "tools", "tool_choice", "thinking")
MAX_MODEL_PAGES = 50
# The codings decoded_body undoes; httpx's default adds br and zstd when those packages happen
# to be installed, and decodes them without bounds.
ACCEPT_ENCODING = "gzip, deflate"
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


class MessagesClient:
    """A thin async client for ``{base}/v1/messages`` (and models, count_tokens)."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout: httpx.Timeout | float | None = None,
        rate_limiter: RateLimiter | None = None,
        on_wait: Callable[[WaitNotice], None] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._api_key = api_key.strip()  # a pasted key often carries a newline
        self.base_url = base_url.rstrip("/")
        self.max_retries = max(0, max_retries)
        self.rate_limiter = rate_limiter if rate_limiter is not None else shared_rate_limiter()
        self.on_wait = on_wait
        if timeout is None:
            timeout = DEFAULT_TIMEOUT
        elif not isinstance(timeout, httpx.Timeout):  # a number: the read timeout
            timeout = httpx.Timeout(timeout, connect=CONNECT_TIMEOUT)
        self.timeout: httpx.Timeout = timeout
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport, verify=_ssl_context())
        self._count_tokens_missing = False

    def __repr__(self) -> str:
        return f"MessagesClient(base_url={self.base_url!r})"

    async def __aenter__(self) -> MessagesClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def _headers(self) -> dict[str, str]:
        return {
            "x-api-key": self._api_key,
            "anthropic-version": API_VERSION,
            "accept": "application/json",
            "accept-encoding": ACCEPT_ENCODING,
            "content-type": "application/json",
            "user-agent": f"megachat/{__version__}",
        }

    async def _send(
        self,
        method: str,
        path: str,
        *,
        body: dict | None = None,
        params: dict[str, str] | None = None,
        stream: bool = False,
        on_wait: Callable[[WaitNotice], None] | None = None,
    ) -> tuple[httpx.Response, bytes]:
        """Send with rate limiting and the SDK retry policy; return a 2xx response and its body.

        With ``stream=True`` the body is left unread (``b""``; the caller must close the
        response); once a 2xx has come back nothing is retried. Bodies are read with caps
        (MAX_BODY, MAX_ERROR_BODY), however far they decompress.
        """
        if not _HEADER_SAFE.fullmatch(self._api_key):
            # httpx would send nothing and echo the key in its error: say so without the key
            raise APIKeyError("it is empty or contains spaces, control or non-ASCII characters")
        notify = on_wait if on_wait is not None else self.on_wait
        content = _encode(body) if body is not None else None
        url = self.base_url + path
        retries_taken = 0
        while True:
            await self.rate_limiter.acquire(notify)
            request = self._http.build_request(
                method, url, content=content, params=params, headers=self._headers()
            )
            headers: dict[str, str] | None = None
            error: APIError
            try:
                response = await self._http.send(request, stream=True)
            except httpx.TimeoutException as exc:
                error = APITimeoutError(self._describe_exc(exc))
                error.__cause__ = exc
                retryable = True
            except httpx.TransportError as exc:
                error = APIConnectionError(self._describe_exc(exc))
                error.__cause__ = exc
                # a base URL without http(s):// is a setting to fix, not a flaky network
                retryable = not isinstance(exc, httpx.UnsupportedProtocol)
            else:
                if response.is_success:
                    if stream:
                        return response, b""
                    try:
                        raw = await read_message_body(response)
                    except httpx.HTTPError as exc:
                        error = self._transport_error(exc)
                        if retries_taken >= self.max_retries:
                            raise error from exc
                        retries_taken = await self._wait_retry(retries_taken, error, None, notify)
                        continue
                    finally:
                        await response.aclose()
                    return response, raw
                try:
                    raw, _ = await read_body(response, MAX_ERROR_BODY)  # the start says enough
                except httpx.HTTPError:
                    raw = b""
                finally:
                    await response.aclose()
                headers = dict(response.headers)
                error = make_status_error(
                    response.status_code,
                    raw,
                    headers,
                    reason=response.reason_phrase,
                    secret=self._api_key,
                )
                retryable = should_retry_status(response.status_code, headers)
            if not retryable or retries_taken >= self.max_retries:
                raise error
            retries_taken = await self._wait_retry(retries_taken, error, headers, notify)

    async def _wait_retry(
        self,
        retries_taken: int,
        error: APIError,
        headers: dict[str, str] | None,
        notify: Callable[[WaitNotice], None] | None,
    ) -> int:
        delay = retry_delay(retries_taken, headers)
        if notify is not None:
            notify(WaitNotice("retry", delay, retries_taken + 1, error))
        import asyncio  # lazy: keeps ``import megachat.api`` fast

        await asyncio.sleep(delay)
        return retries_taken + 1

    def _describe_exc(self, exc: BaseException) -> str:
        text = str(exc) or type(exc).__name__
        return str(scrub(f"{text} ({self.base_url})", self._api_key))

    def _web_page_error(self, response: httpx.Response, page: bytes) -> WebPageError:
        return make_web_page_error(
            response.status_code,
            page[:MAX_ERROR_BODY],
            dict(response.headers),
            base_url=self.base_url,
            secret=self._api_key,
        )

    def _json(self, response: httpx.Response, raw: bytes) -> Any:
        """The JSON body; a web page (a captive portal) or anything else is a clear error."""
        try:
            return json.loads(raw)
        except ValueError:
            pass
        if is_web_page(raw, response.headers.get("content-type", "")):
            raise self._web_page_error(response, raw)
        raise APIError(f"invalid JSON response (HTTP {response.status_code})")

    def _transport_error(self, exc: httpx.HTTPError) -> APIError:
        cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
        err = cls(self._describe_exc(exc))
        err.__cause__ = exc
        return err

    async def create(
        self, request: dict, *, on_wait: Callable[[WaitNotice], None] | None = None
    ) -> Message:
        """Non-streaming ``POST /v1/messages``; ``request`` is the JSON body, sent as given.

        ``on_wait`` overrides the client's hook for this request (retry/limiter waits).
        """
        response, raw = await self._send("POST", "/v1/messages", body=request, on_wait=on_wait)
        message = self._json(response, raw)
        if not isinstance(message, dict):
            raise APIError("invalid response: expected a JSON message object")
        if not isinstance(message.get("usage"), dict):
            message["usage"] = {}
        if not isinstance(message.get("content"), list):
            message["content"] = []
        return message  # type: ignore[return-value]

    def stream(
        self, request: dict, *, on_wait: Callable[[WaitNotice], None] | None = None
    ) -> MessageStream:
        """Streaming ``POST /v1/messages`` (sets ``"stream": true``); see MessageStream.

        ``on_wait`` overrides the client's hook for this request (waits before the stream opens).
        """
        return MessageStream(self, {**request, "stream": True}, on_wait=on_wait)

    async def list_models(self) -> list[ModelInfo]:
        """All models, following Anthropic paging (``after_id``); MegaLLM's list is one page."""
        models: list[ModelInfo] = []
        params: dict[str, str] | None = None
        seen: set[str] = set()
        for _ in range(MAX_MODEL_PAGES):
            response, raw = await self._send("GET", "/v1/models", params=params)
            page, after = parse_model_page(self._json(response, raw))
            models.extend(page)
            if after is None or after in seen:
                break
            seen.add(after)
            params = {"after_id": after}
        return models

    async def count_tokens(self, request: dict) -> int | None:
        """Input tokens for a request, or None when the server has no count_tokens (remembered)."""
        if self._count_tokens_missing:
            return None
        body = {k: request[k] for k in COUNT_TOKENS_FIELDS if k in request}
        try:
            response, raw = await self._send("POST", "/v1/messages/count_tokens", body=body)
        except APIStatusError as exc:
            if exc.status_code in (404, 405):
                self._count_tokens_missing = True
                return None
            raise
        data = self._json(response, raw)
        tokens = data.get("input_tokens") if isinstance(data, dict) else None
        if not isinstance(tokens, int):
            raise APIError("invalid count_tokens response: no input_tokens")
        return tokens


_SSL_CONTEXT: ssl.SSLContext | None = None


def _ssl_context() -> ssl.SSLContext:
    """One default-verifying SSL context per process: loading CA certificates costs ~50 ms."""
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        _SSL_CONTEXT = httpx.create_ssl_context()
    return _SSL_CONTEXT


def prepare_tls() -> None:
    """Build the process's SSL context ahead of the first request (its CA certificates cost
    50-80 ms of CPU): the TUI calls it off the event loop while the user types."""
    _ssl_context()


def _encode(body: Any) -> bytes:
    """Compact UTF-8 JSON; lone surrogates (unencodable) fall back to ASCII escapes."""
    try:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:
        return json.dumps(body, separators=(",", ":")).encode()


class _Inflater:
    """One gzip or deflate layer whose output comes in pieces of at most DECODE_CHUNK bytes.

    httpx's own decoders inflate a whole network chunk at once (64 KiB of a bomb is 64 MB, and
    layers multiply); ``max_length`` keeps the rest in ``unconsumed_tail`` for the next piece.
    """

    __slots__ = ("_fallback", "_z")

    def __init__(self, coding: str) -> None:
        gzip = coding in ("gzip", "x-gzip")
        self._fallback = not gzip  # "deflate" is zlib-wrapped or, from some servers, raw
        self._z = zlib.decompressobj(zlib.MAX_WBITS | 16 if gzip else zlib.MAX_WBITS)

    def decode(self, data: bytes) -> Iterator[bytes]:
        z = self._z
        while True:
            try:
                out = z.decompress(data, DECODE_CHUNK)
            except zlib.error as exc:
                if not self._fallback:
                    raise httpx.DecodingError(f"invalid compressed body: {exc}") from exc
                self._fallback = False
                z = self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            self._fallback = False
            data = z.unconsumed_tail
            if out:
                yield out
            if z.eof or (not data and len(out) < DECODE_CHUNK):
                return  # bytes after the end of the compressed stream are ignored, as httpx does


def _through(layer: _Inflater, pieces: Iterator[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        yield from layer.decode(piece)


async def decoded_body(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body with its content-encoding undone, in pieces of at most DECODE_CHUNK bytes.

    gzip and deflate (any number of layers) are decoded here, never by httpx, so however far a
    network chunk expands (a decompression bomb) only one piece is in memory at a time; other
    codings pass through undecoded, as httpx passes the ones it does not know. A chunked body is
    read a network read at a time (megachat.api.chunked), not an HTTP chunk at a time.
    """
    codings = response.headers.get_list("content-encoding", split_commas=True)
    layers = [
        _Inflater(c)
        for c in (c.strip().lower() for c in reversed(codings))
        if c in ("gzip", "x-gzip", "deflate")
    ]
    from megachat.api.chunked import raw_chunked_body

    source = raw_chunked_body(response) or response.aiter_raw()
    async for raw in source:
        pieces: Iterator[bytes] = iter((raw,))
        for layer in layers:
            pieces = _through(layer, pieces)
        for piece in pieces:
            yield piece


async def read_body(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` decoded bytes of the body, and whether there was more (left unread)."""
    buf = bytearray()
    async with aclosing(decoded_body(response)) as pieces:
        async for piece in pieces:
            buf += piece
            if len(buf) > limit:
                del buf[limit:]
                return bytes(buf), True
    return bytes(buf), False


async def read_message_body(response: httpx.Response) -> bytes:
    """A whole 2xx body (a message, a model list); over MAX_BODY it is ResponseTooLarge."""
    raw, more = await read_body(response, MAX_BODY)
    if more:
        raise ResponseTooLarge(f"a body over {MAX_BODY >> 20} MiB (HTTP {response.status_code})")
    return raw


def is_web_page(body: bytes, content_type: str) -> bool:
    """An HTML page (by content type or by its start) where the API's JSON or SSE should be."""
    return looks_like_html(body[:1024].decode("utf-8", "replace"), content_type)


class MessageStream:
    """One streaming request: an async context manager and an async iterator of typed events.

    ``snapshot`` is the message accumulated so far (valid at any time, also after an error).
    Iterating raises StreamError on an ``error`` event and StreamInterrupted when the stream
    ends without ``message_stop``; both carry ``.partial``. Usable without ``async with`` too.
    """

    def __init__(
        self,
        client: MessagesClient,
        request: dict,
        *,
        on_wait: Callable[[WaitNotice], None] | None = None,
    ) -> None:
        self._client = client
        self._request = request
        self._on_wait = on_wait
        model = request.get("model")
        self._model = model if isinstance(model, str) else None
        self._state = StreamState(self._model)
        self._response: httpx.Response | None = None
        self._iterator: AsyncIterator[StreamEvent] | None = None
        self._batches: AsyncIterator[list[StreamEvent]] | None = None
        self.request_id: str | None = None

    @property
    def snapshot(self) -> Message:
        return self._state.snapshot

    @property
    def skipped_events(self) -> int:
        """Malformed stream events (undecodable ``data:`` lines) skipped so far: when non-zero
        the reply may be missing text."""
        return self._state.skipped_events

    @property
    def final_message(self) -> Message:
        if not self._state.done:
            raise RuntimeError("the stream has not reached message_stop")
        return self._state.snapshot

    async def __aenter__(self) -> MessageStream:
        await self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._response is not None:
            await self._response.aclose()

    async def _open(self) -> None:
        if self._response is None:
            self._response, _ = await self._client._send(
                "POST", "/v1/messages", body=self._request, stream=True, on_wait=self._on_wait
            )
            self.request_id = self._response.headers.get("request-id")

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        if self._iterator is None:
            self._iterator = self._events()
        return self._iterator

    def batches(self) -> AsyncIterator[list[StreamEvent]]:
        """The events in batches: those one network read completed, in order (never empty).

        The same stream as iterating the events one by one (and the same errors), for callers
        that handle what arrived together at once: a fast stream brings hundreds of events per
        read, and one await per batch instead of per event is most of the cost of reading it.
        ``snapshot`` is then the message after the whole batch.
        """
        if self._batches is None:
            self._batches = self._read_batches()
        return self._batches

    async def get_final_message(self) -> Message:
        """Consume the rest of the stream and return the final message."""
        async for _ in self.batches():
            pass
        return self.final_message

    async def _events(self) -> AsyncIterator[StreamEvent]:
        async with aclosing(self._reads()) as reads:  # an error event closes the response now
            async for events in reads:
                for event in events:
                    yield event

    async def _read_batches(self) -> AsyncIterator[list[StreamEvent]]:
        async with aclosing(self._reads()) as reads:
            async for events in reads:
                batch: list[StreamEvent] = []
                try:
                    batch.extend(events)
                except Exception:  # an error event: what came before it first, then the error
                    if batch:
                        yield batch
                    raise
                if batch:
                    yield batch

    async def _reads(self) -> AsyncIterator[Iterable[StreamEvent]]:
        """The events of each network read, accumulated as they are taken (see iter_feed): the
        consumer takes them all before asking for the next read."""
        owns = self._response is None
        try:
            await self._open()
            assert self._response is not None
            state = self._state = StreamState(
                self._model, request_id=self.request_id, secret=self._client._api_key
            )
            response = self._response
            content_type = response.headers.get("content-type", "")
            try:
                if content_type.startswith("application/json"):
                    # a gateway that ignored "stream": replay the JSON message as events
                    raw = await read_message_body(response)
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        if is_web_page(raw, content_type):
                            raise self._client._web_page_error(response, raw) from None
                        body = raw.decode("utf-8", "replace")[:4096]
                    yield state.feed_message(body)
                    return
                async with aclosing(decoded_body(response)) as chunks:
                    checked = content_type.startswith("text/event-stream")
                    async for chunk in chunks:
                        if not checked and is_web_page(chunk, content_type):
                            # a captive portal's page (by its content type, or its start)
                            page = bytearray(chunk)
                            async for more in chunks:
                                if len(page) >= MAX_ERROR_BODY:
                                    break
                                page += more
                            raise self._client._web_page_error(response, bytes(page))
                        checked = True  # only the start can tell
                        yield state.iter_feed(chunk)
                        if state.failure is not None:
                            raise state.failure
                        # after message_stop the rest is read and ignored (as the SDK does), so
                        # the connection goes back to the pool
            except httpx.HTTPError as exc:
                raise StreamInterrupted(
                    self._client._describe_exc(exc), partial=state.snapshot
                ) from exc
            state.finish()
        finally:
            if owns or self._state.done:
                await self.aclose()
