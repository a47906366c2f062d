"""Each recorded fixture accumulates to what the official SDK produced, however bytes arrive."""

from __future__ import annotations

import json
import re

import anthropic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from megachat.api import MessagesClient, StreamError, StreamInterrupted
from megachat.api.stream import StreamState, accumulate_bytes
from tests.api.helpers import (
    BODY,
    EXPECTED,
    FIXTURE_NAMES,
    FIXTURES,
    KEY,
    OK_FIXTURES,
    assert_matches_sdk,
    fixture_bytes,
)
from tests.fakeserver import FakeServer, Reply, fixture_reply

# 15 ends without message_stop: the SDK returns the snapshot silently, we raise StreamInterrupted
# carrying that same snapshot (callers must know the reply is incomplete).
CLEAN_FIXTURES = [n for n in OK_FIXTURES if not n.startswith("15_")]


async def _final(server: FakeServer, name: str, chunk_size: int | None = None) -> dict:
    server.enqueue(fixture_reply(name, chunk_size=chunk_size))
    async with MessagesClient(api_key=KEY, base_url=server.base_url) as client:
        return await client.stream(BODY).get_final_message()


@pytest.mark.parametrize("name", CLEAN_FIXTURES)
@pytest.mark.parametrize("chunk_size", [None, 1])
async def test_fixture_matches_sdk_over_http(
    fake_server: FakeServer, name: str, chunk_size: int | None
) -> None:
    message = await _final(fake_server, name, chunk_size)
    assert_matches_sdk(message, EXPECTED[name]["final_message"])


async def test_unicode_fixture_text_is_exact(fake_server: FakeServer) -> None:
    message = await _final(fake_server, "08_unicode.sse", chunk_size=1)
    expected = (FIXTURES / "08_unicode.expected.txt").read_bytes().decode("utf-8")
    assert message["content"][0]["text"] == expected
    assert "\u2028" in expected and "\r\n" in expected


async def test_truncated_stream_raises_interrupted_with_sdk_snapshot(
    fake_server: FakeServer,
) -> None:
    name = "15_truncated_no_message_stop.sse"
    fake_server.enqueue(fixture_reply(name))
    async with MessagesClient(api_key=KEY, base_url=fake_server.base_url) as client:
        stream = client.stream(BODY)
        with pytest.raises(StreamInterrupted) as info:
            await stream.get_final_message()
    assert_matches_sdk(info.value.partial, EXPECTED[name]["final_message"])
    assert stream.snapshot == info.value.partial


@pytest.mark.parametrize(
    "name", ["07_error_midstream_overloaded.sse", "14_error_only_api_error.sse"]
)
async def test_error_event_raises_stream_error_like_sdk(fake_server: FakeServer, name: str) -> None:
    sdk = EXPECTED[name]["error"]
    fake_server.enqueue(fixture_reply(name))
    async with MessagesClient(api_key=KEY, base_url=fake_server.base_url) as client:
        with pytest.raises(StreamError) as info:
            await client.stream(BODY).get_final_message()
    err = info.value
    assert err.status_code == sdk["status_code"] == 200
    assert err.error_type == sdk["type"]
    assert err.body == sdk["body"]
    assert "HTTP 200" in str(err) and sdk["type"] in str(err)
    assert len(fake_server.requests) == 1  # not retried: the stream had begun
    if name.startswith("07"):
        assert err.partial["content"] == [{"type": "text", "text": "Once upon a time"}]
    else:
        assert err.request_id == "req_011SyntheticFixture0001"
        assert err.partial["content"] == []


async def test_missing_usage_defaults_to_empty_where_sdk_crashes(fake_server: FakeServer) -> None:
    # The SDK raises AttributeError on this docs example (no usage anywhere); we keep going.
    assert EXPECTED["05_thinking_docs.sse"]["error"]["exc"] == "AttributeError"
    message = await _final(fake_server, "05_thinking_docs.sse")
    assert message["usage"] == {}
    assert [b["type"] for b in message["content"]] == ["thinking", "text"]
    assert message["content"][0]["thinking"].endswith("= 12,231")
    assert message["content"][0]["signature"]
    assert message["stop_reason"] == "end_turn"


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for p in points:
        pieces.append(data[start:p])
        start = p
    pieces.append(data[start:])
    return pieces


