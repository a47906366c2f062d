"""Branches in the TUI: `‹ n/m ›` in a message's header, `[` / `]` on a focused message walk its
versions (the path under each, down to the leaf last used there), `delete` removes one version
after a confirmation, a reply keeps streaming into its own branch while another is on screen,
and a search hit in an inactive branch opens that branch. All against the fake server and the
real store; what is sent next is read from the server's recorded request."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from megachat.chat.conversation import ChatMessage, Conversation
from megachat.chat.store import Store
from megachat.config import db_path
from megachat.tui.screens.confirm import ConfirmScreen
from megachat.tui.screens.conversations import ConversationsScreen
from megachat.tui.themes import DARK_THEME
from megachat.tui.widgets.conversation_view import ConversationView
from megachat.tui.widgets.message import MessageWidget, ReplyWidget
from megachat.tui.widgets.prompt_input import PromptInput
from megachat.tui.widgets.status_line import StatusLine
from tests.fakeserver import sse_text_reply
from tests.tui.conftest import ready, send, settle, stored, type_text, until

SIZE = (110, 36)


def view_of(main: Any) -> ConversationView:
    return main.query_one(ConversationView)


def shown(main: Any) -> list[str]:
    """The texts of the messages on screen, oldest first."""
    return [w.message.text() for w in view_of(main).message_widgets()]


def header(widget: MessageWidget) -> str:
    return str(widget.query_one(".message-header").render())


def widget_showing(main: Any, text: str) -> MessageWidget:
    (widget,) = [w for w in view_of(main).message_widgets() if w.message.text() == text]
    return widget


def sent_texts(fake_server: Any) -> list[str]:
    """The messages of the last request, one text per message."""
    body = fake_server.requests_to()[-1].json
    return ["".join(b.get("text", "") for b in m["content"]) for m in body["messages"]]


async def two_replies(pilot: Any, fake_server: Any) -> Any:
    """Send "Hi", get "First", regenerate to "Second": two versions of the reply."""
    main = await ready(pilot)
    fake_server.enqueue(sse_text_reply("First"), sse_text_reply("Second"))
    await send(pilot, "Hi")
    await pilot.press("ctrl+r")
    await settle(pilot)
    return main


async def test_regenerate_then_brackets_walk_the_two_replies(make_app, fake_server):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await two_replies(pilot, fake_server)
        assert shown(main) == ["Hi", "Second"]
        reply = widget_showing(main, "Second")
        assert "‹ 2/2 ›" in header(reply)
        assert "‹" not in header(widget_showing(main, "Hi"))

        # A newcomer reaches the messages from the prompt with shift+tab.
        await pilot.press("shift+tab")
        assert app.focused is reply
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert shown(main) == ["Hi", "First"]
        first = widget_showing(main, "First")
        assert "‹ 1/2 ›" in header(first)
        assert app.focused is first  # the focus stays on the switched message
        assert stored(main.conversation.id).messages[-1].text() == "First"  # persisted

        await pilot.press("left_square_bracket")  # no wrap: the first stays the first
        await settle(pilot)
        assert shown(main) == ["Hi", "First"]

        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert shown(main) == ["Hi", "Second"]
        assert "‹ 2/2 ›" in header(widget_showing(main, "Second"))
        assert app.focused is widget_showing(main, "Second")

        # What is sent next is the path on screen.
        await pilot.press("left_square_bracket")
        await settle(pilot)
        main.query_one(PromptInput).focus()
        fake_server.enqueue(sse_text_reply("Third"))
        await send(pilot, "And then?")
        assert sent_texts(fake_server) == ["Hi", "First", "And then?"]
        assert shown(main) == ["Hi", "First", "And then?", "Third"]
        saved = stored(main.conversation.id)
        assert [m.text() for m in saved.messages] == ["Hi", "First", "And then?", "Third"]
        assert len(saved.all_messages()) == 5


async def test_switching_shows_the_leaf_last_used_under_a_version(make_app, fake_server):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await two_replies(pilot, fake_server)
        fake_server.enqueue(sse_text_reply("Deeper"))
        await send(pilot, "Go on")  # under "Second"
        assert shown(main) == ["Hi", "Second", "Go on", "Deeper"]
        widget_showing(main, "Second").focus()
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert shown(main) == ["Hi", "First"]
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert shown(main) == ["Hi", "Second", "Go on", "Deeper"]  # down to the leaf last used
        assert app.focused is widget_showing(main, "Second")


async def test_edit_and_resend_adds_a_sibling_user_turn(make_app, fake_server):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        fake_server.enqueue(sse_text_reply("Answer one"), sse_text_reply("Answer two"))
        await send(pilot, "Question one")
        await pilot.press("ctrl+g")
        await settle(pilot)
        prompt = main.query_one(PromptInput)
        assert prompt.text == "Question one"
        prompt.clear()
        await send(pilot, "Question two")
        assert sent_texts(fake_server) == ["Question two"]
        assert shown(main) == ["Question two", "Answer two"]
        assert "‹ 2/2 ›" in header(widget_showing(main, "Question two"))
        assert "‹" not in header(widget_showing(main, "Answer two"))
        assert len(main.conversation.all_messages()) == 4  # nothing was thrown away

        widget_showing(main, "Question two").focus()
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert shown(main) == ["Question one", "Answer one"]
        assert "‹ 1/2 ›" in header(widget_showing(main, "Question one"))

        prompt.focus()
        fake_server.enqueue(sse_text_reply("Sure"))
        await send(pilot, "More on one")
        assert sent_texts(fake_server) == ["Question one", "Answer one", "More on one"]


async def test_delete_branch_asks_first_then_removes_the_version_and_its_subtree(
    make_app, fake_server
):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await two_replies(pilot, fake_server)
        fake_server.enqueue(sse_text_reply("Below"))
        await send(pilot, "Follow-up")
        conversation_id = main.conversation.id
        widget_showing(main, "Second").focus()

        await pilot.press("delete")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "2 more" in str(app.screen.question)
        await pilot.press("n")  # keep it
        await settle(pilot)
        assert shown(main) == ["Hi", "Second", "Follow-up", "Below"]
        assert len(stored(conversation_id).all_messages()) == 5

        widget_showing(main, "Second").focus()
        await pilot.press("delete")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await settle(pilot)
        assert shown(main) == ["Hi", "First"]  # the previous version takes its place
        assert "‹" not in header(widget_showing(main, "First"))  # the only version left
        saved = stored(conversation_id)
        assert [m.text() for m in saved.all_messages()] == ["Hi", "First"]
        assert [m.text() for m in saved.messages] == ["Hi", "First"]

        main.query_one(PromptInput).focus()
        fake_server.enqueue(sse_text_reply("ok"))
        await send(pilot, "Again")
        assert sent_texts(fake_server) == ["Hi", "First", "Again"]


async def test_a_reply_keeps_streaming_into_its_branch_while_another_is_shown(
    make_app, fake_server
):
    release = threading.Event()
    app = make_app()
    try:
        async with app.run_test(size=SIZE) as pilot:
            main = await ready(pilot)
            fake_server.enqueue(sse_text_reply("First"))
            await send(pilot, "Hi")
            words = "the second reply arrives while you read the first one"
            fake_server.enqueue(sse_text_reply(words, chunks=10, hold=release, hold_after_events=5))
            await pilot.press("ctrl+r")
            view = view_of(main)
            await until(pilot, lambda: view.live_reply is not None and main.session.streaming_reply)
            streaming = view.live_reply
            assert isinstance(streaming, ReplyWidget)
            assert "‹ 2/2 ›" in header(streaming)
            assert main.session.busy

            # Away from the streaming reply: the first version is shown, the stream goes on.
            streaming.focus()
            await pilot.press("left_square_bracket")
            await until(pilot, lambda: shown(main) == ["Hi", "First"])
            assert app.focused is widget_showing(main, "First")
            assert not streaming.display  # hidden, still fed
            assert "another version" in main.query_one(StatusLine).text
            # Sending stays refused while any reply streams, whichever branch is shown.
            await type_text(pilot, "too soon")
            main.query_one(PromptInput).focus()
            await pilot.press("enter")
            await pilot.pause()
            assert len(fake_server.requests_to()) == 2
            assert "too soon" in main.query_one(PromptInput).text

            # Back to it while it still streams, and away again.
            widget_showing(main, "First").focus()
            await pilot.press("right_square_bracket")
            await until(pilot, lambda: view.message_widgets()[-1] is streaming)
            assert streaming.display and not streaming.is_finished
            assert app.focused is streaming
            await pilot.press("left_square_bracket")
            await until(pilot, lambda: shown(main) == ["Hi", "First"])

            release.set()
            await settle(pilot)
            assert not main.session.busy
            assert shown(main) == ["Hi", "First"]  # the screen stayed where the user was
            conversation = main.conversation
            (second,) = [m for m in conversation.all_messages() if m.text().startswith("the")]
            assert second.text() == words and second.status == "complete"
            saved = stored(conversation.id)
            assert [m.text() for m in saved.messages] == ["Hi", "First"]
            (saved_second,) = [m for m in saved.all_messages() if m.id == second.id]
            assert saved_second.text() == words and saved_second.status == "complete"

            # Switching back shows the finished reply.
            widget_showing(main, "First").focus()
            await pilot.press("right_square_bracket")
            await settle(pilot)
            assert shown(main) == ["Hi", words]
            assert "‹ 2/2 ›" in header(widget_showing(main, words))

            main.query_one(PromptInput).clear()
            main.query_one(PromptInput).focus()
            fake_server.enqueue(sse_text_reply("ok"))
            await send(pilot, "Next")
            assert sent_texts(fake_server) == ["Hi", words, "Next"]
    finally:
        release.set()


async def test_branch_keys_follow_the_keymap(make_app, settings, fake_server):
    settings.keymap = {"previous_branch": "alt+left", "next_branch": "alt+right"}
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await two_replies(pilot, fake_server)
        widget_showing(main, "Second").focus()
        await pilot.press("left_square_bracket")  # no longer bound: typed, into the prompt
        await settle(pilot)
        assert shown(main) == ["Hi", "Second"]
        assert main.query_one(PromptInput).text == "["
        widget_showing(main, "Second").focus()
        await pilot.press("alt+left")
        await settle(pilot)
        assert shown(main) == ["Hi", "First"]
        await pilot.press("alt+right")
        await settle(pilot)
        assert shown(main) == ["Hi", "Second"]


def test_branch_keys_may_not_hide_the_copy_keys() -> None:
    from megachat.tui.keymap import check_keymap, help_rows

    usable, warnings = check_keymap({"next_branch": "c", "previous_branch": "p"})
    assert usable == {"previous_branch": "p"}
    assert len(warnings) == 1 and "'copy'" in warnings[0]
    rows = dict(help_rows({"previous_branch": "p"}))
    assert "previous version" in rows["p"]
    assert "focused version" in rows["del"]


def branched_conversation() -> Conversation:
    """Hi -> (Lighthouse reply, Windmill reply); the windmill one active."""
    conversation = Conversation(id="branchy000001", title="Branches", model="claude-sonnet-4")
    hi = conversation.add_user("Tell me about a building")
    conversation.add_assistant("A lighthouse keeps ships off the rocks.", status="complete")
    conversation.branch_reply(conversation.messages[-1])
    conversation.add_assistant("A windmill grinds grain.", status="complete")
    assert [m.text() for m in conversation.messages] == [hi.text(), "A windmill grinds grain."]
    return conversation


async def test_opening_a_search_hit_in_an_inactive_branch_makes_it_active(make_app, fake_server):
    store = Store(db_path())
    store.create(branched_conversation())
    store.close()
    app = make_app(continue_last=True)
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        assert shown(main)[-1] == "A windmill grinds grain."
        await pilot.press("ctrl+l")
        await until(pilot, lambda: isinstance(app.screen, ConversationsScreen))
        screen = app.screen
        await until(pilot, screen.loaded.is_set)
        await pilot.press("slash", *"lighthouse")
        await until(pilot, lambda: screen.query_text == "lighthouse" and screen.loaded.is_set())
        assert screen.hit_messages  # the hit names the message it matched
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is main
        assert shown(main) == [
            "Tell me about a building",
            "A lighthouse keeps ships off the rocks.",
        ]
        assert "‹ 1/2 ›" in header(widget_showing(main, "A lighthouse keeps ships off the rocks."))
        saved = stored("branchy000001")
        assert saved.messages[-1].text() == "A lighthouse keeps ships off the rocks."


def test_a_message_header_names_its_version() -> None:
    from megachat.tui.widgets.message import _header_content, branch_label

    assert branch_label(None) == "" and branch_label((1, 1)) == ""
    assert branch_label((2, 3)) == "‹ 2/3 ›"
    reply = ChatMessage(role="assistant", content=[], model="m-1")
    assert str(_header_content(reply, branch=(2, 3))).startswith("Assistant · ‹ 2/3 › · m-1")
    mine = ChatMessage(role="user", content=[])
    assert str(_header_content(mine, branch=(1, 2))) == "You · ‹ 1/2 ›"


def snapshot_conversation() -> Conversation:
    """A conversation with versions at two levels: a regenerated reply (2 of 2 shown) and an
    edited question (1 of 2 shown, its other version answered elsewhere)."""
    conversation = Conversation(
        id="snapbranch001",
        title="Lighthouses",
        model="claude-sonnet-4",
        created_at=1_700_000_000.0,
        updated_at=1_700_000_000.0,
    )
    usage = {"input_tokens": 12, "output_tokens": 9}
    conversation.add_user("Name a famous lighthouse.")
    conversation.add_assistant("The Pharos of Alexandria.", status="complete")
    conversation.branch_reply(conversation.messages[-1])
    reply = conversation.add_assistant("Eddystone, off Plymouth.", status="complete")
    reply.usage = usage
    question = conversation.add_user("How tall is it?")
    conversation.add_assistant("About 49 metres.", status="complete").usage = usage
    conversation.branch_user(question, "When was it built?")
    conversation.add_assistant("The present tower in 1882.", status="complete")
    conversation.switch_to(question.id)
    for index, message in enumerate(conversation.all_messages()):
        message.created_at = 1_700_000_000.0 + index
    return conversation


@pytest.mark.parametrize("theme", [DARK_THEME])
def test_branches_snapshot(theme: str, settings: Any, snap_compare: Any) -> None:
    """`‹ n/m ›` in the headers, and the version keys in the footer of a focused message."""
    from megachat.tui.app import MegachatApp

    store = Store(db_path())
    store.create(snapshot_conversation())
    store.close()
    settings.theme = theme
    app = MegachatApp(settings, continue_last=True)

    async def run_before(pilot: Any) -> None:
        main = await ready(pilot)
        widget_showing(main, "How tall is it?").focus()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(110, 30), run_before=run_before)
