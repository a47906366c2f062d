"""End-to-end benchmarks, measured from outside; run by hand (not collected by pytest).

    python tests/benchmarks/bench_e2e.py [--runs 3] [--only stream,ask,open,scroll,search]
                                         [--scroll-seconds 90] [--rss-cap-mb 1500]

What the user waits for: the real `megachat` process in a pseudo-terminal (120x40), the fake
server (tests/fakeserver.py) in this process sending over loopback HTTP, so its clock is ours.
Each process gets a fresh XDG_CONFIG_HOME / XDG_DATA_HOME.

1. stream: an ~80 KB Markdown reply as ~20,000 text deltas at full speed, ending in a unique
   word. From the server's last byte written to that word on screen (goal <= 250 ms), and the
   process's CPU (utime+stime from /proc) from Enter to that word (goal <= 0.5 s).
2. ask: `megachat ask` on the same reply, stdout drained from a pipe: wall time and CPU of the
   whole process (goal <= 0.45 s wall), next to an anthropic SDK script doing the same.
3. open: `megachat -c` on a 400- and a 10,000-message conversation (made with `megachat import`):
   launch -> the last message's unique word on screen, against a hello Textual app's start-up in
   the same runs (goals <= 1.5x and <= 2x); peak RSS (VmHWM).
4. scroll: in the 10,000, PageUp held (~30 keys/s) until the first message is on screen: the
   longest gap between output bursts while keys are pending (goal <= 100 ms) and peak RSS (goal
   <= 120 MB); then ctrl+end / ctrl+home from the prompt: time to the last / first word (<= 1 s).
5. search: in a new chat, ctrl+l, search a rare word of the 10,000 (message 2,501), Enter: time
   until the hit's message is on screen (goal <= 200 ms).

A mark never reached is reported as NaN ("not reached" in run.py) and fails its goal.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_tui as bt  # noqa: E402
from ptyproc import spawn_in_pty, stop  # noqa: E402

from tests.fakeserver import FakeServer, Reply, message_events, sse_event  # noqa: E402

END_WORD = b"zqxendmark"  # the streamed reply's last word
FIRST_WORD = b"zqxfirstmark"  # in the first message of the long conversations
LAST_WORD = b"zqxlastmark"  # in their last message
NEEDLE = b"zqxneedle"  # a rare word, searched for: starts message NEEDLE_AT of the 10,000
HIT_WORD = b"zqxhitshown"  # ends that message, beyond the search result's 12-word snippet
NEEDLE_AT = 2_501
MEGACHAT = [sys.executable, "-m", "megachat"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_UP, CTRL_HOME, CTRL_END = b"\x1b[5~", b"\x1b[1;5H", b"\x1b[1;5F"
SHIFT_TAB, CTRL_T, BACKSPACE = b"\x1b[Z", b"\x14", b"\x7f"


class BenchTimeout(RuntimeError):
    """Something the benchmark waited for never came; the message says what."""


# ---- the process in a pty ------------------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of `pid` so far (clock-tick resolution, 10 ms)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's own peak resident set (ru_maxrss would mix in the parent's)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class PtyApp:
    """A process in a 120x40 pseudo-terminal (tty echo off), read by `wait_for`; always killed."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.started = time.perf_counter()
        self.proc, self.master = spawn_in_pty(argv, env, cwd=ROOT, rows=bt.ROWS, cols=bt.COLS)
        self.pid = self.proc.pid
        self.output_times: list[float] = []  # perf_counter of every read, when recording

    def __enter__(self) -> PtyApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def _read(self, wait: float) -> bytes:
        if not select.select([self.master], [], [], max(0.0, wait))[0]:
            return b""
        try:
            data = os.read(self.master, 65536)
        except OSError as exc:  # EIO: the app exited
            raise BenchTimeout(f"the app exited (code {self.proc.poll()})") from exc
        if not data:
            raise BenchTimeout(f"the app closed its terminal (code {self.proc.poll()})")
        self.output_times.append(time.perf_counter())
        return data

    def wait_for(
        self,
        word: bytes,
        timeout: float,
        *,
        what: str = "",
        every: Callable[[], None] | None = None,
        period: float = 0.02,
    ) -> float:
        """perf_counter when `word` shows in output read from now on; `every` runs each `period`
        meanwhile (to type, or to check a limit). BenchTimeout after `timeout` s."""
        deadline = time.perf_counter() + timeout
        tail = b""
        next_call = time.perf_counter()
        while (now := time.perf_counter()) < deadline:
            if every is not None and now >= next_call:
                every()
                next_call = now + period
            wait = min(deadline, next_call if every else deadline) - time.perf_counter()
            data = self._read(min(wait, 0.05))
            if data:
                tail = (tail + data)[-(len(word) + 65536) :]
                if word in tail:
                    return self.output_times[-1]
        raise BenchTimeout(f"{what or word.decode()!s} not on screen after {timeout:g} s")

    def settle(self, quiet: float = 0.3, timeout: float = 5.0) -> float:
        """Read until no output for `quiet` s and CPU time stops moving; the last output's time."""
        deadline = time.perf_counter() + timeout
        last_output = time.perf_counter()
        cpu = process_cpu_seconds(self.pid)
        while time.perf_counter() < deadline:
            if self._read(0.02):
                last_output = self.output_times[-1]
            elif time.perf_counter() - last_output >= quiet:
                now_cpu = process_cpu_seconds(self.pid)
                if now_cpu == cpu:
                    break
                cpu, last_output = now_cpu, time.perf_counter()
        return last_output

    def wait_usable(self, timeout: float = 20.0) -> float:
        """Seconds from launch until typed probe keys are echoed (as bench_tui measures), then
        the probes are erased from the prompt again."""
        probes = 0

        def probe() -> None:
            nonlocal probes
            probes += 1
            self.write(bt.PROBE)

        seen = self.wait_for(bt.PROBE, timeout, what="the prompt's echo", every=probe)
        self.write(BACKSPACE * (len(bt.PROBE) * probes + 4))
        return seen - self.started

    def close(self) -> None:
        stop(self.proc, self.master)


