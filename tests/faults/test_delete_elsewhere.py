"""A conversation deleted by another process while a reply streams into it stays deleted.

`megachat delete ID` (or a second store connection) runs while `megachat ask` or the TUI is
streaming into that conversation; the fake server holds the stream open (Reply.hold) until the
delete is done, so the order is certain. The writer stops, says so in one line (CLI) or a
notification (TUI), and nothing comes back: not the conversation, its messages or the reply.
"""

from __future__ import annotations

import threading
from typing import Any

from megachat.chat.store import Store
from megachat.config import db_path
from tests.fakeserver import FakeServer, Reply, message_events, sse_text_reply
from tests.faults.conftest import Sandbox, assert_clean, db_rows, one_error_line, read_until
from tests.tui.conftest import notifications, ready, settle, type_text, until

HEAD_TEXT = "The first part of a long story, "


def _held_reply(server: FakeServer) -> threading.Event:
    """Enqueue a reply whose text arrives, then the stream waits until the event is set."""
    events = message_events([{"type": "text", "text": HEAD_TEXT, "chunks": 1}])
    release = threading.Event()
    # message_start, ping, block start and the text go out; the end waits for `release`
    server.enqueue(Reply(sse=events, hold=release, hold_after_events=4))
    return release


def test_delete_while_ask_streams_is_not_undone(mc: Sandbox) -> None:
    mc.server.enqueue(sse_text_reply("first answer"))
    assert mc.run("ask", "first question").returncode == 0
    conv_id = mc.only_conversation()["id"]
    release = _held_reply(mc.server)
    try:
        proc = mc.popen("ask", "-c", "tell me more")
        assert proc.stdout is not None and proc.stderr is not None
        printed = read_until(proc.stdout.fileno(), HEAD_TEXT.encode())  # the reply is streaming
        deleted = mc.run("delete", conv_id)
        assert deleted.returncode == 0, deleted.stderr
    finally:
        release.set()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    line = one_error_line(err.decode())
    assert line == (
        f"megachat: error: conversation {conv_id} was deleted elsewhere while this turn ran; "
        "nothing more of it was saved"
    )
    assert (printed + out).decode() == HEAD_TEXT + "\n"  # what arrived was printed
    assert mc.conversations() == []
    assert db_rows(mc.db) == []
    listing = mc.run("list")
    assert_clean(listing.stderr)
    assert conv_id not in listing.stdout


async def test_delete_while_the_tui_streams_is_not_undone(
    make_app: Any, fake_server: FakeServer
) -> None:
    release = _held_reply(fake_server)
    app = make_app()
    try:
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            main = await ready(pilot)
            await type_text(pilot, "tell me a story")
            await pilot.press("enter")
            conversation = main.conversation
            await until(  # the reply has started (and is in the store)
                pilot,
                lambda: (
                    bool(conversation.messages) and conversation.messages[-1].role == "assistant"
                ),
            )
            with Store(db_path()) as other:  # another process, as `megachat delete` would be
                assert other.delete(conversation.id)
            release.set()
            await settle(pilot)
            # nothing came back: not the conversation, not the partial reply
            with Store(db_path()) as other:
                assert other.list() == []
                assert not other.exists(conversation.id)
            assert any(
                "This conversation was deleted elsewhere" in n for n in notifications(app)
            ), notifications(app)
            assert not any("Settings not saved" in n for n in notifications(app))
            # the text stays on screen
            assert main.conversation is conversation
            assert [m.role for m in conversation.messages] == ["user", "assistant"]
            assert conversation.messages[-1].text() == HEAD_TEXT
            # sending into it again is refused (the draft is given back), and still not stored
            await type_text(pilot, "and then?")
            await pilot.press("enter")
            await settle(pilot)
            assert any(
                f"Not sent: conversation {conversation.id} was deleted elsewhere" in n
                for n in notifications(app)
            ), notifications(app)
            assert main.query_one("#prompt").text == "and then?"
            assert len(fake_server.requests_to()) == 1
            with Store(db_path()) as other:
                assert other.list() == []
            assert app.is_running
    finally:
        release.set()
