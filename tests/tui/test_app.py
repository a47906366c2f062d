"""Pilot tests of the application around the main screen: keys (first run, 401), resume, images,
copy, presets, themes, keymap overrides, help and the command palette."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from megachat.chat.conversation import ChatMessage, Conversation
from megachat.chat.store import Store
from megachat.config import config_path, db_path
from megachat.tui.widgets.attachments import AttachmentsStrip
from megachat.tui.widgets.prompt_input import PromptInput, attachable_path_from_text
from tests.fakeserver import error_reply, sse_text_reply
from tests.tui.conftest import TEST_KEY, notifications, ready, settle, type_text

SIZE = (120, 40)


async def wait_for_screen(pilot: Any, kind: type) -> Any:
    """Wait (on app state) until a screen of `kind` is on top."""
    while not isinstance(pilot.app.screen, kind):
        await pilot.pause()
    await pilot.pause()
    return pilot.app.screen


async def wait_for_conversation_list(pilot: Any, kind: type) -> Any:
    """Wait for the conversations screen and its list (a worker on that screen fills it).

    Not settle(): the main screen's worker is awaiting this very screen's result."""
    from textual.widgets import OptionList

    screen = await wait_for_screen(pilot, kind)
    option_list = screen.query_one(OptionList)
    while not option_list.option_count or option_list.highlighted is None:
        await pilot.pause()
    return screen


def saved_conversation(title: str, texts: list[str]) -> Conversation:
    conversation = Conversation(title=title, model="claude-sonnet-4", max_tokens=512)
    for index, text in enumerate(texts):
        role = "user" if index % 2 == 0 else "assistant"
        conversation.messages.append(
            ChatMessage(role=role, content=[{"type": "text", "text": text}])
        )
    store = Store(db_path())
    try:
        store.create(conversation)
    finally:
        store.close()
    return conversation


def make_png(path: Path, size: tuple[int, int] = (40, 30)) -> Path:
    from PIL import Image

    Image.new("RGB", size, (200, 30, 30)).save(path, format="PNG")
    return path


# -- API key ---------------------------------------------------------------------------------


async def test_first_run_asks_for_the_key_stores_it_0600_and_goes_on(
    make_app, settings, fake_server
):
    from megachat.tui.screens.api_key import ApiKeyScreen

    settings.api_key = None
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_screen(pilot, ApiKeyScreen)
        screen.query_one("#api-key-input").value = "sk-mega-first-run-key-123"
        await pilot.press("enter")
        main = await ready(pilot)
        assert app.screen is main
        assert app.settings.api_key == "sk-mega-first-run-key-123"
        path = config_path()
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert tomllib.loads(path.read_text())["api_key"] == "sk-mega-first-run-key-123"
        assert isinstance(app.focused, PromptInput)
        await type_text(pilot, "hello")
        await pilot.press("enter")
        await settle(pilot)
        request = fake_server.requests_to()[-1]
        assert request.headers["x-api-key"] == "sk-mega-first-run-key-123"


async def test_a_401_asks_for_another_key_and_retries(make_app, fake_server):
    from megachat.tui.screens.api_key import ApiKeyScreen

    fake_server.enqueue(error_reply(401, "authentication_error", "invalid x-api-key"))
    fake_server.enqueue(sse_text_reply("Welcome back"))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        await type_text(pilot, "knock knock")
        await pilot.press("enter")
        screen = await wait_for_screen(pilot, ApiKeyScreen)
        assert "refused" in str(screen.query_one("#api-key-refused").content)
        screen.query_one("#api-key-input").value = "sk-mega-second-key-456"
        await pilot.press("enter")
        await settle(pilot)
        requests = fake_server.requests_to()
        assert requests[0].headers["x-api-key"] == TEST_KEY
        assert requests[-1].headers["x-api-key"] == "sk-mega-second-key-456"
        assert [m.text() for m in main.conversation.messages] == ["knock knock", "Welcome back"]
        assert tomllib.loads(config_path().read_text())["api_key"] == "sk-mega-second-key-456"


# -- resume ----------------------------------------------------------------------------------


async def test_continue_last_opens_the_most_recent_conversation(make_app, fake_server):
    saved_conversation("older chat", ["old question", "old answer"])
    newest = saved_conversation("newest chat", ["new question", "new answer"])
    app = make_app(continue_last=True)
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        assert main.conversation.id == newest.id
        assert [m.text() for m in main.conversation.messages] == ["new question", "new answer"]
        assert "newest chat" in str(main.query_one("#title-bar").content)
        assert main.conversation.max_tokens == 512
        assert main.query_one("#max-tokens").value == "512"
        await type_text(pilot, "and another")
        await pilot.press("enter")
        await settle(pilot)
        body = fake_server.requests_to()[-1].json
        assert [m["content"][0]["text"] for m in body["messages"]] == [
            "new question",
            "new answer",
            "and another",
        ]


async def test_resume_by_id(make_app):
    wanted = saved_conversation("wanted", ["q1", "a1"])
    saved_conversation("other", ["q2", "a2"])
    app = make_app(conversation_id=wanted.id)
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        assert main.conversation.id == wanted.id


async def test_resume_unknown_id_is_a_notification_and_a_new_chat(make_app):
    app = make_app(conversation_id="nope")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        main = await ready(pilot)
        assert main.conversation.messages == []
        assert any("nope" in n for n in notifications(app))


async def test_resume_picker_opens_the_chosen_conversation(make_app):
    from megachat.tui.screens.conversations import ConversationsScreen

    saved_conversation("first", ["q1", "a1"])
    newest = saved_conversation("second", ["q2", "a2"])
    app = make_app(pick=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_conversation_list(pilot, ConversationsScreen)
        await pilot.press("enter")
        main = await ready(pilot)
        assert main.conversation.id == newest.id


async def test_conversations_screen_from_the_main_screen(make_app):
    from megachat.tui.screens.conversations import ConversationsScreen

    first = saved_conversation("first", ["q1", "a1"])
    saved_conversation("second", ["q2", "a2"])
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        await pilot.press("ctrl+l")
        await wait_for_conversation_list(pilot, ConversationsScreen)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert main.conversation.id == first.id
        assert app.screen is main
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert main.conversation.messages == []
        assert main.conversation.id != first.id


async def test_renaming_or_deleting_the_open_chat_on_the_conversations_screen(make_app):
    from megachat.tui.screens.confirm import ConfirmScreen, TextPromptScreen
    from megachat.tui.screens.conversations import ConversationsScreen

    saved_conversation("older", ["q0", "a0"])
    current = saved_conversation("open one", ["q1", "a1"])
    app = make_app(conversation_id=current.id)
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        await pilot.press("ctrl+l")
        screen = await wait_for_conversation_list(pilot, ConversationsScreen)
        assert screen.current_id == current.id  # the open chat is marked
        await pilot.press("ctrl+r")
        prompt = await wait_for_screen(pilot, TextPromptScreen)
        prompt.query_one("Input").value = "renamed [/]"
        await pilot.press("enter")
        await wait_for_screen(pilot, ConversationsScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert main.conversation.id == current.id
        assert main.conversation.title == "renamed [/]"

        await pilot.press("ctrl+l")
        await wait_for_conversation_list(pilot, ConversationsScreen)
        await pilot.press("delete")
        await wait_for_screen(pilot, ConfirmScreen)
        await pilot.press("y")
        screen = await wait_for_screen(pilot, ConversationsScreen)
        while current.id not in screen.deleted_ids:
            await pilot.pause()
        await pilot.press("escape")
        await settle(pilot)
        # the deleted chat is not left open (sending would have saved it again)
        assert main.conversation.id != current.id
        assert main.conversation.messages == []
    store = Store(db_path())
    try:
        assert not store.exists(current.id)
    finally:
        store.close()


# -- images ----------------------------------------------------------------------------------


async def test_attach_an_image_through_the_picker_and_send_it(make_app, fake_server, tmp_path):
    from megachat.tui.screens.image_picker import ImagePickerScreen

    image = make_png(tmp_path / "red.png")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        await pilot.press("ctrl+o")
        picker = await wait_for_screen(pilot, ImagePickerScreen)
        path_input = picker.query_one("#picker-path")
        path_input.value = str(image)
        path_input.focus()
        await pilot.press("enter")
        await settle(pilot)
        strip = main.query_one(AttachmentsStrip)
        assert [Path(i.name).name for i in strip.images] == ["red.png"]
        assert "40×30" in str(strip.render())
        await type_text(pilot, "What colour is this?")
        await pilot.press("enter")
        await settle(pilot)
        content = fake_server.requests_to()[-1].json["messages"][0]["content"]
        assert content[0]["type"] == "image"
        assert content[0]["source"]["media_type"] == "image/png"
        assert content[1] == {"type": "text", "text": "What colour is this?"}
        assert strip.images == []


async def test_a_bad_image_is_a_notification(make_app, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x00not a png at all")  # binary: no image, PDF or text
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        main = await ready(pilot)
        main.attach_path(bad)
        await settle(pilot)
        assert main.query_one(AttachmentsStrip).images == []
        assert any("broken.png" in n for n in notifications(app))


async def test_attachments_are_removable_by_key(make_app, tmp_path):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        main.attach_path(make_png(tmp_path / "one.png"))
        await settle(pilot)
        main.attach_path(make_png(tmp_path / "two.png"))
        await settle(pilot)
        strip = main.query_one(AttachmentsStrip)
        assert [Path(i.name).name for i in strip.images] == ["one.png", "two.png"]
        strip.focus()
        await pilot.press("left", "delete")
        assert [Path(i.name).name for i in strip.images] == ["two.png"]
        await pilot.press("backspace")
        assert strip.images == []
        assert not strip.display or not strip.has_class("-has-items")


async def test_pasting_an_image_path_offers_to_attach_it(make_app, tmp_path):
    from textual import events

    from megachat.tui.screens.confirm import ConfirmScreen

    image = make_png(tmp_path / "my shot.png")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        prompt = main.query_one(PromptInput)
        prompt.post_message(events.Paste(f"'{image}'"))
        await wait_for_screen(pilot, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        assert [Path(i.name).name for i in main.query_one(AttachmentsStrip).images] == [
            "my shot.png"
        ]
        assert prompt.text == ""
        # Declining keeps the pasted text as typed.
        prompt.post_message(events.Paste(f"file://{image}".replace(" ", "%20")))
        await wait_for_screen(pilot, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert prompt.text == f"file://{image}".replace(" ", "%20")
        assert len(main.query_one(AttachmentsStrip).images) == 1


def test_image_path_detection(tmp_path):
    image = make_png(tmp_path / "a b.PNG")
    assert attachable_path_from_text(str(image)) == image
    assert attachable_path_from_text(f'"{image}"\n') == image
    assert attachable_path_from_text(str(image).replace(" ", "\\ ")) == image
    assert attachable_path_from_text("file://" + str(image).replace(" ", "%20")) == image
    assert attachable_path_from_text(str(tmp_path / "missing.png")) is None
    (tmp_path / "notes.bin").write_text("x")
    assert attachable_path_from_text(str(tmp_path / "notes.bin")) is None
    assert attachable_path_from_text("hello world") is None
    assert attachable_path_from_text("file://evil.host/x.png") is None
    assert attachable_path_from_text(f"{image}\n{image}") is None


# -- copy, presets, themes, keymap, help, palette ---------------------------------------------


async def test_copy_the_focused_message_and_its_code_blocks(make_app, fake_server):
    reply = "Here:\n\n```python\nprint('one')\n```\n\nand\n\n```\ntwo\n```\n"
    fake_server.enqueue(sse_text_reply(reply))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        await type_text(pilot, "code please")
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("shift+tab")  # from the prompt up to the last message
        while main._focused_message() is None:
            await pilot.press("shift+tab")
        message = main._focused_message()
        assert message.message.role == "assistant"
        await pilot.press("c")
        assert app.clipboard == message.plain_text()
        assert "print('one')" in app.clipboard
        await pilot.press("k")
        assert app.clipboard.strip() == "print('one')"
        await pilot.press("k")
        assert app.clipboard.strip() == "two"


async def test_copy_from_the_prompt_copies_the_last_reply(make_app, fake_server):
    fake_server.enqueue(sse_text_reply("copy me"))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        await type_text(pilot, "hi")
        await pilot.press("enter")
        await settle(pilot)
        main.action_copy()
        assert app.clipboard == "copy me"


async def run_palette_command(pilot: Any, query: str) -> None:
    from textual.command import CommandPalette

    await pilot.press("ctrl+p")
    palette = await wait_for_screen(pilot, CommandPalette)
    await pilot.press(*["space" if c == " " else c for c in query])
    # Wait until the palette's search lists the command first, then run it.
    command_list = palette.query_one("CommandList")

    def first_title() -> str:
        if not command_list.option_count:
            return ""
        prompt = command_list.get_option_at_index(0).prompt
        return str(getattr(prompt, "plain", prompt))

    while query not in first_title():
        await pilot.pause()
    await pilot.press("down", "enter")
    await settle(pilot)


async def test_preset_from_the_palette_fills_system_temperature_prefill(make_app, tui_dirs):
    presets = tui_dirs / "config" / "megachat" / "presets"
    presets.mkdir(parents=True)
    (presets / "pirate.toml").write_text(
        'name = "pirate"\ndescription = "Talk like a pirate"\nsystem = "Speak like a pirate."\n'
        'temperature = 0.9\nprefill = "Arr,"\n'
    )
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        await run_palette_command(pilot, "Preset: pirate")
        assert main.query_one("#system").text == "Speak like a pirate."
        assert main.query_one("#temperature").value == "0.9"
        assert main.query_one("#prefill").value == "Arr,"
        assert main.conversation.system == "Speak like a pirate."
        assert main.conversation.temperature == 0.9


async def test_theme_switch_from_the_palette_is_saved(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.theme == "megachat-dark"
        await run_palette_command(pilot, "Theme: megachat-light")
        assert app.theme == "megachat-light"
        await pilot.pause()
        assert tomllib.loads(config_path().read_text())["theme"] == "megachat-light"


async def test_shipped_and_user_themes_are_registered(make_app, tui_dirs):
    themes = tui_dirs / "config" / "megachat" / "themes"
    themes.mkdir(parents=True)
    (themes / "mine.toml").write_text('name = "mine"\nprimary = "#ff8800"\ndark = true\n')
    (themes / "bad.toml").write_text('name = "bad"\nprimary = "not a colour"\n')
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(pilot)
        for name in ("megachat-dark", "megachat-light", "megachat-high-contrast", "mine"):
            assert name in app.available_themes
        assert any("bad.toml" in n for n in notifications(app))


async def test_unknown_configured_theme_falls_back(make_app, settings):
    settings.theme = "no-such-theme"
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(pilot)
        assert app.theme == "megachat-dark"
        assert any("no-such-theme" in n for n in notifications(app))


async def test_keymap_override_moves_send(make_app, settings, fake_server):
    settings.keymap = {"send": "f9", "regenerate": "f8", "bogus": "x"}
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        main = await ready(pilot)
        await type_text(pilot, "line one")
        await pilot.press("enter")
        assert main.query_one(PromptInput).text == "line one\n"
        assert not fake_server.requests_to()
        await pilot.press("f9")
        await settle(pilot)
        assert len(fake_server.requests_to()) == 1
        await pilot.press("f8")
        await settle(pilot)
        assert len(fake_server.requests_to()) == 2
        assert any("bogus" in n for n in notifications(app))


async def test_every_binding_has_an_id(make_app):
    from megachat.tui.app import MegachatApp
    from megachat.tui.keymap import ALL_KEYS
    from megachat.tui.screens.main import MainScreen

    for owner in (MegachatApp, MainScreen, PromptInput, AttachmentsStrip):
        for binding in owner.__dict__["BINDINGS"]:
            assert binding.id, (owner, binding)
    assert len({spec.id for spec in ALL_KEYS}) == len(ALL_KEYS)


async def test_help_opens_with_f1_and_question_mark(make_app):
    from megachat.tui.screens.help import HelpScreen

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        await pilot.press("f1")
        help_screen = await wait_for_screen(pilot, HelpScreen)
        keys = dict((d, k) for k, d in help_screen.rows)
        assert keys["Send"] == "⏎"
        assert "ctrl+q" in keys["Quit"] or "^q" in keys["Quit"]
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is main
        main.set_focus(None)  # `?` types into the prompt; elsewhere it opens help
        await pilot.pause()
        await pilot.press("question_mark")
        await wait_for_screen(pilot, HelpScreen)


async def test_the_palette_lists_every_action(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        titles = {title for title, _help, _callback in app.command_entries(main)}
        for wanted in (
            "Send message",
            "Cancel reply",
            "Attach file",
            "Remove attachments",
            "Regenerate reply",
            "Retry",
            "Edit last message",
            "Conversations",
            "New chat",
            "Copy message",
            "Copy code block",
            "Toggle sidebar",
            "Edit system prompt",
            "Help",
            "Theme: megachat-light",
        ):
            assert wanted in titles
        assert any(t.startswith("Preset: ") for t in titles)


async def test_ctrl_q_quits(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert app.return_code == 0


async def test_preset_variables_without_a_default_are_asked_for(make_app, tui_dirs):
    from megachat.tui.screens.confirm import TextPromptScreen

    presets = tui_dirs / "config" / "megachat" / "presets"
    presets.mkdir(parents=True)
    (presets / "voice.toml").write_text(
        'name = "voice"\nsystem = "Answer as {{who}}."\n\n'
        '[variables.who]\ndescription = "a character"\n'
    )
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        main.apply_preset("voice")
        screen = await wait_for_screen(pilot, TextPromptScreen)
        screen.query_one("#prompt-input").value = "a pirate"
        await pilot.press("enter")
        await settle(pilot)
        assert main.query_one("#system").text == "Answer as a pirate."
        assert main.conversation.system == "Answer as a pirate."


async def test_shipped_preset_with_defaults(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        await run_palette_command(pilot, "Preset: translate")
        assert "English" in main.query_one("#system").text
        assert main.query_one("#temperature").value == "0.3"
