"""Fuzz the SSE decoder, the accumulator and the whole bytes -> events pipeline (issue 5, item 2).

Whatever bytes a server or proxy sends, in whatever pieces, the stream code may only raise the
project's own errors (``APIError`` subclasses: ``StreamError`` for an ``error`` event,
``StreamInterrupted`` at EOF without ``message_stop``). A KeyError, TypeError, IndexError,
AttributeError, UnicodeDecodeError or RecursionError escaping would take ``megachat ask`` or the
TUI down with a traceback instead of keeping the partial reply, so each is a bug.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from megachat.api.accumulate import Accumulator
from megachat.api.errors import APIError
from megachat.api.sse import SSEDecoder
from megachat.api.stream import StreamState

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sse"
STREAMS = [p.read_bytes() for p in sorted(FIXTURES.glob("*.sse"))]
EVENT_NAMES = [
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "error",
    "ping",
    "message",
]
DELTA_TYPES = [
    "text_delta",
    "input_json_delta",
    "thinking_delta",
    "signature_delta",
    "citations_delta",
    "bogus_delta",
]
PARTIALS = ['{"a": [1, 2', '{"x', "[", "]", '"', "{}"]
BLOCK_TYPES = ["text", "tool_use", "thinking", "redacted_thinking", "server_tool_use", "image"]

NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)  # a failure reports fast
FAST = settings(
    max_examples=100, deadline=None, phases=NO_SHRINK, suppress_health_check=list(HealthCheck)
)
MEDIUM = settings(
    max_examples=100, deadline=None, phases=NO_SHRINK, suppress_health_check=list(HealthCheck)
)
# event_dict() draws a lot per example: fewer examples keep the whole fuzz suite under 60 s.
EVENTS = settings(
    max_examples=50, deadline=None, phases=NO_SHRINK, suppress_health_check=list(HealthCheck)
)

json_leaf = st.none() | st.booleans() | st.integers(-3, 5) | st.floats() | st.text(max_size=12)
json_any = st.recursive(
    json_leaf,
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """Split ``data`` into arbitrary pieces (including empty ones and single bytes)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=40)))
    pieces, last = [], 0
    for cut in cuts:
        pieces.append(data[last:cut])
        last = cut
    pieces.append(data[last:])
    return pieces


def drain(chunks: list[bytes]) -> None:
    """Run the real pipeline; only APIError may come out. Reads the snapshot on the way."""
    state = StreamState("fuzz-model", request_id="req_fuzz")
    try:
        for chunk in chunks:
            for _event in state.feed(chunk):
                pass
            _ = state.snapshot  # a UI reads it at any time (e.g. on Esc)
        state.finish()
    except APIError as exc:
        str(exc), repr(exc)
        partial = getattr(exc, "partial", None)
        if partial is not None:
            assert isinstance(partial.get("content"), list)
    snap = state.snapshot
    assert isinstance(snap, dict) and isinstance(snap["content"], list)
    json.dumps(snap)  # the store writes it as JSON: must stay serialisable


# --- the SSE decoder ----------------------------------------------------------------------------


@FAST
@given(st.lists(st.binary(max_size=64), max_size=20))
def test_sse_decoder_random_bytes(chunks: list[bytes]) -> None:
    decoder = SSEDecoder()
    for chunk in chunks:
        for event in decoder.feed(chunk):
            assert isinstance(event.data, str)
            assert event.event is None or isinstance(event.event, str)
    decoder.close()


@FAST
@given(st.data())
def test_sse_decoder_chunking_invariant(data: st.DataObject) -> None:
    """Any split of a fixture decodes to the same events as the whole."""
    stream = data.draw(st.sampled_from(STREAMS))
    whole = SSEDecoder().feed(stream)
    pieces = data.draw(chunked(stream))
    decoder = SSEDecoder()
    split = [e for piece in pieces for e in decoder.feed(piece)]
    assert split == whole


# --- the whole pipeline: bytes in, events out ---------------------------------------------------


@FAST
@given(st.lists(st.binary(max_size=200), max_size=15))
def test_pipeline_random_bytes(chunks: list[bytes]) -> None:
    drain(chunks)


@st.composite
def mutated_fixture(draw: st.DrawFn) -> bytes:
    """A fixture stream after byte flips, truncation, duplicated/dropped/shuffled lines."""
    lines = draw(st.sampled_from(STREAMS)).split(b"\n")
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["dup", "drop", "swap", "flip", "insert", "truncate_line"]))
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        if op == "dup":
            lines.insert(i, lines[i])
        elif op == "drop":
            del lines[i]
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "flip" and lines[i]:
            pos = draw(st.integers(0, len(lines[i]) - 1))
            byte = draw(st.integers(0, 255))
            lines[i] = lines[i][:pos] + bytes([byte]) + lines[i][pos + 1 :]
        elif op == "insert":
            lines.insert(i, draw(st.binary(max_size=30)))
        elif op == "truncate_line":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
    out = b"\n".join(lines)
    if draw(st.booleans()):
        out = out[: draw(st.integers(0, len(out)))]
    return out


@MEDIUM
@given(st.data())
def test_pipeline_mutated_fixtures(data: st.DataObject) -> None:
    stream = data.draw(mutated_fixture())
    drain(data.draw(chunked(stream)))


