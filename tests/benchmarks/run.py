"""Run every benchmark and print ONE table: medians, ratios against the anchors, goals, verdicts.

    python tests/benchmarks/run.py [--runs 5] [--conversations 10000] [--skip tui,store,...]

Run by hand (not collected by pytest). It calls the measuring functions of bench_client.py,
bench_store.py and bench_tui.py (each still runs on its own, with more detail), takes the median
of at least 5 runs of each, interleaving ours and the anchor's so machine load hits both alike,
and checks the goals of issues 2, 3 and 4. Anchors: the official anthropic SDK (import, stream
throughput, a whole `ask`-like process) and a minimal Textual app (Header, Input, Footer) for the
TUI's start-up. Exit status 1 when a goal is missed, so a person (or CI) sees it.
"""

from __future__ import annotations

import argparse
import asyncio
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

    @property
    def ratio(self) -> float | None:
        return None if self.anchor in (None, 0) else self.ours / self.anchor

    @property
    def measured(self) -> float:
        return self.ours if self.anchor is None else self.ratio  # type: ignore[return-value]

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

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEGALLM_", "XDG_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        PYTHONPATH=str(ROOT),
        PYTHONPYCACHEPREFIX=str(workdir / "pycache"),
        MEGALLM_API_KEY="sk-bench-not-a-real-key",
        XDG_CONFIG_HOME=str(workdir / "config"),
        XDG_DATA_HOME=str(workdir / "data"),
        NO_PROXY="127.0.0.1,localhost",
    )
    with FakeServer() as server:
        env["MEGALLM_BASE_URL"] = server.base_url
        ask = [sys.executable, "-m", "megachat", "ask", "-m", "bench-model", "Say hello"]
        sdk = [sys.executable, "-c", bs.SDK_SCRIPT, "Say hello"]
        med = bs._time_processes({"ours": ask, "sdk": sdk}, env, runs)
    return [
        Row("`megachat ask` end to end (process)", med["ours"], "ms", med["sdk"],
            "SDK script", 0.5, issue=3),
    ]  # fmt: skip


# --- issue 4: the TUI -------------------------------------------------------------------------


def tui_rows(runs: int, workdir: Path) -> list[Row]:
    import bench_tui as bt

    from tests.fakeserver import FakeServer

    hello = workdir / "hello_app.py"
    hello.write_text(bt.HELLO_APP)
    rows: list[Row] = []
    with FakeServer() as server:
        env = dict(os.environ)
        env.update(
            TERM="xterm-256color",
            COLUMNS=str(bt.COLS),
            LINES=str(bt.ROWS),
            MEGALLM_API_KEY="sk-bench-0123456789",
            MEGALLM_BASE_URL=server.base_url,
            XDG_CONFIG_HOME=str(workdir / "tui-config"),
            XDG_DATA_HOME=str(workdir / "tui-data"),
            PYTHONPATH=str(ROOT),
            NO_PROXY="127.0.0.1,localhost",
        )
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
    rows.append(Row("20k-token reply: last byte -> final frame",
                    statistics.median(r["last_byte_to_frame_ms"] for r in streams), "ms",
                    goal=100, issue=4))  # fmt: skip
    rows.append(Row("20k-token reply: CPU for the whole stream",
                    statistics.median(r["cpu_s"] for r in streams), "s", issue=4))  # fmt: skip

    opens = [bt._open_once(1000) for _ in range(runs)]
    rows.append(Row("open 1,000-message conversation (100 regenerated)",
                    statistics.median(r["seconds"] for r in opens) * 1000, "ms", goal=500,
                    issue=4))  # fmt: skip
    rows.append(Row("  peak RSS while opening it", statistics.median(r["rss_mb"] for r in opens),
                    "MB", goal=150, issue=4))  # fmt: skip
    return rows


# --- the table --------------------------------------------------------------------------------


def _num(value: float, unit: str) -> str:
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
        elif row.anchor is not None:
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
    parser.add_argument("--skip", default="", help="comma list of: client,store,ask,tui")
    args = parser.parse_args()
    runs = max(MIN_RUNS, args.runs)
    skip = set(filter(None, args.skip.split(",")))
    rows: list[Row] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="megachat-bench-") as tmp:
        workdir = Path(tmp)
        steps: list[tuple[str, Callable[[], list[Row]]]] = [
            ("client", lambda: client_rows(runs)),
            ("store", lambda: store_rows(runs, args.conversations, workdir)),
            ("ask", lambda: ask_rows(runs, workdir)),
            ("tui", lambda: tui_rows(runs, workdir)),
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
