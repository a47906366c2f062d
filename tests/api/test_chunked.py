"""The chunked body read straight off the connection (megachat.api.chunked): the same bytes as
httpx would give, however the network splits them, and whole reads instead of single chunks."""

from __future__ import annotations

import httpx
import pytest

from megachat.api import MessagesClient, TextDelta
from megachat.api.chunked import ChunkedDecoder
from tests.api.helpers import BODY, KEY
from tests.fakeserver import FakeServer, Reply, sse_event, sse_text_reply

PAYLOADS = [b"event: a\ndata: 1\n\n", b"x" * 300, b"\r\n\r\n", b"last"]


def chunked(payloads: list[bytes], trailer: bytes = b"") -> bytes:
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in payloads)
    return body + b"0\r\n" + trailer + b"\r\n"


def decode(raw: bytes, step: int) -> tuple[bytes, ChunkedDecoder]:
    decoder = ChunkedDecoder()
    out = b""
    for i in range(0, len(raw), step):
        assert not decoder.done
        out += decoder.feed(raw[i : i + step])
    return out, decoder


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64, 10_000])
def test_any_split_of_the_body_gives_the_same_payload(step: int) -> None:
    out, decoder = decode(chunked(PAYLOADS), step)
    assert out == b"".join(PAYLOADS)
    assert decoder.done and decoder.rest == b""


def test_one_read_of_many_chunks_is_one_piece() -> None:
    decoder = ChunkedDecoder()
    assert decoder.feed(chunked([b"a", b"b", b"c"] * 100)) == b"abc" * 100
    assert decoder.done


def test_extensions_trailers_and_upper_case_sizes() -> None:
    raw = b"A;name=value\r\n0123456789\r\n3 ; x\r\nabc\r\n0\r\nx-trailer: 1\r\n\r\n"
    out, decoder = decode(raw, 1)
    assert out == b"0123456789abc" and decoder.done


def test_bytes_after_the_end_are_kept_apart() -> None:
    decoder = ChunkedDecoder()
    assert decoder.feed(chunked([b"hi"]) + b"HTTP/1.1 200") == b"hi"
    assert decoder.done and decoder.rest == b"HTTP/1.1 200"


@pytest.mark.parametrize(
    "raw",
    [
        b"zz\r\nab\r\n",  # not hex
        b"0x2\r\nab\r\n",  # int() would take it; HTTP does not
        b"2\r\nabXY",  # no CRLF after the chunk
        b"-1\r\n",
        b"1" * 17_000,  # a size line that never ends
    ],
)
def test_malformed_bodies_are_protocol_errors(raw: bytes) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        ChunkedDecoder().feed(raw)


async def test_a_fast_stream_comes_in_batches_with_every_delta(fake_server: FakeServer) -> None:
    words = [f"w{i} " for i in range(2_000)]
    fake_server.enqueue(sse_text_reply("".join(words), chunks=words))
    async with MessagesClient(api_key=KEY, base_url=fake_server.base_url) as client:
        stream = client.stream(BODY)
        batches = [batch async for batch in stream.batches()]
        final = stream.final_message
    texts = [e.text for batch in batches for e in batch if isinstance(e, TextDelta)]
    assert texts == words  # every delta, in order
    assert final["content"][0]["text"] == "".join(words)
    assert all(batches)  # never an empty batch (how many: as the network splits the stream)


async def test_a_connection_dropped_mid_body_is_interrupted(fake_server: FakeServer) -> None:
    from megachat.api import StreamInterrupted

    words = [f"w{i} " for i in range(50)]
    fake_server.enqueue(sse_text_reply("".join(words), chunks=words, drop_after_events=20))
    async with MessagesClient(api_key=KEY, base_url=fake_server.base_url) as client:
        stream = client.stream(BODY)
        with pytest.raises(StreamInterrupted) as caught:
            async for _ in stream.batches():
                pass
        text = caught.value.partial["content"][0]["text"]
        assert text and "".join(words).startswith(text)
        # the broken connection is not reused: the next request works
        fake_server.enqueue(sse_text_reply("again"))
        again = await client.stream(BODY).get_final_message()
        assert again["content"][0]["text"] == "again"


async def test_a_body_that_is_not_chunked_is_read_through_httpx(fake_server: FakeServer) -> None:
    raw = b"".join(sse_event(e) for e in sse_text_reply("plain body").sse)
    fake_server.enqueue(Reply(body=raw, headers={"content-type": "text/event-stream"}))
    async with MessagesClient(api_key=KEY, base_url=fake_server.base_url) as client:
        final = await client.stream(BODY).get_final_message()
    assert final["content"][0]["text"] == "plain body"


async def test_deltas_read_with_an_error_event_come_out_before_the_error(
    fake_server: FakeServer,
) -> None:
    from megachat.api.errors import StreamError

    words = [f"w{i} " for i in range(200)]
    events = [*sse_text_reply("".join(words), chunks=words).sse[:-3]]  # no stop events
    events.append(("error", {"type": "error", "error": {"type": "overloaded_error",
                                                        "message": "Overloaded"}}))  # fmt: skip
    fake_server.enqueue(Reply(sse=events))
    seen: list[str] = []
    async with MessagesClient(api_key=KEY, base_url=fake_server.base_url) as client:
        stream = client.stream(BODY)
        with pytest.raises(StreamError):
            async for batch in stream.batches():
                seen.extend(e.text for e in batch if isinstance(e, TextDelta))
    assert seen == words  # every delta before the error, though they came in one read with it
