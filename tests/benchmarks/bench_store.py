"""Store and `megachat ask` benchmarks, run by hand (not collected by pytest: no test_ names).

    python tests/benchmarks/bench_store.py [--conversations 10000] [--messages 20] [--db PATH]
                                           [--runs 15] [--ask-runs 7] [--skip-ask]

Goals (issue 3): list and FTS search over 10,000 conversations x 20 messages <= 50 ms each;
loading a 1,000-message conversation <= 100 ms; `megachat ask` end to end against the fake
server <= 0.5x the time of an equivalent script using the official anthropic SDK, both whole
processes, same run. Prints medians and ratios.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from megachat.chat.conversation import ChatMessage, Conversation  # noqa: E402
from megachat.chat.store import Store  # noqa: E402

RARE = "zanzibar"  # in ~0.1 % of messages
MEDIUM = "lighthouse"  # in ~5 % of messages


def _vocabulary(rng: random.Random, n: int = 5000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = set()
    while len(words) < n:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(3, 10))))
    return sorted(words)


def _text(rng: random.Random, vocab: list[str], words: int) -> str:
    picked = rng.choices(vocab, k=words)
    if rng.random() < 0.001:
        picked[rng.randrange(words)] = RARE
    if rng.random() < 0.05:
        picked[rng.randrange(words)] = MEDIUM
    return " ".join(picked) + "."


def populate(store: Store, conversations: int, messages: int, seed: int = 7) -> float:
    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    start = time.perf_counter()
    batch: list[Conversation] = []
    base = time.time() - conversations * 60
    for i in range(conversations):
        conv = Conversation(model="bench-model", created_at=base + i * 60)
        for j in range(messages):
            role = "user" if j % 2 == 0 else "assistant"
            words = rng.randint(8, 30) if role == "user" else rng.randint(40, 120)
            conv.messages.append(
                ChatMessage(
                    role,  # type: ignore[arg-type]
                    [{"type": "text", "text": _text(rng, vocab, words)}],
                    created_at=base + i * 60 + j,
                )
            )
        conv.title = conv.messages[0].text()[:60]
        conv.updated_at = base + i * 60 + messages
        batch.append(conv)
        if len(batch) == 500:
            store.create_many(batch)
            batch = []
    if batch:
        store.create_many(batch)
    return time.perf_counter() - start


def median_ms(fn: Callable[[], object], runs: int) -> tuple[float, float, object]:
    """Median wall time and median CPU time of this thread (less sensitive to a busy machine)."""
    fn()  # warm the page cache and statement cache
    wall, cpu = [], []
    result = None
    for _ in range(runs):
        t, c = time.perf_counter(), time.thread_time()
        result = fn()
        cpu.append((time.thread_time() - c) * 1000)
        wall.append((time.perf_counter() - t) * 1000)
    return statistics.median(wall), statistics.median(cpu), result


def report(label: str, ms: float, goal: float | None, cpu: float | None = None) -> None:
    verdict = "" if goal is None else ("  ok" if ms <= goal else f"  OVER goal {goal:.0f} ms")
    cpu_text = "" if cpu is None else f"  (cpu {cpu:7.2f} ms)"
    print(f"  {label:<44} {ms:8.2f} ms{cpu_text}{verdict}")


def bench_store(args: argparse.Namespace, workdir: Path) -> None:
    db = Path(args.db) if args.db else workdir / "bench.db"
    fresh = not db.exists()
    store = Store(db)
    if fresh:
        took = populate(store, args.conversations, args.messages)
        print(
            f"populated {args.conversations:,} conversations x {args.messages} messages "
            f"in {took:.1f} s ({db.stat().st_size / 1e6:.0f} MB)"
        )
    else:
        print(f"reusing {db} ({store.count():,} conversations)")
    print(f"store benchmarks (median of {args.runs}; load average {os.getloadavg()[0]:.1f}):")
    ms, cpu, rows = median_ms(lambda: store.list(), args.runs)
    report(f"list all ({len(rows):,} rows)", ms, 50, cpu)
    ms, cpu, rows = median_ms(lambda: store.list(limit=50), args.runs)
    report("list first 50", ms, 50, cpu)
    ms, cpu, _ = median_ms(lambda: store.latest_id(), args.runs)
    report("latest_id", ms, 50, cpu)
    for term in (RARE, MEDIUM, f"{MEDIUM} {RARE}", "lig*"):
        ms, cpu, hits = median_ms(lambda term=term: store.search(term), args.runs)
        report(f"search {term!r} ({len(hits)} hits)", ms, 50, cpu)

    big = Conversation(model="bench-model")
    rng = random.Random(1)
    vocab = _vocabulary(rng, 2000)
    for j in range(1000):
        role = "user" if j % 2 == 0 else "assistant"
        big.messages.append(
            ChatMessage(role, [{"type": "text", "text": _text(rng, vocab, 60)}])  # type: ignore[arg-type]
        )
    store.create(big)
    ms, cpu, conv = median_ms(lambda: store.get(big.id), args.runs)
    report(f"load 1,000-message conversation ({len(conv.messages)})", ms, 100, cpu)
    ms, cpu, _ = median_ms(lambda: conv.build_request(), args.runs)
    report("build_request of it", ms, None, cpu)
    store.delete(big.id)
    store.close()


SDK_SCRIPT = """
import os, sys
import anthropic
client = anthropic.Anthropic(api_key=os.environ["MEGALLM_API_KEY"],
                             base_url=os.environ["MEGALLM_BASE_URL"])
