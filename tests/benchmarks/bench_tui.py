"""Benchmark the TUI, run by hand (not collected by pytest); prints medians and ratios.

    python tests/benchmarks/bench_tui.py [--runs 5] [--only startup,stream,open] [--no-reference]

1. Start-up: the whole `megachat` process in a pseudo-terminal (120x40) against the fake server
   (`python -m tests.fakeserver`), until the prompt takes input (typed keys are echoed on screen),
   versus a minimal Textual app (Header, Input, Footer) measured the same way in the same run.
   Goal: <= 1.5x.
2. Streaming a 20,000-token (~80 KB) Markdown reply fed as 20,000 TextDeltas as fast as possible
   into the conversation view: time from the last delta to the final frame (goal <= 100 ms), CPU
   seconds and wall time, versus Textual's `Markdown.get_stream()` / `MarkdownStream` fed the same
   chunks in the same run (the reference; slow: ~30 s).
3. Opening a 1,000-message conversation (~400 characters each, some code) in a fresh process:
   time from `load()` to the first frame after it (goal <= 0.5 s) and the process's peak RSS
   (goal <= 150 MB), next to the peak RSS of the same app with no messages.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import select
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from ptyproc import spawn_in_pty, stop

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

COLS, ROWS = 120, 40
PROBE = b"zq"

# ---- 1. start-up ---------------------------------------------------------------------------------

HELLO_APP = textwrap.dedent(
    """
    from textual.app import App
    from textual.widgets import Footer, Header, Input

    class Hello(App):
        def compose(self):
            yield Header()
            yield Input(placeholder="hello")
            yield Footer()

        def on_mount(self):
            self.query_one(Input).focus()

    Hello().run()
    """
)


def _spawn_until_usable(argv: list[str], env: dict[str, str], timeout: float = 20.0) -> float:
    """Seconds from spawn until keys typed into the pty are echoed by the app (tty echo off)."""
    start = time.perf_counter()
    proc, master = spawn_in_pty(argv, env, cwd=ROOT, rows=ROWS, cols=COLS)
    seen = b""
    elapsed = float("nan")
    next_probe = start
    try:
        while time.perf_counter() - start < timeout:
            now = time.perf_counter()
            if now >= next_probe:
                with contextlib.suppress(OSError):
                    os.write(master, PROBE)
                next_probe = now + 0.02
            ready, _, _ = select.select([master], [], [], 0.005)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    break
                seen = (seen + data)[-4096:]
                if PROBE in seen:
                    elapsed = time.perf_counter() - start
                    break
    finally:
        stop(proc, master)
    return elapsed


def bench_startup(runs: int) -> None:
    print("== start-up: whole process in a pty until the input echoes keys ==")
    with tempfile.TemporaryDirectory() as tmp:
        hello = Path(tmp) / "hello_app.py"
        hello.write_text(HELLO_APP)
        from bench_startup import bench_env  # (it imports this module)

        with bench_env(Path(tmp)) as env:
            apps = {
                "hello (Textual)": [sys.executable, str(hello)],
                "megachat": [sys.executable, "-m", "megachat"],
            }
            times: dict[str, list[float]] = {name: [] for name in apps}
            for run in range(runs + 1):  # interleaved so drift affects both alike
                for name, argv in apps.items():
                    seconds = _spawn_until_usable(argv, env)
                    if run:  # the first round writes the bytecode the others read
                        times[name].append(seconds)
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, t in times.items():
        print(f"  {name:18} median {medians[name]:.3f} s   runs {', '.join(f'{x:.2f}' for x in t)}")
    ratio = medians["megachat"] / medians["hello (Textual)"]
    print(f"  ratio megachat / hello: {ratio:.2f}x   (goal <= 1.5x)")


# ---- 2. streaming --------------------------------------------------------------------------------

PARAGRAPH_WORDS = [
    "the",
    "model",
    "streams",
    "tokens",
    "quickly",
    "while",
    "the",
    "terminal",
    "keeps",
    "up",
    "with",
    "every",
    "frame",
    "and",
    "nothing",
    "is",
    "parsed",
    "twice",
    "because",
    "finished",
    "blocks",
    "are",
    "frozen",
    "and",
    "only",
    "the",
    "tail",
    "is",
    "redrawn",
    "which",
    "keeps",
    "the",
    "event",
    "loop",
    "responsive",
    "for",
    "typing",
    "scrolling",
    "and",
    "cancelling",
]


def reply_text(target_chars: int = 80_000, seed: int = 1) -> str:
    """A deterministic Markdown reply: paragraphs, lists, code fences, tables, headings."""
    rnd = random.Random(seed)
    parts: list[str] = []
    size = 0
    n = 0
    while size < target_chars:
        n += 1
        kind = rnd.choice(["para", "para", "para", "list", "olist", "code", "table", "heading"])
        if kind == "para":
            words = [rnd.choice(PARAGRAPH_WORDS) for _ in range(rnd.randint(30, 90))]
            text = " ".join(words).capitalize() + ". Some `inline code` and **bold** text."
        elif kind == "list":
            text = "\n".join(
                f"- item {i}: " + " ".join(rnd.choices(PARAGRAPH_WORDS, k=8))
                for i in range(rnd.randint(3, 10))
            )
        elif kind == "olist":
            text = "\n".join(
                f"{i + 1}. step " + " ".join(rnd.choices(PARAGRAPH_WORDS, k=6))
                for i in range(rnd.randint(3, 8))
            )
        elif kind == "code":
            lines = [f"def function_{n}(value):"]
            for i in range(rnd.randint(8, 40)):
                lines.append(f"    value = value * {i} + len({rnd.choice(PARAGRAPH_WORDS)!r})")
            lines.append("    return value")
            text = "```python\n" + "\n".join(lines) + "\n```"
        elif kind == "table":
            rows = ["| name | value | note |", "|------|-------|------|"]
            rows += [f"| row{i} | {i * 7} | {rnd.choice(PARAGRAPH_WORDS)} |" for i in range(6)]
            text = "\n".join(rows)
        else:
            text = f"## Section {n}"
        parts.append(text)
        size += len(text) + 2
    return "\n\n".join(parts)


def chunks_of(text: str, count: int = 20_000) -> list[str]:
    size = max(1, len(text) // count)
    return [text[i : i + size] for i in range(0, len(text), size)]


async def _next_frame(app) -> None:
    """Resolve after the screen has refreshed (layout and paint done) once more."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    app.call_after_refresh(lambda: done.done() or done.set_result(None))
    await done