def app_env(workdir: Path, name: str, base_url: str) -> dict[str, str]:
    """The environment of one benchmarked process: its own config and data, our fake server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEGALLM_", "XDG_"))}
    # Bytecode as an installed package has it: written by a first (warm-up) launch into one
    # cache for every process of the run, read by the measured ones. With
    # PYTHONDONTWRITEBYTECODE (set here) every launch compiled megachat, httpx... from source.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        PYTHONPYCACHEPREFIX=str(workdir / "pycache"),
        TERM="xterm-256color",
        COLUMNS=str(bt.COLS),
        LINES=str(bt.ROWS),
        MEGALLM_API_KEY="sk-bench-0123456789",
        MEGALLM_BASE_URL=base_url,
        XDG_CONFIG_HOME=str(workdir / name / "config"),
        XDG_DATA_HOME=str(workdir / name / "data"),
        PYTHONPATH=str(ROOT),
        NO_PROXY="127.0.0.1,localhost",
    )
    return env


# ---- 1. a streamed reply ---------------------------------------------------------------------


def stream_reply() -> tuple[Reply, int, int]:
    """The 80 KB reply ending in END_WORD as ~20,000 deltas, encoded once; and its size."""
    text = bt.reply_text() + "\n\nThat is the whole answer, " + END_WORD.decode()
    chunks = bt.chunks_of(text)
    events = message_events([{"type": "text", "text": text, "chunks": chunks}])
    return Reply(sse=b"".join(sse_event(e) for e in events)), len(text), len(chunks)


def measure_stream(server: FakeServer, env: dict[str, str]) -> dict[str, float]:
    """One turn in a fresh TUI: last byte -> END_WORD on screen, and the process's CPU."""
    with PtyApp(MEGACHAT, env) as app:
        app.wait_usable()
        app.settle()
        app.write(b"Write the long answer")
        app.wait_for(b"answer", 10, what="the typed prompt")
        server.last_body_sent_at = None
        cpu_enter = process_cpu_seconds(app.pid)
        app.write(b"\r")
        shown = app.wait_for(END_WORD, 60, what="the reply's last word")
        cpu_shown = process_cpu_seconds(app.pid)
        app.settle()  # the final render, the store's last write
        cpu_settled = process_cpu_seconds(app.pid)
        sent = server.last_body_sent_at
        if sent is None:
            raise BenchTimeout("the fake server never finished sending the reply")
        posts = len(server.requests_to())
        if posts != 1:
            raise RuntimeError(f"expected one request to the Messages API, saw {posts}")
        server.clear()
        return {
            "last_byte_to_word_ms": (shown - sent) * 1000,
            "turn_cpu_s": cpu_shown - cpu_enter,
            "turn_cpu_to_settled_s": cpu_settled - cpu_enter,
            "total_cpu_s": cpu_settled,
        }


