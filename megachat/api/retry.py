"""The official SDK 0.x retry policy (``_base_client._should_retry``/``_calculate_retry_timeout``).

Retry when ``x-should-retry`` says so (checked first, both ways), else on 408, 409, 429 and >= 500,
and on connection errors and timeouts. Wait ``retry-after-ms`` / ``retry-after`` (seconds or an HTTP
date) when 0 < v <= 60, else ``min(0.5 * 2**n, 8) * (1 - 0.25 * random())``, n = retries taken.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from megachat.api.errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    OverloadedError,
    RateLimitError,
)

DEFAULT_MAX_RETRIES = 2
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 60.0


def should_retry_status(status: int, headers: Mapping[str, str]) -> bool:
    """Whether an HTTP error response is retried."""
    header = headers.get("x-should-retry")
    if header == "true":
        return True
    if header == "false":
        return False
    return status in (408, 409, 429) or status >= 500


def parse_retry_after(
    headers: Mapping[str, str], now: Callable[[], float] = time.time
) -> float | None:
    """Seconds asked for by ``retry-after-ms`` or ``retry-after`` (float seconds or HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    import email.utils  # lazy: only needed for HTTP-date values

    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return None
    return float(email.utils.mktime_tz(parsed) - now())


def retry_delay(
    retries_taken: int,
    headers: Mapping[str, str] | None = None,
    *,
    rand: Callable[[], float] = random.random,
    now: Callable[[], float] = time.time,
) -> float:
    """Seconds to wait before retry number ``retries_taken + 1``."""
    if headers:
        after = parse_retry_after(headers, now)
        if after is not None and 0 < after <= MAX_RETRY_AFTER:
            return after
    base = min(INITIAL_RETRY_DELAY * 2.0 ** min(retries_taken, 1000), MAX_RETRY_DELAY)
    return max(base * (1 - 0.25 * rand()), 0.0)


def format_seconds(value: float) -> str:
    """3 -> "3 s", 0.375 -> "0.38 s", 12.4 -> "12 s"."""
    if value >= 10:
        return f"{value:.0f} s"
    if value >= 1:
        return f"{value:.1f}".rstrip("0").rstrip(".") + " s"
    return f"{value:.2g} s"


@dataclass(frozen=True)
class WaitNotice:
    """Reported before each wait, so a UI can say "rate limited (429), retrying in 3 s"."""

    reason: Literal["retry", "rate_limit"]
    seconds: float
    attempt: int  # retry number (1-based), 0 for rate limiter waits
    error: APIError | None = None

    def describe(self) -> str:
        wait = format_seconds(self.seconds)
        if self.reason == "rate_limit":
            return f"client rate limit reached, waiting {wait}"
        err = self.error
        if isinstance(err, RateLimitError):
            what = "rate limited (429)"
        elif isinstance(err, OverloadedError):
            what = "overloaded (529)"
        elif isinstance(err, APIStatusError):
            what = f"{err.error_type or 'server error'} (HTTP {err.status_code})"
        elif isinstance(err, APITimeoutError):
            what = "request timed out"
        elif isinstance(err, APIConnectionError):
            what = "connection failed"
        else:
            what = "request failed"
        return f"{what}, retrying in {wait}"
