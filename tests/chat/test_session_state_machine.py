"""A Hypothesis state machine over ChatSession: random send / regenerate / edit / retry / switch
branch / delete branch / cancel / reopen steps against the real SQLite store and the real fake
server, with replies that finish, fail (HTTP 500, an `error` event mid-stream, a dropped
connection) or are cancelled (before or during the reply) or switched away from mid-stream.

After every step it checks what issue 9 promises:
- the active path is a chain from a user root, and what was sent alternates user / assistant and
  is exactly the active path at send time (the fake server's recorded request);
- no message is lost unless a delete asked for it (a model of the ids ever created, minus the
  subtrees delete_branch removed, equals the ids in memory and in the store), and a finished
  message never changes afterwards;
- the store and the in-memory conversation agree: a fresh Store reads the same tree (ids,
  parents, roles, contents, statuses, creation order) and the same active path;
- switching and deleting move the active path as designed: down through the child last used.

Cancellation is deterministic without sleeping: the fake server holds the stream open (after 0
or 4 events) until the step has cancelled, then the hold is released.

Below the machine: single-operation tests tests/chat/test_session.py leaves open (switching away
mid-stream, images through edit, retry after a cancel, --no-save, new(), prefill without
streaming, deletes off the path and of the root).
"""

from __future__ import annotations

import asyncio
import copy
import io
import itertools
import shutil
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterator
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from megachat.api import MessagesClient
from megachat.api.ratelimit import RateLimiter
from megachat.chat.conversation import ChatMessage, Conversation
from megachat.chat.images import PreparedImage, prepare_image_bytes
from megachat.chat.outcomes import (
    Cancelled,
    Failed,
    Finished,
    NothingToDo,
    NotSent,
    Outcome,
    SessionBusy,
)
from megachat.chat.session import ChatSession
from megachat.chat.store import Store
from megachat.chat.turn import ReplyStarted, ReplyText, TurnEvent
from tests.fakeserver import FakeServer, Reply, error_reply, message_events, sse_text_reply

KINDS = (
    "ok",
    "ok",
    "http_error",
    "stream_error",
    "dropped",
    "cancel_before",
    "cancel_mid",
    "switch_mid",
)
MACHINE_SETTINGS = settings(
    max_examples=80,
    stateful_step_count=40,
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure is reproducible
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@lru_cache(maxsize=1)
def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 6), (10, 200, 30)).save(out, "PNG")
    return out.getvalue()


def _image() -> PreparedImage:
    return prepare_image_bytes(_png(), "tiny.png")


def _reply_text(step: int) -> str:
    return f"reply {step} alpha beta gamma"


def _partial_text(step: int) -> str:
    """The text of the first delta (the fake server splits at words): all a cut reply has."""
    return "reply "


def _wire(request: dict) -> list[tuple[str, str]]:
    """(role, text or "<image>") of every block of a request's messages, in order."""
    out = []
    for m in request["messages"]:
        for b in m["content"]:
            out.append((m["role"], b["text"] if b["type"] == "text" else f"<{b['type']}>"))
    return out


def _path_wire(path: list[ChatMessage]) -> list[tuple[str, str]]:
    """What sending `path` must put on the wire, block by block (empty text dropped)."""
    out = []
    for m in path:
        for b in m.content:
            if b.get("type") == "text" and b["text"].strip():
                out.append((m.role, b["text"]))
            elif b.get("type") == "image":
                out.append((m.role, "<image>"))
    return out


async def _settle(tasks: set[asyncio.Task]) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)


def _tree(conversation: Conversation) -> list[tuple]:
    return [(m.id, m.parent_id, m.role, m.content, m.status) for m in conversation.all_messages()]


