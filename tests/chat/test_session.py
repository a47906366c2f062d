"""ChatSession without Textual: every operation against the fake server and a real SQLite store.

Regenerate, edit and retry add siblings (nothing the user had is lost); cancel keeps the
partial reply; a draft that could not go out comes back whole; a 401 is an outcome to act on.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from megachat.api import MessagesClient
from megachat.api.ratelimit import RateLimiter
from megachat.chat.conversation import Conversation
from megachat.chat.outcomes import (
    Cancelled,
    Failed,
    Finished,
    NothingToDo,
    NotSent,
    SessionBusy,
    skipped_warning,
    word_failure,
)
from megachat.chat.session import ChatSession
from megachat.chat.store import Store
from megachat.chat.turn import ReplyText, TurnEvent
from tests.fakeserver import FakeServer, error_reply, sse_text_reply

WORDS = [f"w{i} " for i in range(200)]


def new_conversation() -> Conversation:
    return Conversation(model="claude-sonnet-4", max_tokens=100)


@pytest.fixture
def session(store: Store, client: MessagesClient) -> ChatSession:
    return ChatSession(store, lambda: client, new_conversation=new_conversation)


def texts(messages: list) -> list[str]:
    return [m.text() for m in messages]


def sent_texts(server: FakeServer) -> list[str]:
    """The texts of the last request's messages."""
    return [m["content"][-1]["text"] for m in server.requests_to()[-1].json["messages"]]


async def test_send_streams_stores_and_reports_finished(
    session: ChatSession, store: Store, fake_server: FakeServer
) -> None:
    fake_server.enqueue(sse_text_reply("Hi there.", chunks=["Hi ", "there."]))
    seen: list[TurnEvent] = []
    outcome = await session.send("Hello", on_event=seen.append)
    assert isinstance(outcome, Finished)
    assert outcome.status == "complete" and outcome.message.text() == "Hi there."
    assert "".join(e.text for e in seen if isinstance(e, ReplyText)) == "Hi there."
    assert texts(store.get(session.conversation.id).messages) == ["Hello", "Hi there."]
    assert not session.busy


async def test_regenerate_adds_a_sibling_and_keeps_the_old_reply(
    session: ChatSession, store: Store, fake_server: FakeServer
) -> None:
    fake_server.enqueue(sse_text_reply("First"), sse_text_reply("Second"))
    await session.send("Question")
    first = session.conversation.messages[-1]
    outcome = await session.regenerate()
    assert isinstance(outcome, Finished)
    conversation = session.conversation
    assert texts(conversation.messages) == ["Question", "Second"]
    assert texts(conversation.siblings(outcome.message)) == ["First", "Second"]
    assert sent_texts(fake_server) == ["Question"]
    saved = store.get(conversation.id)
    assert texts(saved.messages) == ["Question", "Second"]
    assert sorted(texts(saved.all_messages())) == ["First", "Question", "Second"]
    assert session.switch_branch(outcome.message, -1) is first
    assert texts(store.get(conversation.id).messages) == ["Question", "First"]


async def test_edit_adds_a_sibling_user_turn_with_its_reply(
    session: ChatSession, store: Store, fake_server: FakeServer
) -> None:
    fake_server.enqueue(sse_text_reply("About cats"), sse_text_reply("About dogs"))
    await session.send("Tell me about cats")
    cats = session.conversation.messages[0]
    outcome = await session.edit(cats, "Tell me about dogs")
    assert isinstance(outcome, Finished)
    conversation = session.conversation
    assert texts(conversation.messages) == ["Tell me about dogs", "About dogs"]
    assert texts(conversation.siblings(conversation.messages[0])) == [
        "Tell me about cats",
        "Tell me about dogs",
    ]
    assert sent_texts(fake_server) == ["Tell me about dogs"]
    assert len(store.get(conversation.id).all_messages()) == 4


async def test_begin_edit_then_send_is_an_edit(
    session: ChatSession, store: Store, fake_server: FakeServer
) -> None:
    fake_server.enqueue(sse_text_reply("About cats"), sse_text_reply("About dogs"))
    await session.send("Tell me about cats")
    draft = session.begin_edit()
    assert draft.text == "Tell me about cats" and draft.images == ()
    assert session.conversation.messages == []
    await session.send("Tell me about dogs")
    assert texts(session.conversation.messages) == ["Tell me about dogs", "About dogs"]
    assert len(session.conversation.children(None)) == 2


async def test_retry_after_an_error_adds_a_sibling(
    session: ChatSession, store: Store, fake_server: FakeServer
) -> None:
    fake_server.enqueue(
        sse_text_reply("partial words here", chunks=3, drop_after_events=4),
        sse_text_reply("complete answer"),
    )
    outcome = await session.send("Go")
    assert isinstance(outcome, Failed)
    assert outcome.message is not None and outcome.message.status == "interrupted"
    broken = outcome.message
    assert word_failure(outcome, face="tui").hint == "F5 retries"
    outcome = await session.retry()
    assert isinstance(outcome, Finished)
    assert texts(session.conversation.messages) == ["Go", "complete answer"]
    assert broken in session.conversation.siblings(outcome.message)
    assert [m.status for m in store.get(session.conversation.id).messages] == [
        "complete",
        "complete",
    ]


