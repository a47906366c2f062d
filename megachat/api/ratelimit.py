"""Client-side sliding-window rate limiter: at most N requests in any W seconds, per process.

MegaLLM's basic tier allows 50 requests per minute; waiting here is cheaper than a 429. The limiter
uses no asyncio primitives (so one instance serves several event loops) and a thread lock for the
check-and-record step.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Awaitable, Callable

from megachat.api.retry import WaitNotice

DEFAULT_REQUESTS = 50
DEFAULT_PER_SECONDS = 60.0


class RateLimiter:
    """``await limiter.acquire()`` before each request; ``requests=0`` disables it."""

    def __init__(
        self,
        requests: int = DEFAULT_REQUESTS,
        per_seconds: float = DEFAULT_PER_SECONDS,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] | None = None,
    ) -> None:
        self.requests = requests
        self.per_seconds = per_seconds
        self._clock = clock
        self._sleep = sleep
        self._times: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.requests > 0 and self.per_seconds > 0

    def configure(self, requests: int, per_seconds: float) -> None:
        with self._lock:
            self.requests = requests
            self.per_seconds = per_seconds
            self._times.clear()

    def _try(self) -> float:
        """Record a request and return 0, or return how long until a slot frees up."""
        with self._lock:
            if not self.enabled:
                return 0.0
            now = self._clock()
            horizon = now - self.per_seconds
            times = self._times
            while times and times[0] <= horizon:
                times.popleft()
            if len(times) < self.requests:
                times.append(now)
                return 0.0
            return max(times[len(times) - self.requests] + self.per_seconds - now, 1e-3)

    async def acquire(self, on_wait: Callable[[WaitNotice], None] | None = None) -> float:
        """Wait for a slot; report each wait through ``on_wait``. Returns the seconds waited."""
        waited = 0.0
        while True:
            delay = self._try()
            if delay <= 0:
                return waited
            if on_wait is not None:
                on_wait(WaitNotice("rate_limit", delay, 0, None))
            if self._sleep is None:
                import asyncio  # lazy: keeps ``import megachat.api`` fast

                await asyncio.sleep(delay)
            else:
                await self._sleep(delay)
            waited += delay


_shared = RateLimiter()


def shared_rate_limiter() -> RateLimiter:
    """The process-wide limiter every client uses unless given its own."""
    return _shared


def configure_rate_limit(requests: int, per_seconds: float) -> None:
    """Reconfigure the shared limiter (0 requests disables it)."""
    _shared.configure(requests, per_seconds)
