"""The fault matrix harness: real `megachat` processes, the real fake server, real files.

Every test runs megachat in its own XDG_CONFIG_HOME / XDG_DATA_HOME under tmp_path with a
config.toml that lowers `max_retries` (so retry storms stay short), the fake server's URL in
MEGALLM_BASE_URL and a test key. Synchronisation is on output or on database content, never on
time: `wait_for` polls a condition with a deadline (the deadline only bounds a failing test).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fakeserver import FakeServer
from tests.tui.conftest import make_app, settings, tui_dirs  # noqa: F401  (fixtures for Pilot)

ROOT = Path(__file__).resolve().parents[2]
TEST_KEY = "sk-mega-fault-KEY-5e1d2c3b4a"
DEADLINE = 30.0


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Sandbox:
    """A private megachat installation: environment, dirs and helpers to run commands."""

    env: dict[str, str]
    tmp: Path
    server: FakeServer | None
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def config_dir(self) -> Path:
        return Path(self.env["XDG_CONFIG_HOME"]) / "megachat"

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def data_dir(self) -> Path:
        return Path(self.env["XDG_DATA_HOME"]) / "megachat"

    @property
    def db(self) -> Path:
        return self.data_dir / "megachat.db"

    def write_config(self, text: str) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(text)

    def run(
        self, *args: str, input: str = "", env: dict[str, str] | None = None, timeout: float = 60
    ) -> Result:
        """`python -m megachat ARGS` to completion (stdin is `input`, never a terminal)."""
        proc = subprocess.run(
            [sys.executable, "-m", "megachat", *args],
            input=input.encode(),
            capture_output=True,
            env={**self.env, **(env or {})},
            cwd=ROOT,
            timeout=timeout,
        )
        return Result(
            proc.returncode,
            proc.stdout.decode("utf-8", errors="replace"),
            proc.stderr.decode("utf-8", errors="replace"),
        )

    def popen(self, *args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start `python -m megachat ARGS` with pipes (killed at teardown if still running)."""
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        env = {**self.env, **kwargs.pop("env", {})}
        proc = subprocess.Popen(
            [sys.executable, "-m", "megachat", *args], env=env, cwd=ROOT, **kwargs
        )
        self.procs.append(proc)
        return proc

    # -- what is kept ---------------------------------------------------------------------

    def conversations(self) -> list[dict]:
        result = self.run("list", "--json")
        assert result.returncode == 0, result.stderr
        assert_clean(result.stderr)
        return json.loads(result.stdout)

    def only_conversation(self) -> dict:
        convs = self.conversations()
        assert len(convs) == 1, convs
        return convs[0]

    def export(self, conv_id: str) -> dict:
        """`megachat export ID --format json` (the messages exactly as they would be sent next)."""
        result = self.run("export", conv_id, "--format", "json")
        assert result.returncode == 0, result.stderr
        assert_clean(result.stderr)
        return json.loads(result.stdout)

    def export_markdown(self, conv_id: str) -> str:
        result = self.run("export", conv_id)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def stored_messages(self) -> list[dict]:
        """Rows of the messages table straight from SQLite: role, status, text."""
        return db_rows(self.db)


def db_rows(db: Path) -> list[dict]:
    """The messages as stored (read-only connection; fine while a writer is running: WAL)."""
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        rows = conn.execute(
            "SELECT conversation_id, role, status, text FROM messages ORDER BY conversation_id, "
            "position"
        ).fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []
    finally:
        conn.close()
    return [{"conversation_id": r[0], "role": r[1], "status": r[2], "text": r[3]} for r in rows]


def wait_for(condition: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
    """Poll `condition` until it returns something truthy (synchronisation on state)."""
    end = time.monotonic() + deadline
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)  # poll interval, not synchronisation


@dataclass
class Measured:
    """A finished run and the child's own peak RSS (ru_maxrss from wait4, in MiB)."""

    returncode: int
    stdout: str
    stderr: str
    peak_rss_mb: float


