"""SIGTERM (`kill PID`) during `megachat ask` is handled like Ctrl+C, with exit status 143.

Without a handler Python dies at once and the reply stays "streaming" in the store (shown as
interrupted); with it the partial reply is stored as cancelled, as for Ctrl+C.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading

from tests.cli.conftest import CLI
from tests.cli.test_signals_and_tty import WORDS, read_until
from tests.fakeserver import sse_text_reply


def test_sigterm_keeps_the_partial_reply_as_cancelled_and_exits_143(cli: CLI) -> None:
    # 200 words, one event each, 50 ms apart: ten seconds of stream, terminated after 3 words.
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
    proc.send_signal(signal.SIGTERM)
    rest = proc.stdout.read()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=30) == 143
    assert stderr == ""  # quiet, like Ctrl+C: no traceback, no error line
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


def test_sigterm_before_the_reply_starts_keeps_the_user_turn(cli: CLI) -> None:
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
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 143
    assert proc.stdout is not None and proc.stdout.read() == b""
    (conv,) = json.loads(cli.run("list", "--json").stdout)
    assert conv["message_count"] == 1
    assert conv["title"] == "pending question"


def test_ask_help_documents_143(offline_cli: CLI) -> None:
    out = offline_cli.run("ask", "--help").stdout
    assert "143" in out and "SIGTERM" in out
