"""Rendering never hides text, and a pathological reply costs bounded work (issue 8, item 10).

markdown-it stops producing tokens past its nesting limit: a 14-level list showed levels 0-8 and
then nothing more of the message, a 5,000-level quote showed as an empty reply. A 25 MB reply
kept a core busy for minutes. Each test drives the real widgets: replies come from the loopback
fake server through the whole app and are then loaded back from the real store.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from megachat.chat.conversation import ChatMessage
from megachat.tui.widgets.conversation_view import ConversationView
from megachat.tui.widgets.message import MessageWidget
from megachat.tui.widgets.stream_markdown import StreamingMarkdown
from tests.fakeserver import FakeServer, sse_text_reply
from tests.tui.conftest import ready, settle, type_text
from tests.tui.test_conversation_view import Host, assistant, shown_text, squash, until

SIZE = (120, 40)

DEEP_LIST = "\n".join("  " * i + f"- level{i}" for i in range(14)) + "\n\nAFTER-THE-LIST\n"
DEEP_QUOTE = ">" * 5000 + " QUOTED-TEXT\n\nAFTER-THE-QUOTE\n"


def _last_reply(app: Any) -> MessageWidget:
    return app.screen.query_one(ConversationView).message_widgets()[-1]


def _check_deep_list(text: str) -> None:
    assert sorted({int(n) for n in re.findall(r"level(\d+)", text)}) == list(range(14))
    assert "AFTER-THE-LIST" in text


def _check_deep_quote(text: str) -> None:
    assert "QUOTED-TEXT" in text
    assert "AFTER-THE-QUOTE" in text


@pytest.mark.parametrize(
    ("reply", "check"),
    [(DEEP_LIST, _check_deep_list), (DEEP_QUOTE, _check_deep_quote)],
    ids=["14-level-list", "5000-level-quote"],
)
async def test_deep_nesting_is_shown_streamed_and_loaded_from_the_store(
    make_app, fake_server: FakeServer, reply: str, check: Any
) -> None:
    fake_server.enqueue(sse_text_reply(reply, chunks=40))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        await type_text(pilot, "nest deeply")
        await pilot.press("enter")
        await settle(pilot)
        assert main.conversation.messages[-1].text() == reply
        widget = _last_reply(app)
        assert widget.query_one(StreamingMarkdown).text == reply
        check(shown_text(widget))
    app = make_app(continue_last=True)  # the same reply, read back from the store
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        widget = _last_reply(app)
        assert widget.message.text() == reply
        check(shown_text(widget))


async def test_text_that_does_not_fit_the_width_is_shown_as_plain_text() -> None:
    """Rich leaves out a container nested deeper than the width, or table columns that do not
    fit; the block is then drawn as its plain source."""
    table = (
        "|" + "|".join(f"head{i}" for i in range(30)) + "|\n"
        "|" + "---|" * 30 + "\n"
        "|" + "|".join(f"cell{i}" for i in range(30)) + "|\n"
    )
    quotes = "> " * 9 + "narrow quoted words\n"
    app = Host()
    async with app.run_test(size=(30, 60)) as pilot:
        await app.view.load([assistant(table), assistant(quotes)])
        await pilot.pause()
        table_widget, quote_widget = app.view.message_widgets()
        shown = squash(shown_text(table_widget))
        for i in range(30):
            assert f"head{i}|" in shown and f"cell{i}|" in shown
        assert "narrowquotedwords" in squash(shown_text(quote_widget))


def _pathological(size: int, *, one_block: bool = False) -> str:
    """Nested quotes and lists of every depth: the shape of the 25 MB reply. In paragraphs, or
    (`one_block`) all inside one quote that never ends, so a single block keeps growing."""
    out: list[str] = []
    total = 0
    i = 0
    while total < size:
        depth = i % 60
        line = "> " * (depth // 2) + "  " * (depth % 7) + f"- w{i} deep\n"
        if one_block:
            line = "> " + line
        elif i % 50 == 49:
            line += "\n"
        out.append(line)
        total += len(line)
        i += 1
    return "".join(out)


def _bottom_lines(widget: StreamingMarkdown, count: int) -> str:
    height = widget.size.height
    return "\n".join(widget.render_line(y).text for y in range(height - count, height))


async def test_a_huge_nested_reply_is_drawn_with_bounded_work() -> None:
    text = _pathological(2_000_000)
    last_word = re.findall(r"w\d+", text)[-1]
    app = Host()
    async with app.run_test(size=(100, 40)) as pilot:
        await app.view.load([assistant(text)])
        await pilot.pause()
        widget = app.view.query_one(StreamingMarkdown)
        blocks = widget.blocks
        # Markdown for the first MARKDOWN_BUDGET characters only, in blocks of at most a
        # window; everything after is one plain block, measured but drawn only when seen.
        assert blocks[-1].kind == "plain" and [b.kind for b in blocks].count("plain") == 1
        assert text.endswith(blocks[-1].source)
        from megachat.tui.widgets.stream_markdown import BLOCK_WINDOW, MARKDOWN_BUDGET

        markdown = blocks[:-1]
        assert sum(len(b.source) for b in markdown) <= MARKDOWN_BUDGET
        assert max(len(b.source) for b in markdown) <= BLOCK_WINDOW
        assert len(blocks[-1].source) > len(text) - MARKDOWN_BUDGET
        # nothing is lost: the end of the text is on the last lines, one widget for it all
        assert last_word in _bottom_lines(widget, 5)
        assert len(list(app.screen.walk_children())) < 20


async def test_a_huge_nested_reply_streams_with_bounded_work_per_update() -> None:
    from megachat.tui.widgets.stream_markdown import BLOCK_WINDOW

    text = _pathological(300_000, one_block=True)
    piece = 6_000
    app = Host()
    async with app.run_test(size=(100, 40)) as pilot:
        reply = app.view.begin_reply(ChatMessage(role="assistant", status="streaming"))
        reply.append_text(None, text[:piece])
        await until(pilot, lambda: bool(reply.query(StreamingMarkdown)))
        widget = reply.query_one(StreamingMarkdown)
        for start in range(piece, len(text), piece):
            await pilot.pause()
            # What an update parses and draws again: the open tail. It never holds more than
            # a window, however long the block grows: a longer one is frozen in pieces.
            assert sum(len(b.source) for b in widget._splitter.tail) <= BLOCK_WINDOW
            assert max(len(b.source) for b in widget.blocks if b.kind != "plain") <= BLOCK_WINDOW
            reply.append_text(None, text[start : start + piece])
        await reply.finish(assistant(text))
        await pilot.pause()
        widget = reply.query_one(StreamingMarkdown)
        assert widget.text == text
        assert widget.blocks[-1].kind == "plain"  # past the budget: never parsed
        stored = StreamingMarkdown(text)
        assert [(b.kind, b.source) for b in widget.blocks] == [
            (b.kind, b.source) for b in stored.blocks
        ]
