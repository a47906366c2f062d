"""`megachat`, `megachat -c`, `megachat --resume [ID]`: the TUI starts on the right conversation.

The TUI runs for real in a pseudo-terminal; the test waits for the conversation's text to be drawn,
then quits with ctrl+q.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time

from tests.cli.conftest import CLI, ROOT
from tests.fakeserver import sse_text_reply


def run_tui_until(
    cli: CLI, args: list[str], needle: bytes, timeout: float = 30
) -> tuple[int, bytes]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 110, 0, 0))
    env = dict(cli.env, TERM="xterm-256color")
    proc = subprocess.Popen(
        [sys.executable, "-m", "megachat", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    os.close(slave)
    output = b""
    deadline = time.monotonic() + timeout  # an upper bound only; we wait for the output itself
    try:
        while needle not in output and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                output += chunk
        found = needle in output
        os.write(master, b"\x11")  # ctrl+q
        while True:
            ready, _, _ = select.select([master], [], [], 5.0)
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        status = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert found, output[-2000:]
    return status, output


def _ask(cli: CLI, prompt: str, reply: str) -> str:
    cli.server.enqueue(sse_text_reply(reply))
    assert cli.run("ask", prompt).returncode == 0
    return json.loads(cli.run("list", "--json").stdout)[0]["id"]


def test_continue_opens_the_latest_conversation(cli: CLI) -> None:
    _ask(cli, "older", "Xylophonic")
    _ask(cli, "newer", "Quetzalcoatl")
    status, _ = run_tui_until(cli, ["-c"], b"Quetzalcoatl")
    assert status == 0


def test_resume_id_prefix_opens_that_conversation(cli: CLI) -> None:
    older = _ask(cli, "older", "Xylophonic")
    _ask(cli, "newer", "Quetzalcoatl")
    status, _ = run_tui_until(cli, ["--resume", older[:9]], b"Xylophonic")
    assert status == 0


def test_resume_unknown_id_is_a_usage_error_before_the_tui(cli: CLI) -> None:
    result = cli.run("--resume", "nope")
    assert result.returncode == 2
    assert result.stderr.startswith("megachat: error: no conversation with id")
    assert "\x1b[" not in result.stdout  # the screen was never taken over


def test_plain_megachat_opens_a_new_conversation(cli: CLI) -> None:
    _ask(cli, "an old question", "Xylophonic")
    status, output = run_tui_until(cli, [], b"Quit")
    assert status == 0
    assert b"Xylophonic" not in output


def test_resume_alone_opens_the_picker(cli: CLI) -> None:
    _ask(cli, "Pickable conversation", "Xylophonic")
    status, _ = run_tui_until(cli, ["--resume"], b"Pickable conversation")
    assert status == 0
