"""SSE framing rules (protocol.md §4.3), checked on the decoder directly."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from megachat.api.sse import (
    MAX_EVENT_BYTES,
    EventTooLarge,
    ServerSentEvent,
    SSEDecoder,
    iter_events,
)


def decode(raw: bytes) -> list[tuple[str | None, str]]:
    return [(e.event, e.data) for e in iter_events([raw])]


def test_lf_crlf_and_cr_line_endings_are_equivalent() -> None:
    for eol in (b"\n", b"\r\n", b"\r"):
        raw = eol.join([b"event: a", b"data: 1", b"", b"event: b", b"data: 2", b"", b""])
        assert decode(raw) == [("a", "1"), ("b", "2")]


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\r") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\r\n") == [ServerSentEvent(None, "x")]


def test_comments_and_unknown_fields_are_ignored() -> None:
    raw = b": keep-alive\n\nfoo: bar\nevent: e\n:comment\ndata: d\n\n"
    assert decode(raw) == [("e", "d")]


def test_multiline_data_is_joined_with_lf() -> None:
    assert decode(b"data: a\ndata:b\ndata:  c\n\n") == [(None, "a\nb\n c")]


def test_only_one_leading_space_is_stripped_and_field_without_colon_is_empty() -> None:
    assert decode(b"event:  x\ndata\n\n") == [(" x", "")]


def test_unterminated_last_event_is_dropped() -> None:
    assert decode(b"data: complete\n\ndata: incomplete\n") == [(None, "complete")]


def test_id_and_retry_fields() -> None:
    events = iter_events([b"id: 7\nretry: 3000\ndata: x\n\nid: a\x00b\ndata: y\n\n"])
    assert (events[0].id, events[0].retry) == ("7", 3000)
    assert (events[1].id, events[1].retry) == ("7", None)  # NUL id ignored, retry reset


def test_unicode_line_separators_do_not_split_lines() -> None:
    text = "a\u2028b\u2029c\x85d\x0be\x0cf\x1cg"
    assert decode(f"data: {text}\n\n".encode()) == [(None, text)]


def test_multibyte_characters_straddling_chunks() -> None:
    raw = "data: 😀é世\n\n".encode()
    decoder = SSEDecoder()
    events = [e for i in range(len(raw)) for e in decoder.feed(raw[i : i + 1])]
    assert events == [ServerSentEvent(None, "😀é世")]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["message_start", "content_block_delta", "ping", None]),
            st.text(
                alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
                max_size=30,
            ),
        ),
        max_size=8,
    ),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.lists(st.integers(min_value=0, max_value=400), max_size=10),
)
def test_any_chunking_of_any_stream(events: list, eol: str, cuts: list[int]) -> None:
    text = "".join(
        (f"event: {name}{eol}" if name else "") + f"data: {data}{eol}{eol}" for name, data in events
    )
    raw = text.encode()
    points = sorted({c % (len(raw) + 1) for c in cuts})
    chunks = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    assert [(e.event, e.data) for e in iter_events(chunks)] == [(n, d) for n, d in events]


# --- size limits: a line that never ends, an event that never ends -------------------------------


def test_a_line_that_never_ends_is_refused_at_the_limit() -> None:
    decoder = SSEDecoder(max_bytes=1000)
    assert decoder.feed(b"data: ") == []
    fed = 6
    with pytest.raises(EventTooLarge, match="a stream line over 1000 B") as info:
        while fed < 10_000:  # never reached: the decoder refuses first
            fed += 100
            decoder.feed(b"x" * 100)
    assert 1000 < fed <= 1100  # refused on the first chunk past the limit, not later
    assert info.value.events == []


def test_events_before_an_oversized_line_are_delivered_with_the_error() -> None:
    decoder = SSEDecoder(max_bytes=1000)
    with pytest.raises(EventTooLarge) as info:
        decoder.feed(b"event: a\ndata: 1\n\ndata: " + b"x" * 2000 + b"\n\n")
    assert [(e.event, e.data) for e in info.value.events] == [("a", "1")]


def test_an_event_of_many_small_lines_is_refused_at_the_limit() -> None:
    decoder = SSEDecoder(max_bytes=1000)
    with pytest.raises(EventTooLarge, match="a stream event over 1000 B"):
        for _ in range(100):
            decoder.feed(b"data: " + b"y" * 50 + b"\n")


def test_the_default_limit_takes_a_4_mib_line_in_pieces_and_no_more() -> None:
    data = b"z" * MAX_EVENT_BYTES
    assert MAX_EVENT_BYTES == 4 << 20
    for extra in (0, 1):
        decoder = SSEDecoder()
        raw = b"data:" + data[: len(data) - 5 + extra] + b"\n\n"  # the whole line: limit + extra
        pieces = [raw[i : i + 65536] for i in range(0, len(raw), 65536)]
        if extra:
            with pytest.raises(EventTooLarge, match="a stream line over 4 MiB"):
                for piece in pieces:
                    decoder.feed(piece)
        else:
            events = [e for piece in pieces for e in decoder.feed(piece)]
            assert len(events) == 1 and len(events[0].data) == MAX_EVENT_BYTES - 5