with client.messages.stream(model="bench-model", max_tokens=1024,
                            messages=[{"role": "user", "content": sys.argv[1]}]) as stream:
    for text in stream.text_stream:
        sys.stdout.write(text)
        sys.stdout.flush()
sys.stdout.write("\\n")
"""


def _run_once(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    elapsed = (time.perf_counter() - t) * 1000
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:4]} failed ({proc.returncode}): {proc.stderr.strip()}")
    if "Hello from the fake server." not in proc.stdout:
        raise RuntimeError(f"unexpected output from {cmd[:4]}: {proc.stdout!r}")
    return elapsed


def _time_processes(cmds: dict[str, list[str]], env: dict[str, str], runs: int) -> dict:
    """Median wall time per command, runs interleaved so machine load hits all alike."""
    for cmd in cmds.values():
        _run_once(cmd, env)  # warm the bytecode cache and the page cache
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(runs):
        for name, cmd in cmds.items():
            times[name].append(_run_once(cmd, env))
    return {name: statistics.median(ts) for name, ts in times.items()}


def process_env(workdir: Path, base_url: str) -> dict[str, str]:
    """The environment of every measured process: a private megachat (config and data under
    `workdir`) on the fake server at `base_url`, the same bytecode cache rules for all sides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEGALLM_", "XDG_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        PYTHONPATH=str(REPO),
        PYTHONPYCACHEPREFIX=str(workdir / "pycache"),
        MEGALLM_API_KEY="sk-bench-not-a-real-key",
        MEGALLM_BASE_URL=base_url,
        XDG_CONFIG_HOME=str(workdir / "config"),
        XDG_DATA_HOME=str(workdir / "data"),
        NO_PROXY="127.0.0.1,localhost",
    )
    return env


def bench_ask(args: argparse.Namespace, workdir: Path) -> None:
    from tests.fakeserver import FakeServer

    with FakeServer() as server:
        env = process_env(workdir, server.base_url)
        ask = [sys.executable, "-m", "megachat", "ask", "-m", "bench-model", "Say hello"]
        sdk = [sys.executable, "-c", SDK_SCRIPT, "Say hello"]
        cmds = {
            "megachat ask (saves the turn)": ask,
            "megachat ask --no-save": [*ask[:4], "--no-save", *ask[4:]],
            "anthropic SDK script": sdk,
        }
        try:
            _run_once(ask, env)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f"`megachat ask` benchmark skipped: {exc}")
            return
        medians = _time_processes(cmds, env, args.ask_runs)
    print(f"`megachat ask` end to end vs the anthropic SDK (median of {args.ask_runs}):")
    for name, ms in medians.items():
        report(name, ms, None)
    ratio = medians["megachat ask (saves the turn)"] / medians["anthropic SDK script"]
    print(f"  ratio megachat/SDK: {ratio:.2f}x  (goal <= 0.5x) {'ok' if ratio <= 0.5 else 'OVER'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--db", help="reuse (or create) this database file")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--ask-runs", type=int, default=7)
    parser.add_argument("--skip-ask", action="store_true")
    parser.add_argument("--skip-store", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="megachat-bench-") as tmp:
        workdir = Path(tmp)
        if not args.skip_store:
            bench_store(args, workdir)
        if not args.skip_ask:
            bench_ask(args, workdir)


if __name__ == "__main__":
    main()
