"""Run every benchmark and print ONE table: medians, ratios against the anchors, goals, verdicts.

    python tests/benchmarks/run.py [--runs 5] [--conversations 10000] [--scroll-seconds 180]
                                   [--skip e2e,scroll,client,store,ask,tui,tools]

Run by hand (not collected by pytest). The table leads with what the user waits for, measured
from outside (bench_e2e.py, bench_startup.py, issue 10): the real `megachat` process in a pty
against the fake server over loopback HTTP (start-up to a settled screen, a streamed 80 KB reply
from the server's last byte to its last word on screen and the process's CPU, `megachat ask` on
that reply, opening, searching and scrolling long conversations). Below them come the figures of
bench_client.py, bench_store.py and bench_tui.py; bench_tui's in-process rows are a breakdown
of the end-to-end ones (they feed the view directly: no HTTP, SSE, turn or store). Last,
bench_tools.py: one MCP tool round trip through `megachat ask` against a direct `mcp` SDK call to
the same stdio server (issue 12; how the model's reply is left out: its docstring).

Each figure is the median of at least 5 runs (scrolling through 10,000 messages takes minutes, so
3), ours and the anchor's interleaved so machine load hits both alike. Anchors: the official
anthropic SDK (import, stream throughput, a whole `ask`-like process) and a minimal Textual app
(Header, Input, Footer) for start-up. Every module still runs on its own, with more detail.
Exit status 1 when a goal is missed (a figure never reached counts as missed).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

MIN_RUNS = 5


@dataclass
class Row:
    """One line of the table. ``higher`` says whether a bigger value is better."""

    name: str
    ours: float
    unit: str
    anchor: float | None = None  # the anchor's median, same unit
    anchor_name: str = ""
    goal: float | None = None  # compared with the ratio when there is an anchor, else with ours
    higher: bool = False
    issue: int = 0
    goal_absolute: bool = False  # the goal is on ours even though an anchor is shown

    @property
    def ratio(self) -> float | None:
        return None if self.anchor in (None, 0) else self.ours / self.anchor

    @property
    def measured(self) -> float:
        if self.anchor is None or self.goal_absolute:
            return self.ours
        return self.ratio  # type: ignore[return-value]

    @property
    def passed(self) -> bool | None:
        if self.goal is None:
            return None
        return self.measured >= self.goal if self.higher else self.measured <= self.goal


def median_of(fn: Callable[[], float], runs: int) -> float:
    fn()  # warm-up, not counted
    return statistics.median(fn() for _ in range(runs))


def interleaved(fns: dict[str, Callable[[], float]], runs: int) -> dict[str, float]:
    """Median per function, runs interleaved (ours, anchor, ours, anchor...)."""
    for fn in fns.values():
        fn()  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            samples[name].append(fn())
    return {name: statistics.median(values) for name, values in samples.items()}


# --- issue 10: end to end, from outside --------------------------------------------------------


def _median(values: list[float]) -> float:
    """The median, or NaN when any run never reached its mark (which fails the goal)."""
    return float("nan") if any(math.isnan(v) for v in values) else statistics.median(values)


def startup_rows(runs: int, workdir: Path) -> list[Row]:
    try:
        from bench_startup import settled_startup_seconds
    except ImportError as exc:
        print(f"  settled start-up skipped: bench_startup.settled_startup_seconds missing ({exc})",
              file=sys.stderr)  # fmt: skip
        return []
    import bench_e2e as be
    import bench_tui as bt

    from tests.fakeserver import FakeServer

    hello = workdir / "hello_app.py"
    hello.write_text(bt.HELLO_APP)
    with FakeServer() as server:
        env = be.app_env(workdir, "startup", server.base_url)
        med = interleaved(
            {
                "ours": lambda: settled_startup_seconds(be.MEGACHAT, env),
                "hello": lambda: settled_startup_seconds([sys.executable, str(hello)], env),
            },
            runs,
        )
    return [
        Row("TUI start-up to a settled screen (pty)", med["ours"] * 1000, "ms",
            med["hello"] * 1000, "Textual hello app", 1.1, issue=10),
    ]  # fmt: skip


def e2e_rows(runs: int, workdir: Path, scroll_seconds: float, scroll: bool) -> list[Row]:
    import bench_e2e as be

    rows = startup_rows(runs, workdir)
    stream = be.bench_stream(runs, workdir)
    rows += [
        Row("80 KB reply, 20k deltas over HTTP: last byte -> last word on screen",
            _median(stream["last_byte_to_word_ms"]), "ms", goal=250, issue=10),
        Row("  whole-process CPU for that turn (Enter -> last word)",
            _median(stream["turn_cpu_s"]), "s", goal=0.5, issue=10),
    ]  # fmt: skip
    ask = be.bench_ask(runs, workdir)
    rows.append(Row("`megachat ask` on that reply (whole process)", _median(ask["ask_s"]) * 1000,
                    "ms", _median(ask["sdk_s"]) * 1000, "SDK script", 450, issue=10,
                    goal_absolute=True))  # fmt: skip
    opened = be.bench_open(runs, workdir)
    hello = _median(opened["hello_s"]) * 1000
    rows += [
        Row("open 400 messages (`-c`): launch -> last message shown",
            _median(opened["open400_s"]) * 1000, "ms", hello, "hello start-up", 1.5, issue=10),
        Row("open 10,000 messages (`-c`): launch -> last message shown",
            _median(opened["open10000_s"]) * 1000, "ms", hello, "hello start-up", 2.0, issue=10),
        Row("  peak RSS opening 10,000", _median(opened["open10000_rss_mb"]), "MB", issue=10),
    ]  # fmt: skip
    searched = be.bench_search(runs, workdir)
    hit_ms = _median(searched["search_hit_s"]) * 1000
    rows.append(Row("search hit in 10,000 messages: Enter -> the hit's message shown", hit_ms,
                    "ms", goal=200, issue=10))  # fmt: skip
    if not scroll:
        return rows
    scrolled = be.bench_scroll(min(runs, 3), workdir, scroll_seconds, rss_cap_mb=1500)
    rows += [
        Row("10,000: PageUp held, bottom -> first message", _median(scrolled["pageup_to_top_s"]),
            "s", issue=10),
        Row("  longest wait for a frame while keys are pending",
            _median(scrolled["longest_gap_ms"]), "ms", goal=100, issue=10),
        Row("  peak RSS after scrolling to the top", _median(scrolled["rss_after_pageup_mb"]),
            "MB", goal=120, issue=10),
        Row("10,000: ctrl+end from the prompt -> last message",
            _median(scrolled.get("ctrl_end_s", [math.nan])) * 1000, "ms", goal=1000, issue=10),
        Row("10,000: ctrl+home from the prompt -> first message",
            _median(scrolled.get("ctrl_home_s", [math.nan])) * 1000, "ms", goal=1000, issue=10),
    ]  # fmt: skip
    return rows


# --- issue 2: the client ----------------------------------------------------------------------


def client_rows(runs: int) -> list[Row]:
    import bench_client as bc

    imports = {
        "ours": lambda: bc.import_seconds("megachat.api"),
        "sdk": lambda: bc.import_seconds("anthropic"),
    }
    imp = interleaved(imports, runs)
    data, events = bc.make_stream(20_000)
    rate = interleaved(
        {
            "ours": lambda: events / asyncio.run(bc.run_ours(data))[0],
            "sdk": lambda: events / asyncio.run(bc.run_sdk(data))[0],
        },
        runs,
    )
    return [
        Row("import megachat.api", imp["ours"] * 1000, "ms", imp["sdk"] * 1000,
            "import anthropic", 0.3, issue=2),
        Row("decode+accumulate 20k-token stream", rate["ours"], "events/s", rate["sdk"],
            "anthropic SDK", 3.0, higher=True, issue=2),
    ]  # fmt: skip


# --- issue 3: the store and `ask` -------------------------------------------------------------


def store_rows(runs: int, conversations: int, workdir: Path) -> list[Row]:
    import bench_store as bs

    from megachat.chat.conversation import ChatMessage, Conversation
    from megachat.chat.store import Store

    store = Store(workdir / "bench.db")
    print(f"  populating {conversations:,} conversations x 20 messages...", file=sys.stderr)
    bs.populate(store, conversations, 20)

    def ms(fn: Callable[[], object]) -> float:
        wall, _cpu, _ = bs.median_ms(fn, runs)
        return wall

    big = Conversation(model="bench-model")
    rng = bs.random.Random(1)
    vocab = bs._vocabulary(rng, 2000)
    for j in range(1000):
        role = "user" if j % 2 == 0 else "assistant"
        text = bs._text(rng, vocab, 60)
        big.messages.append(ChatMessage(role, [{"type": "text", "text": text}]))  # type: ignore[arg-type]
    store.create(big)
    rows = [
        Row(f"list all {conversations:,} conversations", ms(store.list), "ms", goal=50, issue=3),
        Row("list newest 50", ms(lambda: store.list(limit=50)), "ms", goal=50, issue=3),
        Row(f"FTS search rare word ({bs.RARE})", ms(lambda: store.search(bs.RARE)), "ms",
            goal=50, issue=3),
        Row(f"FTS search common word ({bs.MEDIUM})", ms(lambda: store.search(bs.MEDIUM)), "ms",
            goal=50, issue=3),
        Row("load 1,000-message conversation", ms(lambda: store.get(big.id)), "ms",
            goal=100, issue=3),
    ]  # fmt: skip
    store.close()
    return rows


def ask_rows(runs: int, workdir: Path) -> list[Row]:
    import bench_store as bs

    from tests.fakeserver import FakeServer

    with FakeServer() as server:
        env = bs.process_env(workdir, server.base_url)
        ask = [sys.executable, "-m", "megachat", "ask", "-m", "bench-model", "Say hello"]
        sdk = [sys.executable, "-c", bs.SDK_SCRIPT, "Say hello"]
        med = bs._time_processes({"ours": ask, "sdk": sdk}, env, runs)
    return [
        Row("`megachat ask` end to end (process)", med["ours"], "ms", med["sdk"],
            "SDK script", 0.5, issue=3),
    ]  # fmt: skip


# --- issue 4: the TUI -------------------------------------------------------------------------


def tui_rows(runs: int, workdir: Path) -> list[Row]:
    import bench_e2e as be
    import bench_tui as bt

    from tests.fakeserver import FakeServer

    hello = workdir / "hello_app.py"
    hello.write_text(bt.HELLO_APP)
    rows: list[Row] = []
    with FakeServer() as server:
        env = be.app_env(workdir, "tui", server.base_url)  # bytecode cached as installed
        med = interleaved(
            {
                "ours": lambda: bt._spawn_until_usable([sys.executable, "-m", "megachat"], env),
                "hello": lambda: bt._spawn_until_usable([sys.executable, str(hello)], env),
            },
            runs,
        )
    rows.append(Row("TUI start-up until input usable (pty)", med["ours"] * 1000, "ms",
                    med["hello"] * 1000, "Textual hello app", 1.5, issue=4))  # fmt: skip

    text = bt.reply_text()
    chunks = bt.chunks_of(text)
    streams = [asyncio.run(bt._stream_ours(text, chunks)) for _ in range(runs)]
    rows.append(Row("breakdown (in-process): 20k-token reply, last delta -> final frame",
                    statistics.median(r["last_byte_to_frame_ms"] for r in streams), "ms",
                    goal=100, issue=4))  # fmt: skip
    rows.append(Row("breakdown (in-process): 20k-token reply, CPU for the whole stream",
                    statistics.median(r["cpu_s"] for r in streams), "s", issue=4))  # fmt: skip

    opens = [bt._open_once(1000) for _ in range(runs)]
    rows.append(Row("breakdown (in-process): load 1,000 messages (100 regenerated) -> frame",
                    statistics.median(r["seconds"] for r in opens) * 1000, "ms", goal=500,
                    issue=4))  # fmt: skip
    rows.append(Row("  peak RSS while opening it", statistics.median(r["rss_mb"] for r in opens),
                    "MB", goal=150, issue=4))  # fmt: skip
    return rows


# --- issue 12: one MCP tool round trip --------------------------------------------------------


def tools_rows(runs: int, workdir: Path) -> list[Row]:
    import bench_tools as btl

    result = btl.summary(btl.measure(runs, workdir / "tools"))
    return [
        Row("one MCP tool round trip: `ask` with the call minus a plain `ask`", result["ours_ms"],
            "ms", result["direct_ms"], "direct mcp SDK call", btl.GOAL_RATIO, issue=12),
    ]  # fmt: skip


# --- the table --------------------------------------------------------------------------------


def _num(value: float, unit: str) -> str:
    if math.isnan(value):
        return "not reached"
    if unit == "events/s":
        return f"{value:,.0f} ev/s"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "MB":
        return f"{value:.0f} MB"
    return f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.2f} s"


def table(rows: list[Row]) -> str:
    head = ["Benchmark (issue)", "megachat", "anchor", "ratio", "goal", "result"]
    lines = [head, ["---", "---:", "---", "---:", "---", "---"]]
    for row in rows:
        anchor = f"{_num(row.anchor, row.unit)} ({row.anchor_name})" if row.anchor else "—"
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "—"
        if row.goal is None:
            goal = "—"
        elif row.anchor is not None and not row.goal_absolute:
            goal = f"{'>=' if row.higher else '<='} {row.goal:g}x"
        else:
            goal = f"{'>=' if row.higher else '<='} {_num(row.goal, row.unit)}"
        verdict = {True: "pass", False: "**FAIL**", None: "—"}[row.passed]
        lines.append([f"{row.name} (#{row.issue})", _num(row.ours, row.unit), anchor, ratio,
                      goal, verdict])  # fmt: skip
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=MIN_RUNS, help=f"at least {MIN_RUNS}")
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument(
        "--scroll-seconds",
        type=float,
        default=180.0,
        help="how long PageUp may be held to reach the top of 10,000 messages",
    )
    parser.add_argument("--skip", default="",
                        help="comma list of: e2e,scroll,client,store,ask,tui,tools")  # fmt: skip
    args = parser.parse_args()
    runs = max(MIN_RUNS, args.runs)
    skip = set(filter(None, args.skip.split(",")))
    rows: list[Row] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="megachat-bench-") as tmp:
        workdir = Path(tmp)
        steps: list[tuple[str, Callable[[], list[Row]]]] = [
            ("e2e", lambda: e2e_rows(runs, workdir, args.scroll_seconds, "scroll" not in skip)),
            ("client", lambda: client_rows(runs)),
            ("store", lambda: store_rows(runs, args.conversations, workdir)),
            ("ask", lambda: ask_rows(runs, workdir)),
            ("tui", lambda: tui_rows(runs, workdir)),
            ("tools", lambda: tools_rows(runs, workdir)),
        ]
        for name, step in steps:
            if name in skip:
                continue
            print(f"running {name} benchmarks...", file=sys.stderr)
            rows += step()
    print(table(rows))
    load = os.getloadavg()[0]
    print(
        f"\nmedians of {runs} runs each (ratios: megachat / anchor, same run); "
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load:.1f}; "
        f"took {time.perf_counter() - started:.0f} s"
    )
    return 1 if any(row.passed is False for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