class SessionMachine(RuleBasedStateMachine):
    """One conversation driven through a ChatSession, checked against a model after each step."""

    server: FakeServer  # set by the test: one fake server for every example

    def __init__(self) -> None:
        super().__init__()
        self.server.clear()
        self.tmp = Path(tempfile.mkdtemp(prefix="megachat-sm-"))
        self.db_path = self.tmp / "megachat.db"
        self.loop = asyncio.new_event_loop()
        self.client = self.loop.run_until_complete(self._make_client())
        self.store = Store(self.db_path)
        self.session = self._new_session()
        self.step = 0
        self.holds: list[threading.Event] = []
        # the model: every message ever seen (alive or deleted), its parent, role, creation order
        self.parent: dict[str, str | None] = {}
        self.role: dict[str, str] = {}
        self.order: dict[str, int] = {}
        self.removed: set[str] = set()
        self.final: dict[str, tuple[str, list[dict]]] = {}  # id -> (status, content) once final
        self.used: dict[str, int] = {}  # id -> when it was last on the active path
        self.clock = 0

    async def _make_client(self) -> MessagesClient:
        return MessagesClient(
            api_key="sk-state-machine",
            base_url=self.server.base_url,
            rate_limiter=RateLimiter(0),
            max_retries=0,
        )

    def _new_session(self) -> ChatSession:
        return ChatSession(
            self.store,
            lambda: self.client,
            new_conversation=lambda: Conversation(model="claude-sonnet-4", max_tokens=64),
        )

    def teardown(self) -> None:
        for hold in self.holds:
            hold.set()
        self.server.clear()
        pending = asyncio.all_tasks(self.loop)  # a turn a failed check left half-way
        for task in pending:
            task.cancel()
        if pending:
            self.loop.run_until_complete(_settle(pending))
        self.loop.run_until_complete(self.client.aclose())
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()
        self.store.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- the model ---------------------------------------------------------------------------

    @property
    def conversation(self) -> Conversation:
        return self.session.conversation

    def _alive(self) -> set[str]:
        return set(self.parent) - self.removed

    def _register_new(self) -> list[str]:
        """Take in the messages the conversation gained; returns their ids."""
        new = []
        for m in self.conversation.all_messages():
            if m.id not in self.parent:
                assert m.id not in self.removed, f"deleted message {m.id} came back"
                self.parent[m.id] = m.parent_id
                self.role[m.id] = m.role
                self.order[m.id] = len(self.order)
                new.append(m.id)
        return new

    def _stamp(self) -> None:
        """The active path is now the one last used at each of its levels."""
        self.clock += 1
        for m in self.conversation.messages:
            self.used[m.id] = self.clock

    def _kids(self, parent: str | None) -> list[str]:
        kids = [i for i in self._alive() if self.parent[i] == parent]
        return sorted(kids, key=self.order.__getitem__)

    def _ancestry(self, message_id: str | None) -> list[str]:
        path = []
        while message_id is not None:
            path.append(message_id)
            message_id = self.parent[message_id]
        return path[::-1]

    def _expected_path(self, message_id: str) -> list[str]:
        """root..message, then down through the child last used (ties: the newest)."""
        path = self._ancestry(message_id)
        current = message_id
        while kids := self._kids(current):
            current = max(kids, key=lambda k: (self.used.get(k, 0), self.order[k]))
            path.append(current)
        return path

    def _path_ids(self) -> list[str]:
        return [m.id for m in self.conversation.messages]

    # -- turns -------------------------------------------------------------------------------

    def _reply(self, kind: str, hold: threading.Event) -> Reply:
        text = _reply_text(self.step)
        match kind:
            case "ok":
                return sse_text_reply(text)
            case "http_error":
                headers = {"x-should-retry": "false"}
                return error_reply(500, "api_error", "boom", headers=headers)
            case "stream_error":
                events: list = message_events([{"type": "text", "text": text}])[:4]
                error = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
                return Reply(sse=[*events, ("error", error)])
            case "dropped":
                return sse_text_reply(text, drop_after_events=4)
            case "cancel_before":
                return sse_text_reply(text, hold=hold, hold_after_events=0)
            case "cancel_mid" | "switch_mid":
                return sse_text_reply(text, hold=hold, hold_after_events=4)
        raise AssertionError(kind)

    def _turn(
        self,
        kind: str,
        start: Callable[[Callable[[TurnEvent], None]], Awaitable[Outcome]],
        expected_sent: Callable[[ChatMessage | None], list[str]],
        *,
        new_user: bool,
        pick: int = 0,
        step: int = 1,
    ) -> None:
        """Run one turn with a reply of `kind`; check the request, the outcome and the path.

        `expected_sent(user)` is the active path (ids) the request must carry, given the new user
        turn (None for regenerate / retry)."""
        self.step += 1
        hold = threading.Event()
        self.holds.append(hold)
        self.server.enqueue(self._reply(kind, hold))
        before = len(self.server.requests_to())
        sent: list[list[ChatMessage]] = []
        switched: list[list[str]] = []
        seen_text: list[str] = []
        new: list[str] = []  # ids the conversation gained during the turn

        def on_path_change() -> None:
            sent.append(list(self.conversation.messages))

        def on_event(event: TurnEvent) -> None:
            if isinstance(event, ReplyStarted):
                new.extend(self._register_new())
                self._stamp()
            if not isinstance(event, ReplyText) or seen_text:
                return
            seen_text.append(event.text)
            if kind == "cancel_mid":
                assert self.session.busy and self.session.cancel()
            elif kind == "switch_mid":
                candidates = [
                    m
                    for m in self.conversation.all_messages()
                    if self.conversation.sibling(m, step) is not None
                ]
                if candidates:
                    message = candidates[pick % len(candidates)]
                    target = self.session.switch_branch(message, step)
                    assert target is not None
                    switched.append(self._expected_path(target.id))
                    assert self._path_ids() == switched[-1]
                    self._stamp()
                hold.set()

        if kind == "cancel_before":
            loop = self.loop

            def cancel_on_request(_request: object) -> None:
                loop.call_soon_threadsafe(self.session.cancel)

            self.server.on_request = cancel_on_request
        self.session.on_path_change = on_path_change
        try:
            outcome = self.loop.run_until_complete(start(on_event))
        finally:
            hold.set()
            self.server.on_request = None
            self.session.on_path_change = None

        # the request: one, carrying exactly the active path at send time
        requests = self.server.requests_to()[before:]
        assert len(requests) == 1, f"{len(requests)} requests for one turn ({outcome!r})"
        assert self.server.pending() == 0
        assert sent, "the session never reported the path it sends"
        path_at_send = sent[-1]
        body = requests[0].json
        roles = [m["role"] for m in body["messages"]]
        assert roles and roles[0] == "user", roles
        assert all(a != b for a, b in itertools.pairwise(roles)), roles
        assert roles[-1] == "user", roles
        assert _wire(body) == _path_wire(path_at_send)

        new.extend(self._register_new())
        user = None
        if new_user:
            users = [i for i in new if self.role[i] == "user"]
            assert len(users) == 1, new
            user = self.conversation.get(users[0])
        assert [m.id for m in path_at_send] == expected_sent(user)

        # the outcome, by what the server did
        text = _reply_text(self.step)
        reply = getattr(outcome, "message", None)
        match kind:
            case "ok" | "switch_mid":
                assert isinstance(outcome, Finished), outcome
                assert outcome.status == "complete" and outcome.message.text() == text
            case "http_error":
                assert isinstance(outcome, Failed) and outcome.message is None, outcome
            case "stream_error":
                assert isinstance(outcome, Failed) and outcome.message is not None, outcome
                assert outcome.message.status == "error"
                assert outcome.message.text() == _partial_text(self.step)
            case "dropped":
                assert isinstance(outcome, Failed) and outcome.message is not None, outcome
                assert outcome.message.status == "interrupted"
                assert outcome.message.text() == _partial_text(self.step)
            case "cancel_before":
                assert isinstance(outcome, Cancelled) and outcome.message is None, outcome
            case "cancel_mid":
                assert isinstance(outcome, Cancelled) and outcome.message is not None, outcome
                assert outcome.message.status == "cancelled"
                assert outcome.message.text() == seen_text[0] == _partial_text(self.step)
        expected_new = {u.id for u in [user, reply] if u is not None}
        assert set(new) == expected_new, (new, expected_new)
        if reply is not None:
            assert reply.parent_id == path_at_send[-1].id
        if switched:
            assert self._path_ids() == switched[-1], "the path did not stay where it was switched"
        else:
            tail = [reply.id] if reply is not None else []
            assert self._path_ids() == [m.id for m in path_at_send] + tail

    def _resend(self, kind: str, regenerate: bool, pick: int, step: int) -> None:
        """Regenerate or retry: the path at send ends at the last user turn."""
        path = self._path_ids()
        last = path[-1]
        expected = path[:-1] if self.role[last] == "assistant" else path
        operation = self.session.regenerate if regenerate else self.session.retry
        self._turn(
            kind,
            lambda on_event: operation(on_event=on_event),
            lambda _user: expected,
            new_user=False,
            pick=pick,
            step=step,
        )

    # -- rules -------------------------------------------------------------------------------

    @rule(
        kind=st.sampled_from(KINDS),
        image=st.booleans(),
        pick=st.integers(0, 50),
        step=st.sampled_from([-1, 1]),
    )
    def send(self, kind: str, image: bool, pick: int, step: int) -> None:
        path = self._path_ids()
        if path and self.role[path[-1]] == "user":  # unanswered: the new turn goes beside it
            path = path[:-1]
        images = [_image()] if image else []
        self._turn(
            kind,
            lambda on_event: self.session.send(f"user {self.step}", images, on_event=on_event),
            lambda user: [*path, user.id],
            new_user=True,
            pick=pick,
            step=step,
        )

    @precondition(lambda self: bool(self.conversation.messages))
    @rule(kind=st.sampled_from(KINDS), pick=st.integers(0, 50), step=st.sampled_from([-1, 1]))
    def regenerate(self, kind: str, pick: int, step: int) -> None:
        self._resend(kind, True, pick, step)

    @precondition(lambda self: bool(self.conversation.messages))
    @rule(kind=st.sampled_from(KINDS), pick=st.integers(0, 50), step=st.sampled_from([-1, 1]))
    def retry(self, kind: str, pick: int, step: int) -> None:
        self._resend(kind, False, pick, step)

    @precondition(lambda self: not self.conversation.messages)
    @rule()
    def nothing_to_regenerate(self) -> None:
        before = len(self.server.requests_to())
        for operation in (self.session.regenerate, self.session.retry):
            outcome = self.loop.run_until_complete(operation())
            assert isinstance(outcome, NotSent) and isinstance(outcome.error, NothingToDo)
        assert len(self.server.requests_to()) == before

    @precondition(lambda self: any(m.role == "user" for m in self.conversation.all_messages()))
    @rule(
        kind=st.sampled_from(KINDS),
        which=st.integers(0, 50),
        image=st.booleans(),
        pick=st.integers(0, 50),
        step=st.sampled_from([-1, 1]),
    )
    def edit(self, kind: str, which: int, image: bool, pick: int, step: int) -> None:
        users = [m for m in self.conversation.all_messages() if m.role == "user"]
        message = users[which % len(users)]
        above = self._ancestry(message.parent_id)
        images = [_image()] if image else []
        self._turn(
            kind,
            lambda on_event: self.session.edit(
                message, f"edited {self.step}", images, on_event=on_event
            ),
            lambda user: [*above, user.id],
            new_user=True,
            pick=pick,
            step=step,
        )

    @precondition(lambda self: bool(self.conversation.all_messages()))
    @rule(which=st.integers(0, 50), step=st.sampled_from([-1, 1]))
    def switch_branch(self, which: int, step: int) -> None:
        everything = self.conversation.all_messages()
        message = everything[which % len(everything)]
        path = self._path_ids()
        siblings = self._kids(message.parent_id)
        index = siblings.index(message.id) + step
        target = self.session.switch_branch(message, step)
        if not 0 <= index < len(siblings):
            assert target is None
            assert self._path_ids() == path
            return
        assert target is not None and target.id == siblings[index]
        assert self._path_ids() == self._expected_path(target.id)

    @precondition(lambda self: bool(self.conversation.all_messages()))
    @rule(which=st.integers(0, 50))
    def delete_branch(self, which: int) -> None:
        everything = self.conversation.all_messages()
        message = everything[which % len(everything)]
        path = self._path_ids()
        doomed = {message.id}
        for i in sorted(self._alive(), key=self.order.__getitem__):
            if self.parent[i] in doomed:
                doomed.add(i)
        siblings = self._kids(message.parent_id)
        index = siblings.index(message.id)
        removed = self.session.delete_branch(message)
        assert {m.id for m in removed} == doomed
        self.removed |= doomed
        if message.id not in path:
            assert self._path_ids() == path
            return
        replacement = (siblings[index - 1] if index > 0 else None) or (
            siblings[index + 1] if index + 1 < len(siblings) else None
        )
        if replacement is None:
            assert self._path_ids() == self._ancestry(message.parent_id)
        else:
            assert self._path_ids() == self._expected_path(replacement)

    @precondition(lambda self: self.store.exists(self.conversation.id))
    @rule()
    def reopen(self) -> None:
        """Quit and come back: a fresh Store and session open the conversation as it was."""
        conv_id, path, tree = self.conversation.id, self._path_ids(), _tree(self.conversation)
        self.store.close()
        self.store = Store(self.db_path)
        self.session = self._new_session()
        self.session.open(conv_id)
        assert self._path_ids() == path
        assert _tree(self.conversation) == tree

    @rule()
    def cancel_when_idle(self) -> None:
        assert not self.session.busy
        assert self.session.cancel() is False

    # -- after every step ----------------------------------------------------------------------

    @invariant()
    def the_path_is_a_chain_the_api_accepts(self) -> None:
        """Also records the path as the one last used (the model's side of "last used")."""
        self._stamp()
        path = self.conversation.messages
        assert not self.session.busy
        if not path:
            return
        assert path[0].parent_id is None and path[0].role == "user"
        for parent, child in itertools.pairwise(path):
            assert child.parent_id == parent.id
            assert parent.role != child.role  # an unanswered user turn gets a sibling, not a child
        for m in self.conversation.all_messages():
            if m.role == "assistant":
                assert m.parent_id is not None and self.role[m.parent_id] == "user"
            assert m.status != "streaming", f"{m.id} still streaming after its turn"
        roles = [m["role"] for m in self.conversation.build_request()["messages"]]
        assert not roles or roles[0] == "user"
        assert all(a != b for a, b in itertools.pairwise(roles)), roles

    @invariant()
    def nothing_is_lost_and_the_store_agrees(self) -> None:
        assert not self._register_new(), "messages appeared outside a turn"
        alive = self._alive()
        memory = self.conversation
        assert {m.id for m in memory.all_messages()} == alive
        for m in memory.all_messages():
            if m.id in self.final:
                assert (m.status, m.content) == self.final[m.id], f"{m.id} changed"
            else:
                self.final[m.id] = (m.status, copy.deepcopy(m.content))
        if not self.store.exists(memory.id):
            assert not alive
            return
        fresh = Store(self.db_path)
        try:
            stored = fresh.get(memory.id)
        finally:
            fresh.close()
        assert {m.id for m in stored.all_messages()} == alive
        assert _tree(stored) == _tree(memory)
        assert [m.id for m in stored.messages] == self._path_ids()


