"""Continuing a reply cut at max_tokens (ChatSession.continue_reply), against the fake server.

A model that takes a prefill gets the cut text as the final assistant turn, and the stored reply
is one new version (prefill + continuation) beside the cut one; a model without prefill gets a
short user turn, stored with a mark (shown dimmed) that never reaches the API. Each second
request is the body the official SDK sends for the same parameters.
"""

from __future__ import annotations

import anthropic
import pytest

from megachat.api import MessagesClient
from megachat.chat.conversation import CONTINUE_MARK, Conversation
from megachat.chat.outcomes import (
    CONTINUE_REQUEST,
    NOT_CUT,
    Failed,
    Finished,
    NothingToDo,
    NotSent,
    stop_note,
)
from megachat.chat.session import ChatSession
from megachat.chat.store import Store
from megachat.chat.turn import ReplyText, TurnEvent
from tests.fakeserver import FakeServer, Reply, error_reply, message_events, sse_text_reply

MODEL = "claude-sonnet-4"
CUT = "The first half, cut "  # ends in whitespace: the prefill sent is right-stripped
REST = " and the second half."


def new_conversation() -> Conversation:
    return Conversation(model=MODEL, max_tokens=100)


@pytest.fixture
def session(store: Store, client: MessagesClient) -> ChatSession:
    return ChatSession(store, lambda: client, new_conversation=new_conversation)


async def sdk_body(server: FakeServer, messages: list[dict]) -> dict:
    """The body the official SDK streams for the same parameters (to the same fake server)."""
    server.enqueue(sse_text_reply("sdk"))
    sdk = anthropic.AsyncAnthropic(base_url=server.base_url, api_key="sk-session-test")
    try:
        async with sdk.messages.stream(model=MODEL, max_tokens=100, messages=messages) as s:
            await s.get_final_message()
    finally:
        await sdk.close()
    return server.requests_to()[-1].json


async def cut_reply(session: ChatSession, server: FakeServer) -> None:
    server.enqueue(sse_text_reply(CUT, stop_reason="max_tokens"))
    outcome = await session.send("Tell me")
    assert isinstance(outcome, Finished)
    assert outcome.message.stop_reason == "max_tokens"


async def test_prefill_continuation_is_one_new_version_of_the_reply(
    session: ChatSession, store: Store, fake_server: FakeServer
) -> None:
    await cut_reply(session, fake_server)
    cut = session.conversation.messages[-1]
    fake_server.enqueue(sse_text_reply(REST))
    seen: list[TurnEvent] = []
    outcome = await session.continue_reply(on_event=seen.append)

    assert isinstance(outcome, Finished) and outcome.message.stop_reason == "end_turn"
    whole = CUT.rstrip() + REST
    assert outcome.message.text() == whole
    assert "".join(e.text for e in seen if isinstance(e, ReplyText)) == whole
    sent = fake_server.requests_to()[-1].json
    expected = [
        {"role": "user", "content": [{"type": "text", "text": "Tell me"}]},
        {"role": "assistant", "content": [{"type": "text", "text": CUT.rstrip()}]},
    ]
    assert sent["messages"] == expected
    assert sent == await sdk_body(fake_server, expected)

    saved = store.get(session.conversation.id)  # the stored tree: one message, two versions
    assert [m.text() for m in saved.messages] == ["Tell me", whole]
    versions = saved.siblings(saved.messages[-1])
    assert [m.id for m in versions] == [cut.id, outcome.message.id]
    assert [m.text() for m in versions] == [CUT, whole]


async def test_a_failed_continuation_leaves_the_cut_reply_shown(
    session: ChatSession, store: Store, fake_server: FakeServer
) -> None:
    await cut_reply(session, fake_server)
    cut = session.conversation.messages[-1]
    fake_server.enqueue(error_reply(529, "overloaded_error", "Overloaded"))
    outcome = await session.continue_reply()
    assert isinstance(outcome, Failed) and outcome.message is None
    assert session.conversation.messages[-1] is cut
    assert store.get(session.conversation.id).messages[-1].id == cut.id
    fake_server.enqueue(sse_text_reply(REST))
    outcome = await session.continue_reply()  # and it can be continued then
    assert isinstance(outcome, Finished) and outcome.message.text() == CUT.rstrip() + REST