async def _stream_ours(text: str, chunks: list[str]) -> dict[str, float]:
    from textual.app import App

    from megachat.chat.conversation import ChatMessage
    from megachat.tui.widgets.conversation_view import ConversationView

    class Host(App):
        def compose(self):
            yield ConversationView()

    app = Host()
    async with app.run_test(size=(COLS, ROWS)) as pilot:
        view = app.query_one(ConversationView)
        await view.load([ChatMessage(role="user", content=[{"type": "text", "text": "go"}])])
        await pilot.pause()
        reply = view.begin_reply(ChatMessage(role="assistant", status="streaming"))
        await pilot.pause()
        cpu0, t0 = time.process_time(), time.perf_counter()
        for chunk in chunks:
            reply.append_text(0, chunk)
            await asyncio.sleep(0)
        t_last = time.perf_counter()
        final = ChatMessage(role="assistant", content=[{"type": "text", "text": text}])
        await reply.finish(final)
        t_finished = time.perf_counter()
        await _next_frame(app)
        t_end, cpu1 = time.perf_counter(), time.process_time()
        return {
            "last_byte_to_frame_ms": (t_end - t_last) * 1000,
            "of_which_finish_ms": (t_finished - t_last) * 1000,
            "cpu_s": cpu1 - cpu0,
            "wall_s": t_end - t0,
            "renders": reply.flush_count,
        }


async def _stream_reference(chunks: list[str]) -> dict[str, float]:
    from markdown_it import MarkdownIt
    from textual.app import App
    from textual.containers import VerticalScroll
    from textual.widgets import Markdown

    class Host(App):
        def compose(self):
            with VerticalScroll():
                yield Markdown(
                    parser_factory=lambda: MarkdownIt("gfm-like", {"html": False}),
                    open_links=False,
                )

    app = Host()
    async with app.run_test(size=(COLS, ROWS)) as pilot:
        await pilot.pause()
        container = app.query_one(VerticalScroll)
        container.anchor()
        markdown = app.query_one(Markdown)
        stream = Markdown.get_stream(markdown)
        cpu0, t0 = time.process_time(), time.perf_counter()
        try:
            for chunk in chunks:
                await stream.write(chunk)
            t_last = time.perf_counter()
        finally:
            await stream.stop()
        await _next_frame(app)
        t_end, cpu1 = time.perf_counter(), time.process_time()
        return {
            "last_byte_to_frame_ms": (t_end - t_last) * 1000,
            "cpu_s": cpu1 - cpu0,
            "wall_s": t_end - t0,
        }