def bench_stream(runs: int, workdir: Path) -> dict[str, list[float]]:
    reply, chars, deltas = stream_reply()
    print(f"== stream: {chars:,} chars as {deltas:,} deltas at full speed, TUI in a pty ==")
    samples: dict[str, list[float]] = {}
    with FakeServer() as server:
        server.default = reply
        for run in range(runs + 1):  # the first run only warms the bytecode and page caches
            result = measure_stream(server, app_env(workdir, f"stream{run}", server.base_url))
            if not run:
                continue
            for key, value in result.items():
                samples.setdefault(key, []).append(value)
    _print_samples(samples)
    print("  goals: last byte -> last word <= 250 ms; CPU for the turn <= 0.5 s")
    return samples


# ---- 2. `megachat ask` -----------------------------------------------------------------------


def run_measured(
    argv: list[str], env: dict[str, str], expect: bytes, timeout: float = 60.0
) -> tuple[float, float]:
    """(wall s, CPU s) of a whole process: stdout drained from a pipe, rusage from os.wait4."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err
        )
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            assert proc.stdout is not None
            with proc.stdout:
                out = proc.stdout.read()
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
        finally:
            killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0 or expect not in out:
            err.seek(0)
            detail = err.read().decode(errors="replace")[-500:]
            raise RuntimeError(f"{argv[-3:]} failed (exit {proc.returncode}): {detail}")
    return wall, usage.ru_utime + usage.ru_stime


def bench_ask(runs: int, workdir: Path) -> dict[str, list[float]]:
    import bench_store as bs

    reply, chars, _ = stream_reply()
    print(f"== ask: `megachat ask` on the same {chars:,}-char reply, whole process ==")
    samples: dict[str, list[float]] = {k: [] for k in ("ask_s", "ask_cpu_s", "sdk_s", "sdk_cpu_s")}
    with FakeServer() as server:
        server.default = reply
        env = app_env(workdir, "ask", server.base_url)
        ask = [*MEGACHAT, "ask", "-m", "bench-model", "Write the long answer"]
        sdk = [sys.executable, "-c", bs.SDK_SCRIPT, "Write the long answer"]
        for i in range(runs + 1):  # the first round warms the bytecode and page caches
            for name, argv in (("ask", ask), ("sdk", sdk)):
                wall, cpu = run_measured(argv, env, END_WORD)
                if i:
                    samples[f"{name}_s"].append(wall)
                    samples[f"{name}_cpu_s"].append(cpu)
    _print_samples(samples)
    print("  goal: `megachat ask` <= 0.45 s wall")
    return samples


# ---- 3. opening a long conversation ----------------------------------------------------------


def conversation_export(count: int, seed: int = 5) -> dict:
    """An export (`megachat export --format json` shape) of `count` messages of ~400 chars, some
    with code or a list; FIRST_WORD ends the first message, LAST_WORD the last, and message
    NEEDLE_AT (when there is one) starts with NEEDLE and ends with HIT_WORD."""
    rnd = random.Random(seed)
    words = bt.PARAGRAPH_WORDS
    messages = []
    for i in range(count):
        text = " ".join(rnd.choices(words, k=60)).capitalize() + "."
        if i % 5 == 1:
            text += "\n\n```python\nfor i in range(10):\n    print(i * 2)\n```"
        if i % 7 == 3:
            text += "\n\n- one point\n- another point\n- a third"
        messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": text})
    messages[0]["content"] += "\n\nFirst marker " + FIRST_WORD.decode()
    messages[-1]["content"] += "\n\nLast marker " + LAST_WORD.decode()
    if count > NEEDLE_AT:
        hit = messages[NEEDLE_AT]
        hit["content"] = f"{NEEDLE.decode()} {hit['content']}\n\nHit marker {HIT_WORD.decode()}"
    return {
        "title": f"Benchmark: {count:,} messages",
        "model": "claude-sonnet-4",
        "system": "",
        "temperature": None,
        "messages": messages,
    }


def import_conversation(env: dict[str, str], count: int, workdir: Path) -> None:
    """Store a `count`-message conversation in env's data dir with `megachat import FILE`."""
    path = workdir / f"export-{count}.json"
    path.write_text(json.dumps(conversation_export(count)))
    done = subprocess.run(
        [*MEGACHAT, "import", str(path)], env=env, cwd=ROOT, capture_output=True, text=True,
        timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"megachat import failed ({done.returncode}): {done.stderr[-500:]}")


