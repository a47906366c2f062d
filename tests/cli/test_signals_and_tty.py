"""Ctrl+C during a streaming reply, and terminal output (a real pty) versus a pipe."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import threading

import pytest

from tests.cli.conftest import CLI, ROOT
from tests.fakeserver import sse_text_reply

WORDS = [f"word{i} " for i in range(200)]


def read_until(fd: int, needle: bytes, limit: int = 1 << 20) -> bytes:
    """Read from fd until needle appears (synchronise on output, not on time)."""
    data = b""
    while needle not in data:
        chunk = os.read(fd, 4096)
        assert chunk, f"EOF before {needle!r}; got {data!r}"
        data += chunk
        assert len(data) < limit
    return data


def read_to_end(fd: int) -> bytes:
    data = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO on a pty once the child has gone
            break
        if not chunk:
            break
        data += chunk
    return data


# Ctrl+C, and SIGTERM (`kill PID`), which ask handles the same way: without a handler Python
# would die at once and leave the reply "streaming" (shown as interrupted) instead of cancelled.
STOPS = pytest.mark.parametrize(
    ("stop", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"]
)


@STOPS
def test_stop_keeps_the_partial_reply_as_cancelled(cli: CLI, stop: int, status: int) -> None:
    # 200 words, one event each, 50 ms apart: ten seconds of stream, stopped after 3 words.
    cli.server.enqueue(sse_text_reply("".join(WORDS), chunks=WORDS, delay_per_event=0.05))
    proc = cli.popen(
        "ask",
        "count slowly",
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    printed = read_until(proc.stdout.fileno(), b"word2 ")
    proc.send_signal(stop)
    rest = proc.stdout.read()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=30) == status
    assert stderr == ""  # quiet: no traceback, no error line
    shown = (printed + rest).decode()
    assert shown.startswith("word0 word1 word2 ")
    assert shown.endswith("\n")  # the reply writer finished the line
    assert "word199" not in shown

    (conv,) = json.loads(cli.run("list", "--json").stdout)
    assert conv["message_count"] == 2
    assert "## Assistant (cancelled)" in cli.run("export", conv["id"]).stdout
    stored = json.loads(cli.run("export", conv["id"], "--format", "json").stdout)
    partial = stored["messages"][-1]["content"][0]["text"]
    assert partial.startswith(shown.rstrip())  # everything printed was stored
    assert len(partial.split()) < 200


@STOPS
def test_stop_before_the_reply_starts_keeps_the_user_turn(cli: CLI, stop: int, status: int) -> None:
    # The server holds the response for a long time; the request is pending when the signal comes.
    cli.server.enqueue(sse_text_reply("late", delay_before=60))
    arrived = threading.Event()
    cli.server.on_request = lambda request: arrived.set()
    proc = cli.popen(
        "ask",
        "pending question",
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert arrived.wait(30)  # the request has reached the server
    proc.send_signal(stop)
    assert proc.wait(timeout=30) == status
    assert proc.stdout is not None and proc.stdout.read() == b""
    (conv,) = json.loads(cli.run("list", "--json").stdout)
    assert conv["message_count"] == 1
    assert conv["title"] == "pending question"


def test_ask_help_documents_the_signals(offline_cli: CLI) -> None:
    out = offline_cli.run("ask", "--help").stdout
    assert "130" in out and "143" in out and "SIGTERM" in out


def _run_on_pty(cli: CLI, *args: str) -> tuple[int, bytes, str]:
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "megachat", *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=cli.env,
        cwd=ROOT,
    )
    os.close(slave)
    output = read_to_end(master)
    os.close(master)
    assert proc.stderr is not None
    stderr = proc.stderr.read().decode()
    return proc.wait(timeout=30), output, stderr


def test_terminal_output_has_escape_sequences_removed(cli: CLI) -> None:
    text = "red \x1b[31mRED\x1b[0m title\x1b]0;pwned\x07 done\x9b2J!"
    # Split inside the sequences: the stripping must work across deltas.
    chunks = ["red \x1b[3", "1mRED\x1b", "[0m title\x1b]0;", "pw", "ned\x07 done\x9b", "2J!"]
    cli.server.enqueue(sse_text_reply(text, chunks=chunks))
    status, output, stderr = _run_on_pty(cli, "ask", "colours")
    assert status == 0, stderr
    shown = output.decode("utf-8")
    assert "\x1b" not in shown and "\x9b" not in shown and "\x07" not in shown
    assert "pwned" not in shown
    assert shown.replace("\r\n", "\n") == "red RED title done!\n"


def test_export_markdown_on_a_terminal_is_cleaned(cli: CLI) -> None:
    cli.server.enqueue(sse_text_reply("evil \x1b]52;c;Y2xpcA==\x07 text"))
    assert cli.run("ask", "hi").returncode == 0
    conv_id = json.loads(cli.run("list", "--json").stdout)[0]["id"]
    status, output, _ = _run_on_pty(cli, "export", conv_id)
    assert status == 0
    assert b"\x1b" not in output and b"Y2xpcA" not in output
    piped = cli.run("export", conv_id)
    assert "\x1b]52;c;Y2xpcA==\x07" in piped.stdout  # faithful in a pipe
