"""The error hierarchy, built from Anthropic's and MegaLLM's error body shapes.

``str(err)`` is one human line naming the error type and HTTP status; it never contains the API
key (texts are scrubbed of it) and errors hold no httpx request/headers that could carry it.
A 400 that names a request parameter the user sets ends with a hint naming that setting, joined
as every hint is ("text; hint", as megachat.chat.outcomes.Wording.line does).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from typing import Any

from megachat.api.types import Message
from megachat.redact import redact

MAX_MESSAGE_CHARS = 300
MAX_HTML_CHARS = 160  # a proxy's error page, reduced to its words, stays a short line
_SPACES = re.compile(r"\s+")
_HTML_START = re.compile(r"^\s*(?:<!doctype\s+html|<html|<head|<body|<title|<h1|<center)", re.I)
_HTML_DROP = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.I | re.S)
_HTML_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.I | re.S)
_HTML_TAG = re.compile(r"<!--.*?-->|<[^>]*>", re.S)
# A 400's message naming a request parameter -> the setting behind it (the sidebar field / the
# `ask` flag, named as megachat.chat.capabilities.SETTING names them; a test keeps them equal).
# The first match wins: budget_tokens before max_tokens and thinking, which its messages name too.
_PARAMETER_HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"\bbudget_tokens\b"),
        "change Thinking / --thinking (the budget must be >= 1024 and below Max tokens)",
    ),
    (re.compile(r"\bprefill", re.I), "clear the Prefill field / --prefill"),
    (
        re.compile(r"\bcache_control\b"),
        "turn prompt caching off: `megachat config set prompt_cache false`",
    ),
    (re.compile(r"\btemperature\b"), "change Temperature / -t"),
    (re.compile(r"\btop_p\b"), "change Top p / --top-p"),
    (re.compile(r"\btop_k\b"), "change Top k / --top-k"),
    (re.compile(r"\bstop_sequences\b"), "change Stop sequences / --stop"),
    (re.compile(r"\beffort\b"), "change Effort / --effort"),
    (re.compile(r"\bthinking\b"), "change Thinking / --thinking"),
    (re.compile(r"\bmax_tokens\b"), "lower Max tokens / --max-tokens"),
)


class APIError(Exception):
    """Base of every error the client raises."""

    message: str

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class APIStatusError(APIError):
    """The server answered with an error status (or a mid-stream ``error`` event)."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_type: str | None = None,
        request_id: str | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_type = error_type
        self.request_id = request_id
        self.body = body
        self.headers: dict[str, str] = dict(headers or {})

    def __str__(self) -> str:
        text = f"{self.error_type or 'http_error'} (HTTP {self.status_code}): {self.message}"
        if self.request_id:
            text += f" [request-id {self.request_id}]"
        return text


def setting_hint(message: str) -> str | None:
    """The setting to change when a 400's message names a request parameter; None otherwise."""
    for pattern, hint in _PARAMETER_HINTS:
        if pattern.search(message):
            return hint
    return None


class BadRequestError(APIStatusError):
    """HTTP 400. When the message names a parameter the user sets, ``hint`` names the setting
    and ``str()`` ends with it."""

    @property
    def hint(self) -> str | None:
        return setting_hint(self.message)

    def __str__(self) -> str:
        text = super().__str__()
        hint = self.hint
        return f"{text}; {hint}" if hint else text


class AuthenticationError(APIStatusError):
    pass


class PermissionDeniedError(APIStatusError):
    pass


class NotFoundError(APIStatusError):
    pass


class ConflictError(APIStatusError):
    pass


class RequestTooLargeError(APIStatusError):
    pass


class UnprocessableEntityError(APIStatusError):
    pass


class RateLimitError(APIStatusError):
    pass


class InternalServerError(APIStatusError):
    pass


class OverloadedError(InternalServerError):
    """HTTP 529; subclasses InternalServerError (as in SDK 2.x) so ``>= 500`` handlers see it."""


class StreamError(APIStatusError):
    """An ``error`` event inside a 200 stream; ``partial`` is the message received before it."""

    def __init__(self, message: str, *, partial: Message, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.partial = partial

    def __str__(self) -> str:
        text = f"{self.error_type or 'error'} (HTTP {self.status_code}, mid-stream): {self.message}"
        if self.request_id:
            text += f" [request-id {self.request_id}]"
        return text


class StreamInterrupted(APIError):
    """The stream ended (EOF or a dropped connection) before ``message_stop``."""

    def __init__(self, message: str, *, partial: Message) -> None:
        super().__init__(message)
        self.partial = partial

    def __str__(self) -> str:
        return f"stream interrupted: {self.message}"


class ResponseTooLarge(StreamInterrupted):
    """The server sent more than megachat reads: a body, or an SSE line or event, over its limit
    (a broken or hostile server: a decompression bomb, a line that never ends). The reading
    stops there; like StreamInterrupted it ends the turn keeping ``partial`` (empty for a
    non-streamed body)."""

    def __init__(self, message: str, *, partial: Message | None = None) -> None:
        super().__init__(message, partial=partial if partial is not None else {})

    def __str__(self) -> str:
        return f"response too large: {self.message}"


class WebPageError(APIStatusError):
    """A success status with a web page instead of the API's JSON or event stream: a captive
    portal, a proxy's sign-in page or a base_url that points at a website."""

    def __str__(self) -> str:
        content_type = self.headers.get("content-type", "").partition(";")[0].strip()
        status = f"HTTP {self.status_code}"
        kind = f"{content_type}, {status}" if content_type else status
        return f"the server answered with a web page ({kind}), not the API: {self.message}"


class APIKeyError(APIError):
    """The key cannot be sent in a header (control, space or non-ASCII characters); nothing sent."""

    def __str__(self) -> str:
        return f"invalid API key: {self.message}"


class APIConnectionError(APIError):
    """No usable HTTP response: refused, reset, DNS, TLS... (retried)."""

    def __str__(self) -> str:
        return f"connection error: {self.message}"


class APITimeoutError(APIConnectionError):
    def __str__(self) -> str:
        return f"timed out: {self.message}"


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: RequestTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    529: OverloadedError,
}


