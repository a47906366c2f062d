"""Mouse selection in the conversation, copied through the sanitizer (issue 11, item 1).

A drag over a reply selects what the user sees (Textual's selection API: offsets on the lines
under the pointer, `get_selection`, the screen's ctrl+c); the copy goes through
`MegachatApp.copy_to_clipboard`. Drags are real mouse events at cells computed from the widgets'
regions; what is checked is `app.clipboard`, the selected text and the painted lines' styles.
The same on a real terminal: tests/security/test_clipboard.py.
"""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
from rich.style import Style as RichStyle
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.geometry import Offset, Region
from textual.strip import Strip
from textual.widgets import Static

from megachat.tui.widgets.message import MessageWidget
from megachat.tui.widgets.prompt_input import PromptInput
from megachat.tui.widgets.stream_markdown import StreamingMarkdown
from tests.fakeserver import sse_text_reply
from tests.security.test_clipboard import assert_safe
from tests.tui.conftest import notifications, ready, send, settle

SIZE = (100, 40)
REPLY = (
    "Alpha bravo charlie delta echo foxtrot.\n\n"
    "- golf hotel\n- india juliet\n\n"
    "```python\nx = 1\n    y = 2\n```\n\n"
    "Kilo lima mike.\n"
)


def locate(widget: StreamingMarkdown, word: str, *, nth: int = 0) -> tuple[int, int]:
    """(line, column) of `word` in the widget's rendered lines."""
    found = [
        (y, line.index(word))
        for y, line in enumerate(widget.rendered_lines(widget.content_region.width))
        if word in line
    ]
    return found[nth]


def cell(widget: StreamingMarkdown, line: int, column: int) -> Offset:
    """The screen cell showing character `column` of rendered line `line`."""
    text = widget.rendered_lines(widget.content_region.width)[line]
    region = widget.content_region
    return Offset(region.x + cell_len(text[:column]), region.y + line)


def at(widget: StreamingMarkdown, word: str, *, last: bool = False, nth: int = 0) -> Offset:
    """The screen cell of the first (or last) letter of `word`."""
    line, column = locate(widget, word, nth=nth)
    return cell(widget, line, column + (len(word) - 1 if last else 0))


async def drag(pilot: Any, start: Offset, end: Offset) -> None:
    """Press at `start`, move to `end` with the button held, release there."""
    await pilot.mouse_down(None, offset=start)
    await pilot.hover(None, offset=end)
    await pilot.mouse_up(None, offset=end)


async def reply_on_screen(pilot: Any, fake_server: Any, reply: str = REPLY) -> StreamingMarkdown:
    fake_server.enqueue(sse_text_reply(reply))
    await ready(pilot)
    await send(pilot, "a question")
    return pilot.app.screen.query(StreamingMarkdown).last()


def backgrounds(strip: Strip) -> list[Any]:
    """The background colour of each character of a painted line."""
    return [(style or RichStyle()).bgcolor for text, style, _ in strip for _character in text]


def colours(strip: Strip) -> list[Any]:
    return [(style or RichStyle()).color for text, style, _ in strip for _character in text]


async def test_a_drag_over_a_reply_copies_exactly_the_selected_words(make_app, fake_server):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        reply = await reply_on_screen(pilot, fake_server)
        await drag(pilot, at(reply, "bravo"), at(reply, "delta", last=True))
        assert app.screen.get_selected_text() == "bravo charlie delta"
        await pilot.press("ctrl+c")
        assert app.clipboard == "bravo charlie delta"

        # Highlighted: the selected characters, and only they, on the selection's background,
        # their text colour kept (a see-through selection colour must not hide the text).
        line, column = locate(reply, "bravo")
        width = reply.content_region.width
        painted = reply.render_lines(Region(0, line, width, 1))[0]
        chosen = range(column, column + len("bravo charlie delta"))
        bg = backgrounds(painted)
        assert len({bg[i] for i in chosen}) == 1
        assert all(bg[i] != bg[chosen[0]] for i in range(len(bg)) if i not in chosen)
        assert colours(painted)[chosen[0]] == colours(painted)[0]

        # A click elsewhere clears it: the line is painted plain again, not from a stale cache.
        await pilot.click(None, offset=at(reply, "Kilo"))
        assert app.screen.get_selected_text() is None
        painted = reply.render_lines(Region(0, line, width, 1))[0]
        assert len(set(backgrounds(painted))) == 1


