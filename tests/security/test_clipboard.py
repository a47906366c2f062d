"""Every copy to the clipboard is sanitized like the screen (issue 8, item 1).

A reply's code block holds `\\x1b[201~`, the end of a shell's bracketed paste: pasted raw, the
lines after it would run without Enter. Its text holds an OSC title change and U+202E. "Copy
code block" and "Copy message" must put none of them on the clipboard, with the prompt focused
(the last reply) and with the message focused, from the palette and from the keys. Pilot checks
`app.clipboard`; a real `megachat` on a pseudo-terminal checks the OSC 52 bytes it writes.
"""

from __future__ import annotations

import base64
import re
import sys
from pathlib import Path
from typing import Any

from megachat.sanitize import clean
from megachat.tui.widgets.prompt_input import PromptInput
from tests.fakeserver import FakeServer, sse_text_reply
from tests.security.test_tui_escapes import COLS, PROBE, ROWS, Pty, pty_env
from tests.tui.conftest import ready, settle, type_text, until
from tests.tui.test_app import run_palette_command

CODE = "ls\x1b[201~\ntouch pwned\necho done\n"
REPLY = f"Run this \x1b]0;title\x07 \u202eevil\u202c:\n\n```sh\n{CODE}```\n\nAFTERMARK\n"
SAFE_CODE = "ls\ntouch pwned\necho done\n"  # the CSI "ESC [ 201 ~" goes whole
SAFE_REPLY = (
    "Run this  ⟨U+202E⟩evil⟨U+202C⟩:\n\n```sh\nls\ntouch pwned\necho done\n```\n\nAFTERMARK\n"
)
SIZE = (120, 40)


