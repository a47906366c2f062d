"""The SDK 0.x retry policy, observed on a real server (attempt counts compared with the SDK)."""

from __future__ import annotations

import email.utils
import socket

import anthropic
import httpx
import pytest

from megachat.api import (
    APIConnectionError,
    APITimeoutError,
    BadRequestError,
    InternalServerError,
    MessagesClient,
    RateLimitError,
    StreamInterrupted,
    WaitNotice,
)
from megachat.api.retry import parse_retry_after, retry_delay, should_retry_status
from tests.api.helpers import BODY, KEY
from tests.fakeserver import FakeServer, Reply, error_reply, sse_text_reply

FAST = {"retry-after-ms": "1"}  # honoured by both clients: keeps the tests quick


def _client(server: FakeServer | str, notices: list[WaitNotice], **kwargs) -> MessagesClient:
    base = server if isinstance(server, str) else server.base_url
    return MessagesClient(api_key=KEY, base_url=base, on_wait=notices.append, **kwargs)


async def _sdk_attempts(server: FakeServer, replies: list[Reply], max_retries: int = 2) -> int:
    """How many requests the official SDK makes for the same script."""
    before = len(server.requests)
    server.enqueue(*replies)
    sdk = anthropic.AsyncAnthropic(base_url=server.base_url, api_key=KEY, max_retries=max_retries)
    try:
        async with sdk.messages.stream(**BODY) as stream:
            await stream.get_final_message()
    except (anthropic.APIError, httpx.HTTPError):
        pass
    finally:
        await sdk.close()
    return len(server.requests) - before


async def test_429_retry_after_ms_is_honoured_and_reported(fake_server: FakeServer) -> None:
    replies = [error_reply(429, "rate_limit_error", "slow down", headers={"retry-after-ms": "10"})]
    fake_server.enqueue(*replies)
    notices: list[WaitNotice] = []
    async with _client(fake_server, notices) as client:
        message = await client.stream(BODY).get_final_message()
    assert message["content"][0]["text"] == "Hello from the fake server."
    assert len(fake_server.requests) == 2
    [notice] = notices
    assert (notice.reason, notice.seconds, notice.attempt) == ("retry", 0.01, 1)
    assert isinstance(notice.error, RateLimitError)
    assert notice.describe() == "rate limited (429), retrying in 0.01 s"
    assert await _sdk_attempts(fake_server, replies) == 2


async def test_retry_after_seconds_is_honoured(fake_server: FakeServer) -> None:
    fake_server.enqueue(
        error_reply(529, "overloaded_error", "Overloaded", headers={"retry-after": "0.02"})
    )
    notices: list[WaitNotice] = []
    async with _client(fake_server, notices) as client:
        await client.create(BODY)
    assert [n.seconds for n in notices] == [0.02]
    assert notices[0].describe() == "overloaded (529), retrying in 0.02 s"


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 529])
async def test_retryable_statuses_use_all_retries_like_the_sdk(
    fake_server: FakeServer, status: int
) -> None:
    replies = [error_reply(status, "api_error", "no", headers=FAST) for _ in range(3)]
    fake_server.enqueue(*replies)
    notices: list[WaitNotice] = []
    async with _client(fake_server, notices) as client:
        with pytest.raises(Exception) as info:
            await client.create(BODY)
    assert getattr(info.value, "status_code", None) == status
    assert len(fake_server.requests) == 3
    assert [n.attempt for n in notices] == [1, 2]
    assert await _sdk_attempts(fake_server, replies) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
async def test_other_4xx_are_not_retried(fake_server: FakeServer, status: int) -> None:
    replies = [error_reply(status, "invalid_request_error", "bad", headers=FAST)]
    fake_server.enqueue(*replies)
    async with _client(fake_server, []) as client:
        with pytest.raises(Exception) as info:
            await client.create(BODY)
    assert info.value.status_code == status
    assert len(fake_server.requests) == 1
    assert await _sdk_attempts(fake_server, replies) == 1


async def test_x_should_retry_true_retries_a_400(fake_server: FakeServer) -> None:
    replies = [
        error_reply(400, "invalid_request_error", "x", headers={**FAST, "x-should-retry": "true"})
    ]
    fake_server.enqueue(*replies)
    notices: list[WaitNotice] = []
    async with _client(fake_server, notices) as client:
        await client.create(BODY)
    assert len(fake_server.requests) == 2
    assert isinstance(notices[0].error, BadRequestError)
    assert await _sdk_attempts(fake_server, replies) == 2


async def test_x_should_retry_false_stops_a_500(fake_server: FakeServer) -> None:
    replies = [error_reply(500, "api_error", "x", headers={**FAST, "x-should-retry": "false"})]
    fake_server.enqueue(*replies)
    async with _client(fake_server, []) as client:
        with pytest.raises(InternalServerError):
            await client.create(BODY)
    assert len(fake_server.requests) == 1
    assert await _sdk_attempts(fake_server, replies) == 1