def measure_open(env: dict[str, str]) -> dict[str, float]:
    """`megachat -c`: launch -> LAST_WORD on screen, and the peak RSS once settled."""
    with PtyApp([*MEGACHAT, "-c"], env) as app:
        shown = app.wait_for(LAST_WORD, 60, what="the last message")
        app.settle()
        return {"open_s": shown - app.started, "rss_mb": peak_rss_mb(app.pid)}


def bench_open(runs: int, workdir: Path, sizes: tuple[int, ...] = (400, 10_000)) -> dict:
    print("== open: `megachat -c` until the last message shows, vs a hello app's start-up ==")
    hello = workdir / "hello_app.py"
    hello.write_text(bt.HELLO_APP)
    samples: dict[str, list[float]] = {"hello_s": []}
    with FakeServer() as server:
        envs = {n: app_env(workdir, f"open{n}", server.base_url) for n in sizes}
        for count, env in envs.items():
            import_conversation(env, count, workdir)
        for i in range(runs + 1):  # interleaved; the first round only warms up
            hello_s = bt._spawn_until_usable([sys.executable, str(hello)], envs[sizes[0]])
            results = {n: measure_open(env) for n, env in envs.items()}
            if not i:
                continue
            samples["hello_s"].append(hello_s)
            for count, result in results.items():
                samples.setdefault(f"open{count}_s", []).append(result["open_s"])
                samples.setdefault(f"open{count}_rss_mb", []).append(result["rss_mb"])
    _print_samples(samples)
    hello_median = statistics.median(samples["hello_s"])
    for count in sizes:
        ratio = statistics.median(samples[f"open{count}_s"]) / hello_median
        print(f"  open {count:,} / hello start-up: {ratio:.2f}x")
    print("  goals: <= 1.5x (400), <= 2x (10,000)")
    return samples


# ---- 4. scrolling the 10,000 -----------------------------------------------------------------


def measure_scroll(env: dict[str, str], hold_seconds: float, rss_cap_mb: float) -> dict:
    """PageUp held to the top (frame gaps, RSS), then ctrl+end / ctrl+home from the prompt."""
    result: dict[str, float] = {}
    with PtyApp([*MEGACHAT, "-c"], env) as app:
        app.wait_for(LAST_WORD, 60, what="the last message")
        app.settle()
        app.write(SHIFT_TAB)  # the prompt keeps PageUp for itself; a focused message does not
        app.settle()
        over_cap = False
        presses = 0

        def press() -> None:
            nonlocal over_cap, presses
            app.write(PAGE_UP)
            presses += 1
            if presses % 15 == 0 and peak_rss_mb(app.pid) > rss_cap_mb:  # twice a second
                over_cap = True
                raise BenchTimeout(f"peak RSS over {rss_cap_mb:g} MB")

        app.output_times.clear()
        start = time.perf_counter()
        try:
            reached = app.wait_for(
                FIRST_WORD, hold_seconds, what="the first message", every=press, period=1 / 30
            )
            result["pageup_to_top_s"] = reached - start
        except BenchTimeout as exc:
            print(f"  PageUp held {time.perf_counter() - start:.0f} s: {exc}")
            result["pageup_to_top_s"] = float("nan")
        stop = time.perf_counter()
        times = [start, *(t for t in app.output_times if t <= stop), stop]
        result["longest_gap_ms"] = max(b - a for a, b in itertools.pairwise(times)) * 1000
        result["rss_after_pageup_mb"] = peak_rss_mb(app.pid)
        result["pageup_presses"] = presses
        result["output_reads_while_held"] = len(times) - 2
        if over_cap:
            return result
        app.settle()
        for key, word, name in ((CTRL_END, LAST_WORD, "end"), (CTRL_HOME, FIRST_WORD, "home")):
            app.write(CTRL_T)  # the jumps must work from the prompt too
            app.settle()
            pressed = time.perf_counter()
            app.write(key)
            try:
                result[f"ctrl_{name}_s"] = app.wait_for(word, 10, what=f"ctrl+{name}") - pressed
            except BenchTimeout as exc:
                print(f"  {exc}")
                result[f"ctrl_{name}_s"] = float("nan")
            app.settle()
        result["rss_mb"] = peak_rss_mb(app.pid)
    return result


