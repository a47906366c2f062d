"""TUI faults driven with Textual's Pilot against the real fake server and a real SQLite file:
a 401 in the middle of a session, a mid-stream error event, a 429 storm, a 1 MB reply, a corrupt
database at start-up. Each: no crash (the app keeps running), the message is a notification with
the API's own words, and the store keeps every turn.
"""

from __future__ import annotations

from typing import Any

from megachat.chat.store import Store
from megachat.config import db_path
from tests.fakeserver import (
    FakeServer,
    Reply,
    error_reply,
    fixture_reply,
    message_events,
    sse_text_reply,
)
from tests.tui.conftest import notifications, ready, send, settle, type_text

SIZE = (120, 40)


def stored_messages(conversation_id: str) -> list[tuple[str, str, str]]:
    store = Store(db_path())
    try:
        return [(m.role, m.text(), m.status) for m in store.get(conversation_id).messages]
    finally:
        store.close()


async def wait_for_screen(pilot: Any, kind: type) -> Any:
    while not isinstance(pilot.app.screen, kind):
        await pilot.pause()
    await pilot.pause()
    return pilot.app.screen


async def test_tui_401_in_the_middle_of_a_session(make_app, fake_server: FakeServer) -> None:
    from megachat.tui.screens.api_key import ApiKeyScreen

    fake_server.enqueue(sse_text_reply("first answer"))
    fake_server.enqueue(error_reply(401, "authentication_error", "invalid x-api-key"))
    fake_server.enqueue(sse_text_reply("second answer"))
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        main = await ready(pilot)
        await send(pilot, "turn one")
        await type_text(pilot, "turn two")
        await pilot.press("enter")
        screen = await wait_for_screen(pilot, ApiKeyScreen)
        assert "refused" in str(screen.query_one("#api-key-refused").content)
        # while the key screen is up, the user turn is already safe in the store
        assert stored_messages(main.conversation.id)[-1] == ("user", "turn two", "complete")
        screen.query_one("#api-key-input").value = "sk-mega-rotated-key-789"
        await pilot.press("enter")
        await settle(pilot)
        assert fake_server.requests_to()[-1].headers["x-api-key"] == "sk-mega-rotated-key-789"
        assert stored_messages(main.conversation.id) == [
            ("user", "turn one", "complete"),
            ("assistant", "first answer", "complete"),
            ("user", "turn two", "complete"),
            ("assistant", "second answer", "complete"),
        ]
        assert app.is_running


async def test_tui_401_and_the_user_gives_up(make_app, fake_server: FakeServer) -> None:
    from megachat.tui.screens.api_key import ApiKeyScreen

    fake_server.enqueue(sse_text_reply("first answer"))
    fake_server.enqueue(error_reply(401, "authentication_error", "invalid x-api-key"))
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        main = await ready(pilot)
        await send(pilot, "turn one")
        await type_text(pilot, "turn two")
        await pilot.press("enter")
        await wait_for_screen(pilot, ApiKeyScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, ApiKeyScreen)
        assert main.last_error and "refused" in main.last_error
        assert [m[:2] for m in stored_messages(main.conversation.id)] == [
            ("user", "turn one"),
            ("assistant", "first answer"),
            ("user", "turn two"),
        ]
        assert app.is_running


async def test_tui_error_event_mid_stream(make_app, fake_server: FakeServer) -> None:
    fake_server.enqueue(fixture_reply("07_error_midstream_overloaded.sse"))
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        main = await ready(pilot)
        await send(pilot, "tell a story")
        assert any("Overloaded" in n and "overloaded_error" in n for n in notifications(app))
        assert stored_messages(main.conversation.id) == [
            ("user", "tell a story", "complete"),
            ("assistant", "Once upon a time", "error"),
        ]
        assert main.conversation.messages[-1].text() == "Once upon a time"
        assert app.is_running


async def test_tui_malformed_stream_event_is_reported(make_app, fake_server: FakeServer) -> None:
    events = message_events([{"type": "text", "text": "good part and the rest", "chunks": 2}])
    broken = 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"del\n\n'
    fake_server.enqueue(Reply(sse=[*events[:4], broken, *events[4:]]))
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        main = await ready(pilot)
        await send(pilot, "json please")
        assert any("1 malformed stream event skipped" in n for n in notifications(app))
        assert main.conversation.messages[-1].text() == "good part and the rest"


async def test_tui_429_storm(make_app, settings, fake_server: FakeServer) -> None:
    settings.max_retries = 2
    for _ in range(3):
        fake_server.enqueue(
            error_reply(
                429, "rate_limit_error", "slow down please", headers={"retry-after-ms": "20"}
            )
        )
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        main = await ready(pilot)
        await send(pilot, "busy?")
        assert len(fake_server.requests_to()) == 3
        assert any("slow down please" in n and "429" in n for n in notifications(app))
        assert stored_messages(main.conversation.id) == [("user", "busy?", "complete")]
        assert app.is_running


async def test_tui_one_megabyte_reply(make_app, fake_server: FakeServer) -> None:
    line = "".join(f"{i:07d} " for i in range(16)) + "\n"
    text = line * (1_048_576 // len(line) + 1)
    fake_server.enqueue(sse_text_reply(text, chunks=1000))
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        main = await ready(pilot)
        await send(pilot, "a lot")
        assert main.conversation.messages[-1].text() == text
        assert stored_messages(main.conversation.id)[-1] == ("assistant", text, "complete")
        assert app.is_running


async def test_tui_corrupt_database_at_start(make_app, fake_server: FakeServer) -> None:
    path = db_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    garbage = b"definitely not sqlite\n" * 100
    path.write_bytes(garbage)
    fake_server.enqueue(sse_text_reply("fresh answer"))
    app = make_app(continue_last=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        main = await ready(pilot)
        assert any("not a readable megachat database" in n for n in notifications(app))
        await send(pilot, "after the damage")
        assert stored_messages(main.conversation.id) == [
            ("user", "after the damage", "complete"),
            ("assistant", "fresh answer", "complete"),
        ]
        assert app.is_running
    aside = list(path.parent.glob("megachat.db.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == garbage