def run_measured(
    mc: Sandbox,
    *args: str,
    stdin: int | None = subprocess.DEVNULL,
    address_space_limit: int | None = None,
    deadline: float = DEADLINE,
) -> Measured:
    """`python -m megachat ARGS` to its end: exit status, output and the child's peak RSS.

    stdout/stderr go to files (no pipe can fill up while we wait); the peak is wait4(2)'s, the
    kernel's own count, taken by a small launcher (rss_launcher: forked from pytest, the count
    would include pytest's own memory). `address_space_limit` (bytes) runs it under
    RLIMIT_AS, so code reading without bounds fails with MemoryError instead of exhausting the
    machine. `deadline` only bounds a hanging run: the child is killed and the test fails."""

    out_path, err_path = mc.tmp / "stdout.txt", mc.tmp / "stderr.txt"
    report = mc.tmp / "rss.txt"
    report.unlink(missing_ok=True)
    launcher = [sys.executable, "-m", "tests.faults.rss_launcher", str(report)]
    limit = str(address_space_limit or 0)
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [*launcher, limit, sys.executable, "-m", "megachat", *args],
            stdin=stdin,
            stdout=out,
            stderr=err,
            env=mc.env,
            cwd=ROOT,
        )
    try:
        wait_for(lambda: proc.poll() is not None, f"megachat {' '.join(args)} to end", deadline)
    except AssertionError:
        proc.terminate()
        proc.wait()
        raise
    code, maxrss_kib = report.read_text("ascii").split()
    return Measured(
        int(code),
        out_path.read_text("utf-8", errors="replace"),
        err_path.read_text("utf-8", errors="replace"),
        int(maxrss_kib) / 1024,  # KiB on Linux
    )


def assert_clean(stderr: str) -> None:
    """No traceback, no asyncio callback dump, no leaked key."""
    assert "Traceback" not in stderr, stderr
    assert "Exception in callback" not in stderr, stderr
    assert "Task exception was never retrieved" not in stderr, stderr
    assert TEST_KEY not in stderr


def one_error_line(stderr: str) -> str:
    """The single `megachat: error: ...` line (other lines may be retry notices)."""
    assert_clean(stderr)
    errors = [line for line in stderr.splitlines() if line.startswith("megachat: error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


def read_until(fd: int, needle: bytes, limit: int = 8 << 20) -> bytes:
    """Read a pipe until `needle` appears (synchronise on output)."""
    data = b""
    while needle not in data:
        chunk = os.read(fd, 65536)
        assert chunk, f"EOF before {needle!r}; got {data[-500:]!r}"
        data += chunk
        assert len(data) < limit
    return data


def make_env(tmp: Path, base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEGALLM_", "MEGACHAT_"))}
    env.update(
        XDG_CONFIG_HOME=str(tmp / "config"),
        XDG_DATA_HOME=str(tmp / "data"),
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        PYTHONIOENCODING="utf-8",
        MEGALLM_BASE_URL=base_url,
        MEGALLM_API_KEY=TEST_KEY,
    )
    return env


class StallServer:
    """A one-shot streaming server on 127.0.0.1 that stalls where the test says.

    It answers every POST with 200 + chunked SSE: it sends `head` (raw SSE bytes), then holds the
    connection open, silent, until `release()` or `stall` seconds have passed (the scenario's
    pause, like the fake server's delay_per_event), then sends `tail` and ends. The fake server
    cannot stall at one chosen point of a stream; this can.
    """

    def __init__(self, head: bytes, tail: bytes = b"", *, stall: float | None = None) -> None:
        import socket
        import threading

        self.head, self.tail, self.stall = head, tail, stall
        self.released = threading.Event()
        self.requests = 0
        self.head_sent = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def _serve(self) -> None:
        import threading

        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: Any) -> None:
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            while len(body) < length:
                body += conn.recv(65536)
            self.requests += 1
            conn.sendall(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"transfer-encoding: chunked\r\n\r\n"
            )
            if self.head:
                conn.sendall(b"%x\r\n%s\r\n" % (len(self.head), self.head))
            self.head_sent.set()
            self.released.wait(self.stall)
            if self.tail:
                conn.sendall(b"%x\r\n%s\r\n" % (len(self.tail), self.tail))
            conn.sendall(b"0\r\n\r\n")
        except OSError:
            pass

    def release(self) -> None:
        self.released.set()

    def close(self) -> None:
        self.released.set()
        self._sock.close()
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.close()


def sse_bytes(events: list) -> bytes:
    from tests.fakeserver import sse_event

    return b"".join(sse_event(e) for e in events)


# Retries: 2 (the default) but rate limit off; retry waits are made short by retry-after-ms.
# Prompt caching off: the rows compare request bodies as written (caching has its own tests).
DEFAULT_CONFIG = "max_retries = 2\nprompt_cache = false\n\n[rate_limit]\nrequests = 0\n"


@pytest.fixture
def mc(tmp_path: Path, fake_server: FakeServer) -> Iterator[Sandbox]:
    """A megachat sandbox wired to the fake server."""
    box = Sandbox(make_env(tmp_path, fake_server.base_url), tmp_path, fake_server)
    box.write_config(DEFAULT_CONFIG)
    yield box
    for proc in box.procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