async def test_without_prefill_a_marked_user_turn_asks_for_the_rest(
    session: ChatSession, store: Store, fake_server: FakeServer
) -> None:
    session.model_overrides = {MODEL: {"prefill": False}}
    await cut_reply(session, fake_server)
    fake_server.enqueue(sse_text_reply("The rest."))
    outcome = await session.continue_reply()

    assert isinstance(outcome, Finished) and outcome.message.text() == "The rest."
    sent = fake_server.requests_to()[-1].json
    expected = [
        {"role": "user", "content": [{"type": "text", "text": "Tell me"}]},
        {"role": "assistant", "content": [{"type": "text", "text": CUT}]},
        {"role": "user", "content": [{"type": "text", "text": CONTINUE_REQUEST}]},
    ]
    assert sent["messages"] == expected  # the mark is stored, never sent
    assert sent == await sdk_body(fake_server, expected)

    saved = store.get(session.conversation.id)
    assert [m.text() for m in saved.messages] == ["Tell me", CUT, CONTINUE_REQUEST, "The rest."]
    asked = saved.messages[2]
    assert asked.is_continue_request() and asked.content[-1][CONTINUE_MARK] is True
    assert not saved.messages[0].is_continue_request()
    assert CONTINUE_MARK not in str(saved.export_messages())


async def test_thinking_rules_out_prefill(
    session: ChatSession, store: Store, fake_server: FakeServer
) -> None:
    await cut_reply(session, fake_server)
    session.conversation.thinking = 1024
    session.conversation.max_tokens = 4096
    fake_server.enqueue(sse_text_reply("The rest."))
    outcome = await session.continue_reply()
    assert isinstance(outcome, Finished), outcome
    assert session.conversation.messages[-2].is_continue_request()
    assert fake_server.requests_to()[-1].json["messages"][-1]["role"] == "user"


async def test_refused_when_the_reply_was_not_cut(
    session: ChatSession, fake_server: FakeServer
) -> None:
    outcome = await session.continue_reply()  # nothing at all yet
    assert isinstance(outcome, NotSent) and isinstance(outcome.error, NothingToDo)
    fake_server.enqueue(sse_text_reply("Complete."))
    await session.send("Hi")
    outcome = await session.continue_reply()
    assert isinstance(outcome, NotSent) and str(outcome.error) == NOT_CUT
    assert len(fake_server.requests_to()) == 1
    assert [m.text() for m in session.conversation.all_messages()] == ["Hi", "Complete."]


async def test_stop_sequence_is_kept_on_the_reply(
    session: ChatSession, fake_server: FakeServer
) -> None:
    events = message_events(
        [{"type": "text", "text": "a, b"}], stop_reason="stop_sequence", stop_sequence="END"
    )
    fake_server.enqueue(Reply(sse=events))
    outcome = await session.send("List")
    assert isinstance(outcome, Finished)
    message = outcome.message
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "END")
    assert stop_note(message.stop_reason, message.stop_sequence) == (
        "■ stopped at the stop sequence 'END'"
    )


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("max_tokens", "✂ cut at max_tokens — ctrl+e continues"),
        ("refusal", "⊘ refused: the model declined to go on (stop_reason refusal)"),
        ("pause_turn", "⏸ paused by the server (pause_turn): the turn is unfinished"),
        ("end_turn", None),
        ("tool_use", None),
        (None, None),
    ],
)
def test_stop_notes(reason: str | None, expected: str | None) -> None:
    assert stop_note(reason, continue_hint="ctrl+e continues") == expected
