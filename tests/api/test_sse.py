"""SSE framing rules (protocol.md §4.3), checked on the decoder directly."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from megachat.api.sse import ServerSentEvent, SSEDecoder, iter_events


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
