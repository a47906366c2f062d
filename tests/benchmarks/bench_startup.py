"""Benchmark start-up to a settled screen, run by hand (not collected by pytest).

    python tests/benchmarks/bench_startup.py [--runs 5] [--show]

The whole `megachat` process runs in a pseudo-terminal (120x40, bench_tui's size) against the fake
server (`python -m tests.fakeserver`), next to bench_tui's minimal Textual app (Header, Input,
Footer), interleaved. No keys are sent. For each launch it records:

- first paint: spawn -> the first frame with text in it;
- settled: spawn -> the last frame that changed the screen, once 0.6 s passed without another.
  A frame that only repaints what is there changes nothing. A focused input's cursor blinks
  (every 0.5 s a frame changing the style of one cell, not its character): such frames are not
  counted as drawing, so they neither delay nor end "settled";
- frames: how many frames were drawn from the first paint to settled (a jump costs frames);
- moved: how many cells the first paint drew that show something else once settled, out of the
  cells it drew. Content filled in later (into blank cells) does not count; a layout that moves
  does. The screen is followed by a minimal terminal model (cursor moves, text, wide
  characters), enough for Textual's output.

The pty answers Textual's query for synchronized output as a modern terminal does, so every frame
arrives between `ESC[?2026h` and `ESC[?2026l` and can be counted. Goal (issue 10): the settled
screen <= 1.1x the hello app, and nothing moves after the first paint.

`settled_startup_seconds(argv, env)` is the figure for benchmarks/run.py.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import select
import statistics
import sys
import tempfile
import time
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_tui import COLS, HELLO_APP, ROOT, ROWS
from ptyproc import spawn_in_pty, stop

SYNC_QUERY = b"\x1b[?2026$p"
SYNC_SUPPORTED = b"\x1b[?2026;2$y"  # DECRPM: mode 2026 known, currently reset
SYNC_START = b"\x1b[?2026h"
SYNC_END = b"\x1b[?2026l"
QUIET_SECONDS = 0.6


@dataclass
class Frame:
    """One synchronized update: when it ended (seconds from spawn), its bytes, and how many
    cells it changed (character or style) and of those how many characters."""

    at: float
    data: bytes
    changes: tuple[int, int] = (0, 0)

    @property
    def draws(self) -> bool:
        """It changed the screen, and not as a cursor blink (the style of a cell or two)."""
        cells, characters = self.changes
        return cells > 2 or characters > 0


@dataclass
class StartupTrace:
    """What one launch drew, and when."""

    first_byte: float
    first_paint: float
    settled: float
    frames: int  # drawn from the first paint to settled, blinks left out
    moved_cells: int  # cells of the first paint that show something else when settled
    painted_cells: int  # cells the first paint drew (not blank)
    timeline: list[tuple[float, int]] = field(default_factory=list)  # (at, bytes) per frame


def settled_startup_seconds(argv: Sequence[str], env: Mapping[str, str]) -> float:
    """Seconds from spawning `argv` (in a 120x40 pty, no keys sent) to the settled screen."""
    return trace_startup(argv, env).settled


def trace_startup(
    argv: Sequence[str], env: Mapping[str, str], *, timeout: float = 20.0
) -> StartupTrace:
    """Launch `argv` in a pty and record its frames until the screen settles."""
    proc, fd = spawn_in_pty(argv, env, cwd=ROOT, rows=ROWS, cols=COLS)
    start = time.perf_counter()
    first_byte = float("nan")
    frames: list[Frame] = []
    screen = Screen()
    pending = b""
    in_sync = False
    try:
        while time.perf_counter() - start < timeout:
            ready, _, _ = select.select([fd], [], [], 0.02)
            now = time.perf_counter() - start
            if ready:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    break
                if not data:
                    break
                if first_byte != first_byte:  # nan: nothing seen yet
                    first_byte = now
                if SYNC_QUERY in data:
                    os.write(fd, SYNC_SUPPORTED)
                pending += data
                pending, in_sync = _take_frames(pending, in_sync, now, frames, screen)
            elif pending and not in_sync:  # output before sync mode: a frame per burst
                frames.append(Frame(now, pending, screen.feed(pending)))
                pending = b""
            last = _last_drawing(frames)
            if last is not None and now - last.at >= QUIET_SECONDS:
                break
    finally:
        stop(proc, fd)
    return _trace(first_byte, frames)


def _take_frames(
    pending: bytes, in_sync: bool, now: float, frames: list[Frame], screen: Screen
) -> tuple[bytes, bool]:
    """Cut complete synchronized frames off `pending`; what precedes a frame is its own."""
    while True:
        if not in_sync:
            begin = pending.find(SYNC_START)
            if begin < 0:
                return pending, False
            if begin:
                frames.append(Frame(now, pending[:begin], screen.feed(pending[:begin])))
            pending, in_sync = pending[begin + len(SYNC_START) :], True
        end = pending.find(SYNC_END)
        if end < 0:
            return pending, True
        frames.append(Frame(now, pending[:end], screen.feed(pending[:end])))
        pending, in_sync = pending[end + len(SYNC_END) :], False


def _last_drawing(frames: list[Frame]) -> Frame | None:
    return next((frame for frame in reversed(frames) if frame.draws), None)


def _trace(first_byte: float, frames: list[Frame]) -> StartupTrace:
    drawing = [f for f in frames if f.draws]
    if not drawing:
        nan = float("nan")
        return StartupTrace(first_byte, nan, nan, 0, 0, 0)
    first, last = drawing[0], drawing[-1]
    screen = Screen()
    painted: set[tuple[int, int]] = set()
    first_cells: dict[tuple[int, int], str] = {}
    for frame in frames:
        if frame.at > last.at:
            break
        screen.feed(frame.data)
        if frame is first:
            first_cells = {cell: ch for cell, (ch, _) in screen.cells.items() if ch.strip()}
            painted = set(first_cells)
    moved = sum(1 for cell in painted if screen.char(cell) != first_cells[cell])
    return StartupTrace(
        first_byte=first_byte,
        first_paint=first.at,
        settled=last.at,
        frames=len(drawing),
        moved_cells=moved,
        painted_cells=len(painted),
        timeline=[(f.at, len(f.data)) for f in drawing],
    )


class Screen:
    """A minimal terminal: cursor moves (CUP, CR, LF), SGR styles and printed characters."""

    _TOKEN = re.compile(
        rb"\x1b\[([0-9;?<>=$]*)([ -/]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.|([\r\n])"
    )

    def __init__(self) -> None:
        self.cells: dict[tuple[int, int], tuple[str, bytes]] = {}  # (char, style)
        self.row = self.col = 0
        self.style = b""

    def char(self, cell: tuple[int, int]) -> str:
        return self.cells.get(cell, (" ", b""))[0]

    def feed(self, data: bytes) -> tuple[int, int]:
        """Apply `data`; how many cells changed (character or style), and how many characters."""
        changed = [0, 0]
        position = 0
        for match in self._TOKEN.finditer(data):
            self._print(data[position : match.start()], changed)
            position = match.end()
            params, _, final, newline = match.groups()
            if newline == b"\r":
                self.col = 0
            elif newline == b"\n":
                self.row += 1
            elif final == b"H":
                parts = (params or b"").split(b";")
                self.row = int(parts[0] or 1) - 1
                self.col = int(parts[1] or 1) - 1 if len(parts) > 1 else 0
            elif final == b"m":
                self.style = b"" if params in (b"", b"0") else self.style + b";" + params
            elif final == b"J" and params == b"2":
                changed[0] += len(self.cells)
                changed[1] += len(self.cells)
                self.cells.clear()
        self._print(data[position:], changed)
        return changed[0], changed[1]

    def _print(self, data: bytes, changed: list[int]) -> None:
        for char in data.decode("utf-8", "replace"):
            cells = [(char, self.style)]
            if unicodedata.east_asian_width(char) in "WF":
                cells.append(("", self.style))
            for cell in cells:
                key = (self.row, self.col)
                before = self.cells.get(key, (" ", b""))
                if before != cell:
                    self.cells[key] = cell
                    changed[0] += 1
                    changed[1] += before[0] != cell[0]
                self.col += 1

    def text(self) -> Iterator[str]:
        """The screen as lines (for --show)."""
        for row in range(ROWS):
            yield "".join(self.char((row, col)) for col in range(COLS)).rstrip()


# ---- main ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def bench_env(tmp: Path) -> Iterator[dict[str, str]]:
    """The environment for a launch: the fake server running, private config and data dirs,
    bytecode cached as an installed package has it (bench_e2e.app_env)."""
    from bench_e2e import FakeServer, app_env

    with FakeServer() as server:
        yield app_env(tmp, "startup", server.base_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--python", default=sys.executable, help="the interpreter to launch")
    parser.add_argument("--show", action="store_true", help="print each run's frame timeline")
    args = parser.parse_args()
    print("== start-up to a settled screen: whole process in a pty, no keys sent ==")
    with tempfile.TemporaryDirectory() as tmp_name, bench_env(Path(tmp_name)) as env:
        hello = Path(tmp_name) / "hello_app.py"
        hello.write_text(HELLO_APP)
        apps = {
            "hello (Textual)": [args.python, str(hello)],
            "megachat": [args.python, "-m", "megachat"],
        }
        for argv in apps.values():
            trace_startup(argv, env)  # warm-up (bytecode, page cache), not counted
        traces: dict[str, list[StartupTrace]] = {name: [] for name in apps}
        for _ in range(max(args.runs, 1)):  # interleaved so drift affects both alike
            for name, argv in apps.items():
                traces[name].append(trace_startup(argv, env))
    for name, runs in traces.items():
        _report(name, runs, show=args.show)
    hello_settled = statistics.median(t.settled for t in traces["hello (Textual)"])
    ours = [t.settled for t in traces["megachat"]]
    ratio = statistics.median(ours) / hello_settled
    worst = max(ours) / hello_settled
    print(f"  settled megachat / hello: median {ratio:.2f}x, worst run {worst:.2f}x (goal <= 1.1x)")


def _report(name: str, runs: list[StartupTrace], *, show: bool) -> None:
    def med(values: Iterator[float]) -> float:
        return statistics.median(values)

    print(
        f"  {name:16} first byte {med(t.first_byte for t in runs):.3f} s   "
        f"first paint {med(t.first_paint for t in runs):.3f} s   "
        f"settled {med(t.settled for t in runs):.3f} s   "
        f"frames {med(t.frames for t in runs):.0f}   "
        f"moved {med(t.moved_cells for t in runs):.0f}/{med(t.painted_cells for t in runs):.0f}"
        " cells"
    )
    print(f"  {'':16} settled per run: {', '.join(f'{t.settled:.3f}' for t in runs)}")
    if show:
        for t in runs:
            print(
                f"  {'':16} frames (s, bytes): " + ", ".join(f"{a:.3f}/{b}" for a, b in t.timeline)
            )


if __name__ == "__main__":
    main()