@st.composite
def event_dict(draw: st.DrawFn) -> tuple[str, Any]:
    """A plausible-looking event whose fields may have any JSON type or a wrong value."""
    name = draw(st.sampled_from(EVENT_NAMES) | st.text(max_size=10))
    index = draw(st.integers(-2, 4) | json_any)
    delta: Any = {
        "type": draw(st.sampled_from(DELTA_TYPES)),
        "text": draw(st.text(max_size=5) | json_any),
        "thinking": draw(st.text(max_size=5) | json_any),
        "signature": draw(st.text(max_size=5) | json_any),
        "partial_json": draw(st.sampled_from(PARTIALS) | json_any),
        "citation": draw(json_any),
        "stop_reason": draw(json_any),
        "stop_sequence": draw(json_any),
    }
    block: Any = {
        "type": draw(st.sampled_from(BLOCK_TYPES) | json_any),
        "text": draw(st.just("") | json_any),
        "thinking": draw(st.just("") | json_any),
        "input": draw(st.just({}) | json_any),
        "citations": draw(st.none() | json_any),
    }
    message: Any = {"id": "m", "content": draw(st.just([]) | json_any), "usage": draw(json_any)}
    body: dict[str, Any] = {"type": name, "index": index}
    body["delta"] = draw(st.just(delta) | json_any)
    body["content_block"] = draw(st.just(block) | json_any)
    body["message"] = draw(st.just(message) | json_any)
    body["usage"] = draw(st.dictionaries(st.text(max_size=6), json_any, max_size=3) | json_any)
    body["error"] = draw(json_any)
    for key in list(body):
        if key != "type" and draw(st.integers(0, 3)) == 0:
            del body[key]
    return name, body


def sse_bytes(name: str | None, data: str) -> bytes:
    head = f"event: {name}\n" if name is not None else ""
    return (head + "".join(f"data: {line}\n" for line in data.split("\n")) + "\n").encode(
        "utf-8", "surrogatepass"
    )


@EVENTS
@given(st.lists(event_dict(), max_size=12), st.booleans(), st.data())
def test_pipeline_random_events(
    events: list[tuple[str, Any]], named: bool, data: st.DataObject
) -> None:
    """Random JSON in data lines, random/unknown names, wrong indexes, deltas before starts."""
    body = b"".join(sse_bytes(name if named else None, json.dumps(ev)) for name, ev in events)
    drain(data.draw(chunked(body)))


@FAST
@given(st.lists(st.tuples(st.sampled_from(EVENT_NAMES), json_any), max_size=20))
def test_pipeline_random_json_values(events: list[tuple[str, Any]]) -> None:
    """Data lines holding any JSON value at all (arrays, strings, numbers, null)."""
    drain([b"".join(sse_bytes(name, json.dumps(value)) for name, value in events)])


@EVENTS
@given(st.lists(event_dict(), max_size=12))
def test_accumulator_direct(events: list[tuple[str, Any]]) -> None:
    """The accumulator alone, fed dicts of any shape, as StreamState would hand them over."""
    acc = Accumulator()
    for name, body in events:
        if not isinstance(body, dict) or name == "error":
            continue
        try:
            acc.feed(name, body)
            _ = acc.snapshot
        except APIError:
            pass
    json.dumps(acc.snapshot)


def test_deeply_nested_json_in_data_line() -> None:
    """A hostile proxy sending [[[[... 100k deep must not escape as RecursionError."""
    deep = "[" * 100_000 + "]" * 100_000
    start = {"type": "message_start", "message": {"id": "m", "content": [], "usage": {}}}
    tool = {"type": "tool_use", "id": "t", "name": "n", "input": {}}
    block = {"type": "content_block_start", "index": 0, "content_block": tool}
    json_delta = {"type": "input_json_delta", "partial_json": "[" * 100_000}
    delta = {"type": "content_block_delta", "index": 0, "delta": json_delta}
    body = (
        sse_bytes("message_start", json.dumps(start))
        + sse_bytes("content_block_start", json.dumps(block))
        + sse_bytes("content_block_delta", deep)
        + sse_bytes("content_block_delta", json.dumps(delta))
        + sse_bytes("content_block_stop", '{"type":"content_block_stop","index":0}')
    )
    drain([body])


@st.composite
def whole_message(draw: st.DrawFn) -> Any:
    """A JSON body where a stream was expected (a gateway that ignored ``stream: true``)."""
    block = st.fixed_dictionaries(
        {"type": st.sampled_from(BLOCK_TYPES) | json_any},
        optional={
            "text": json_any,
            "thinking": json_any,
            "signature": json_any,
            "input": json_any,
            "citations": json_any,
            "name": json_any,
        },
    )
    message = st.fixed_dictionaries(
        {"type": st.just("message")},
        optional={
            "content": st.lists(block | json_any, max_size=4) | json_any,
            "usage": json_any,
            "stop_reason": json_any,
            "id": json_any,
        },
    )
    return draw(message | json_any)


@FAST
@given(whole_message())
def test_replayed_whole_message(message: Any) -> None:
    state = StreamState("fuzz-model")
    try:
        state.feed_message(message)
        state.finish()
    except APIError:
        pass
    json.dumps(state.snapshot)
