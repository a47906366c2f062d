"""Links in replies open with the system opener, after the user saw the URL and said yes (issue
11, item 4).

The opener is stubbed at the process boundary only: a tiny `xdg-open` (or `open`) script first
on PATH writes its arguments to a file. Everything between the click and that process is the
real app: the link's cell is found on screen and clicked with the Pilot, the dialog is answered
with keys. The opener's exit ends the worker that waits for it, so `settle` is the
synchronisation. The last test runs the real program in a pseudo-terminal and checks the bytes
it writes: a link never reaches the terminal as an OSC 8 hyperlink (which a terminal may open on
a click without asking).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.geometry import Offset

from megachat.tui.links import opener_name
from megachat.tui.screens.open_link import ChooseLinkScreen, OpenLinkScreen
from megachat.tui.widgets.message import MessageWidget
from megachat.tui.widgets.stream_markdown import StreamingMarkdown
from tests.fakeserver import FakeServer, sse_text_reply
from tests.tui.conftest import notifications, ready, send, settle

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the opener is os.startfile")

SIZE = (110, 30)
DOCS = "https://example.com/docs?a=1&b=2#part"


class Opener:
    """The stub opener: every run appends a line to `log`: its arguments, NUL-terminated."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: int = 0) -> None:
        bin_dir = tmp_path / "stub-bin"
        bin_dir.mkdir()
        self.log = tmp_path / "opener.log"
        script = bin_dir / opener_name()
        script.write_text(
            f"#!/bin/sh\n{{ printf '%s\\0' \"$@\"; echo; }} >> '{self.log}'\nexit {status}\n"
        )
        script.chmod(0o755)
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")

    @property
    def runs(self) -> list[list[str]]:
        """The argument lists of every run, in order."""
        if not self.log.exists():
            return []
        return [line.split("\0")[:-1] for line in self.log.read_text().splitlines()]


@pytest.fixture
def opener(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tui_dirs: Path) -> Opener:
    return Opener(tmp_path, monkeypatch)


async def reply_with(pilot: Any, fake_server: FakeServer, text: str) -> MessageWidget:
    """Send a question; the fake server answers `text`. Returns the reply's widget."""
    main = await ready(pilot)
    fake_server.enqueue(sse_text_reply(text))
    await send(pilot, "links please")
    (reply,) = [w for w in main.query(MessageWidget) if w.message.role == "assistant"]
    return reply


def cell_of(markdown: StreamingMarkdown, text: str) -> Offset:
    """Where `text` is drawn in `markdown` (its first cell), relative to the widget's region."""
    content = markdown.content_region
    for row, line in enumerate(markdown.rendered_lines(content.width)):
        column = line.find(text)
        if column >= 0:
            return Offset(
                content.x - markdown.region.x + column, content.y - markdown.region.y + row
            )
    raise AssertionError(f"{text!r} is not drawn")


async def click_text(pilot: Any, reply: MessageWidget, text: str) -> None:
    markdown = reply.query_one(StreamingMarkdown)
    await pilot.click(markdown, offset=cell_of(markdown, text))
    await pilot.pause()


def shown_url(app: Any) -> str:
    assert isinstance(app.screen, OpenLinkScreen)
    return str(app.screen.query_one("#open-link-url").render())


@pytest.mark.parametrize(
    ("reply_text", "clicked", "url"),
    [
        (f"Read [the docs]({DOCS}) first.", "the docs", DOCS),  # the link's text
        (f"Read [the docs]({DOCS}) first.", "example.com/docs", DOCS),  # its URL, shown
        ("See <https://example.org/x> or www.example.net.", "example.org", "https://example.org/x"),
        ("See <https://example.org/x> or www.example.net.", "www.", "http://www.example.net"),
        ("Write to <team@example.com>.", "team@", "mailto:team@example.com"),
    ],
)
async def test_a_clicked_link_is_shown_then_opened_on_open(
    make_app, fake_server, opener, reply_text, clicked, url
):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        reply = await reply_with(pilot, fake_server, reply_text)
        await click_text(pilot, reply, clicked)
        assert shown_url(app) == url  # the whole target, before anything runs
        assert opener.runs == []
        await pilot.press("enter")  # the focus starts on Open
        await settle(pilot)
        assert opener.runs == [[url]]
        assert not isinstance(app.screen, OpenLinkScreen)


async def test_cancel_or_escape_runs_nothing(make_app, fake_server, opener):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        reply = await reply_with(pilot, fake_server, f"Read [the docs]({DOCS}).")
        await click_text(pilot, reply, "the docs")
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, OpenLinkScreen)
        await click_text(pilot, reply, "the docs")
        await pilot.click("#open-link-cancel")
        await settle(pilot)
        assert not isinstance(app.screen, OpenLinkScreen)
        # The URL is shown as it is: markup in it stays literal text.
        reply.post_message(StreamingMarkdown.LinkClicked("https://x.example/[bold]a[/]b"))
        await pilot.pause()
        assert shown_url(app) == "https://x.example/[bold]a[/]b"
        await pilot.press("escape")
        await settle(pilot)
        assert opener.runs == []