@pytest.fixture(scope="module")
def shared_server() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


def test_session_state_machine(shared_server: FakeServer) -> None:
    SessionMachine.server = shared_server
    run_state_machine_as_test(SessionMachine, settings=MACHINE_SETTINGS)


# --------------------------------------------------------------------------- single operations
# What tests/chat/test_session.py does not pin down: switching away mid-stream, images through
# edit, retry after a cancel, --no-save, new(), prefill without streaming, deletes off the path.


def _session(store: Store, client: MessagesClient, *, save: bool = True) -> ChatSession:
    return ChatSession(
        store,
        lambda: client,
        new_conversation=lambda: Conversation(model="claude-sonnet-4", max_tokens=64),
        save=save,
    )


def _texts(messages: list[ChatMessage]) -> list[str]:
    return [m.text() for m in messages]


async def test_switching_away_mid_stream_keeps_streaming_into_its_branch(
    store: Store, client: MessagesClient, fake_server: FakeServer
) -> None:
    session = _session(store, client)
    hold = threading.Event()
    fake_server.enqueue(
        sse_text_reply("First"),
        sse_text_reply("Second reply in full", hold=hold, hold_after_events=4),
    )
    await session.send("Question")
    first = session.conversation.messages[-1]
    switched: list[ChatMessage | None] = []

    def on_event(event: TurnEvent) -> None:
        if isinstance(event, ReplyText) and not switched:
            reply = session.streaming_reply
            assert reply is not None and reply.status == "streaming"
            switched.append(session.switch_branch(reply, -1))
            hold.set()

    try:
        outcome = await session.regenerate(on_event=on_event)
    finally:
        hold.set()
    assert switched == [first]
    assert isinstance(outcome, Finished) and outcome.message.text() == "Second reply in full"
    assert _texts(session.conversation.messages) == ["Question", "First"]  # what is on screen
    saved = store.get(session.conversation.id)
    assert _texts(saved.messages) == ["Question", "First"]
    second = saved.get(outcome.message.id)
    assert second is not None and second.status == "complete"
    assert second.text() == "Second reply in full" and second.parent_id == first.parent_id


