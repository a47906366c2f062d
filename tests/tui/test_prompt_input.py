"""The prompt never loses or doubles input: a bracketed paste goes in once, keys typed right after
Enter stay in the prompt, lines typed as keys (a paste without bracketed paste) are all sent or
kept in order, and a draft that could not be sent comes back in front of what was typed since.

Bursts are posted to the app all at once, as the terminal driver does for a paste or for fast
typing (Pilot's `press` waits for the app to go idle after every key, which hides these bugs).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from textual import events

from megachat.tui.widgets.attachments import AttachmentsStrip
from megachat.tui.widgets.prompt_input import PromptInput
from tests.fakeserver import sse_text_reply
from tests.tui.conftest import notifications, ready, sent_texts, settle, until

SIZE = (120, 40)


def burst(app: Any, *keys: str) -> None:
    """Post keys (characters, or "enter") to the app in one go, as the driver does with what
    the terminal wrote."""
    for key in keys:
        if key == "enter":
            app.post_message(events.Key("enter", "\r"))
        else:
            app.post_message(events.Key("space" if key == " " else key, key))


def keys_of(text: str) -> list[str]:
    """The keys a terminal sends for `text` typed (or pasted without brackets): CR is Enter."""
    return ["enter" if char == "\n" else char for char in text]


# -- item 8: a bracketed paste is inserted once ----------------------------------------------


async def test_a_bracketed_paste_is_inserted_once(make_app, fake_server):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        prompt = main.query_one(PromptInput)
        app.post_message(events.Paste("hello\nworld"))
        await pilot.pause()
        assert prompt.text == "hello\nworld"


async def test_a_long_pasted_text_is_sent_exactly_once(make_app, fake_server):
    text = "\n".join(f"line {n}" for n in range(2000))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        app.post_message(events.Paste(text))
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        assert sent_texts(fake_server) == [text]
        assert main.conversation.messages[0].text() == text


# -- item 9: keys typed right after Enter ----------------------------------------------------


async def test_keys_typed_right_after_enter_stay_in_the_prompt(make_app, fake_server):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        burst(app, *"msgC", "enter", *"msgD")
        await settle(pilot)
        assert sent_texts(fake_server) == ["msgC"]
        assert main.query_one(PromptInput).text == "msgD"


async def test_lines_typed_as_keys_are_all_sent_or_kept_in_order(make_app, fake_server):
    """A paste without bracketed paste: each line break is Enter. The first line is sent; Enter
    while that turn is in flight is a newline, so nothing typed is lost or reordered."""
    text = "first line\nsecond line\nthird line\nfourth line"
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        burst(app, *keys_of(text))
        await settle(pilot)
        prompt = main.query_one(PromptInput)
        sent = sent_texts(fake_server)
        assert sent[0] == "first line"
        assert "\n".join([*sent, prompt.text]) == text
        # What was kept is sent whole by the next Enter.
        await pilot.press("enter")
        await settle(pilot)
        assert "\n".join(sent_texts(fake_server)) == text
        assert prompt.text == ""


async def test_enter_while_a_reply_streams_keeps_the_text_and_adds_a_newline(make_app, fake_server):
    words = [f"w{n} " for n in range(400)]
    hold = threading.Event()  # the reply streams one word, then waits until released
    fake_server.enqueue(
        sse_text_reply("".join(words), chunks=words, hold=hold, hold_after_events=4)
    )
    app = make_app()
    try:
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            main = await ready(pilot)
            prompt = main.query_one(PromptInput)
            burst(app, *"first", "enter")
            await until(pilot, lambda: len(main.conversation.messages) == 2)
            burst(app, *"second", "enter", *"third")
            await until(pilot, lambda: prompt.text.endswith("third"))
            assert prompt.text == "second\nthird"
            assert main.busy
            assert sent_texts(fake_server) == ["first"]
            assert any("A reply is still coming" in n for n in notifications(app))
            await pilot.press("escape")
            await settle(pilot)
            assert not main.busy
            assert prompt.text == "second\nthird"
            await pilot.press("enter")
            await settle(pilot)
            assert sent_texts(fake_server) == ["first", "second\nthird"]
    finally:
        hold.set()


async def test_no_key_gives_the_draft_and_its_images_back(
    make_app, settings, fake_server, tmp_path: Path
):
    from PIL import Image

    from megachat.tui.screens.api_key import ApiKeyScreen

    settings.api_key = None
    image = tmp_path / "red.png"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(image, format="PNG")
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ApiKeyScreen))
        await pilot.press("escape")  # no key at start-up
        main = await ready(pilot)
        await main.attach_path(image).wait()
        await pilot.pause()
        strip = main.query_one(AttachmentsStrip)
        assert len(strip.images) == 1
        burst(app, *"keep me", "enter")
        await until(pilot, lambda: isinstance(app.screen, ApiKeyScreen))
        await pilot.press("escape")  # still no key: not sent
        await settle(pilot)
        assert main.query_one(PromptInput).text == "keep me"
        assert len(strip.images) == 1
        assert not fake_server.requests_to()
        assert main.conversation.messages == []
        assert any("no API key" in n for n in notifications(app))
        assert not main.query_one(PromptInput).held  # Enter sends again


async def test_a_draft_that_was_not_stored_comes_back_before_what_was_typed_since(
    make_app, fake_server
):
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        main = await ready(pilot)
        app.store.close()  # every write now fails before the request is sent
        burst(app, *"first", "enter", *"more")
        await settle(pilot)
        assert main.query_one(PromptInput).text == "first\nmore"
        assert main.conversation.messages == []
        assert not fake_server.requests_to()
        assert any("Not sent" in n for n in notifications(app))


async def test_a_refused_send_keeps_the_text(make_app, fake_server):
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        main = await ready(pilot)
        main.query_one("#temperature").value = "7"
        await pilot.pause()
        burst(app, *"too hot", "enter")
        await settle(pilot)
        assert main.query_one(PromptInput).text == "too hot"
        assert not fake_server.requests_to()
        assert not main.query_one(PromptInput).held


async def test_send_from_the_palette_takes_the_text_like_enter(make_app, fake_server):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        burst(app, *"via palette")
        await pilot.pause()
        main._send_from_palette()
        await settle(pilot)
        assert sent_texts(fake_server) == ["via palette"]
        assert main.query_one(PromptInput).text == ""


async def test_enter_before_start_up_finished_sends_once_ready_and_keeps_what_follows(
    make_app, fake_server
):
    from megachat.tui.screens.main import MainScreen

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = next(s for s in app.screen_stack if isinstance(s, MainScreen))
        # Sent as soon as the app runs, before start-up finished (`send` defers it).
        burst(app, *"early", "enter", *"later")
        await ready(pilot)
        await settle(pilot)
        assert sent_texts(fake_server) == ["early"]
        assert main.query_one(PromptInput).text == "later"
