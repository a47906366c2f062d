"""The Messages client: one ``httpx.AsyncClient``, SDK-compatible headers, retries and errors."""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from megachat import __version__
from megachat.api.errors import (
    APIConnectionError,
    APIError,
    APIKeyError,
    APIStatusError,
    APITimeoutError,
    StreamInterrupted,
    make_status_error,
    scrub,
)
from megachat.api.events import StreamEvent
from megachat.api.models import ModelInfo, parse_model_page
from megachat.api.ratelimit import RateLimiter, shared_rate_limiter
from megachat.api.retry import DEFAULT_MAX_RETRIES, WaitNotice, retry_delay, should_retry_status
from megachat.api.stream import StreamState
from megachat.api.types import Message

DEFAULT_BASE_URL = "https://ai.megallm.io"
API_VERSION = "2023-06-01"
CONNECT_TIMEOUT = 5.0
DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=CONNECT_TIMEOUT)
COUNT_TOKENS_FIELDS = ("model", "messages", "system", "tools", "tool_choice", "thinking")
MAX_MODEL_PAGES = 50
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


class MessagesClient:
    """A thin async client for ``{base}/v1/messages`` (and models, count_tokens)."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
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
    ) -> httpx.Response:
        """Send with rate limiting and the SDK retry policy; return a 2xx response.

        With ``stream=True`` the body is left unread (the caller must close the response); once a
        2xx has come back nothing is retried.
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
                    if not stream:
                        try:
                            await response.aread()
                        except httpx.HTTPError as exc:
                            await response.aclose()
                            error = self._transport_error(exc)
                            if retries_taken >= self.max_retries:
                                raise error from exc
                            retries_taken = await self._wait_retry(
                                retries_taken, error, None, notify
                            )
                            continue
                    return response
                try:
                    raw = await response.aread()
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
        response = await self._send("POST", "/v1/messages", body=request, on_wait=on_wait)
        message = _json(response)
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
            response = await self._send("GET", "/v1/models", params=params)
            page, after = parse_model_page(_json(response))
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
            response = await self._send("POST", "/v1/messages/count_tokens", body=body)
        except APIStatusError as exc:
            if exc.status_code in (404, 405):
                self._count_tokens_missing = True
                return None
            raise
        data = _json(response)
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


def _encode(body: Any) -> bytes:
    """Compact UTF-8 JSON; lone surrogates (unencodable) fall back to ASCII escapes."""
    try:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:
        return json.dumps(body, separators=(",", ":")).encode()


def _json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        raise APIError(f"invalid JSON response (HTTP {response.status_code})") from None


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
            self._response = await self._client._send(
                "POST", "/v1/messages", body=self._request, stream=True, on_wait=self._on_wait
            )
            self.request_id = self._response.headers.get("request-id")

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        if self._iterator is None:
            self._iterator = self._events()
        return self._iterator

    async def get_final_message(self) -> Message:
        """Consume the rest of the stream and return the final message."""
        async for _ in self:
            pass
        return self.final_message

    async def _events(self) -> AsyncIterator[StreamEvent]:
        owns = self._response is None
        try:
            await self._open()
            assert self._response is not None
            state = self._state = StreamState(
                self._model, request_id=self.request_id, secret=self._client._api_key
            )
            content_type = self._response.headers.get("content-type", "")
            try:
                if content_type.startswith("application/json"):
                    # a gateway that ignored "stream": replay the JSON message as events
                    raw = await self._response.aread()
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        body = raw.decode("utf-8", "replace")[:4096]
                    for event in state.feed_message(body):
                        yield event
                    return
                async for chunk in self._response.aiter_bytes():
                    for event in state.feed(chunk):
                        yield event
                    # after message_stop the rest is read and ignored (as the SDK does), so the
                    # connection goes back to the pool
            except httpx.HTTPError as exc:
                raise StreamInterrupted(
                    self._client._describe_exc(exc), partial=state.snapshot
                ) from exc
            state.finish()
        finally:
            if owns or self._state.done:
                await self.aclose()