async def test_a_selection_is_copied_with_the_prompt_focused(make_app, fake_server):
    """The prompt's own ctrl+c (TextArea's copy) skips when it has no selection: the screen's
    copy of the mouse selection runs; with nothing selected anywhere, the quit hint shows."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        reply = await reply_on_screen(pilot, fake_server)
        prompt = app.screen.query_one(PromptInput)
        await pilot.press("ctrl+c")  # nothing selected anywhere
        assert app.clipboard == ""
        assert any("to quit the app" in note for note in notifications(app))

        await drag(pilot, at(reply, "golf"), at(reply, "juliet", last=True))
        await pilot.press("ctrl+t")  # focus_prompt
        assert app.focused is prompt
        await pilot.press("ctrl+c")
        assert app.clipboard == "golf hotel\n • india juliet"

        # The prompt's own selection wins over the conversation's.
        prompt.load_text("my draft")
        prompt.select_all()
        await pilot.press("ctrl+c")
        assert app.clipboard == "my draft"
        assert prompt.text == "my draft"


async def test_a_code_block_is_copied_without_its_margin(make_app, fake_server):
    """The code block's one-cell pad and its blank top and bottom rows are drawing, not text."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        reply = await reply_on_screen(pilot, fake_server)
        await drag(pilot, at(reply, "juliet"), at(reply, "Kilo", last=True))
        await pilot.press("ctrl+c")
        assert app.clipboard == "juliet\n\nx = 1\n    y = 2\n\nKilo"
        # From inside the code, with the pointer on the pad column: still no pad.
        start = at(reply, "y = 2")
        await drag(pilot, Offset(reply.content_region.x, start.y - 1), at(reply, "2"))
        await pilot.press("ctrl+c")
        assert app.clipboard == "x = 1\n    y = 2"


async def test_a_selection_across_messages_copies_them_in_order(make_app, fake_server):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        fake_server.enqueue(sse_text_reply("Reply one alpha.\n\nReply one beta."))
        await send(pilot, "first question")
        fake_server.enqueue(sse_text_reply("Reply two gamma."))
        await send(pilot, "second question")
        first, second = app.screen.query(StreamingMarkdown)
        header = app.screen.query(MessageWidget).last().query_one(".message-header", Static)
        # Past one widget, the end of a selection is where the pointer is (not included).
        await drag(pilot, at(first, "beta"), at(second, "."))
        await pilot.press("ctrl+c")
        assert app.clipboard == "\n".join(
            ["beta.", "You", "second question", str(header.render()), "Reply two gamma"]
        )
        # From the first header: the blank spacer above the messages adds nothing.
        you = app.screen.query(".message-header").first()
        await drag(pilot, you.content_region.offset, at(first, "alpha.", last=True))
        await pilot.press("ctrl+c")
        assert app.clipboard.startswith("You\nfirst question\nAssistant")
        assert app.clipboard.endswith("\nReply one alpha"), repr(app.clipboard)


async def test_a_copied_selection_is_sanitized(make_app, fake_server):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        reply = await reply_on_screen(
            pilot, fake_server, "Run \x1b]0;title\x07this \u202eevil\u202c\x1b[201~ now.\n"
        )
        await drag(pilot, at(reply, "Run"), at(reply, "now.", last=True))
        await pilot.press("ctrl+c")
        assert app.clipboard == "Run this ⟨U+202E⟩evil⟨U+202C⟩ now."
        assert_safe(app.clipboard)


# ---- the widget alone: caches and offsets while text streams in ----------------------------


class _Host(App[None]):
    def compose(self) -> ComposeResult:
        yield VerticalScroll(id="pane")


async def test_selection_and_offsets_stay_right_while_the_text_grows_and_reflows():
    app = _Host()
    async with app.run_test(size=(60, 20)) as pilot:
        widget = StreamingMarkdown("First words stay put.\n\nsecond", streaming=True)
        await app.query_one("#pane").mount(widget)
        await pilot.pause()
        await drag(pilot, at(widget, "words"), at(widget, "put", last=True))
        assert app.screen.get_selected_text() == "words stay put"

        for more in (" paragraph grows", " and grows.\n\n", "A third block."):
            widget.append(more)
            await pilot.pause()
            assert app.screen.get_selected_text() == "words stay put"
            line, column = locate(widget, "words")
            painted = widget.render_lines(Region(0, line, widget.size.width, 1))[0]
            assert backgrounds(painted)[column] != backgrounds(painted)[0]

        # The mouse finds the text where it now is, after a reflow to another width.
        await pilot.resize_terminal(24, 20)
        await pilot.pause()
        line, column = locate(widget, "third")
        target = cell(widget, line, column)
        assert app.screen.get_widget_and_offset_at(*target) == (widget, Offset(column, line))
        await drag(pilot, target, at(widget, "block", last=True))
        assert app.screen.get_selected_text() == "third block"
        app.screen.clear_selection()
        await pilot.pause()
        painted = widget.render_lines(Region(0, line, widget.size.width, 1))[0]
        assert len(set(backgrounds(painted))) == 1
        await settle(pilot)


async def test_wide_characters_are_selected_by_character():
    app = _Host()
    async with app.run_test(size=(60, 10)) as pilot:
        widget = StreamingMarkdown("日本語のテキスト and more words")
        await app.query_one("#pane").mount(widget)
        await pilot.pause()
        await drag(pilot, at(widget, "テ"), at(widget, "more", last=True))
        assert app.screen.get_selected_text() == "テキスト and more"
        line, column = locate(widget, "テ")
        painted = widget.render_lines(Region(0, line, widget.size.width, 1))[0]
        bg = backgrounds(painted)
        assert bg[column - 1] == bg[0] != bg[column] == bg[column + len("テキスト and more") - 1]