async def test_links_other_than_web_and_mail_are_refused_naming_the_scheme(
    make_app, fake_server, opener
):
    text = (
        "Try [this](javascript:alert(1)) or [that](vscode://file/etc/passwd) or [here](file.html)."
    )
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        reply = await reply_with(pilot, fake_server, text)
        # markdown-it does not make a javascript: link at all: literal text, nothing to click.
        await click_text(pilot, reply, "javascript:")
        assert not isinstance(app.screen, OpenLinkScreen)
        await click_text(pilot, reply, "that")
        assert not isinstance(app.screen, OpenLinkScreen)
        await click_text(pilot, reply, "here")
        # A javascript: target reaching the screen anyway (say, a future parser) is refused too.
        reply.post_message(StreamingMarkdown.LinkClicked("JavaScript:alert(1)"))
        await settle(pilot)
        assert not isinstance(app.screen, OpenLinkScreen)
        shown = notifications(app)
        assert any("vscode:" in n and n.startswith("Not opened") for n in shown), shown
        assert any("without a scheme" in n for n in shown), shown
        assert any("javascript:" in n for n in shown), shown
        assert all("\n" not in n for n in shown)
        assert opener.runs == []


async def test_o_on_a_message_with_two_links_lists_them_and_opens_the_one_picked(
    make_app, fake_server, opener
):
    second = "https://second.example/page"
    text = f"One: [first](https://first.example/).\n\nTwo: <{second}>, again [here]({second})."
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        reply = await reply_with(pilot, fake_server, text)
        reply.focus()
        await pilot.press("o")
        assert isinstance(app.screen, ChooseLinkScreen)
        assert app.screen.urls == ["https://first.example/", second]  # each target once
        await pilot.press("down", "enter")
        assert shown_url(app) == second
        await pilot.press("enter")
        await settle(pilot)
        assert opener.runs == [[second]]


async def test_o_with_one_link_asks_at_once_and_with_none_says_so(make_app, fake_server, opener):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        reply = await reply_with(pilot, fake_server, f"Only [one]({DOCS}).")
        reply.focus()
        await pilot.press("o")
        assert shown_url(app) == DOCS
        await pilot.press("escape")
        (question,) = [w for w in app.screen.query(MessageWidget) if w.message.role == "user"]
        question.focus()
        await pilot.press("o")
        await settle(pilot)
        assert "No link in this message." in notifications(app)
        assert opener.runs == []


async def test_a_missing_or_failing_opener_is_one_line_notification(
    make_app, fake_server, tmp_path, monkeypatch, tui_dirs
):
    failing = Opener(tmp_path, monkeypatch, status=3)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        reply = await reply_with(pilot, fake_server, f"Read [the docs]({DOCS}).")
        await click_text(pilot, reply, "the docs")
        await pilot.press("enter")
        await settle(pilot)
        assert failing.runs == [[DOCS]]
        assert any("exit status 3" in n for n in notifications(app)), notifications(app)
        monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
        await click_text(pilot, reply, "the docs")
        await pilot.press("enter")
        await settle(pilot)
        assert any(f"no {opener_name()}" in n for n in notifications(app)), notifications(app)


def test_no_osc8_hyperlink_reaches_the_terminal(tmp_path: Path, fake_server: FakeServer) -> None:
    """The real program in a pty: the link and its URL are drawn, never as OSC 8."""
    from tests.security.test_tui_escapes import PROBE, Pty, pty_env

    env = pty_env(tmp_path, fake_server.base_url)
    fake_server.enqueue(
        sse_text_reply(
            "BEFOREMARK [docs](https://osc.example/path) <https://auto.example/> ENDMARK"
        )
    )
    app = Pty([sys.executable, "-m", "megachat"], env)
    try:
        app.read_until(PROBE, resend=PROBE)  # the prompt has focus and echoes keys
        app.write(b" go")
        app.read_until(b"go")
        app.write(b"\r")
        app.read_until(b"ENDMARK")
        app.write(b"\x11")  # ctrl+q
        app.proc.wait(timeout=15)
    finally:
        app.close()
    out = app.output
    assert b"osc.example/path" in out and b"auto.example" in out  # drawn as text
    assert b"\x1b]8;" not in out


async def test_text_typed_after_clicking_a_link_goes_to_the_prompt(make_app, fake_server, opener):
    """A click on a link focuses its message; what the user types next (after Esc on the
    question) lands in the prompt, not lost on the message, whose own keys still act."""
    from megachat.tui.widgets.prompt_input import PromptInput

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        reply = await reply_with(pilot, fake_server, f"Read [the docs]({DOCS}).")
        await click_text(pilot, reply, "the docs")
        await pilot.press("escape")
        await settle(pilot)
        assert app.focused is reply
        await pilot.press(*"hi there")
        await settle(pilot)
        prompt = app.screen.query_one(PromptInput)
        assert prompt.text == "hi there"
        assert app.focused is prompt
        # A burst, as a terminal delivers a fast typist's keys: all of them reach the message
        # before the focus moves, `o` (open a link) and `c` (copy) among them.
        reply.focus()
        await settle(pilot)
        for character in " to book a cab":
            app.post_message(events.Key(character, character))
        await settle(pilot)
        assert prompt.text == "hi there to book a cab"
        assert app.focused is prompt
        assert opener.runs == []
        assert len(app.screen_stack) == 1  # the main screen only: no link question came up
