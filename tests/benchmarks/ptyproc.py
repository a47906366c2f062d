"""A process in a pseudo-terminal, for the benchmarks that measure the app from outside.

bench_tui, bench_startup and bench_e2e all launch the app the same way (a sized pty whose tty
does not echo, so only the app can show what is typed; the child in its own session, so it and
its children can be killed as a group) and stop it the same way; this is that code, once.
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
import termios
from collections.abc import Mapping, Sequence
from pathlib import Path


def spawn_in_pty(
    argv: Sequence[str], env: Mapping[str, str], *, cwd: Path | str, rows: int, cols: int
) -> tuple[subprocess.Popen, int]:
    """Start `argv` on a new `rows` x `cols` pty with tty echo off, in a new session.

    Returns the process and the pty's master fd (the caller's to `stop`)."""
    master, slave = pty.openpty()
    try:
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~termios.ECHO  # only the app may echo what is typed
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        proc = subprocess.Popen(
            list(argv),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    return proc, master


def stop(proc: subprocess.Popen, master_fd: int) -> None:
    """SIGTERM the process group, SIGKILL it after 5 s; drain and close the pty's master."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    with contextlib.suppress(OSError):
        while select.select([master_fd], [], [], 0)[0] and os.read(master_fd, 65536):
            pass
    os.close(master_fd)
