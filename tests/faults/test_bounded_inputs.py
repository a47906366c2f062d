"""Local inputs are bounded: `-i` on a device, a FIFO or a huge sparse file, endless stdin, and a
FIFO in the image picker. Real `megachat` processes (the TUI in tmux), the real fake server.

Each CLI case must end at once with exit 2, one error line, no request sent, and a small peak RSS.
The peak is the child's own ru_maxrss from wait4 (a memory bound, not a timing assertion). The
child also runs under a 2 GiB address-space limit so that code reading without bounds fails with
MemoryError instead of exhausting the machine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.conftest import (
    Measured,
    Sandbox,
    assert_clean,
    one_error_line,
    wait_for,
)
from tests.faults.conftest import run_measured as _run_measured
from tests.faults.test_tui_process import PROMPT_READY, Tmux, tmux  # noqa: F401  (fixture)

PEAK_RSS_LIMIT_MB = 200
ADDRESS_SPACE_LIMIT = 2 << 30


def run_measured(mc: Sandbox, *args: str, stdin: int | None = subprocess.DEVNULL) -> Measured:
    """The shared measured run, under the address-space limit."""
    return _run_measured(mc, *args, stdin=stdin, address_space_limit=ADDRESS_SPACE_LIMIT)


def refused(mc: Sandbox, result: Measured, message: str) -> None:
    """Exit 2, that one error line, nothing sent, nothing stored, a small peak RSS."""
    assert result.returncode == 2, result.stderr
    assert one_error_line(result.stderr) == f"megachat: error: {message}"
    assert mc.server is not None and mc.server.requests == []
    assert mc.conversations() == []
    assert result.peak_rss_mb < PEAK_RSS_LIMIT_MB, result.peak_rss_mb


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A FIFO named like an image; at teardown a writer opens and closes it, so that any reader
    still blocked on it (the bug) wakes up and the process can end."""
    path = tmp_path / "pics" / "x.png"
    path.parent.mkdir(exist_ok=True)
    os.mkfifo(path)
    yield path
    with contextlib.suppress(OSError):  # ENXIO: nobody has it open for reading, all is well
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


def test_image_from_dev_zero_is_refused_at_once(mc: Sandbox) -> None:
    result = run_measured(mc, "ask", "-i", "/dev/zero", "describe")
    refused(mc, result, "/dev/zero: is not a regular file (nothing was sent)")


def test_image_fifo_is_refused_without_blocking(mc: Sandbox, fifo: Path) -> None:
    result = run_measured(mc, "ask", "-i", str(fifo), "describe")
    refused(mc, result, f"{fifo}: is not a regular file (nothing was sent)")


def test_sparse_3_gb_image_is_refused_by_its_size_unread(mc: Sandbox, tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    with open(big, "wb") as handle:
        handle.truncate(3 << 30)  # sparse: no disk used
    result = run_measured(mc, "ask", "-i", str(big), "describe")
    refused(mc, result, f"{big}: is 3.0 GiB, larger than the 64 MiB limit (nothing was sent)")


def test_endless_stdin_is_refused_past_the_request_limit(mc: Sandbox) -> None:
    with open("/dev/zero", "rb") as zero:
        result = run_measured(mc, "ask", "summarise", stdin=zero.fileno())
    refused(
        mc,
        result,
        "stdin is larger than 32 MB, the most one request can carry (nothing was sent)",
    )


@pytest.mark.parametrize(
    ("stop", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"]
)
def test_ctrl_c_and_sigterm_stop_ask_while_it_reads_stdin(
    mc: Sandbox, stop: signal.Signals, status: int
) -> None:
    import fcntl
    import termios

    proc = mc.popen("ask", "summarise", stdin=subprocess.PIPE)
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.write(b"some text, and more to come " * 4096)
    proc.stdin.flush()

    def unread() -> int:
        count = bytearray(4)
        fcntl.ioctl(proc.stdin.fileno(), termios.FIONREAD, count)
        return int.from_bytes(count, sys.byteorder)

    wait_for(lambda: unread() == 0, "megachat to read what was written to its stdin")
    proc.send_signal(stop)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == status, stderr
    assert_clean(stderr.decode())
    assert mc.server is not None and mc.server.requests == []


def test_picker_on_a_fifo_then_quit_exits(mc: Sandbox, tmux: Tmux, fifo: Path) -> None:  # noqa: F811
    from PIL import Image

    pics = fifo.parent
    Image.new("RGB", (4, 4), (200, 30, 30)).save(pics / "a.png")
    tmux.start("pick", cwd=pics)
    tmux.wait_screen("pick", PROMPT_READY)
    tmux.send("pick", "C-o")
    tmux.wait_screen("pick", "Attach a file", "x.png")
    tmux.send("pick", "Down")
    tmux.wait_screen("pick", "4×4 PNG")  # a.png previewed
    tmux.send("pick", "Down")
    # x.png highlighted: its name is in the tree and now in the path input too; its preview is
    # being loaded.
    wait_for(lambda: tmux.screen("pick").count("x.png") >= 2, "x.png in the path input")
    tmux.send("pick", "Escape")
    tmux.send("pick", "C-q")
    wait_for(lambda: tmux.dead("pick"), "the TUI to exit after ctrl+q")


def test_settings_files_that_are_fifos_are_refused_without_blocking(mc: Sandbox) -> None:
    presets = mc.config_dir / "presets"
    presets.mkdir()
    os.mkfifo(presets / "mine.toml")
    result = run_measured(mc, "presets")
    assert result.returncode == 2, result.stderr
    assert one_error_line(result.stderr) == (
        f"megachat: error: cannot load presets: {presets / 'mine.toml'}: cannot read "
        "(is not a regular file)"
    )

    mc.config_file.unlink()
    os.mkfifo(mc.config_file)
    result = run_measured(mc, "ask", "hello")
    assert result.returncode == 2, result.stderr
    assert one_error_line(result.stderr) == (
        f"megachat: error: cannot read config file {mc.config_file}: is not a regular file"
    )
    assert mc.server is not None and mc.server.requests == []
