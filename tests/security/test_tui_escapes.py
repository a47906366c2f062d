"""Raw terminal escapes in model output never reach the terminal from the TUI (issue 5, item 3).

The real `megachat` runs in a pseudo-terminal against the fake server; the reply carries an OSC
title change, an OSC 52 clipboard write, SGR colours, a CSI clear screen and a C1 CSI. Every byte
the app writes to the terminal is kept and checked: none of the reply's sequences (or their
payloads) may appear, while the visible text around them does. Synchronisation is on the pty's
output only (select with a deadline), never on sleeps.

`megachat ask` on a terminal (stripped) and in a pipe (passed through, as its --help documents)
is covered by tests/cli/test_signals_and_tty.py::test_terminal_output_has_escape_sequences_removed
and tests/cli/test_ask.py (the pipe case); not duplicated here.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from tests.cli.conftest import ROOT, _base_env
from tests.fakeserver import FakeServer, sse_text_reply
from tests.security.test_key_leak import KEY, _assert_no_key_in_files

REPLY = (
    "BEFOREMARK \x1b]2;pwned-title\x07 \x1b]52;c;cHduZWQtY2xpcA==\x07 "
    "\x1b[5;41mREDBLINK\x1b[0m \x1b[2J\x1b[H \x9b2J "
    "\x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\ "
    "AFTERMARK"
)
# Split inside the sequences: stripping must hold across deltas.
CHUNKS = [REPLY[i : i + 7] for i in range(0, len(REPLY), 7)]
FORBIDDEN = [
    b"pwned-title",
    b"\x1b]2;",
    b"\x1b]52;c;cHdu",
    b"cHduZWQtY2xpcA",
    b"\x1b[5;41m",
    b"\x9b2J",
    b"\xc2\x9b",  # C1 CSI encoded as UTF-8
    b"evil.example",
]
COLS, ROWS = 120, 40
PROBE = b"zq"


class Pty:
    """A process on a pty; every byte it writes is kept in ``output``."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~termios.ECHO  # only the app may echo what we type
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT,
            start_new_session=True, close_fds=True,
        )  # fmt: skip
        os.close(slave)
        self.master = master
        self.output = b""

    def read_until(self, needle: bytes, *, timeout: float = 30, resend: bytes = b"") -> None:
        """Read until ``needle`` was written; ``resend`` is typed again each 50 ms of silence."""
        start = len(self.output)
        deadline = time.monotonic() + timeout
        while needle not in self.output[max(0, start - len(needle)) :]:
            left = deadline - time.monotonic()
            assert left > 0, f"no {needle!r} from the app; tail: {self.output[-400:]!r}"
            if resend:
                os.write(self.master, resend)
            ready, _, _ = select.select([self.master], [], [], min(left, 0.05 if resend else left))
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    chunk = b""
                assert chunk, f"the app exited; tail: {self.output[-400:]!r}"
                self.output += chunk

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        with contextlib.suppress(OSError):
            while select.select([self.master], [], [], 0)[0]:
                chunk = os.read(self.master, 65536)
                if not chunk:
                    break
                self.output += chunk
        os.close(self.master)


def pty_env(tmp_path: Path, base_url: str, key: str = KEY) -> dict[str, str]:
    """The environment of a real `megachat` on a COLS x ROWS pty talking to the fake server."""
    env = _base_env(tmp_path)
    env.update(
        MEGALLM_API_KEY=key,
        MEGALLM_BASE_URL=base_url,
        TERM="xterm-256color",
        COLORTERM="truecolor",
        COLUMNS=str(COLS),
        LINES=str(ROWS),
    )
    return env


def test_tui_never_writes_escapes_from_the_reply(tmp_path: Path, fake_server: FakeServer) -> None:
    env = pty_env(tmp_path, fake_server.base_url)
    fake_server.enqueue(sse_text_reply(REPLY, chunks=CHUNKS))
    app = Pty([sys.executable, "-m", "megachat"], env)
    try:
        app.read_until(PROBE, resend=PROBE)  # the prompt has focus and echoes keys
        app.write(b" tell me")
        app.read_until(b"tell me")
        app.write(b"\r")  # Enter sends
        app.read_until(b"AFTERMARK")
        # The reply really went through the app (not, say, an error screen).
        sent = fake_server.requests_to("/v1/messages")
        assert sent and "tell me" in str(sent[-1].json["messages"])
        app.write(b"\x11")  # ctrl+q
        app.proc.wait(timeout=15)
    finally:
        app.close()
    out = app.output
    assert b"BEFOREMARK" in out and b"REDBLINK" in out and b"AFTERMARK" in out
    for bad in FORBIDDEN:
        assert bad not in out, f"{bad!r} from the model's reply reached the terminal"
    # The TUI session leaks the key neither to the terminal nor to its data/config files.
    assert KEY.encode() not in out
    assert _assert_no_key_in_files(tmp_path) >= 1
