"""What the client reads of a body is bounded, however far it decompresses, and a web page where
the API should be is named as such (protocol.md §4; issue 8 items 6 and 15).

Memory is measured with tracemalloc around the request (the fake server's thread is in the same
process, but its bomb is built before tracing starts and it writes 64 KiB at a time).
"""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib
from collections.abc import Awaitable

import pytest

from megachat.api import (
    APIConnectionError,
    APIStatusError,
    MessagesClient,
    ResponseTooLarge,
    WebPageError,
)
from megachat.api.client import ACCEPT_ENCODING, MAX_BODY, MAX_ERROR_BODY
from megachat.api.stream import StreamState
from tests.api.helpers import BODY, KEY
from tests.fakeserver import (
    FakeServer,
    Reply,
    endless_line_reply,
    gzip_bomb,
    gzip_bomb_reply,
    message_events,
    message_json,
    sse_event,
    web_page_reply,
)

BOMB = 64 << 20  # decoded; read whole, as before, it costs at least this much
TRACED_LIMIT = 8 << 20  # what reading an error body or a stream may cost (measured: < 1 MiB)
TEXT = "Kept text."


def _client(server: FakeServer) -> MessagesClient:
    return MessagesClient(api_key=KEY, base_url=server.base_url, max_retries=0)


async def _peak(work: Awaitable[object]) -> tuple[BaseException | None, int]:
    """Run ``work``; return what it raised (None if nothing) and its peak of traced memory."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        try:
            await work
            error = None
        except Exception as exc:
            error = exc
        return error, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _stream_head() -> bytes:
    events = message_events([{"type": "text", "text": TEXT}])[:-3]
    return b"".join(sse_event(e) for e in events) + b"event: content_block_delta\ndata: "


async def _final(client: MessagesClient) -> dict:
    return await client.stream(BODY).get_final_message()


# --------------------------------------------------------------------------- error bodies


async def test_a_bombed_error_body_is_read_only_as_far_as_needed(fake_server: FakeServer) -> None:
    fake_server.enqueue(gzip_bomb_reply(BOMB, status=400, content_type="application/json"))
    async with _client(fake_server) as client:
        error, peak = await _peak(client.create(BODY))
    assert isinstance(error, APIStatusError) and error.status_code == 400
    assert str(error) == "http_error (HTTP 400): Bad Request"  # NULs are no message
    assert peak < TRACED_LIMIT, peak


async def test_layers_of_gzip_do_not_multiply_the_bomb(fake_server: FakeServer) -> None:
    """Each layer's output is bounded too (httpx inflates a whole chunk per layer)."""
    twice = gzip.compress(gzip_bomb(BOMB))
    headers = {"content-encoding": "gzip, gzip", "content-type": "application/json"}
    fake_server.enqueue(Reply(status=500, body=twice, headers=headers))
    async with _client(fake_server) as client:
        error, peak = await _peak(client.create(BODY))
    assert isinstance(error, APIStatusError) and error.status_code == 500
    assert peak < TRACED_LIMIT, peak


async def test_a_long_error_body_keeps_its_start(fake_server: FakeServer) -> None:
    text = "upstream said no. " + "x" * (2 * MAX_ERROR_BODY)
    headers = {"content-encoding": "gzip", "x-should-retry": "false"}
    fake_server.enqueue(Reply(status=502, body=gzip.compress(text.encode()), headers=headers))
    async with _client(fake_server) as client:
        with pytest.raises(APIStatusError) as info:
            await client.create(BODY)
    assert info.value.message.startswith("upstream said no. xxx")


# --------------------------------------------------------------------------- 2xx bodies


async def test_a_message_body_over_the_limit_is_refused(fake_server: FakeServer) -> None:
    fake_server.enqueue(gzip_bomb_reply(BOMB, content_type="application/json"))
    async with _client(fake_server) as client:
        error, peak = await _peak(client.create(BODY))
    assert isinstance(error, ResponseTooLarge)
    assert str(error) == "response too large: a body over 16 MiB (HTTP 200)"
    assert error.partial == {}
    assert peak < MAX_BODY * 3, peak  # the capped body, its copy and slack; not the 64 MiB


async def test_a_bombed_stream_ends_keeping_the_partial_reply(fake_server: FakeServer) -> None:
    fake_server.enqueue(gzip_bomb_reply(BOMB, prefix=_stream_head()))
    async with _client(fake_server) as client:
        error, peak = await _peak(_final(client))
    assert isinstance(error, ResponseTooLarge)
    assert str(error) == (
        "response too large: a stream line over 4 MiB (not a Messages API stream)"
    )
    assert error.partial["content"] == [{"type": "text", "text": TEXT}]
    assert peak < 3 * (4 << 20), peak  # the 4 MiB line and its copies, not 64 MiB


