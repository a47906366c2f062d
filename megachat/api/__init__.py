"""megachat.api: a thin Messages API client over httpx (no Textual, no storage).

Behaves like the official Anthropic SDK 0.x on the wire (headers, SSE decoding, stream
accumulation, retry policy, error mapping) while importing only httpx.
"""

from megachat.api.client import (
    API_VERSION,
    DEFAULT_TIMEOUT,
    MessagesClient,
    MessageStream,
)
from megachat.api.errors import (
    APIConnectionError,
    APIError,
    APIKeyError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    RateLimitError,
    RequestTooLargeError,
    ResponseTooLarge,
    StreamError,
    StreamInterrupted,
    UnprocessableEntityError,
    WebPageError,
)
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
from megachat.api.models import ModelInfo
from megachat.api.ratelimit import RateLimiter, configure_rate_limit, shared_rate_limiter
from megachat.api.retry import WaitNotice
from megachat.api.types import ContentBlock, Message, Usage

__all__ = [
    "API_VERSION",
    "DEFAULT_TIMEOUT",
    "APIConnectionError",
    "APIError",
    "APIKeyError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BlockStart",
    "BlockStop",
    "CitationDelta",
    "ConflictError",
    "ContentBlock",
    "InputJsonDelta",
    "InternalServerError",
    "Message",
    "MessageDelta",
    "MessageStart",
    "MessageStop",
    "MessageStream",
    "MessagesClient",
    "ModelInfo",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimiter",
    "RequestTooLargeError",
    "ResponseTooLarge",
    "SignatureDelta",
    "StreamError",
    "StreamEvent",
    "StreamInterrupted",
    "TextDelta",
    "ThinkingDelta",
    "UnprocessableEntityError",
    "Usage",
    "WaitNotice",
    "WebPageError",
    "configure_rate_limit",
    "shared_rate_limiter",
]
