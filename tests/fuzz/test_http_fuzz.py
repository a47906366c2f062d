"""Fuzz the real client over loopback HTTP: whatever a server or proxy answers (status, headers,
body, pieces, a dropped connection), ``create`` and ``stream`` raise nothing but ``APIError``.

Each example scripts one reply on a fresh fake server and the client fetches it for real, so the
HTTP layer (httpx, content types, content encodings, chunking) is in the loop too.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from megachat.api import MessagesClient, RateLimiter
from megachat.api.errors import APIError
from tests.fakeserver import FakeServer, Reply

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sse"
STREAMS = [p.read_bytes() for p in sorted(FIXTURES.glob("*.sse"))]
BODY = {"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
HTTP = settings(
    max_examples=40,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=list(HealthCheck),
)

content_types = st.sampled_from(
    ["text/event-stream", "application/json", "text/html", "text/event-stream; charset=utf-8", ""]
)
statuses = st.sampled_from([200, 200, 200, 400, 401, 404, 413, 429, 500, 529, 302, 204])
bodies = (
    st.binary(max_size=300)
    | st.sampled_from(STREAMS)
    | st.builds(lambda s, n: s[:n], st.sampled_from(STREAMS), st.integers(0, 3000))
    | st.builds(lambda v: json.dumps(v).encode(), st.recursive(
        st.none() | st.integers() | st.text(max_size=8),
        lambda k: st.lists(k, max_size=3) | st.dictionaries(st.text(max_size=6), k, max_size=3),
        max_leaves=8,
    ))
)  # fmt: skip
encodings = st.sampled_from([None, None, "gzip", "br", "identity", "bogus"])


async def _one(server: FakeServer, streaming: bool) -> int:
    """Fetch the scripted reply; returns the number of stream events (or 1 for a message)."""
    count = 0
    client = MessagesClient(
        api_key="sk-fuzz", base_url=server.base_url, max_retries=0, rate_limiter=RateLimiter(0)
    )
    try:
        if streaming:
            async with client.stream(BODY) as stream:
                async for _event in stream:
                    count += 1
                _ = stream.snapshot
        else:
            await client.create(BODY)
            count = 1
    except APIError as exc:
        str(exc), repr(exc)
    finally:
        await client.aclose()
    return count


def test_the_harness_really_streams() -> None:
    """The property below could pass vacuously if no reply ever got through: one must."""
    with FakeServer() as server:
        stream = STREAMS[1]
        reply = Reply(headers={"content-type": "text/event-stream"}, body=stream, chunk_size=7)
        server.enqueue(reply)
        assert asyncio.run(_one(server, True)) > 3


@HTTP
@given(statuses, content_types, encodings, bodies, st.none() | st.integers(1, 64), st.booleans())
def test_client_survives_any_reply(
    status: int,
    ctype: str,
    encoding: str | None,
    body: bytes,
    chunk: int | None,
    streaming: bool,
) -> None:
    headers = {"content-type": ctype} if ctype else {}
    if encoding:
        headers["content-encoding"] = encoding
    with FakeServer() as server:
        server.enqueue(Reply(status=status, headers=headers, body=body, chunk_size=chunk))
        asyncio.run(_one(server, streaming))