async def test_max_retries_is_configurable(fake_server: FakeServer) -> None:
    fake_server.enqueue(*[error_reply(503, "api_error", "x", headers=FAST) for _ in range(6)])
    async with _client(fake_server, [], max_retries=4) as client:
        with pytest.raises(InternalServerError):
            await client.create(BODY)
    assert len(fake_server.requests) == 5
    async with _client(fake_server, [], max_retries=0) as client:
        with pytest.raises(InternalServerError):
            await client.create(BODY)
    assert len(fake_server.requests) == 6


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_connection_refused_is_retried_then_raised() -> None:
    notices: list[WaitNotice] = []
    async with _client(f"http://127.0.0.1:{_closed_port()}", notices, max_retries=1) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.create(BODY)
    assert not isinstance(info.value, APITimeoutError)
    assert len(notices) == 1 and isinstance(notices[0].error, APIConnectionError)
    assert notices[0].describe().startswith("connection failed, retrying in ")
    assert str(info.value).startswith("connection error: ")


async def test_dropped_connection_before_response_is_retried(fake_server: FakeServer) -> None:
    replies = [Reply(disconnect=True)]
    fake_server.enqueue(*replies)
    notices: list[WaitNotice] = []
    async with _client(fake_server, notices) as client:
        await client.stream(BODY).get_final_message()
    assert len(fake_server.requests) == 2
    assert isinstance(notices[0].error, APIConnectionError)
    assert await _sdk_attempts(fake_server, replies) == 2


async def test_timeout_before_headers_is_retried(fake_server: FakeServer) -> None:
    fake_server.enqueue(Reply(delay_before=30.0, json={}))
    notices: list[WaitNotice] = []
    timeout = httpx.Timeout(0.3, connect=5.0)
    async with _client(fake_server, notices, timeout=timeout, max_retries=1) as client:
        message = await client.create(BODY)
    assert message["content"][0]["text"] == "Hello from the fake server."
    assert isinstance(notices[0].error, APITimeoutError)
    assert len(fake_server.requests) == 2


async def test_nothing_is_retried_once_the_stream_began(fake_server: FakeServer) -> None:
    replies = [sse_text_reply("one two three four five", drop_after_events=4)]
    fake_server.enqueue(*replies)
    notices: list[WaitNotice] = []
    async with _client(fake_server, notices) as client:
        stream = client.stream(BODY)
        with pytest.raises(StreamInterrupted) as info:
            await stream.get_final_message()
    assert len(fake_server.requests) == 1 and notices == []
    assert info.value.partial["content"][0]["text"] == "one "
    assert stream.snapshot is info.value.partial
    assert await _sdk_attempts(fake_server, replies) == 1


async def test_read_timeout_mid_stream_interrupts_without_retry(fake_server: FakeServer) -> None:
    fake_server.enqueue(sse_text_reply("a b c", delay_per_event=30.0))
    timeout = httpx.Timeout(0.3, connect=5.0)
    async with _client(fake_server, [], timeout=timeout) as client:
        with pytest.raises(StreamInterrupted):
            await client.stream(BODY).get_final_message()
    assert len(fake_server.requests) == 1


def test_backoff_formula_matches_the_sdk() -> None:
    assert [retry_delay(n, rand=lambda: 0.0) for n in range(6)] == [0.5, 1, 2, 4, 8, 8]
    assert [retry_delay(n, rand=lambda: 1.0) for n in range(6)] == [0.375, 0.75, 1.5, 3, 6, 6]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "5"}, 0.25),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": "60"}, 60.0),
        ({"retry-after": "61"}, 0.5),  # over 60 s: ignored (0.x), backoff instead
        ({"retry-after": "0"}, 0.5),
        ({"retry-after": "-3"}, 0.5),
        ({"retry-after": "soon"}, 0.5),
        ({"retry-after-ms": "x", "retry-after": "2"}, 2.0),
    ],
)
def test_retry_after_headers(headers: dict, expected: float) -> None:
    assert retry_delay(0, headers, rand=lambda: 0.0) == expected


def test_retry_after_http_date() -> None:
    now = 1_800_000_000.0
    date = email.utils.formatdate(now + 7, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=lambda: now) == 7.0
    assert retry_delay(0, {"retry-after": date}, rand=lambda: 0.0, now=lambda: now) == 7.0
    late = email.utils.formatdate(now + 600, usegmt=True)
    assert retry_delay(1, {"retry-after": late}, rand=lambda: 0.0, now=lambda: now) == 1.0


def test_should_retry_decision_order() -> None:
    assert should_retry_status(400, {"x-should-retry": "true"})
    assert not should_retry_status(503, {"x-should-retry": "false"})
    assert should_retry_status(503, {"x-should-retry": "maybe"})
    assert [s for s in range(400, 600) if should_retry_status(s, {})] == [
        408,
        409,
        429,
        *range(500, 600),
    ]


async def test_per_request_on_wait_overrides_the_clients(fake_server: FakeServer) -> None:
    fake_server.enqueue(error_reply(529, "overloaded_error", "o", headers=FAST))
    fake_server.enqueue(error_reply(429, "rate_limit_error", "r", headers=FAST))
    client_notices: list[WaitNotice] = []
    mine: list[WaitNotice] = []
    async with _client(fake_server, client_notices) as client:
        await client.stream(BODY, on_wait=mine.append).get_final_message()
        await client.create(BODY, on_wait=mine.append)
    assert [type(n.error).__name__ for n in mine] == ["OverloadedError", "RateLimitError"]
    assert client_notices == []


async def test_base_url_without_scheme_fails_at_once() -> None:
    notices: list[WaitNotice] = []
    async with _client("ai.megallm.io", notices) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.create(BODY)
    assert notices == []
    assert "http" in str(info.value)
