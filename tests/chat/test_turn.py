"""megachat.chat.turn.Turn in-process: the event stream a UI sees, persistence and cancellation.

Real MessagesClient, real fake server over 127.0.0.1, real SQLite store in tmp_path.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from megachat.api import MessagesClient, StreamInterrupted, TextDelta, ThinkingDelta
from megachat.api.errors import APIStatusError
from megachat.api.ratelimit import RateLimiter
from megachat.chat import turn as turn_module
from megachat.chat.conversation import Conversation
from megachat.chat.store import Store
from megachat.chat.turn import ReplyEvent, ReplyFinished, ReplyStarted, ReplyText, Turn, Waiting
from tests.fakeserver import (
    FakeServer,
    Reply,
    blocks_reply,
    error_reply,
    message_events,
    sse_text_reply,
)

WORDS = [f"w{i} " for i in range(100)]


def client_for(server: FakeServer, **kw: object) -> MessagesClient:
    return MessagesClient(
        api_key="sk-turn-test", base_url=server.base_url, rate_limiter=RateLimiter(0), **kw
    )


def new_conversation(text: str = "hello") -> Conversation:
    conv = Conversation(model="claude-sonnet-4", max_tokens=100)
    conv.add_user(text)
    return conv


async def collect(turn: Turn) -> list[object]:
    return [event async for event in turn.events()]


async def test_event_stream_for_a_ui(fake_server: FakeServer, tmp_path: Path) -> None:
    fake_server.enqueue(sse_text_reply("Hi there.", chunks=["Hi ", "there."]))
    store = Store(tmp_path / "db.sqlite")
    conv = new_conversation()
    async with client_for(fake_server) as client:
        turn = Turn(conv, client, store, prefill="Well, ")
        events = await collect(turn)
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "ReplyStarted"
    assert events[1] == ReplyText("Well,")  # the prefill as sent (right-stripped), first
    texts = [e.text for e in events if isinstance(e, ReplyText)]
    assert "".join(texts) == "Well,Hi there."  # deltas that arrive together come joined
    raw = [e.event for e in events if isinstance(e, ReplyEvent)]
    assert raw and not any(isinstance(e, TextDelta) for e in raw)  # text comes as ReplyText
    assert isinstance(events[-1], ReplyFinished)
    finished = events[-1]
    assert finished.message.status == "complete"
    assert finished.message.text() == "Well,Hi there."
    assert finished.response is not None and finished.response["content"][0]["text"] == "Hi there."
    assert finished.message.stop_reason == "end_turn"
    # request: the prefill is the final assistant message
    body = fake_server.requests_to()[0].json
    assert body["messages"][-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "Well,"}],
    }
    # stored: user turn + merged reply, complete
    again = store.get(conv.id)
    assert [m.role for m in again.messages] == ["user", "assistant"]
    assert again.messages[1].text() == "Well,Hi there."
    assert again.messages[1].status == "complete"
    assert again.messages[1].usage
    store.close()


async def test_thinking_and_tool_use_arrive_as_raw_events(fake_server: FakeServer) -> None:
    fake_server.enqueue(
        blocks_reply(
            [
                {"type": "thinking", "thinking": "Let me think.", "signature": "sig"},
                {"type": "text", "text": "Answer."},
                {"type": "tool_use", "name": "lookup", "input": {"q": "x"}},
            ]
        )
    )
    conv = new_conversation()
    async with client_for(fake_server) as client:
        events = await collect(Turn(conv, client, None))
    raw = [e.event for e in events if isinstance(e, ReplyEvent)]
    assert "".join(e.thinking for e in raw if isinstance(e, ThinkingDelta)) == "Let me think."
    final = events[-1]
    assert isinstance(final, ReplyFinished)
    assert [b["type"] for b in final.message.content] == ["thinking", "text", "tool_use"]
    assert final.message.content[2]["input"] == {"q": "x"}
    assert [e.text for e in events if isinstance(e, ReplyText)] == ["Answer."]


async def test_waits_are_reported_and_the_hook_restored(fake_server: FakeServer) -> None:
    fake_server.enqueue(
        error_reply(429, "rate_limit_error", "slow", headers={"retry-after-ms": "10"}),
        sse_text_reply("ok"),
    )
    outer: list[object] = []
    async with client_for(fake_server, on_wait=outer.append) as client:
        events = await collect(Turn(new_conversation(), client, None))
        assert client.on_wait == outer.append
    waits = [e for e in events if isinstance(e, Waiting)]
    assert len(waits) == 1
    assert waits[0].notice.describe().startswith("rate limited (429), retrying in")
    assert events.index(waits[0]) < events.index(
        next(e for e in events if isinstance(e, ReplyStarted))
    )
    assert len(outer) == 1  # the client's own hook still hears about it


async def test_failure_before_the_reply_keeps_only_the_user_turn(
    fake_server: FakeServer, tmp_path: Path
) -> None:
    fake_server.enqueue(error_reply(400, "invalid_request_error", "bad"))
    store = Store(tmp_path / "db.sqlite")
    conv = new_conversation("kept question")
    seen: list[object] = []
    async with client_for(fake_server) as client:
        with pytest.raises(APIStatusError) as info:
            async for event in Turn(conv, client, store).events():
                seen.append(event)
    assert info.value.status_code == 400
    assert seen == []
    stored = store.get(conv.id)
    assert [m.text() for m in stored.messages] == ["kept question"]
    store.close()


async def test_broken_stream_is_stored_interrupted_then_raised(
    fake_server: FakeServer, tmp_path: Path
) -> None:
    events = message_events([{"type": "text", "text": "one two three four", "chunks": 4}])
    fake_server.enqueue(Reply(sse=events, drop_after_events=5))
    store = Store(tmp_path / "db.sqlite")
    conv = new_conversation()
    seen: list[object] = []
    async with client_for(fake_server) as client:
        with pytest.raises(StreamInterrupted):
            async for event in Turn(conv, client, store).events():
                seen.append(event)
    finished = seen[-1]
    assert isinstance(finished, ReplyFinished)
    assert finished.message.status == "interrupted"
    assert finished.error is not None
    stored = store.get(conv.id).messages[-1]
    assert stored.status == "interrupted"
    assert stored.text().startswith("one ")
    store.close()


async def test_cancel_keeps_the_partial_reply_as_cancelled(
    fake_server: FakeServer, tmp_path: Path
) -> None:
    fake_server.enqueue(sse_text_reply("".join(WORDS), chunks=WORDS, delay_per_event=0.05))
    store = Store(tmp_path / "db.sqlite")
    conv = new_conversation()
    got_text = asyncio.Event()
    seen: list[str] = []

    async with client_for(fake_server) as client:
        turn = Turn(conv, client, store)

        async def consume() -> None:
            async for event in turn.events():
                if isinstance(event, ReplyText):
                    seen.append(event.text)
                    if len(seen) == 3:
                        got_text.set()

        task = asyncio.create_task(consume())
        await got_text.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert turn.message is not None
    assert turn.message.status == "cancelled"
    stored = store.get(conv.id).messages[-1]
    assert stored.status == "cancelled"
    assert stored.text().startswith("".join(seen))
    assert "w99" not in stored.text()
    store.close()


async def test_reply_is_persisted_while_streaming(
    fake_server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Text is written as it streams (interval 0 here), so another reader sees it mid-reply:
    at least what the consumer was shown (the store may be a batch ahead, never behind)."""
    monkeypatch.setattr(turn_module, "FLUSH_INTERVAL", 0.0)
    hold = threading.Event()  # the stream pauses after its fourth delta until released
    fake_server.enqueue(
        sse_text_reply("".join(WORDS[:10]), chunks=WORDS[:10], hold=hold, hold_after_events=6)
    )
    path = tmp_path / "db.sqlite"
    store = Store(path)
    conv = new_conversation()
    shown: list[str] = []
    observed: list[tuple[str, str]] = []
    try:
        async with client_for(fake_server) as client:
            async for event in Turn(conv, client, store).events():
                if isinstance(event, ReplyText) and not observed:
                    shown.append(event.text)
                    with Store(path) as reader:  # a second connection, as another process would
                        stored = reader.get(conv.id).messages[-1]
                    observed.append((stored.status, stored.text()))
                    hold.set()
    finally:
        hold.set()
    assert observed[0][0] != "complete"  # read mid-reply (another reader sees it unfinished)
    assert shown[0] and observed[0][1].startswith(shown[0])
    assert store.get(conv.id).messages[-1].status == "complete"
    store.close()


