"""MessageStream: typed events, the live snapshot, and its life cycle."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from megachat.api import (
    BlockStart,
    BlockStop,
    InputJsonDelta,
    MessageDelta,
    MessagesClient,
    MessageStart,
    MessageStop,
    SignatureDelta,
    StreamError,
    TextDelta,
    ThinkingDelta,
)
from megachat.api.events import CitationDelta
from tests.api.helpers import BODY, FIXTURES, KEY
from tests.fakeserver import FakeServer, Reply, blocks_reply, fixture_reply, sse_text_reply


async def test_event_sequence_for_text(fake_server: FakeServer) -> None:
    fake_server.enqueue(sse_text_reply("Hi there", chunks=["Hi", " there"]))
    client = MessagesClient(api_key=KEY, base_url=fake_server.base_url)
    async with client, client.stream(BODY) as stream:
        events = [event async for event in stream]
        final = stream.final_message
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "MessageStart",
        "BlockStart",
        "TextDelta",
        "TextDelta",
        "BlockStop",
        "MessageDelta",
        "MessageStop",
    ]
    assert isinstance(events[0], MessageStart) and events[0].message["content"] == []
    assert events[1] == BlockStart(0, {"type": "text", "text": ""})
    assert events[2:4] == [TextDelta(0, "Hi"), TextDelta(0, " there")]
    assert events[4] == BlockStop(0)
    assert isinstance(events[5], MessageDelta) and events[5].stop_reason == "end_turn"
    assert events[5].usage["input_tokens"] == 10  # accumulated usage, not just the delta's
    assert isinstance(events[6], MessageStop) and events[6].message is final
    assert final["content"] == [{"type": "text", "text": "Hi there"}]


async def test_snapshot_tracks_partial_tool_input(fake_server: FakeServer) -> None:
    fake_server.enqueue(fixture_reply("03_text_then_tool_use_docs.sse"))
    inputs = []
    async with MessagesClient(api_key=KEY, base_url=fake_server.base_url) as client:
        stream = client.stream(BODY)
        async for event in stream:
            if isinstance(event, InputJsonDelta):
                inputs.append(stream.snapshot["content"][event.index]["input"])
    assert inputs[0] == {}
    assert {"location": "San Francisco, CA"} in inputs
    assert inputs[-1] == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    # never an incomplete string value (jiter partial mode drops it)
    assert all(v in ("San Francisco, CA", "fahrenheit") for i in inputs for v in i.values())


async def test_thinking_signature_and_tool_events(fake_server: FakeServer) -> None:
    content = [
        {"type": "thinking", "thinking": "hmm, let me see", "signature": "sig=="},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "text", "text": "Calling."},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"q": "x y", "n": [1, 2]}},
    ]
    fake_server.enqueue(blocks_reply(content))
    async with MessagesClient(api_key=KEY, base_url=fake_server.base_url) as client:
        stream = client.stream(BODY)
        events = [e async for e in stream]
    assert any(isinstance(e, ThinkingDelta) for e in events)
    assert SignatureDelta(0, "sig==") in events
    assert BlockStart(1, {"type": "redacted_thinking", "data": "opaque"}) in events
    assert stream.final_message["content"] == [
        {"type": "thinking", "thinking": "hmm, let me see", "signature": "sig=="},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "text", "text": "Calling."},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"q": "x y", "n": [1, 2]}},
    ]


async def test_citations_and_usage_overwrite(fake_server: FakeServer) -> None:
    citation = {"type": "char_location", "cited_text": "x", "document_index": 0}
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_c",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": "m",
            "usage": {"input_tokens": 5, "output_tokens": 1, "cache_read_input_tokens": 3},
        },
    }
    events = [
        start,
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "citations_delta", "citation": citation}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "max_tokens"},
         "usage": {"output_tokens": 7, "input_tokens": None, "cache_read_input_tokens": None}},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
         "usage": {"output_tokens": 9, "input_tokens": 6}},
        {"type": "message_stop"},
    ]  # fmt: skip
    fake_server.enqueue(Reply(sse=events))
    async with MessagesClient(api_key=KEY, base_url=fake_server.base_url) as client:
        stream = client.stream(BODY)
        seen = [e async for e in stream]
    assert CitationDelta(0, citation) in seen
    message = stream.final_message
    assert message["content"] == [{"type": "text", "text": "x", "citations": [citation]}]
    assert message["usage"] == {"input_tokens": 6, "output_tokens": 9, "cache_read_input_tokens": 3}
    assert message["stop_reason"] == "end_turn"


async def test_final_message_before_the_end_raises(fake_server: FakeServer) -> None:
    async with MessagesClient(api_key=KEY, base_url=fake_server.base_url) as client:
        async with client.stream(BODY) as stream:
            assert stream.snapshot["content"] == []
            assert stream.snapshot["model"] == BODY["model"]
            with pytest.raises(RuntimeError):
                _ = stream.final_message
            async for event in stream:
                if isinstance(event, TextDelta):
                    break
            assert stream.snapshot["content"][0]["text"] == "Hello "
        assert (await client.create(BODY))["content"]  # the client still works afterwards


async def test_events_after_message_stop_are_ignored(fake_server: FakeServer) -> None:
    events = [*sse_text_reply("done").sse, {"type": "content_block_start", "index": 1,
              "content_block": {"type": "text", "text": "late"}}]  # fmt: skip
    fake_server.enqueue(Reply(sse=events))
    async with MessagesClient(api_key=KEY, base_url=fake_server.base_url) as client:
        message = await client.stream(BODY).get_final_message()
    assert len(message["content"]) == 1


async def test_non_streaming_create_missing_usage(fake_server: FakeServer) -> None:
    fake_server.enqueue(Reply(json={"id": "m", "type": "message", "role": "assistant",
                                    "content": [{"type": "text", "text": "ok"}]}))  # fmt: skip
    async with MessagesClient(api_key=KEY, base_url=fake_server.base_url) as client:
        message = await client.create(BODY)
    assert message["usage"] == {} and message["content"][0]["text"] == "ok"
    assert "stream" not in fake_server.requests[0].json


async def test_error_event_without_event_line(fake_server: FakeServer) -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    fake_server.enqueue(Reply(sse=f"data: {json.dumps(error)}\n\n"))
    async with MessagesClient(api_key=KEY, base_url=fake_server.base_url) as client:
        with pytest.raises(StreamError) as info:
            await client.stream(BODY).get_final_message()
    assert info.value.error_type == "overloaded_error"


def test_import_is_lean() -> None:
    code = (
        "import sys, megachat.api; "
        "heavy = ('textual', 'rich', 'anthropic', 'sqlite3', 'PIL', 'asyncio'); "
        "bad = [m for m in sys.modules if m.split('.')[0] in heavy "
        "or m.startswith('megachat.chat')]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_json_answer_to_a_stream_request_is_replayed_as_events(
    fake_server: FakeServer,
) -> None:
    # A gateway that ignores "stream": true and answers with one JSON message.
    message = json.loads((FIXTURES / "message_nonstream_tool_use_thinking.json").read_text())
    fake_server.enqueue(Reply(json=message))
    async with MessagesClient(api_key=KEY, base_url=fake_server.base_url) as client:
        stream = client.stream(BODY)
        events = [e async for e in stream]
    assert stream.final_message == message
    assert isinstance(events[0], MessageStart) and isinstance(events[-1], MessageStop)
    texts = [b["text"] for b in message["content"] if b["type"] == "text"]
    assert [e.text for e in events if isinstance(e, TextDelta)] == texts


async def test_json_error_answer_to_a_stream_request_raises(fake_server: FakeServer) -> None:
    fake_server.enqueue(Reply(json={"error": {"type": "api_error", "message": "nope"}}))
    async with MessagesClient(api_key=KEY, base_url=fake_server.base_url) as client:
        with pytest.raises(StreamError) as info:
            await client.stream(BODY).get_final_message()
    assert (info.value.error_type, info.value.message) == ("api_error", "nope")
