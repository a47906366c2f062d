"""The conversations screen against a real Store in a temporary folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, OptionList

from megachat.chat.conversation import ChatMessage, Conversation
from megachat.chat.store import Store
from megachat.sanitize import clean
from megachat.tui.screens.confirm import ConfirmScreen, TextPromptScreen
from megachat.tui.screens.conversations import (
    MARK_CLOSE,
    MARK_OPEN,
    NEW_CHAT,
    ConversationsScreen,
    highlight_snippet,
)
from tests.tui.nasty_strings import NASTY_STRINGS
from tests.tui.screen_host import ScreenHost, screen_text, wait_until

BASE_TIME = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC


def conversation(
    index: int, title: str, text: str, *, model: str = "claude-sonnet-4"
) -> Conversation:
    """A conversation with fixed id and times (index 0 is the oldest)."""
    when = BASE_TIME + index * 3600
    conv = Conversation(id=f"conv{index:08d}", title=title, model=model, created_at=when)
    conv.messages.append(
        ChatMessage(role="user", content=[{"type": "text", "text": text}], created_at=when)
    )
    conv.messages.append(
        ChatMessage(
            role="assistant",
            content=[{"type": "text", "text": f"Answer {index}: the reply text"}],
            created_at=when + 1,
        )
    )
    return conv


SAMPLE = [
    ("Plans for Tuesday", "what should I cook on tuesday"),
    ("Rust lifetimes", "explain lifetimes in rust with an example"),
    ("Trip to Lisbon", "three days in lisbon, what to see"),
    ("Quarterly report", "summarise the quarterly numbers"),
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    db = Store(tmp_path / "data" / "megachat.db")
    for index, (title, text) in enumerate(SAMPLE):
        db.create(conversation(index, title, text))
    yield db
    db.close()


class RecordingHost(ScreenHost):
    """Records the Renamed / Deleted messages the screen sends up to the app."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.renamed: list[tuple[str, str]] = []
        self.deleted: list[str] = []

    def on_conversations_screen_renamed(self, message: ConversationsScreen.Renamed) -> None:
        self.renamed.append((message.conversation_id, message.title))

    def on_conversations_screen_deleted(self, message: ConversationsScreen.Deleted) -> None:
        self.deleted.append(message.conversation_id)


def conversations(app: ScreenHost) -> ConversationsScreen:
    screen = app.screen
    assert isinstance(screen, ConversationsScreen)
    return screen


def option_ids(app: ScreenHost) -> list[str | None]:
    return [option.id for option in conversations(app).query_one(OptionList).options]


def option_texts(app: ScreenHost) -> list[str]:
    texts = []
    for option in conversations(app).query_one(OptionList).options:
        prompt = option.prompt
        texts.append(prompt.plain if hasattr(prompt, "plain") else str(prompt))
    return texts


async def loaded(pilot: Any, query: str = "") -> ConversationsScreen:
    screen = conversations(pilot.app)
    await wait_until(pilot, lambda: screen.loaded.is_set() and screen.query_text == query)
    await pilot.pause()
    return screen


async def type_search(pilot: Any, text: str) -> ConversationsScreen:
    await pilot.press("ctrl+f")
    search = conversations(pilot.app).query_one("#conversations-search", Input)
    search.value = text
    return await loaded(pilot, text.strip())


async def test_lists_newest_first_with_dates_models_and_counts(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "UTC")
    import time

    time.tzset()
    app = ScreenHost(lambda: ConversationsScreen(store, current_id="conv00000001"))
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        assert option_ids(app) == ["conv00000003", "conv00000002", "conv00000001", "conv00000000"]
        texts = option_texts(app)
        assert texts[0] == "  Quarterly report\n  2026-05-28 23:26 · claude-sonnet-4 · 2 messages"
        assert texts[2].startswith("● Rust lifetimes")  # the open conversation is marked
        assert "4 saved conversations" in screen_text(app)
        # the open conversation is highlighted first
        assert conversations(app).query_one(OptionList).highlighted == 2
    monkeypatch.delenv("TZ")
    time.tzset()


