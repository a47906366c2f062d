"""One MCP tool round trip through megachat against a direct `mcp` SDK call; run by hand.

    python tests/benchmarks/bench_tools.py [--runs 9]

Goal (issue 12): megachat's overhead for one tool round trip <= 1.2x that of a direct call with
the official `mcp` SDK to the same stdio server, excluding the model's own reply.

How, measured from outside with real processes (wall time of each whole process, median of
`runs`, the four commands interleaved so machine load hits all alike, one warm-up each):

- megachat: `megachat ask --mcp toolbox --allow toolbox.add` against the fake Messages server
  (loopback HTTP) scripted [tool_use add -> final text], MINUS the same `megachat ask` without
  `--mcp` on a plain text reply. The subtraction removes megachat's own start-up, the store and
  one request/reply; what is left is what the tool costs: importing the `mcp` SDK, starting the
  server, initialize, tools/list, tools/call, the extra request carrying the result (the fake
  server answers it at once: the model's time is zero), storing the tool turns, stopping the
  server.
- direct: a Python script using the SDK's `stdio_client` + `ClientSession` (the documented way):
  spawn the same server command with the same environment, initialize, list tools, call add,
  close, MINUS `python -c pass` (the interpreter's start-up, which the script pays too).

Both spawn `python -m tests.mcp_servers.stdio_server` with only PATH and HOME (plus PYTHONPATH)
in its environment, so the server's own start-up (Python + the SDK, most of either figure) is
the same on both sides. The ratio is megachat's overhead / the direct one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import tomli_w  # noqa: E402

from tests.fakeserver import FakeServer, blocks_reply, text_reply  # noqa: E402

GOAL_RATIO = 1.2
SERVER_ARGS = ["-m", "tests.mcp_servers.stdio_server"]
ANSWER = "The sum is 5."

DIRECT_SCRIPT = """
import os, sys, anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

async def main():
    env = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    env["PYTHONPATH"] = sys.argv[2]
    params = StdioServerParameters(command=sys.executable, args=sys.argv[3:], env=env,
                                   cwd=sys.argv[2])
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = await session.list_tools()
        assert any(tool.name == sys.argv[1] for tool in tools.tools)
        result = await session.call_tool(sys.argv[1], {"a": 2, "b": 3})
        print(result.content[0].text)

anyio.run(main)
"""


def bench_env(workdir: Path, base_url: str) -> dict[str, str]:
    """A private megachat (config with the toolbox server, data dir) and the same bytecode rules
    for every process (as run.py's ask row)."""
    import bench_store

    env = bench_store.process_env(workdir, base_url)
    config = workdir / "config" / "megachat" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    toolbox = {
        "command": sys.executable,
        "args": SERVER_ARGS,
        "env": {"PYTHONPATH": str(ROOT)},
        "cwd": str(ROOT),
    }
    config.write_text(tomli_w.dumps({"mcp_servers": {"toolbox": toolbox}}))
    return env


def _timed(cmd: list[str], env: dict[str, str], expect: str) -> float:
    """Wall seconds of one process to its end; it must succeed and print `expect`."""
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0 or expect not in proc.stdout:
        raise RuntimeError(f"{cmd[:5]} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return elapsed


def measure(runs: int, workdir: Path) -> dict[str, list[float]]:
    """Seconds per run of the four processes, interleaved; the first round is a warm-up."""
    megachat = [sys.executable, "-m", "megachat", "ask"]
    with FakeServer() as server:
        env = bench_env(workdir, server.base_url)

        def with_tool() -> float:
            call = {"type": "tool_use", "id": "toolu_1", "name": "toolbox__add",
                    "input": {"a": 2, "b": 3}}  # fmt: skip
            server.enqueue(blocks_reply([call], stop_reason="tool_use"), text_reply(ANSWER))
            cmd = [*megachat, "--mcp", "toolbox", "--allow", "toolbox.add", "add 2 and 3"]
            seconds = _timed(cmd, env, ANSWER)
            sent = server.requests_to()[-1].json["messages"][-1]["content"][0]
            assert sent["content"] == [{"type": "text", "text": "5"}], sent  # the tool ran
            return seconds

        def without_tool() -> float:
            server.enqueue(text_reply(ANSWER))
            return _timed([*megachat, "add 2 and 3"], env, ANSWER)

        direct = [sys.executable, "-c", DIRECT_SCRIPT, "add", str(ROOT), *SERVER_ARGS]
        commands: dict[str, Callable[[], float]] = {
            "megachat_tool": with_tool,
            "megachat_plain": without_tool,
            "direct_tool": lambda: _timed(direct, env, "5"),
            "python_start": lambda: _timed([sys.executable, "-c", "pass"], env, ""),
        }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for round_ in range(runs + 1):
            for name, run in commands.items():
                seconds = run()
                if round_:  # round 0 warms the bytecode and page caches
                    samples[name].append(seconds)
    return samples


def summary(samples: dict[str, list[float]]) -> dict[str, float]:
    """Medians (ms), the two overheads and their ratio."""
    med = {name: statistics.median(values) * 1000 for name, values in samples.items()}
    ours = med["megachat_tool"] - med["megachat_plain"]
    direct = med["direct_tool"] - med["python_start"]
    return {**med, "ours_ms": ours, "direct_ms": direct, "ratio": ours / direct}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="megachat-bench-tools-") as tmp:
        result = summary(measure(args.runs, Path(tmp)))
    print(f"one MCP tool round trip, medians of {args.runs} interleaved runs (whole processes):")
    print(f"  megachat ask with the tool call      {result['megachat_tool']:8.1f} ms")
    print(f"  megachat ask, plain reply            {result['megachat_plain']:8.1f} ms")
    print(f"  direct mcp SDK script                {result['direct_tool']:8.1f} ms")
    print(f"  python -c pass                       {result['python_start']:8.1f} ms")
    print(f"  megachat's tool overhead             {result['ours_ms']:8.1f} ms")
    print(f"  direct SDK call overhead             {result['direct_ms']:8.1f} ms")
    verdict = "ok" if result["ratio"] <= GOAL_RATIO else "OVER"
    print(f"  ratio {result['ratio']:.2f}x (goal <= {GOAL_RATIO}x) {verdict}")
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    return 0 if result["ratio"] <= GOAL_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