def assert_safe(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text, repr(text)
    assert "\u202e" not in text and "\u202c" not in text, repr(text)


async def start_with_reply(pilot: Any, fake_server: FakeServer) -> Any:
    main = await ready(pilot)
    await type_text(pilot, "a command please")
    await pilot.press("enter")
    await settle(pilot)
    assert main.conversation.last("assistant").text() == REPLY  # stored as it came
    return main


async def test_copy_from_the_palette_with_the_prompt_focused(make_app, fake_server):
    fake_server.enqueue(sse_text_reply(REPLY))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await start_with_reply(pilot, fake_server)
        assert isinstance(app.focused, PromptInput)
        await run_palette_command(pilot, "Copy code block")
        assert app.clipboard == SAFE_CODE
        await run_palette_command(pilot, "Copy message")
        assert app.clipboard == SAFE_REPLY
        assert_safe(app.clipboard)
        assert main.query_one(PromptInput).text == ""  # nothing typed into the prompt


async def test_copy_keys_with_the_message_focused(make_app, fake_server):
    fake_server.enqueue(sse_text_reply(REPLY))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await start_with_reply(pilot, fake_server)
        await until(
            pilot,
            lambda: (
                main._focused_message() is not None
                and main._focused_message().message.role != "user"
            ),
            rounds=50,
            step=lambda: pilot.press("shift+tab"),
        )
        await pilot.press("k")
        assert app.clipboard == SAFE_CODE
        await pilot.press("c")
        assert app.clipboard == SAFE_REPLY
        await run_palette_command(pilot, "Copy message")
        assert app.clipboard == SAFE_REPLY


async def test_no_copy_can_bypass_the_sanitizer(make_app):
    """Textual's own copies (selections, inputs, text areas) go through the app's entry too."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        prompt = main.query_one(PromptInput)
        prompt.load_text("x\x1b[201~y \x9b2J\u2066z")
        prompt.select_all()
        await pilot.press("ctrl+c")  # TextArea's copy
        assert app.clipboard == "xy ⟨U+2066⟩z"
        app.copy_to_clipboard("a\x1b]52;c;cHduZWQ=\x07b\ud800")
        assert app.clipboard == "ab"


OSC52 = re.compile(rb"\x1b\]52;c;([A-Za-z0-9+/=]*)\x07")


def clipboard_writes(output: bytes) -> list[str]:
    return [base64.b64decode(m).decode("utf-8") for m in OSC52.findall(output)]


def test_osc52_written_to_the_terminal_is_sanitized(tmp_path: Path, fake_server: FakeServer):
    """The real app on a pty, the prompt focused, the palette: the bytes of every OSC 52."""
    env = pty_env(tmp_path, fake_server.base_url, key="sk-clipboard-test-key")
    fake_server.enqueue(sse_text_reply(REPLY, usage={"input_tokens": 5, "output_tokens": 4321}))
    app = Pty([sys.executable, "-m", "megachat"], env)
    try:
        app.read_until(PROBE, resend=PROBE)  # the prompt has focus and echoes keys
        app.write(b" go\r")
        app.read_until(b"4,321 out")  # the reply is finished and stored
        code = palette_copy(app, b"Copy code block")
        message = palette_copy(app, b"Copy message")
    finally:
        app.close()
    assert code == SAFE_CODE
    assert message == SAFE_REPLY
    for text in clipboard_writes(app.output):
        assert_safe(text)
        assert text == clean(text)


def palette_copy(app: Pty, command: bytes) -> str:
    """Run `command` from the palette and return what it wrote with OSC 52. Enter is pressed
    again on each silence: the first may come before the palette has listed its matches. Keys
    typed in the instant the palette is drawn but its input not yet focused are lost (the
    palette then only rings its bell on Enter): it is closed and opened again."""
    before = len(clipboard_writes(app.output))
    for _attempt in range(5):
        app.write(b"\x10")  # ctrl+p
        app.read_until("Search for commands…".encode())
        app.write(command)
        for _ in range(40):
            writes = clipboard_writes(app.output)
            if len(writes) > before:
                return writes[before]
            app.read_until(b"\x07", resend=b"\r")  # BEL ends an OSC 52 (or is the bell)
        app.write(b"\x1b")  # the name typed was lost: close the palette, try again
    raise AssertionError(f"{command!r} wrote nothing to the clipboard; tail: {app.output[-600:]!r}")


SELECTION_REPLY = "Alpha bravo \x1b]0;t\x07SELECT\u202eME charlie delta.\n\nSecond line here.\n"
TERMINAL_OUTPUT = re.compile(
    r"\x1b\[(?P<row>\d+);(?P<column>\d+)H"  # the cursor moves
    r"|\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b."  # colours, modes, OSC
    r"|(?P<text>[^\x1b]+)"
)


def screen_rows(output: bytes) -> list[str]:
    """What the terminal shows after `output`, row by row (Textual draws with cursor moves and
    text only; the text checked here is one cell per character)."""
    rows = [[" "] * COLS for _ in range(ROWS)]
    row = column = 0
    for token in TERMINAL_OUTPUT.finditer(output.decode("utf-8", "replace")):
        if token["row"]:
            row, column = int(token["row"]) - 1, int(token["column"]) - 1
        for character in token["text"] or "":
            if character == "\r":
                column = 0
            elif character == "\n":
                row = min(row + 1, ROWS - 1)
            elif column < COLS:
                rows[row][column] = character
                column += 1
    return ["".join(cells) for cells in rows]


def screen_cell(rows: list[str], word: str, *, last: bool = False) -> tuple[int, int]:
    """(column, row), from 1 as the mouse reports them, of the first (or last) letter of the
    one place `word` shows."""
    [(y, x)] = [(y, row.index(word)) for y, row in enumerate(rows) if word in row]
    return x + 1 + (len(word) - 1 if last else 0), y + 1


def test_a_mouse_selection_copied_on_a_terminal_is_exactly_the_selected_text(
    tmp_path: Path, fake_server: FakeServer
):
    """The real app on a pty: SGR mouse bytes press, drag and release over a reply, ctrl+c
    copies; the OSC 52 it writes holds the selected words, the reply's escapes removed."""
    env = pty_env(tmp_path, fake_server.base_url, key="sk-clipboard-test-key")
    usage = {"input_tokens": 5, "output_tokens": 4321}
    fake_server.enqueue(sse_text_reply(SELECTION_REPLY, usage=usage))
    app = Pty([sys.executable, "-m", "megachat"], env)
    try:
        app.read_until(PROBE, resend=PROBE)
        app.write(b" go\r")
        app.read_until(b"4,321 out")  # the reply is finished
        app.write(b"(typed after)")  # drawn once what the end of the reply moved is drawn
        app.read_until(b"(typed after)")
        rows = screen_rows(app.output)
        x1, y1 = screen_cell(rows, "bravo")
        x2, y2 = screen_cell(rows, "charlie", last=True)
        before = len(clipboard_writes(app.output))
        app.write(f"\x1b[<0;{x1};{y1}M\x1b[<32;{x2};{y2}M\x1b[<0;{x2};{y2}m".encode())
        app.write(b"\x03")  # ctrl+c
        app.read_until(b"\x1b]52;c;")
        while len(clipboard_writes(app.output)) == before:
            app.read_until(b"\x07")  # BEL ends an OSC 52
    finally:
        app.close()
    assert clipboard_writes(app.output)[before] == "bravo SELECT⟨U+202E⟩ME charlie"