async def test_enter_opens_the_highlighted_conversation(store: Store) -> None:
    app = ScreenHost(lambda: ConversationsScreen(store))
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: app.dismissed)
    assert app.result == "conv00000002"


async def test_new_chat_and_close(store: Store) -> None:
    app = ScreenHost(lambda: ConversationsScreen(store))
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: app.dismissed)
    assert app.result == NEW_CHAT
    app = ScreenHost(lambda: ConversationsScreen(store))
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.dismissed)
    assert app.result is None


async def test_full_text_search_finds_message_text_and_highlights_it(store: Store) -> None:
    app = ScreenHost(lambda: ConversationsScreen(store))
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        await type_search(pilot, "lisbon")
        assert option_ids(app) == ["conv00000002"]
        (text,) = option_texts(app)
        assert "Trip to Lisbon" in text
        assert "three days in lisbon" in text or "title: Trip to Lisbon" in text
        assert "1 conversation match “lisbon”" in screen_text(app)
        await type_search(pilot, "reply text")  # both words, assistant messages
        assert len(option_ids(app)) == 4
        assert all("assistant: " in t for t in option_texts(app))
        await type_search(pilot, "zebra")
        assert option_ids(app) == []
        assert "Nothing matches “zebra”" in screen_text(app)
        # Esc clears the search first and shows everything again; a second Esc closes.
        await pilot.press("escape")
        await loaded(pilot)
        assert len(option_ids(app)) == 4
        assert not app.dismissed
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.dismissed)
    assert app.result is None


async def test_enter_in_the_search_box_opens_the_top_hit(store: Store) -> None:
    app = ScreenHost(lambda: ConversationsScreen(store))
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        await type_search(pilot, "cook")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.dismissed)
    assert app.result == "conv00000000"


async def test_search_syntax_characters_are_just_text(store: Store) -> None:
    app = ScreenHost(lambda: ConversationsScreen(store))
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        for query in ['"unbalanced', "a AND OR NOT", "NEAR(x y)", "col:thing", "*", "[/]", "-x"]:
            await type_search(pilot, query)
            assert "Could not read" not in screen_text(app)


async def test_rename_updates_the_store_and_the_list(store: Store) -> None:
    app = RecordingHost(lambda: ConversationsScreen(store))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(app.screen, TextPromptScreen))
        prompt_input = app.screen.query_one(Input)
        assert prompt_input.value == "Quarterly report"
        prompt_input.value = "  Q3 [bold]numbers[/]  "
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is screen)
        await wait_until(pilot, lambda: "Q3 [bold]numbers[/]" in option_texts(app)[0])
        assert screen.renamed == {"conv00000003": "Q3 [bold]numbers[/]"}
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.dismissed)
    assert store.get("conv00000003").title == "Q3 [bold]numbers[/]"
    assert app.renamed == [("conv00000003", "Q3 [bold]numbers[/]")]


async def test_rename_to_nothing_is_refused_and_escape_keeps_the_title(store: Store) -> None:
    app = ScreenHost(lambda: ConversationsScreen(store))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: isinstance(app.screen, TextPromptScreen))
        app.screen.query_one(Input).value = "   "
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TextPromptScreen)
        assert "This cannot be empty" in screen_text(app)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)
    assert store.get("conv00000003").title == "Quarterly report"


