"""The tool loop in ChatSession: real MCP server process, real HTTP to the fake Messages server.

The face's part is an Approver (here: scripted answers); the session answers every tool_use,
stores every message as sent, and never leaves a tool_use without its tool_result, also when
the user cancels in the middle of a call or of a reply asking for one.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator

import anthropic
import pytest

from megachat.api import MessagesClient
from megachat.api.events import InputJsonDelta
from megachat.chat.conversation import Conversation
from megachat.chat.outcomes import Cancelled, Finished
from megachat.chat.session import ChatSession
from megachat.chat.store import Store
from megachat.chat.tool_events import (
    ToolCall,
    ToolCallFinished,
    ToolCallStarted,
    ToolLoopStopped,
)
from megachat.chat.tool_loop import Approval, Approved, Denied, ToolBox, ToolUse, api_tool_name
from megachat.chat.turn import ReplyEvent, TurnEvent
from megachat.tools.servers import StdioServer
from tests.cli.conftest import ROOT
from tests.fakeserver import FakeServer, Reply, blocks_reply, message_events, text_reply

TOOLBOX = StdioServer(
    name="toolbox",
    command=sys.executable,
    args=("-m", "tests.mcp_servers.stdio_server"),
    cwd=str(ROOT),
)


@pytest.fixture
async def toolbox() -> AsyncIterator[ToolBox]:
    async with ToolBox([TOOLBOX], call_timeout=30) as box:
        yield box


class Approvals:
    """Scripted answers, and the calls that were asked about."""

    def __init__(self, *answers: Approval) -> None:
        self.answers = list(answers)
        self.asked: list[ToolCall] = []

    async def __call__(self, call: ToolCall) -> Approval:
        self.asked.append(call)
        return self.answers.pop(0)


def _session(
    store: Store, client: MessagesClient, box: ToolBox, approver: Approvals
) -> ChatSession:
    session = ChatSession(store, lambda: client, new_conversation=lambda: Conversation(model="m"))
    session.tool_use = ToolUse(box, approver, max_steps=5)
    return session


def _tool_use(name: str, tool_input: dict, tool_id: str) -> dict:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}


def _asks(*blocks: dict) -> Reply:
    return blocks_reply(list(blocks), stop_reason="tool_use")


async def test_approve_always_runs_later_calls_without_asking(
    store: Store, client: MessagesClient, fake_server: FakeServer, toolbox: ToolBox
) -> None:
    approvals = Approvals(Approved(always=True))
    session = _session(store, client, toolbox, approvals)
    fake_server.enqueue(_asks(_tool_use("toolbox__add", {"a": 1, "b": 2}, "t1")))
    fake_server.enqueue(_asks(_tool_use("toolbox__add", {"a": 3, "b": 4}, "t2")))
    fake_server.enqueue(text_reply("3 and 7"))
    events: list[TurnEvent] = []
    outcome = await session.send("sums", on_event=events.append)
    assert isinstance(outcome, Finished) and outcome.message.text() == "3 and 7"
    assert [call.id for call in approvals.asked] == ["t1"]
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert [(e.call.label, e.summary, e.is_error) for e in finished] == [
        ("toolbox.add", "3", False),
        ("toolbox.add", "7", False),
    ]
    assert sum(isinstance(e, ToolCallStarted) for e in events) == 2
    assert isinstance(events[-1], ToolLoopStopped) and events[-1].reason == "end_turn"
    stored = store.get(session.conversation.id)
    assert [m.role for m in stored.messages] == ["user", "assistant"] * 3


async def test_denied_call_gets_the_reason_and_an_unknown_tool_an_error(
    store: Store, client: MessagesClient, fake_server: FakeServer, toolbox: ToolBox
) -> None:
    session = _session(store, client, toolbox, Approvals(Denied("no thanks")))
    fake_server.enqueue(
        _asks(
            _tool_use("toolbox__add", {"a": 1, "b": 2}, "t1"),
            _tool_use("nowhere__tool", {}, "t2"),
        )
    )
    fake_server.enqueue(text_reply("fine"))
    outcome = await session.send("x")
    assert isinstance(outcome, Finished)
    results = fake_server.requests_to()[1].json["messages"][-1]["content"]
    assert [(r["tool_use_id"], r.get("is_error")) for r in results] == [("t1", True), ("t2", True)]
    assert results[0]["content"][0]["text"] == "no thanks"
    assert "no enabled tool is named 'nowhere__tool'" in results[1]["content"][0]["text"]


async def test_an_image_result_is_kept(
    store: Store, client: MessagesClient, fake_server: FakeServer, toolbox: ToolBox
) -> None:
    session = _session(store, client, toolbox, Approvals(Approved()))
    fake_server.enqueue(_asks(_tool_use("toolbox__image", {}, "t1")))
    fake_server.enqueue(text_reply("a pixel"))
    assert isinstance(await session.send("img"), Finished)
    (result,) = fake_server.requests_to()[1].json["messages"][-1]["content"]
    assert result["content"][0]["type"] == "image"
    assert result["content"][0]["source"]["media_type"] == "image/png"


async def test_cancel_during_a_call_answers_it_and_the_conversation_sends_cleanly(
    store: Store, client: MessagesClient, fake_server: FakeServer, toolbox: ToolBox
) -> None:
    session = _session(store, client, toolbox, Approvals(Approved()))
    fake_server.enqueue(
        _asks(
            _tool_use("toolbox__add", {"a": 1, "b": 1}, "t1"),
            _tool_use("toolbox__sleep", {"seconds": 60}, "t2"),
            _tool_use("toolbox__add", {"a": 2, "b": 2}, "t3"),
        )
    )
    session.tool_use.toolbox.allow(toolbox.resolve(_tool_use("toolbox__add", {}, "x")))

    def on_event(event: TurnEvent) -> None:
        if isinstance(event, ToolCallStarted) and event.call.tool == "sleep":
            asyncio.get_running_loop().call_soon(session.cancel)

    outcome = await asyncio.wait_for(session.send("go", on_event=on_event), 30)
    assert isinstance(outcome, Cancelled)
    stored = store.get(session.conversation.id)
    last = stored.messages[-1]
    assert last.role == "user"
    assert [(b["tool_use_id"], b.get("is_error", False)) for b in last.content] == [
        ("t1", False),
        ("t2", True),
        ("t3", True),
    ]
    assert last.content[1]["content"][0]["text"] == "cancelled by the user"
    # the next send is valid: every tool_use is followed by its result, then the new text
    fake_server.enqueue(text_reply("ok"))
    assert isinstance(await session.send("again"), Finished)
    messages = fake_server.requests_to()[-1].json["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert [b["type"] for b in messages[2]["content"]] == ["tool_result"] * 3 + ["text"]
    # and the server works again after the cut call (it was restarted)
    fake_server.enqueue(_asks(_tool_use("toolbox__add", {"a": 5, "b": 5}, "t4")))
    fake_server.enqueue(text_reply("10"))
    assert isinstance(await session.send("once more"), Finished)
    assert fake_server.requests_to()[-1].json["messages"][-1]["content"][0]["content"] == [
        {"type": "text", "text": "10"}
    ]


async def test_cancel_while_a_tool_use_reply_streams_answers_its_calls(
    store: Store, client: MessagesClient, fake_server: FakeServer, toolbox: ToolBox
) -> None:
    session = _session(store, client, toolbox, Approvals())
    events = message_events(
        [_tool_use("toolbox__add", {"a": 1, "b": 2}, "t1")], stop_reason="tool_use"
    )
    # the reply stops after the tool_use block started: no message_delta, no message_stop
    cut = next(i for i, e in enumerate(events) if e["type"] == "content_block_stop")
    hold = threading.Event()
    fake_server.enqueue(Reply(sse=events, hold=hold, hold_after_events=cut))

    def on_event(event: TurnEvent) -> None:
        if isinstance(event, ReplyEvent) and isinstance(event.event, InputJsonDelta):
            asyncio.get_running_loop().call_soon(session.cancel)

    try:
        outcome = await asyncio.wait_for(session.send("go", on_event=on_event), 30)
    finally:
        hold.set()
    assert isinstance(outcome, Cancelled)
    last = store.get(session.conversation.id).messages[-1]
    assert last.role == "user"
    assert last.content[0]["tool_use_id"] == "t1" and last.content[0]["is_error"] is True


async def test_the_request_with_results_equals_what_the_sdk_sends(
    store: Store, client: MessagesClient, fake_server: FakeServer, toolbox: ToolBox
) -> None:
    session = _session(store, client, toolbox, Approvals(Approved()))
    thinking = {"type": "thinking", "thinking": "add", "signature": "sig-1"}
    fake_server.enqueue(_asks(thinking, _tool_use("toolbox__add", {"a": 1, "b": 2}, "t1")))
    fake_server.enqueue(text_reply("3"))
    assert isinstance(await session.send("1+2", stream=False), Finished)
    ours = fake_server.requests_to()[1].json
    fake_server.enqueue(text_reply("3"))
    sdk = anthropic.AsyncAnthropic(base_url=fake_server.base_url, api_key="sk-session-test")
    try:
        await sdk.messages.create(
            model=ours["model"],
            max_tokens=ours["max_tokens"],
            messages=ours["messages"],
            tools=ours["tools"],
        )
    finally:
        await sdk.close()
    assert fake_server.requests_to()[-1].json == ours
    assert ours["messages"][-1]["content"] == [
        {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "3"}]}
    ]


def test_api_names_follow_the_api_rule() -> None:
    assert api_tool_name("toolbox", "add") == "toolbox__add"
    assert api_tool_name("s", "read.file/x") == "s__read_file_x"
    assert len(api_tool_name("s", "x" * 100)) == 64