async def test_stalled_stream_is_flushed_by_the_timer(
    fake_server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When no more text comes, the pending text is still written (by a timer, not a delta)."""
    monkeypatch.setattr(turn_module, "FLUSH_INTERVAL", 0.01)
    events = message_events([{"type": "text", "text": "alpha beta", "chunks": ["alpha ", "beta"]}])
    # the last text delta is event 5; the server then waits before the rest of the stream
    fake_server.enqueue(
        Reply(sse=events[:6] + [b": keepalive\n\n"] * 40 + events[6:], delay_per_event=0.02)
    )
    path = tmp_path / "db.sqlite"
    store = Store(path)
    conv = new_conversation()
    observed: list[str] = []
    async with client_for(fake_server) as client:
        async for event in Turn(conv, client, store).events():
            if isinstance(event, ReplyText) and event.text == "beta":
                # Wait for the stored text to catch up: bounded polling on the database itself.
                for _ in range(500):
                    with Store(path) as reader:
                        text = reader.get(conv.id).messages[-1].text()
                    if text.endswith("beta"):
                        observed.append(text)
                        break
                    await asyncio.sleep(0.01)
    assert observed == ["alpha beta"]
    store.close()


async def test_non_streaming_turn(fake_server: FakeServer, tmp_path: Path) -> None:
    from tests.fakeserver import message_reply

    fake_server.enqueue(message_reply("All at once."))
    store = Store(tmp_path / "db.sqlite")
    conv = new_conversation()
    async with client_for(fake_server) as client:
        events = await collect(Turn(conv, client, store, prefill="Sure:", stream=False))
    assert [type(e).__name__ for e in events] == ["ReplyStarted", "ReplyText", "ReplyFinished"]
    assert events[1] == ReplyText("Sure:All at once.")  # the prefill and the text, joined
    assert "stream" not in fake_server.requests_to()[0].json
    assert store.get(conv.id).messages[-1].text() == "Sure:All at once."
    store.close()


async def test_history_is_sent_and_second_turn_appends(
    fake_server: FakeServer, tmp_path: Path
) -> None:
    fake_server.enqueue(sse_text_reply("One."), sse_text_reply("Two."))
    store = Store(tmp_path / "db.sqlite")
    conv = new_conversation("first")
    async with client_for(fake_server) as client:
        await collect(Turn(conv, client, store))
        conv.add_user("second")
        await collect(Turn(conv, client, store))
    body = fake_server.requests_to()[1].json
    assert [m["content"][-1]["text"] for m in body["messages"]] == ["first", "One.", "second"]
    assert [m.text() for m in store.get(conv.id).messages] == ["first", "One.", "second", "Two."]
    store.close()


async def test_concurrent_turns_on_one_client_each_hear_only_their_own_waits(
    fake_server: FakeServer,
) -> None:
    # A limiter of one request per minute on a fake clock: the second turn's request waits (one
    # rate_limit notice) and the fake sleep moves the clock on instead of sleeping.
    now = [0.0]

    async def advance(seconds: float) -> None:
        now[0] += seconds

    limiter = RateLimiter(1, 60.0, clock=lambda: now[0], sleep=advance)
    fake_server.enqueue(sse_text_reply("one"), sse_text_reply("two"))
    client = MessagesClient(
        api_key="sk-turn-test", base_url=fake_server.base_url, rate_limiter=limiter
    )
    async with client:
        first, second = await asyncio.gather(
            collect(Turn(new_conversation("a"), client, None)),
            collect(Turn(new_conversation("b"), client, None)),
        )
    waits = [[e for e in events if isinstance(e, Waiting)] for events in (first, second)]
    assert sorted(len(w) for w in waits) == [0, 1]  # the waiting turn alone hears of it
    (notice,) = [w[0].notice for w in waits if w]
    assert notice.reason == "rate_limit"
    for events in (first, second):
        assert isinstance(events[-1], ReplyFinished)
        assert events[-1].message.status == "complete"
    assert client.on_wait is None


async def test_skipped_malformed_events_are_surfaced(fake_server: FakeServer) -> None:
    """The API layer skips undecodable data lines; the turn says how many on ReplyFinished so
    every face can warn that the reply may be incomplete."""
    events = message_events([{"type": "text", "text": "ab", "chunks": 2}])
    broken = "event: content_block_delta\ndata: {not json\n\n"
    fake_server.enqueue(Reply(sse=[*events[:4], broken, *events[4:]]), sse_text_reply("fine"))
    async with client_for(fake_server) as client:
        first = await collect(Turn(new_conversation(), client, None))
        second = await collect(Turn(new_conversation(), client, None))
    done = [e for e in first if isinstance(e, ReplyFinished)]
    assert len(done) == 1 and done[0].skipped_events == 1
    assert done[0].message.text() == "ab" and done[0].message.status == "complete"
    assert [e.skipped_events for e in second if isinstance(e, ReplyFinished)] == [0]


async def test_skipped_events_are_reported_on_a_failed_reply_too(fake_server: FakeServer) -> None:
    events = message_events([{"type": "text", "text": "ab", "chunks": 2}])
    broken = "event: content_block_delta\ndata: [1]\n\n"
    fake_server.enqueue(Reply(sse=[*events[:4], broken, *events[4:5]], drop_after_events=6))
    async with client_for(fake_server) as client:
        turn = Turn(new_conversation(), client, None)
        seen: list[object] = []
        with pytest.raises(StreamInterrupted):
            async for event in turn.events():
                seen.append(event)
    done = [e for e in seen if isinstance(e, ReplyFinished)]
    assert len(done) == 1 and done[0].skipped_events == 1
    assert done[0].message.status == "interrupted"
    assert turn.skipped_events == 1


async def test_non_streaming_turn_reports_no_skipped_events(fake_server: FakeServer) -> None:
    from tests.fakeserver import message_reply

    fake_server.enqueue(message_reply("whole"))
    async with client_for(fake_server) as client:
        events = await collect(Turn(new_conversation(), client, None, stream=False))
    assert [e.skipped_events for e in events if isinstance(e, ReplyFinished)] == [0]


async def test_deltas_are_joined_in_order_and_never_cross_another_event(
    fake_server: FakeServer,
) -> None:
    """Deltas that arrive together come as one ReplyText: the same text, in order, each block's
    text between its BlockStart and BlockStop, and a key split across two deltas still redacted."""
    from megachat.api.events import BlockStart, BlockStop
    from megachat.redact import REDACTED, Secrets

    key = "sk-split-key-0123"
    words = [f"w{i} " for i in range(3000)]
    second = [*words[1500:2000], "sk-split-", "key-0123 ", *words[2000:]]
    fake_server.enqueue(
        blocks_reply(
            [
                {"type": "text", "text": "".join(words[:1500]), "chunks": words[:1500]},
                {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"q": 1}},
                {"type": "text", "text": "".join(second), "chunks": second},
            ]
        )
    )
    async with client_for(fake_server) as client:
        events = await collect(Turn(new_conversation(), client, None, secrets=Secrets([key])))
    texts: dict[int, str] = {}
    block: int | None = None
    for event in events:
        if isinstance(event, ReplyEvent):
            assert not isinstance(event.event, TextDelta)  # text comes as ReplyText only
            if isinstance(event.event, BlockStart):
                block = event.event.index
            elif isinstance(event.event, BlockStop):
                block = None
        elif isinstance(event, ReplyText):
            assert block is not None  # inside its block, never moved past a BlockStop
            texts[block] = texts.get(block, "") + event.text
    assert texts == {
        0: "".join(words[:1500]),
        2: "".join(words[1500:2000]) + f"{REDACTED} " + "".join(words[2000:]),
    }
    assert isinstance(events[-1], ReplyFinished)
    assert key not in str(events[-1].message.content)