async def test_delete_asks_first_and_keep_keeps(store: Store) -> None:
    app = RecordingHost(lambda: ConversationsScreen(store))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        await pilot.press("down", "delete")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Delete “Trip to Lisbon” and all its messages?" in screen_text(app)
        await pilot.press("n")
        await wait_until(pilot, lambda: app.screen is screen)
        assert store.exists("conv00000002")
        await pilot.press("ctrl+d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: "conv00000002" not in option_ids(app))
        await loaded(pilot)
        assert option_ids(app) == ["conv00000003", "conv00000001", "conv00000000"]
        assert screen.deleted_ids == {"conv00000002"}
        assert "3 saved conversations" in screen_text(app)
    assert not store.exists("conv00000002")
    assert app.deleted == ["conv00000002"]


async def test_an_empty_store_says_how_to_start(tmp_path: Path) -> None:
    db = Store(tmp_path / "empty.db")
    app = ScreenHost(lambda: ConversationsScreen(db))
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        assert option_ids(app) == []
        assert "No saved conversations yet" in screen_text(app)
        await pilot.press("f2", "delete", "enter")  # nothing to act on: no crash, no dialog
        await pilot.pause()
        assert isinstance(app.screen, ConversationsScreen)
    db.close()


async def test_a_broken_store_is_reported_not_raised(tmp_path: Path) -> None:
    db = Store(tmp_path / "closed.db")
    db.close()  # every call now fails inside the store
    app = ScreenHost(lambda: ConversationsScreen(db))
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        assert "Could not read the conversations" in screen_text(app)


def storable_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def test_nasty_titles_and_message_text_appear_literally(tmp_path: Path) -> None:
    db = Store(tmp_path / "nasty.db")
    # SQLite stores UTF-8 only: lone surrogates cannot reach a title through the store.
    storable = [text for text in NASTY_STRINGS if storable_text(text)]
    assert len(storable) >= 30
    for index, text in enumerate(storable):
        db.create(conversation(index, text, f"needle {text}", model=f"model {text[:20]}"))
    app = ScreenHost(lambda: ConversationsScreen(db))
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        texts = option_texts(app)
        assert len(texts) == len(storable)
        for text, title in zip(texts, reversed(storable), strict=True):
            expected = " ".join(clean(title).split())[:119] or "Untitled"
            assert text[2:].startswith(expected)
            assert "\x1b" not in text and "\x07" not in text
        # walk the whole list so every prompt is rendered
        for _ in storable:
            await pilot.press("down")
        drawn = screen_text(app)
        assert "\x1b" not in drawn and "\x9b" not in drawn
        await type_search(pilot, "needle")
        assert len(option_ids(app)) == len(storable)  # every one matches, under the limit
        for _ in range(20):
            await pilot.press("down")
        await type_search(pilot, "[/INST]")
        assert "Could not read" not in screen_text(app)
    db.close()


async def test_many_conversations_load_into_the_list(tmp_path: Path) -> None:
    db = Store(tmp_path / "many.db")
    db.create_many(conversation(i, f"chat {i}", f"text {i}") for i in range(1500))
    app = ScreenHost(lambda: ConversationsScreen(db))
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        ids = option_ids(app)
        assert len(ids) == 1500 and ids[0] == "conv00001499" and ids[-1] == "conv00000000"
        await pilot.press("end", "enter")
        await wait_until(pilot, lambda: app.dismissed)
    assert app.result == "conv00000000"
    db.close()


def test_highlight_snippet_styles_only_the_marked_words() -> None:
    snippet = f"…cook on {MARK_OPEN}tuesday{MARK_CLOSE} [/] \x1b[31m{MARK_OPEN}x"
    content = highlight_snippet(snippet)
    assert content.plain == "…cook on tuesday [/] x"
    styled = [content.plain[span.start : span.end] for span in content.spans]
    assert styled == ["tuesday", "x"]
    assert highlight_snippet("x" * 1000).plain == "x" * 240


async def test_keymap_overrides_reach_the_screen_bindings(store: Store) -> None:
    app = ScreenHost(lambda: ConversationsScreen(store))
    async with app.run_test(size=(100, 30)) as pilot:
        app.set_keymap({"conversations.new": "ctrl+o"})
        await loaded(pilot)
        await pilot.press("ctrl+n")  # no longer bound
        await pilot.pause()
        assert not app.dismissed
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: app.dismissed)
    assert app.result == NEW_CHAT


def test_every_binding_of_these_screens_has_an_id() -> None:
    from textual.binding import Binding

    from megachat.tui.screens.api_key import ApiKeyScreen
    from megachat.tui.screens.help import HelpScreen
    from megachat.tui.screens.image_picker import ImagePickerScreen

    for screen in (
        ConversationsScreen,
        ConfirmScreen,
        TextPromptScreen,
        ApiKeyScreen,
        HelpScreen,
        ImagePickerScreen,
    ):
        for binding in screen.BINDINGS:
            assert isinstance(binding, Binding) and binding.id, (screen, binding)