def bench_stream(runs: int, reference: bool) -> None:
    text = reply_text()
    chunks = chunks_of(text)
    print(
        f"== streaming: {len(text):,} chars as {len(chunks):,} deltas, fed as fast as possible =="
    )
    ours = [asyncio.run(_stream_ours(text, chunks)) for _ in range(runs)]
    _print_stream("megachat view", ours)
    if reference:
        ref = [asyncio.run(_stream_reference(chunks))]  # one run: it takes minutes
        _print_stream("MarkdownStream", ref)
        for key in ("last_byte_to_frame_ms", "cpu_s", "wall_s"):
            a = statistics.median(r[key] for r in ours)
            b = statistics.median(r[key] for r in ref)
            print(f"  ratio {key:22} megachat / MarkdownStream: {a / b:.3f}x")
    print("  goal: last byte -> final frame <= 100 ms")


def _print_stream(name: str, results: list[dict[str, float]]) -> None:
    line = "   ".join(
        f"{key} {statistics.median(r[key] for r in results):.{3 if key != 'renders' else 0}f}"
        for key in results[0]
    )
    print(f"  {name:16} medians: {line}")
    if len(results) > 1:
        runs = ", ".join(f"{r['last_byte_to_frame_ms']:.0f}" for r in results)
        print(f"  {'':16} last byte -> frame per run (ms): {runs}")


# ---- 3. opening a long conversation ------------------------------------------------------------

OPEN_CHILD = textwrap.dedent(
    """
    import asyncio, json, random, resource, sys, tempfile, time
    from pathlib import Path
    from textual.app import App
    from megachat.chat.conversation import Conversation
    from megachat.chat.store import Store
    from megachat.tui.widgets.conversation_view import ConversationView

    COUNT = int(sys.argv[1])
    rnd = random.Random(3)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()

    def body(i):
        text = " ".join(rnd.choices(words, k=55))
        if i % 5 == 0:
            text += "\\n\\n```python\\nfor i in range(10):\\n    print(i * 2)\\n```\\n"
        if i % 7 == 0:
            text += "\\n\\n- one\\n- two\\n- three"
        return text

    # COUNT messages on the active path; every fifth reply was regenerated once (100 of 1,000),
    # so the stored tree holds those replies as siblings, as regenerate leaves them.
    conv = Conversation(model="claude-sonnet-4")
    for i in range(0, COUNT, 2):
        conv.add_user(body(i))
        reply = conv.add_assistant(body(i + 1), status="complete")
        if i % 10 == 0:
            conv.branch_reply(reply)
            conv.add_assistant(body(i + 1) + " (again)", status="complete")
    store = Store(Path(tempfile.mkdtemp()) / "megachat.db")
    store.create(conv)

    class Host(App):
        def compose(self):
            yield ConversationView()

    def peak_rss_mb():
        # VmHWM is this process's own peak; ru_maxrss would include the parent's, as Linux
        # keeps it across fork and exec.
        try:
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    async def main():
        app = Host()
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            view = app.query_one(ConversationView)
            loop = asyncio.get_running_loop()
            t0 = time.perf_counter()
            messages = store.get(conv.id).messages
            assert len(messages) == COUNT
            await view.load(messages)
            done = loop.create_future()
            app.call_after_refresh(lambda: done.set_result(None))
            await done
            seconds = time.perf_counter() - t0
            widgets = len(list(app.screen.walk_children()))
            mounted = len(view.message_widgets())
        rss = peak_rss_mb()
        print(json.dumps({"seconds": seconds, "rss_mb": rss, "widgets": widgets,
                          "mounted": mounted}))

    asyncio.run(main())
    """
)


def _open_once(count: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", OPEN_CHILD, str(count)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_open(runs: int) -> None:
    print(
        "== opening a 1,000-message conversation, 100 replies regenerated (fresh process each) =="
    )
    results = [_open_once(1000) for _ in range(runs)]
    empty = [_open_once(0) for _ in range(max(1, runs // 2))]
    seconds = statistics.median(r["seconds"] for r in results)
    rss = statistics.median(r["rss_mb"] for r in results)
    base = statistics.median(r["rss_mb"] for r in empty)
    print(
        f"  load -> first frame median {seconds:.3f} s (goal <= 0.5 s); "
        "runs " + ", ".join(f"{r['seconds']:.2f}" for r in results)
    )
    print(
        f"  peak RSS median {rss:.0f} MB (goal <= 150 MB); same app, no messages {base:.0f} MB; "
        f"{results[0]['mounted']:.0f} messages mounted, {results[0]['widgets']:.0f} widgets"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default="startup,stream,open")
    parser.add_argument("--no-reference", action="store_true", help="skip MarkdownStream")
    args = parser.parse_args()
    only = set(args.only.split(","))
    if "startup" in only:
        bench_startup(args.runs)
    if "stream" in only:
        bench_stream(args.runs, reference=not args.no_reference)
    if "open" in only:
        bench_open(args.runs)


if __name__ == "__main__":
    main()