def _outcome(chunks: list[bytes]) -> tuple[str, dict]:
    try:
        return "ok", accumulate_bytes(chunks)
    except (StreamError, StreamInterrupted) as exc:
        return type(exc).__name__, exc.partial


@pytest.mark.parametrize("name", FIXTURE_NAMES)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=40))
def test_random_chunking_gives_the_same_result(name: str, cuts: list[int]) -> None:
    data = fixture_bytes(name)
    assert _outcome(_split(data, cuts)) == _outcome([data])


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_one_byte_chunks_give_the_same_result(name: str) -> None:
    data = fixture_bytes(name)
    assert _outcome([data[i : i + 1] for i in range(len(data))]) == _outcome([data])


async def test_stream_without_event_lines_falls_back_to_data_type(fake_server: FakeServer) -> None:
    raw = fixture_bytes("02_text_basic_sdk.sse")
    stripped = re.sub(rb"(?m)^event:.*\n", b"", raw)
    fake_server.enqueue(Reply(sse=stripped), Reply(sse=stripped))
    async with MessagesClient(api_key=KEY, base_url=fake_server.base_url) as client:
        message = await client.stream(BODY).get_final_message()
    assert_matches_sdk(message, EXPECTED["02_text_basic_sdk.sse"]["final_message"])
    # The official SDK (0.x) dispatches on the event name only: it yields no event at all and
    # get_final_message() fails an assertion (no message_start snapshot).
    sdk = anthropic.AsyncAnthropic(base_url=fake_server.base_url, api_key=KEY, max_retries=0)
    async with sdk.messages.stream(**BODY) as stream:
        assert [event async for event in stream] == []
        with pytest.raises(AssertionError):
            await stream.get_final_message()
    await sdk.close()


async def test_malformed_data_line_is_skipped_and_counted_where_sdk_raises(
    fake_server: FakeServer,
) -> None:
    """A deliberate difference from the SDK: one undecodable `data:` line (a truncated delta).

    The official SDK json-decodes every data line and raises json.JSONDecodeError out of the
    iteration, so the whole reply is lost at the first broken line. MessageStream skips the line,
    keeps the rest of the reply and counts it in `skipped_events`, so the UI can warn that the
    reply may be incomplete (`megachat ask` prints one warning line).
    """
    raw = fixture_bytes("02_text_basic_sdk.sse")
    broken = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"del\n\n'
    cut = raw.index(b"event: content_block_stop")
    stream_bytes = raw[:cut] + broken + raw[cut:]
    fake_server.enqueue(Reply(sse=stream_bytes), Reply(sse=stream_bytes))
    async with MessagesClient(api_key=KEY, base_url=fake_server.base_url) as client:
        stream = client.stream(BODY)
        async with stream:
            assert stream.skipped_events == 0
            message = await stream.get_final_message()
            assert stream.skipped_events == 1
    assert_matches_sdk(message, EXPECTED["02_text_basic_sdk.sse"]["final_message"])
    sdk = anthropic.AsyncAnthropic(base_url=fake_server.base_url, api_key=KEY, max_retries=0)
    async with sdk.messages.stream(**BODY) as sdk_stream:
        with pytest.raises(json.JSONDecodeError):
            await sdk_stream.get_final_message()
    await sdk.close()


def test_skipped_events_counts_undecodable_data_only() -> None:
    """Non-JSON and non-object data count; pings, [DONE], comments and unknown events do not."""
    state = StreamState("claude-sonnet-4")
    state.feed(
        b"event: ping\ndata: {}\n\n"
        b"data: [DONE]\n\n"
        b": comment\n\n"
        b'event: future_event\ndata: {"type":"future_event"}\n\n'
        b"event: content_block_delta\ndata: not json\n\n"
        b"data: [1, 2]\n\n"
        b'event: message_delta\ndata: "a string"\n\n'
    )
    assert state.skipped_events == 3