def bench_scroll(runs: int, workdir: Path, hold_seconds: float, rss_cap_mb: float) -> dict:
    print("== scroll: 10,000 messages, PageUp held to the top, ctrl+end / ctrl+home ==")
    samples: dict[str, list[float]] = {}
    with FakeServer() as server:
        env = app_env(workdir, "scroll", server.base_url)
        import_conversation(env, 10_000, workdir)
        for _ in range(runs):
            for key, value in measure_scroll(env, hold_seconds, rss_cap_mb).items():
                samples.setdefault(key, []).append(value)
    _print_samples(samples)
    print("  goals: peak RSS <= 120 MB, no gap over 100 ms, ctrl+home / ctrl+end <= 1 s")
    return samples


# ---- 5. a search hit ------------------------------------------------------------------------


def measure_search(env: dict[str, str]) -> float:
    """A new chat; ctrl+l, search NEEDLE, Enter: seconds from Enter to HIT_WORD on screen."""
    with PtyApp(MEGACHAT, env) as app:
        app.wait_usable()
        app.settle()
        app.write(b"\x0c")  # ctrl+l: the conversations screen
        app.wait_for(b"Benchmark", 10, what="the conversations list")
        app.settle()
        app.write(b"/")  # focus the search field first: keys typed with it may go elsewhere
        app.settle()
        app.write(NEEDLE)
        app.wait_for(b"conversation match", 10, what="the search's result")
        app.settle()
        pressed = time.perf_counter()
        app.write(b"\r")
        return app.wait_for(HIT_WORD, 10, what="the hit's message") - pressed


def bench_search(runs: int, workdir: Path) -> dict[str, list[float]]:
    print("== search: FTS hit in 10,000 messages, Enter -> the hit's message on screen ==")
    samples: dict[str, list[float]] = {"search_hit_s": []}
    with FakeServer() as server:
        env = app_env(workdir, "search", server.base_url)
        import_conversation(env, 10_000, workdir)
        for _ in range(runs):
            try:
                samples["search_hit_s"].append(measure_search(env))
            except BenchTimeout as exc:
                print(f"  {exc}")
                samples["search_hit_s"].append(float("nan"))
    _print_samples(samples)
    print("  goal: <= 200 ms")
    return samples


# ---- the report ------------------------------------------------------------------------------


def _print_samples(samples: dict[str, list[float]]) -> None:
    for key, values in samples.items():
        runs = ", ".join(f"{v:.3f}" for v in values)
        print(f"  {key:30} median {statistics.median(values):9.3f}   runs {runs}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="stream,ask,open,scroll,search")
    parser.add_argument("--scroll-seconds", type=float, default=90.0, help="PageUp held at most")
    parser.add_argument("--rss-cap-mb", type=float, default=1500.0, help="stop scrolling above")
    args = parser.parse_args()
    only = set(args.only.split(","))
    with tempfile.TemporaryDirectory(prefix="megachat-e2e-") as tmp:
        workdir = Path(tmp)
        if "stream" in only:
            bench_stream(args.runs, workdir)
        if "ask" in only:
            bench_ask(args.runs, workdir)
        if "open" in only:
            bench_open(args.runs, workdir)
        if "scroll" in only:
            bench_scroll(args.runs, workdir, args.scroll_seconds, args.rss_cap_mb)
        if "search" in only:
            bench_search(args.runs, workdir)
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
