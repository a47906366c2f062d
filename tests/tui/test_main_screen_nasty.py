"""The nasty-string corpus in every place of the main screen it can reach: the title bar, the
sidebar (model names from the server, the inputs), notifications (API error messages), the
prompt (sent and stored as typed), attachment names and the palette. Nothing may crash, nothing
is parsed as markup, and no control sequence reaches the screen."""

from __future__ import annotations

from typing import Any

from megachat.chat.conversation import Conversation
from megachat.chat.images import PreparedImage
from megachat.sanitize import clean
from megachat.tui.widgets.attachments import AttachmentsStrip, describe_image
from megachat.tui.widgets.prompt_input import PromptInput
from megachat.tui.widgets.sidebar import Sidebar
from tests.fakeserver import error_reply
from tests.tui.conftest import ready, settle
from tests.tui.nasty_strings import NASTY_STRINGS

SIZE = (100, 32)


def shown(text: str) -> str:
    return " ".join(clean(text).split())


def screen_text(app: Any) -> str:
    """What the terminal would show (all text of the current screen, as exported)."""
    return app.export_screenshot()


async def test_nasty_titles_show_literally(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        for text in NASTY_STRINGS:
            await main.show_conversation(Conversation(title=text, model="m"))
            await pilot.pause()
            title = main.query_one("#title-bar").content
            assert str(title) == (shown(text) or "New chat")
            assert "\x1b" not in str(title)


async def test_nasty_model_names_in_the_sidebar(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        sidebar = main.query_one(Sidebar)
        names = [t for t in NASTY_STRINGS if t.strip()][:20]
        sidebar.set_models(names, current=names[0])
        await pilot.pause()
        select = sidebar.query_one("#model")
        for name in [*names[1:], names[0]]:
            select.value = name
            await pilot.pause()
            assert main.conversation.model == name
        await pilot.click("#model")  # open the overlay: every option rendered
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()


async def test_nasty_text_in_the_sidebar_inputs(make_app, fake_server):
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        main = await ready(pilot)
        for text in NASTY_STRINGS[:20]:
            main.query_one("#prefill").value = text
            main.query_one("#system").load_text(text)
            main.query_one("#temperature").value = text
            await pilot.pause()
        main.query_one("#temperature").value = ""
        main.query_one("#prefill").value = ""
        main.query_one("#system").load_text("[bold]system[/]")
        await pilot.pause()
        main.query_one(PromptInput).focus()
        main.query_one(PromptInput).insert("go")
        await pilot.press("enter")
        await settle(pilot)
        assert fake_server.requests_to()[-1].json["system"] == "[bold]system[/]"


async def test_nasty_error_messages_are_literal_notifications(make_app, fake_server):
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        main = await ready(pilot)
        for text in NASTY_STRINGS:
            app.notify_error(text)
        await pilot.pause()
        messages = [str(n.message) for n in app._notifications]
        assert all("\x1b" not in m for m in messages)
        assert "[/]" in messages and "[bold]not bold[/bold]" in messages
        app.clear_notifications()
        fake_server.enqueue(error_reply(400, "invalid_request_error", "bad [/] \x1b[31m[link=x]"))
        main.query_one(PromptInput).insert("hello")
        await pilot.press("enter")
        await settle(pilot)
        messages = [str(n.message) for n in app._notifications]
        assert any("bad [/] [link=x]" in m for m in messages), messages


async def test_nasty_prompts_are_sent_as_typed(make_app, fake_server):
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        main = await ready(pilot)
        prompt = main.query_one(PromptInput)
        for text in NASTY_STRINGS:
            prompt.clear()
            prompt.insert(text)
            typed = prompt.text  # as the TextArea holds it (it normalises line endings)
            await pilot.press("enter")
            await settle(pilot)
            if not text.strip():
                assert prompt.text == typed  # nothing to send: the draft stays
                continue
            sent = fake_server.requests_to()[-1].json["messages"][-1]["content"][-1]["text"]
            assert sent == typed
            assert main.conversation.messages[-2].text() == typed
        assert main.conversation.messages
        assert all(m.status == "complete" for m in main.conversation.messages)


async def test_nasty_attachment_names(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        strip = main.query_one(AttachmentsStrip)
        for text in NASTY_STRINGS:
            image = PreparedImage(
                name=text + ".png",
                media_type="image/png",
                data=b"x" * 10,
                width=1,
                height=1,
                sha256="0" * 64,
                original_size=10,
            )
            strip.set_images([image])
            await pilot.pause()
            assert "\x1b" not in describe_image(image)
        strip.clear()


async def test_nasty_preset_names_in_the_palette(make_app, tui_dirs):
    presets = tui_dirs / "config" / "megachat" / "presets"
    presets.mkdir(parents=True)
    (presets / "nasty.toml").write_text('name = "[/] x"\nsystem = "s"\n')
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+p")
        while not app.screen.query("CommandList"):
            await pilot.pause()
        await pilot.press("p", "r", "e", "s", "e", "t")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