async def test_switching_before_the_reply_begins_is_refused(
    store: Store, client: MessagesClient, fake_server: FakeServer
) -> None:
    session = _session(store, client)
    fake_server.enqueue(sse_text_reply("First"), sse_text_reply("Second"))
    await session.send("Question")
    first = session.conversation.messages[-1]
    refused: list[BaseException] = []

    def on_path_change() -> None:
        assert session.busy and session.streaming_reply is None
        with pytest.raises(SessionBusy) as info:
            session.switch_branch(first, +1)
        refused.append(info.value)
        with pytest.raises(SessionBusy):
            session.delete_branch(first)

    session.on_path_change = on_path_change
    outcome = await session.regenerate()
    assert refused and isinstance(outcome, Finished)
    assert len(session.conversation.siblings(first)) == 2


async def test_edit_with_an_image_keeps_both_versions_and_their_images(
    store: Store, client: MessagesClient, fake_server: FakeServer
) -> None:
    session = _session(store, client)
    fake_server.enqueue(sse_text_reply("A cat"), sse_text_reply("A green square"))
    await session.send("What is this?", [_image()])
    draft = session.begin_edit()
    assert draft.text == "What is this?"
    assert [(i.name, i.data) for i in draft.images] == [("tiny.png", _png())]
    outcome = await session.send("What colour is this?", draft.images)
    assert isinstance(outcome, Finished)
    request = fake_server.requests_to()[-1].json
    assert [b["type"] for b in request["messages"][0]["content"]] == ["image", "text"]
    saved = store.get(session.conversation.id)
    roots = saved.children(None)
    assert _texts(roots) == ["What is this?", "What colour is this?"]
    assert all(len(m.images()) == 1 for m in roots)
    assert _texts(saved.messages) == ["What colour is this?", "A green square"]


