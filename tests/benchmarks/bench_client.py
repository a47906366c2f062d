"""Benchmark megachat.api against the official SDK, run by hand (not collected by pytest).

    python tests/benchmarks/bench_client.py [--runs 7] [--tokens 20000]

1. Import time of ``megachat.api`` vs ``anthropic`` in fresh subprocesses (median; goal <= 0.3x).
2. Events per second decoding + accumulating a 20,000-token stream, both clients reading the same
   bytes from the same in-memory httpx transport in 8 KiB chunks (median; goal >= 3x).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

BODY = {
    "model": "claude-sonnet-4",
    "max_tokens": 32000,
    "messages": [{"role": "user", "content": "hi"}],
}
CHUNK = 8192
WORDS = ["the", " quick", " brown", " fox", " jumps", " over", " lazy", " dog", ",", " é", " 世界"]


def import_seconds(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def make_stream(tokens: int) -> tuple[bytes, int]:
    """A valid Messages SSE body with ``tokens`` one-token text deltas; returns (bytes, events)."""

    def ev(data: dict) -> str:
        return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n"

    start = {
        "type": "message_start",
        "message": {
            "id": "msg_bench",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": "claude-sonnet-4",
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 1},
        },
    }
    parts = [ev(start), ev({"type": "content_block_start", "index": 0,
                            "content_block": {"type": "text", "text": ""}})]  # fmt: skip
    for i in range(tokens):
        delta = {"type": "text_delta", "text": WORDS[i % len(WORDS)]}
        parts.append(ev({"type": "content_block_delta", "index": 0, "delta": delta}))
        if i % 1000 == 0:
            parts.append(ev({"type": "ping"}))
    parts.append(ev({"type": "content_block_stop", "index": 0}))
    parts.append(ev({"type": "message_delta", "delta": {"stop_reason": "end_turn",
                     "stop_sequence": None}, "usage": {"output_tokens": tokens}}))  # fmt: skip
    parts.append(ev({"type": "message_stop"}))
    return "".join(parts).encode(), len(parts)


class Chunks(httpx.AsyncByteStream):
    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i in range(0, len(self.data), CHUNK):
            yield self.data[i : i + CHUNK]


def transport(data: bytes) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, stream=Chunks(data)
        )

    return httpx.MockTransport(handler)


async def run_ours(data: bytes) -> tuple[float, str]:
    from megachat.api import MessagesClient, RateLimiter

    client = MessagesClient(
        api_key="k", base_url="http://bench", transport=transport(data), rate_limiter=RateLimiter(0)
    )
    t = time.perf_counter()
    stream = client.stream(BODY)
    async for _ in stream:
        pass
    elapsed = time.perf_counter() - t
    await client.aclose()
    return elapsed, stream.final_message["content"][0]["text"]


async def run_sdk(data: bytes) -> tuple[float, str]:
    import anthropic

    http = httpx.AsyncClient(transport=transport(data))
    client = anthropic.AsyncAnthropic(api_key="k", base_url="http://bench", http_client=http)
    t = time.perf_counter()
    async with client.messages.stream(**BODY) as stream:
        async for _ in stream:
            pass
        message = await stream.get_final_message()
    elapsed = time.perf_counter() - t
    await client.close()
    return elapsed, message.content[0].text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--tokens", type=int, default=20_000)
    args = parser.parse_args()

    ours_runs, sdk_runs = [], []
    for _ in range(args.runs):  # interleaved, so machine load affects both alike
        ours_runs.append(import_seconds("megachat.api"))
        sdk_runs.append(import_seconds("anthropic"))
    ours_imp, sdk_imp = statistics.median(ours_runs), statistics.median(sdk_runs)
    print(f"import megachat.api  {ours_imp * 1000:8.1f} ms (median of {args.runs})")
    print(f"import anthropic     {sdk_imp * 1000:8.1f} ms")
    print(f"import ratio         {ours_imp / sdk_imp:8.2f}x   (goal <= 0.3x)")

    data, events = make_stream(args.tokens)
    ours_t, sdk_t = [], []
    for _ in range(args.runs):
        t, ours_text = asyncio.run(run_ours(data))
        ours_t.append(t)
        t, sdk_text = asyncio.run(run_sdk(data))
        sdk_t.append(t)
        assert ours_text == sdk_text, "the two clients disagree on the text"
    ours_rate = events / statistics.median(ours_t)
    sdk_rate = events / statistics.median(sdk_t)
    print(f"stream: {args.tokens} tokens, {events} SSE events, {len(data) / 1e6:.2f} MB")
    print(f"megachat.api         {ours_rate:10,.0f} events/s  ({statistics.median(ours_t):.3f} s)")
    print(f"anthropic            {sdk_rate:10,.0f} events/s  ({statistics.median(sdk_t):.3f} s)")
    print(f"throughput ratio     {ours_rate / sdk_rate:8.2f}x   (goal >= 3x)")


if __name__ == "__main__":
    main()
