"""A reply drawn incrementally is drawn exactly like the same text drawn at once.

StreamingMarkdown caches what it can (frozen blocks' strips per width, the open tail re-parsed
alone, the widget's style worked out once per `render_lines`), so these tests compare what the
compositor asks for (`render_lines`) of a widget fed in random pieces, painted between pieces,
with a fresh widget given the whole text.
"""

from __future__ import annotations

import random

import pytest
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.geometry import Region

from megachat.tui.widgets.stream_markdown import StreamingMarkdown

SIZE = (100, 30)


def _reply(seed: int) -> str:
    """Markdown of every kind drawn, with text that looks like markup and must stay literal."""
    rnd = random.Random(seed)
    words = ["alpha", "[bold]not bold[/]", "`code`", "**strong**", "beta", "[/]", "x" * 30]
    parts: list[str] = []
    for n in range(rnd.randint(8, 16)):
        kind = rnd.choice(["para", "list", "code", "table", "heading", "quote"])
        if kind == "para":
            parts.append(" ".join(rnd.choices(words, k=rnd.randint(5, 40))))
        elif kind == "list":
            parts.append("\n".join(f"- item {i} {rnd.choice(words)}" for i in range(4)))
        elif kind == "code":
            body = "\n".join(f"    x = {i} + len({rnd.choice(words)!r})" for i in range(5))
            parts.append(f"```python\ndef f{n}():\n{body}\n```")
        elif kind == "table":
            rows = ["| a | b |", "|---|---|", *(f"| {i} | {rnd.choice(words)} |" for i in range(3))]
            parts.append("\n".join(rows))
        elif kind == "heading":
            parts.append(f"## Section {n} [red]")
        else:
            parts.append("> " + " ".join(rnd.choices(words, k=12)))
    return "\n\n".join(parts) + "\n\nTHE-END"


class _Host(App[None]):
    def compose(self) -> ComposeResult:
        yield VerticalScroll(id="pane")


def _painted(widget: StreamingMarkdown) -> list[str]:
    """Every line of the widget as the compositor gets it."""
    width, height = widget.size
    return [strip.text for strip in widget.render_lines(Region(0, 0, width, height))]


async def _fresh(app: _Host, text: str, *, streaming: bool) -> StreamingMarkdown:
    widget = StreamingMarkdown(text, streaming=streaming)
    await app.query_one("#pane").mount(widget)
    return widget


@pytest.mark.parametrize("seed", range(6))
async def test_a_reply_streamed_in_random_pieces_is_painted_like_the_whole_text(seed: int) -> None:
    text = _reply(seed)
    rnd = random.Random(seed)
    app = _Host()
    async with app.run_test(size=SIZE) as pilot:
        streamed = await _fresh(app, "", streaming=True)
        pos = 0
        while pos < len(text):
            size = rnd.choice([1, 3, 17, 80, 400])
            streamed.append(text[pos : pos + size])
            pos += size
            if rnd.random() < 0.3:  # painted mid-stream: the open tail is drawn and cached
                await pilot.pause()
                shown = streamed.text
                prefix = await _fresh(app, shown, streaming=True)
                await pilot.pause()
                assert _painted(streamed) == _painted(prefix)
                await prefix.remove()
        streamed.finish()
        whole = await _fresh(app, text, streaming=False)
        await pilot.pause()
        painted = _painted(streamed)
        assert painted == _painted(whole)
        assert [line.rstrip() for line in painted] == streamed.rendered_lines(streamed.size.width)
        assert any("[bold]not bold[/]" in line for line in painted) or "[bold]" not in text
        assert any("THE-END" in line for line in painted)


async def test_the_painted_style_follows_the_widget_after_a_class_change() -> None:
    """The style is computed once per paint, not cached across paints."""
    app = _Host()
    async with app.run_test(size=SIZE) as pilot:
        widget = await _fresh(app, "some **text**", streaming=False)
        await pilot.pause()
        before = widget.render_lines(Region(0, 0, widget.size.width, 1))[0]
        widget.styles.color = "red"
        await pilot.pause()
        after = widget.render_lines(Region(0, 0, widget.size.width, 1))[0]
        assert before.text == after.text
        assert before != after