async def test_retry_of_an_unanswered_user_turn_answers_it(
    session: ChatSession, fake_server: FakeServer
) -> None:
    fake_server.enqueue(error_reply(529, "overloaded_error", "busy"), sse_text_reply("Now"))
    outcome = await session.send("Are you there?")
    assert isinstance(outcome, Failed) and outcome.message is None
    assert "529" in word_failure(outcome, face="cli").line()
    outcome = await session.retry()
    assert isinstance(outcome, Finished)
    assert texts(session.conversation.messages) == ["Are you there?", "Now"]
    assert len(session.conversation.all_messages()) == 2


async def test_a_message_after_an_unanswered_turn_goes_beside_it_never_merged(
    session: ChatSession, store: Store, fake_server: FakeServer
) -> None:
    fake_server.enqueue(error_reply(529, "overloaded_error", "busy"), sse_text_reply("Lima."))
    await session.send("Capital of Peru?")
    assert session.conversation.unanswered() is not None
    outcome = await session.send("What is the capital of Peru?")
    assert isinstance(outcome, Finished)
    assert sent_texts(fake_server) == ["What is the capital of Peru?"]  # not merged into one turn
    path = store.get(session.conversation.id).messages
    assert texts(path) == ["What is the capital of Peru?", "Lima."]
    first, second = session.conversation.siblings(path[0])
    assert (first.text(), second.text()) == ("Capital of Peru?", "What is the capital of Peru?")


async def test_cancel_keeps_the_partial_reply(
    session: ChatSession, store: Store, fake_server: FakeServer
) -> None:
    hold = threading.Event()  # the stream stops after its fourth delta until released
    fake_server.enqueue(
        sse_text_reply("".join(WORDS), chunks=WORDS, hold=hold, hold_after_events=6)
    )
    seen: list[str] = []

    def on_event(event: TurnEvent) -> None:
        if isinstance(event, ReplyText):
            seen.append(event.text)
            if len(seen) == 1:  # text has arrived (deltas that come together come joined)
                assert session.busy
                assert session.cancel()

    try:
        outcome = await session.send("Tell me a long story", on_event=on_event)
    finally:
        hold.set()
    assert isinstance(outcome, Cancelled)
    assert outcome.message is not None and outcome.message.status == "cancelled"
    saved = store.get(session.conversation.id).messages[-1]
    assert saved.status == "cancelled" and saved.text().startswith("".join(seen))
    assert "w199" not in saved.text()
    assert not session.busy and not session.cancel()


async def test_cancel_of_the_caller_propagates(
    session: ChatSession, store: Store, fake_server: FakeServer
) -> None:
    """Ctrl+C cancels the caller's task: that is not turned into an outcome."""
    hold = threading.Event()  # the stream stops after its first delta until released
    fake_server.enqueue(
        sse_text_reply("".join(WORDS), chunks=WORDS, hold=hold, hold_after_events=4)
    )
    started = asyncio.Event()
    task = asyncio.create_task(
        session.send(
            "story", on_event=lambda e: started.set() if isinstance(e, ReplyText) else None
        )
    )
    try:
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        hold.set()
    assert store.get(session.conversation.id).messages[-1].status == "cancelled"


async def test_switch_branch_walks_siblings_and_the_path_under_them(
    session: ChatSession, store: Store, fake_server: FakeServer
) -> None:
    fake_server.enqueue(
        sse_text_reply("A1"), sse_text_reply("B1"), sse_text_reply("A2"), sse_text_reply("B2")
    )
    await session.send("one")
    await session.send("two")
    await session.regenerate()  # "two" now has replies B1, A2
    a2 = session.conversation.messages[-1]
    await session.send("three")  # under A2
    conversation = session.conversation
    assert texts(conversation.messages) == ["one", "A1", "two", "A2", "three", "B2"]
    b1 = session.switch_branch(a2, -1)
    assert b1 is not None and b1.text() == "B1"
    assert texts(conversation.messages) == ["one", "A1", "two", "B1"]
    assert session.switch_branch(b1, -1) is None  # no wrap
    assert session.switch_branch(b1, +1) is a2
    assert texts(conversation.messages) == ["one", "A1", "two", "A2", "three", "B2"]
    assert texts(store.get(conversation.id).messages) == texts(conversation.messages)