def status_error_class(status: int) -> type[APIStatusError]:
    """The SDK's status -> class mapping (0.x ``_make_status_error``)."""
    cls = _STATUS_CLASSES.get(status)
    if cls is not None:
        return cls
    return InternalServerError if status >= 500 else APIStatusError


def one_line(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Collapse whitespace and truncate, so a proxy's HTML page stays a readable one-liner."""
    text = _SPACES.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def looks_like_html(text: str, content_type: str = "") -> bool:
    """An HTML error page (a proxy's or load balancer's), by content type or by its start."""
    return "html" in content_type.lower() or _HTML_START.match(text) is not None


def html_to_text(text: str) -> str:
    """The words of an HTML page on one line: title first, tags and scripts dropped, entities
    decoded, whitespace collapsed. ``<html><title>413 Too Large</title>...<h1>413 Too Large</h1>``
    gives "413 Too Large" once, not twice."""
    match = _HTML_TITLE.search(text)
    title = one_line(html.unescape(_HTML_TAG.sub(" ", match.group(1)))) if match else ""
    body = one_line(html.unescape(_HTML_TAG.sub(" ", _HTML_DROP.sub(" ", text))), limit=10**9)
    if title and body.startswith(title):
        body = body[len(title) :].strip()
    return one_line(f"{title} {body}" if title else body, limit=MAX_HTML_CHARS)


def scrub(value: Any, secret: str | None) -> Any:
    """The key replaced in every string of a JSON-like value (servers may echo the key); the one
    rule for that is megachat.redact."""
    return redact(value, (secret,))


def parse_error_body(body: Any) -> tuple[str | None, str | None, str | None]:
    """(type, message, request_id) from ``{"type":"error","error":{...}}`` or ``{"error":{}}``."""
    if not isinstance(body, dict):
        return None, None, None
    err = body.get("error")
    request_id = body.get("request_id") if isinstance(body.get("request_id"), str) else None
    if isinstance(err, dict):
        etype = err.get("type") if isinstance(err.get("type"), str) else None
        msg = err.get("message")
        return etype, (msg if isinstance(msg, str) else None), request_id
    if isinstance(err, str):  # {"error": "text"}
        return None, err, request_id
    msg = body.get("message")
    return None, (msg if isinstance(msg, str) else None), request_id


def make_status_error(
    status: int,
    raw: bytes,
    headers: Mapping[str, str],
    *,
    reason: str = "",
    secret: str | None = None,
) -> APIStatusError:
    """Build the typed error for an HTTP error response (both body shapes; text fallback)."""
    body: Any
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    body = scrub(body, secret)
    etype, msg, body_request_id = parse_error_body(body)
    if msg is None:
        # a body with NUL bytes is binary (or a decompression bomb's zeros), not a message
        text = scrub(raw.decode("utf-8", "replace"), secret) if raw and b"\0" not in raw else ""
        if body is None and text:
            body = text[:4096]
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        if text and looks_like_html(text, content_type):
            text = html_to_text(text)
        msg = text or reason or "no error message"
    request_id = headers.get("request-id") or headers.get("x-request-id") or body_request_id
    cls = status_error_class(status)
    return cls(
        one_line(msg),
        status_code=status,
        error_type=etype,
        request_id=request_id,
        body=body,
        headers=headers,
    )


def make_web_page_error(
    status: int,
    raw: bytes,
    headers: Mapping[str, str],
    *,
    base_url: str,
    secret: str | None = None,
) -> WebPageError:
    """The error for an HTML page where the API should have answered: what the page says (its
    title and words, one short line) and what to check."""
    page = html_to_text(scrub(raw.decode("utf-8", "replace"), secret))
    message = f"check base_url ({base_url}) or sign in to the network"
    if page:
        message += f"; the page says: {page}"
    return WebPageError(message, status_code=status, headers=headers)


def make_stream_error(
    data: Any, partial: Message, *, request_id: str | None, secret: str | None = None
) -> StreamError:
    """The error for a mid-stream ``error`` event (HTTP status of the stream: 200)."""
    data = scrub(data, secret)
    etype, msg, body_request_id = parse_error_body(data)
    if msg is None:
        msg = one_line(str(data)) if data else "error event"
    return StreamError(
        one_line(msg),
        partial=partial,
        status_code=200,
        error_type=etype,
        request_id=body_request_id or request_id,
        body=data,
    )
