"""Bidi controls and invisible format characters are shown, joiners that writing needs are kept
(issue 8, item 2).

U+202E reverses what follows it on screen (`invoice`, U+202E, `gpj.exe` reads as
`invoiceexe.jpg`), a zero-width space hides inside a word. Replies, titles and `megachat list`
show them as `⟨U+202E⟩`. The ZWJ of 👨‍👩‍👧‍👦 is not a trick: it survives on screen, and
what the user types in the prompt reaches the server unchanged.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from megachat.tui.widgets.message import MessageWidget
from tests.cli.conftest import CLI, _base_env
from tests.fakeserver import FakeServer, sse_text_reply
from tests.security.test_tui_escapes import COLS, PROBE, ROWS, Pty
from tests.tui.conftest import ready, settle, type_text
from tests.tui.test_conversation_view import shown_text

FAMILY = "👨\u200d👩\u200d👧\u200d👦"
SIZE = (100, 30)


def test_list_shows_a_bidi_override_in_a_title(cli: CLI) -> None:
    cli.server.enqueue(sse_text_reply("ok"))
    assert cli.run("ask", "hello").returncode == 0
    (row,) = json.loads(cli.run("list", "--json").stdout)
    renamed = cli.run("rename", row["id"], f"invoice\u202egpj.exe {FAMILY} a\u200bb")
    assert renamed.returncode == 0, renamed.stderr
    listed = cli.run("list")
    assert listed.returncode == 0
    assert f"invoice⟨U+202E⟩gpj.exe {FAMILY} a⟨U+200B⟩b" in listed.stdout
    assert "\u202e" not in listed.stdout and "\u200b" not in listed.stdout
    (row,) = json.loads(cli.run("list", "--json").stdout)
    assert row["title"] == f"invoice\u202egpj.exe {FAMILY} a\u200bb"  # stored as given


async def test_reply_shows_the_override_and_keeps_the_family(make_app, fake_server):
    reply = f"Look: \u202eevil\u202c and {FAMILY} family\u2066!"
    # split inside the emoji sequence: a delta ends right after a ZWJ, the next starts with one
    chunks = ["Look: \u202eevil\u202c and 👨\u200d", "👩", "\u200d👧\u200d👦 family\u2066!"]
    assert "".join(chunks) == reply
    fake_server.enqueue(sse_text_reply(reply, chunks=chunks))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        await type_text(pilot, "show me")
        await pilot.press("enter")
        await settle(pilot)
        widget = main.query(MessageWidget).last()
        assert widget.message.role == "assistant"
        shown = shown_text(widget)
        assert f"Look: ⟨U+202E⟩evil⟨U+202C⟩ and {FAMILY} family⟨U+2066⟩!" in shown
        assert "\u202e" not in shown and "\u2066" not in shown


def test_typed_joiners_reach_the_server_unchanged(tmp_path: Path, fake_server: FakeServer):
    """The real app on a pty, so keys arrive as a terminal sends them (Pilot's press() loses the
    character of a ZWJ key): the emoji family, a zero-width space and an RLM, typed."""
    typed = f"{FAMILY} a\u200bb \u05e9\u05dc\u05d5\u05dd\u200e!"
    env = _base_env(tmp_path)
    env.update(
        MEGALLM_API_KEY="sk-format-test-key",
        MEGALLM_BASE_URL=fake_server.base_url,
        TERM="xterm-256color",
        COLUMNS=str(COLS),
        LINES=str(ROWS),
    )
    fake_server.enqueue(sse_text_reply("REPLYMARK"))
    app = Pty([sys.executable, "-m", "megachat"], env)
    try:
        app.read_until(PROBE, resend=PROBE)  # the prompt has focus and echoes keys
        app.write(f" {typed}".encode())
        app.read_until("\u05dd\u200e!".encode())  # echoed whole by the prompt
        app.write(b"\r")
        app.read_until(b"REPLYMARK")
    finally:
        app.close()
    (request,) = fake_server.requests_to()
    (block,) = request.json["messages"][-1]["content"]
    assert block["text"].endswith(f" {typed}") and block["text"].strip("zq") == f" {typed}"
    # and the sent message is shown with the family whole and the invisible ones made visible
    assert "a⟨U+200B⟩b".encode() in app.output and "⟨U+200E⟩!".encode() in app.output


async def test_typed_joiners_in_the_system_prompt_are_kept(make_app, fake_server):
    """The system prompt is edited in the same kind of text area as the prompt: typed format
    characters reach the request's `system` unchanged (Textual's TextArea drops them). Keys are
    posted as the terminal driver makes them (Pilot's press() loses a ZWJ key's character)."""
    from textual import events
    from textual.keys import _character_to_key

    typed = f"{FAMILY} a\u200bb \u05e9\u05dc\u05d5\u05dd\u200e!"
    fake_server.enqueue(sse_text_reply("REPLYMARK"))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        system = app.focused
        assert system is not None and system.id == "system"
        for character in typed:
            system.post_message(events.Key(_character_to_key(character), character))
        await settle(pilot)
        assert system.text == typed
        await pilot.press("ctrl+t")
        await type_text(pilot, "hi")
        await pilot.press("enter")
        await settle(pilot)
        assert main.session is not None
    (request,) = fake_server.requests_to()
    assert request.json["system"] == typed