async def test_retry_after_a_cancel_keeps_the_partial_reply_as_a_branch(
    store: Store, client: MessagesClient, fake_server: FakeServer
) -> None:
    session = _session(store, client)
    hold = threading.Event()
    fake_server.enqueue(
        sse_text_reply("partial words here", hold=hold, hold_after_events=4),
        sse_text_reply("whole answer"),
    )

    def on_event(event: TurnEvent) -> None:
        if isinstance(event, ReplyText):
            session.cancel()

    try:
        outcome = await session.send("Go", on_event=on_event)
    finally:
        hold.set()
    assert isinstance(outcome, Cancelled) and outcome.message is not None
    cut = outcome.message
    outcome = await session.retry()
    assert isinstance(outcome, Finished)
    assert _texts(session.conversation.messages) == ["Go", "whole answer"]
    saved = store.get(session.conversation.id)
    versions = saved.siblings(saved.messages[-1])
    assert [(m.text(), m.status) for m in versions] == [
        ("partial ", "cancelled"),
        ("whole answer", "complete"),
    ]
    assert versions[0].id == cut.id


async def test_no_save_branches_in_memory_and_writes_nothing(
    store: Store, client: MessagesClient, fake_server: FakeServer
) -> None:
    session = _session(store, client, save=False)
    fake_server.enqueue(sse_text_reply("One"), sse_text_reply("Two"))
    await session.send("Hi")
    outcome = await session.regenerate()
    assert isinstance(outcome, Finished)
    assert _texts(session.conversation.siblings(outcome.message)) == ["One", "Two"]
    session.switch_branch(outcome.message, -1)
    session.delete_branch(outcome.message)
    assert _texts(session.conversation.messages) == ["Hi", "One"]
    assert store.latest_id() is None and store.count() == 0


