"""The small screens: ConfirmScreen, TextPromptScreen, ApiKeyScreen and HelpScreen."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input

from megachat.sanitize import clean
from megachat.tui.screens import (
    ApiKeyScreen,
    ConfirmScreen,
    HelpScreen,
    ImagePickerScreen,
    TextPromptScreen,
)
from megachat.tui.screens.api_key import check_api_key
from tests.tui.nasty_strings import NASTY_STRINGS
from tests.tui.screen_host import ScreenHost, screen_text, wait_until

KEY = "sk-megallm-0123456789abcdef"


# -- ConfirmScreen --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "expected"),
    [(("y",), True), (("n",), False), (("escape",), False), (("enter",), True)],
)
async def test_confirm_answers_by_key(keys: tuple[str, ...], expected: bool) -> None:
    app = ScreenHost(lambda: ConfirmScreen("Really?"))
    async with app.run_test() as pilot:
        await pilot.press(*keys)
        await wait_until(pilot, lambda: app.dismissed)
    assert app.result is expected


async def test_a_destructive_confirm_starts_on_the_safe_answer() -> None:
    app = ScreenHost(lambda: ConfirmScreen("Delete it?", destructive=True))
    async with app.run_test() as pilot:
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.dismissed)
    assert app.result is False


@pytest.mark.parametrize(("button", "expected"), [("#confirm-yes", True), ("#confirm-no", False)])
async def test_confirm_answers_by_button(button: str, expected: bool) -> None:
    app = ScreenHost(lambda: ConfirmScreen("Delete it?", confirm_label="Delete", destructive=True))
    async with app.run_test() as pilot:
        await pilot.click(button)
        await wait_until(pilot, lambda: app.dismissed)
    assert app.result is expected


@pytest.mark.parametrize("text", NASTY_STRINGS[:38])
async def test_confirm_shows_untrusted_text_literally(text: str) -> None:
    app = ScreenHost(lambda: ConfirmScreen(f"Attach {text}?", title=text))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        shown = app.screen.query_one("#confirm-text").render()
        assert str(shown) == clean(f"Attach {text}?")
        drawn = screen_text(app)
        assert "\x1b" not in drawn and "\x07" not in drawn
        await pilot.press("n")
        await wait_until(pilot, lambda: app.dismissed)
    assert app.result is False


# -- TextPromptScreen -----------------------------------------------------------------------


async def test_text_prompt_returns_the_stripped_text_or_none() -> None:
    app = ScreenHost(lambda: TextPromptScreen("Title:", value="old [/] title"))
    async with app.run_test() as pilot:
        field = app.screen.query_one(Input)
        assert field.value == "old [/] title"
        field.value = "  new\ttitle  "
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.dismissed)
    assert app.result == "new title"
    app = ScreenHost(lambda: TextPromptScreen("Title:", value="x"))
    async with app.run_test() as pilot:
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.dismissed)
    assert app.result is None


# -- ApiKeyScreen ---------------------------------------------------------------------------


async def test_api_key_is_masked_checked_and_returned() -> None:
    app = ScreenHost(lambda: ApiKeyScreen())
    async with app.run_test(size=(100, 30)) as pilot:
        field = app.screen.query_one(Input)
        assert field.password and field.has_focus
        assert "The API key was refused" not in screen_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert "Enter your API key" in screen_text(app)
        assert not app.dismissed
        field.value = "has space inside"
        await pilot.press("enter")
        await pilot.pause()
        assert "one word of printable ASCII" in screen_text(app)
        field.value = f"  {KEY}\n"
        await pilot.pause()
        assert KEY not in screen_text(app)  # masked on screen
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert not field.password
        assert KEY in screen_text(app)
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert KEY not in screen_text(app)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.dismissed)
    assert app.result == KEY


async def test_api_key_after_a_401_says_it_was_refused() -> None:
    message = "The API key was refused: authentication_error (HTTP 401): invalid x-api-key [/]"
    app = ScreenHost(lambda: ApiKeyScreen(message))
    async with app.run_test(size=(120, 30)) as pilot:
        assert str(app.screen.query_one("#api-key-refused").render()) == message
        assert "The API key was refused" in screen_text(app)
        app.screen.query_one(Input).value = "sk-another"
        await pilot.click("#api-key-save")
        await wait_until(pilot, lambda: app.dismissed)
    assert app.result == "sk-another"


async def test_api_key_cancel_returns_none() -> None:
    app = ScreenHost(lambda: ApiKeyScreen("\x1b]2;evil\x07refused"))
    async with app.run_test(size=(100, 30)) as pilot:
        assert "\x1b" not in screen_text(app)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.dismissed)
    assert app.result is None


def test_check_api_key() -> None:
    assert check_api_key(f" {KEY} ") == (KEY, None)
    assert check_api_key("")[0] is None
    assert check_api_key("a b")[0] is None
    assert check_api_key("ключ")[0] is None
    assert check_api_key("x\x1b[31m")[0] is None
    assert check_api_key("x" * 600)[0] is None


# -- HelpScreen -----------------------------------------------------------------------------


ROWS = [("ctrl+i", "Attach an image"), ("f1, ?", "Help"), ("ctrl+q", "Quit")]


@pytest.mark.parametrize("key", ["escape", "q", "question_mark", "f1"])
async def test_help_lists_the_rows_and_closes(key: str) -> None:
    app = ScreenHost(lambda: HelpScreen(ROWS))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        assert table.row_count == 3
        drawn = screen_text(app)
        for keys, description in ROWS:
            assert keys in drawn and description in drawn
        await pilot.press(key)
        await wait_until(pilot, lambda: app.dismissed)
    assert app.result is None


async def test_help_shows_nasty_descriptions_literally() -> None:
    rows = [(f"k{i}", text) for i, text in enumerate(NASTY_STRINGS)]
    app = ScreenHost(lambda: HelpScreen(rows, title="[/]"))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        assert table.row_count == len(NASTY_STRINGS)
        for index, (_, text) in enumerate(rows):
            cell = table.get_cell_at((index, 1))
            assert cell.plain == " ".join(clean(text).split())
        await pilot.press("end")
        assert "\x1b" not in screen_text(app)


def test_screens_package_exports_lazily() -> None:
    import megachat.tui.screens as screens

    assert screens.ImagePickerScreen is ImagePickerScreen
    assert screens.NEW_CHAT == ":new"
    with pytest.raises(AttributeError):
        _ = screens.NoSuchScreen