async def test_delete_branch_removes_one_sibling_and_its_subtree(
    session: ChatSession, store: Store, fake_server: FakeServer
) -> None:
    fake_server.enqueue(sse_text_reply("First"), sse_text_reply("Second"), sse_text_reply("x"))
    await session.send("Question")
    await session.regenerate()
    await session.send("more")  # under "Second"
    second = session.conversation.messages[1]
    removed = session.delete_branch(second)
    assert texts(removed) == ["Second", "more", "x"]
    assert texts(session.conversation.messages) == ["Question", "First"]
    saved = store.get(session.conversation.id)
    assert texts(saved.messages) == ["Question", "First"]
    assert len(saved.all_messages()) == 2


async def test_not_sent_gives_the_draft_back_and_keeps_nothing(
    session: ChatSession, store: Store, fake_server: FakeServer
) -> None:
    store.close()  # every write now fails before the request is sent
    outcome = await session.send("Do not lose me")
    assert isinstance(outcome, NotSent)
    assert outcome.draft is not None and outcome.draft.text == "Do not lose me"
    assert session.conversation.messages == []
    assert session.conversation.all_messages() == []
    assert not fake_server.requests_to()


async def test_a_client_that_cannot_be_made_is_not_sent(store: Store) -> None:
    def no_client() -> MessagesClient:
        raise RuntimeError("no key")

    session = ChatSession(store, no_client, new_conversation=new_conversation)
    outcome = await session.send("hello")
    assert isinstance(outcome, NotSent) and str(outcome.error) == "no key"
    assert session.conversation.messages == []
    assert store.latest_id() is None


async def test_401_is_a_failure_to_ask_for_a_key_then_retry(
    store: Store, fake_server: FakeServer
) -> None:
    fake_server.enqueue(
        error_reply(401, "authentication_error", "invalid x-api-key"), sse_text_reply("Welcome")
    )
    keys = ["sk-bad"]

    def client() -> MessagesClient:
        return MessagesClient(
            api_key=keys[-1], base_url=fake_server.base_url, rate_limiter=RateLimiter(0)
        )

    session = ChatSession(store, client, new_conversation=new_conversation)
    outcome = await session.send("knock knock")
    assert isinstance(outcome, Failed) and outcome.key_refused
    assert "refused" in word_failure(outcome, face="tui").text
    assert "megachat key set" in word_failure(outcome, face="cli").hint
    assert texts(store.get(session.conversation.id).messages) == ["knock knock"]
    keys.append("sk-good")
    outcome = await session.retry()
    assert isinstance(outcome, Finished)
    assert fake_server.requests_to()[-1].headers["x-api-key"] == "sk-good"
    assert texts(session.conversation.messages) == ["knock knock", "Welcome"]


async def test_busy_refuses_a_second_turn_and_gives_its_draft_back(
    session: ChatSession, fake_server: FakeServer
) -> None:
    hold = threading.Event()  # the stream stops after its first delta until released
    fake_server.enqueue(
        sse_text_reply("".join(WORDS), chunks=WORDS, hold=hold, hold_after_events=4)
    )
    refused: list[object] = []

    async def on_event(event: TurnEvent) -> None:
        if isinstance(event, ReplyText) and not refused:
            refused.append(await session.send("second"))
            refused.append(await session.regenerate())
            with pytest.raises(SessionBusy):
                session.new()
            session.cancel()

    try:
        await session.send("first", on_event=on_event)
    finally:
        hold.set()
    second, regenerate = refused
    assert isinstance(second, NotSent) and isinstance(second.error, SessionBusy)
    assert second.draft is not None and second.draft.text == "second"
    assert isinstance(regenerate, NotSent) and regenerate.draft is None
    assert texts(session.conversation.messages)[0] == "first"
    assert len(fake_server.requests_to()) == 1


async def test_nothing_to_regenerate_or_edit_in_a_new_chat(session: ChatSession) -> None:
    outcome = await session.regenerate()
    assert isinstance(outcome, NotSent) and isinstance(outcome.error, NothingToDo)
    with pytest.raises(NothingToDo):
        session.begin_edit()


async def test_open_latest_and_open_a_hit_in_another_branch(
    session: ChatSession, store: Store, fake_server: FakeServer, client: MessagesClient
) -> None:
    fake_server.enqueue(sse_text_reply("First"), sse_text_reply("Second"))
    await session.send("Question")
    first = session.conversation.messages[-1]
    await session.regenerate()
    other = ChatSession(store, lambda: client, new_conversation=new_conversation)
    opened = other.open_latest()
    assert opened is not None and texts(opened.messages) == ["Question", "Second"]
    opened = other.open(opened.id, message_id=first.id)
    assert texts(opened.messages) == ["Question", "First"]
    assert texts(store.get(opened.id).messages) == ["Question", "First"]


def test_wordings_for_both_faces(tmp_path: Path) -> None:
    assert skipped_warning(0) is None
    assert skipped_warning(1) == "1 malformed stream event skipped; the reply may be incomplete"
    assert skipped_warning(2) == "2 malformed stream events skipped; the reply may be incomplete"