@pytest.mark.timeout(60)  # before the fix the read never ended
async def test_an_endless_line_ends_the_stream_keeping_the_partial(
    fake_server: FakeServer,
) -> None:
    fake_server.enqueue(endless_line_reply(TEXT))
    async with _client(fake_server) as client:
        stream = client.stream(BODY)
        texts = []
        with pytest.raises(ResponseTooLarge) as info:
            async for event in stream:
                texts.append(getattr(event, "text", ""))
    assert "".join(texts) == TEXT  # every event that arrived whole was passed on
    assert info.value.partial["content"] == [{"type": "text", "text": TEXT}]
    assert stream.snapshot["content"] == [{"type": "text", "text": TEXT}]


def test_stream_state_passes_on_events_before_the_oversized_line() -> None:
    state = StreamState("m")
    events = state.feed(_stream_head() + b"x" * ((4 << 20) + 1))
    assert "".join(getattr(e, "text", "") for e in events) == TEXT
    assert isinstance(state.failure, ResponseTooLarge)
    with pytest.raises(ResponseTooLarge):
        state.feed(b"more\n\n")
    with pytest.raises(ResponseTooLarge) as info:
        state.finish()
    assert info.value.partial["content"] == [{"type": "text", "text": TEXT}]


# --------------------------------------------------------------------------- what still works


def _deflate(data: bytes, wbits: int) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    return packer.compress(data) + packer.flush()


CODINGS = {
    "gzip": lambda b: gzip.compress(b),
    "deflate": lambda b: _deflate(b, zlib.MAX_WBITS),
    "deflate-raw": lambda b: _deflate(b, -zlib.MAX_WBITS),  # sent as "deflate" by some servers
    "deflate, gzip": lambda b: gzip.compress(_deflate(b, zlib.MAX_WBITS)),
}


@pytest.mark.parametrize("coding", sorted(CODINGS))
async def test_compressed_replies_still_decode(fake_server: FakeServer, coding: str) -> None:
    text = "A long compressed reply. " * 20_000  # 500 KB: many pieces of 64 KiB
    encode, header = CODINGS[coding], coding.replace("-raw", "")
    message = json.dumps(message_json(text)).encode()
    stream = b"".join(
        sse_event(e) for e in message_events([{"type": "text", "text": text, "chunks": 50}])
    )
    for body, content_type in ((message, "application/json"), (stream, "text/event-stream")):
        headers = {"content-encoding": header, "content-type": content_type}
        fake_server.enqueue(Reply(body=encode(body), headers=headers))
    async with _client(fake_server) as client:
        assert (await client.create(BODY))["content"][0]["text"] == text
        assert (await _final(client))["content"][0]["text"] == text


async def test_a_corrupt_gzip_body_is_an_api_error(fake_server: FakeServer) -> None:
    fake_server.enqueue(Reply(body=b"not gzip at all", headers={"content-encoding": "gzip"}))
    async with _client(fake_server) as client:
        with pytest.raises(APIConnectionError, match="invalid compressed body"):
            await client.create(BODY)


async def test_accept_encoding_names_only_what_is_decoded_here(fake_server: FakeServer) -> None:
    async with _client(fake_server) as client:
        await client.create(BODY)
    assert fake_server.requests[0].headers["accept-encoding"] == ACCEPT_ENCODING == "gzip, deflate"


# --------------------------------------------------------------------------- web pages


@pytest.mark.parametrize(
    "content_type", ["text/html; charset=utf-8", "application/json", "application/octet-stream"]
)
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "create"])
async def test_a_web_page_answering_200_is_named(
    fake_server: FakeServer, stream: bool, content_type: str
) -> None:
    fake_server.enqueue(web_page_reply(headers={"content-type": content_type}))
    async with _client(fake_server) as client:
        with pytest.raises(WebPageError) as info:
            await (_final(client) if stream else client.create(BODY))
    media = content_type.partition(";")[0]
    assert str(info.value) == (
        f"the server answered with a web page ({media}, HTTP 200), not the API: check base_url "
        f"({fake_server.base_url}) or sign in to the network; the page says: Hotel WiFi - Sign "
        "in Welcome Accept the terms to get online."
    )
    assert info.value.status_code == 200
    assert len(fake_server.requests) == 1  # not retried


async def test_a_web_page_never_shows_the_key(fake_server: FakeServer) -> None:
    fake_server.enqueue(web_page_reply(f"<html><title>Echo {KEY}</title></html>"))
    async with _client(fake_server) as client:
        with pytest.raises(WebPageError) as info:
            await _final(client)
    assert KEY not in str(info.value) and "Echo [redacted]" in str(info.value)
