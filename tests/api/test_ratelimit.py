"""The client-side sliding window, on an injected clock (no real waiting)."""

from __future__ import annotations

import asyncio

from megachat.api import (
    MessagesClient,
    RateLimiter,
    WaitNotice,
    configure_rate_limit,
    shared_rate_limiter,
)
from tests.api.helpers import BODY, KEY
from tests.fakeserver import FakeServer


class FakeClock:
    """Time that only moves when the limiter sleeps (or the test advances it)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _limiter(requests: int, per: float) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(requests, per, clock=clock, sleep=clock.sleep), clock


async def test_sliding_window() -> None:
    limiter, clock = _limiter(3, 10.0)
    for step in (0.0, 1.0, 1.0):  # t = 0, 1, 2
        clock.now += step
        assert await limiter.acquire() == 0.0
    clock.now += 0.5  # t = 2.5: the 4th must wait until the first leaves the window (t = 10)
    assert await limiter.acquire() == 7.5
    assert clock.now == 1010.0
    assert await limiter.acquire() == 1.0  # next slot: t = 1 + 10
    clock.now += 20
    assert [await limiter.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert clock.sleeps == [7.5, 1.0]


async def test_zero_disables() -> None:
    limiter, clock = _limiter(0, 60.0)
    for _ in range(500):
        await limiter.acquire()
    assert clock.sleeps == []


async def test_waits_are_reported() -> None:
    limiter, _ = _limiter(1, 60.0)
    notices: list[WaitNotice] = []
    await limiter.acquire(notices.append)
    await limiter.acquire(notices.append)
    assert notices == [WaitNotice("rate_limit", 60.0, 0, None)]
    assert notices[0].describe() == "client rate limit reached, waiting 60 s"


async def test_concurrent_waiters_share_the_window() -> None:
    limiter, clock = _limiter(2, 10.0)
    grants: list[float] = []

    async def request() -> None:
        await limiter.acquire()
        grants.append(clock.now)

    await asyncio.gather(*(request() for _ in range(7)))
    assert len(grants) == 7
    for t in grants:  # never more than 2 grants in any 10 s window
        assert sum(1 for g in grants if t - 10.0 < g <= t) <= 2
    assert max(grants) - min(grants) >= 30.0


async def test_client_goes_through_its_limiter(fake_server: FakeServer) -> None:
    limiter, clock = _limiter(2, 60.0)
    notices: list[WaitNotice] = []
    async with MessagesClient(
        api_key=KEY, base_url=fake_server.base_url, rate_limiter=limiter, on_wait=notices.append
    ) as client:
        for _ in range(3):
            await client.create(BODY)
        await client.list_models()
    assert len(fake_server.requests) == 4
    # t=0, t=0, then the 3rd waits 60 s; at t=60 the first two have left the window
    assert [(n.reason, n.seconds) for n in notices] == [("rate_limit", 60.0)]
    assert clock.sleeps == [60.0]


def test_shared_limiter_defaults_and_configure() -> None:
    shared = shared_rate_limiter()
    assert shared is shared_rate_limiter()
    saved = (shared.requests, shared.per_seconds)
    try:
        configure_rate_limit(50, 60.0)
        assert (shared.requests, shared.per_seconds, shared.enabled) == (50, 60.0, True)
        configure_rate_limit(0, 60.0)
        assert not shared.enabled
    finally:
        configure_rate_limit(*saved)


def test_client_uses_the_shared_limiter_by_default() -> None:
    client = MessagesClient(api_key=KEY, base_url="http://127.0.0.1:9")
    assert client.rate_limiter is shared_rate_limiter()