async def test_new_starts_another_conversation_and_leaves_the_first(
    store: Store, client: MessagesClient, fake_server: FakeServer
) -> None:
    session = _session(store, client)
    fake_server.enqueue(sse_text_reply("One"), sse_text_reply("Two"))
    await session.send("first chat")
    first = session.conversation.id
    session.new()
    assert session.conversation.id != first and session.conversation.messages == []
    await session.send("second chat")
    assert [m["content"][-1]["text"] for m in fake_server.requests_to()[-1].json["messages"]] == [
        "second chat"
    ]
    assert store.count() == 2 and store.latest_id() == session.conversation.id
    assert _texts(store.get(first).messages) == ["first chat", "One"]


async def test_prefill_without_streaming_is_stored_as_one_reply(
    store: Store, client: MessagesClient, fake_server: FakeServer
) -> None:
    from tests.fakeserver import text_reply

    session = _session(store, client)
    fake_server.enqueue(text_reply('"a": 1}'))
    outcome = await session.send("JSON please", prefill="{ ", stream=False)
    assert isinstance(outcome, Finished) and outcome.message.text() == '{"a": 1}'
    body = fake_server.requests_to()[-1].json
    assert "stream" not in body
    assert body["messages"][-1] == {"role": "assistant", "content": [{"type": "text", "text": "{"}]}
    assert _texts(store.get(session.conversation.id).messages) == ["JSON please", '{"a": 1}']


async def test_deleting_off_the_path_keeps_it_and_deleting_the_root_empties_it(
    store: Store, client: MessagesClient, fake_server: FakeServer
) -> None:
    session = _session(store, client)
    fake_server.enqueue(sse_text_reply("One"), sse_text_reply("Two"), sse_text_reply("Three"))
    await session.send("Hi")
    one = session.conversation.messages[-1]
    await session.regenerate()
    assert _texts(session.delete_branch(one)) == ["One"]
    assert _texts(session.conversation.messages) == ["Hi", "Two"]
    assert _texts(store.get(session.conversation.id).messages) == ["Hi", "Two"]
    removed = session.delete_branch(session.conversation.messages[0])
    assert _texts(removed) == ["Hi", "Two"]
    assert session.conversation.messages == [] and session.conversation.all_messages() == []
    saved = store.get(session.conversation.id)
    assert saved.messages == [] and saved.all_messages() == []
    outcome = await session.send("Again")
    assert isinstance(outcome, Finished)
    assert _texts(store.get(session.conversation.id).messages) == ["Again", "Three"]
