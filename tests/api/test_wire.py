"""On the wire we send what the official SDK sends for the same parameters (same fake server)."""

from __future__ import annotations

import anthropic
import httpx
import pytest

from megachat import __version__
from megachat.api import API_VERSION, DEFAULT_TIMEOUT, MessagesClient
from tests.api.helpers import KEY
from tests.fakeserver import FakeServer

FULL_BODY = {
    "model": "claude-sonnet-4",
    "max_tokens": 1024,
    "system": "You are terse. Ünïcode ✓",
    "temperature": 0.7,
    "stop_sequences": ["</answer>"],
    "metadata": {"user_id": "9f1c"},
    "messages": [
        {
            "role": "user",
            "content": [
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
                },
                {"type": "text", "text": "What is in this image? 世界"},
            ],
        },
        {"role": "assistant", "content": "It is"},
    ],
    "tools": [
        {
            "name": "get_weather",
            "description": "Get weather",
            "input_schema": {
                "type": "object",
                "properties": {"location": {"type": "string"}},
                "required": ["location"],
            },
        }
    ],
    "tool_choice": {"type": "auto"},
}
SAME_HEADERS = ("x-api-key", "anthropic-version", "content-type", "accept", "accept-encoding")


async def _sdk_and_ours(server: FakeServer, *, stream: bool, base_suffix: str = "") -> tuple:
    sdk = anthropic.AsyncAnthropic(base_url=server.base_url + base_suffix, api_key=KEY)
    ours = MessagesClient(api_key=KEY, base_url=server.base_url + base_suffix)
    try:
        if stream:
            async with sdk.messages.stream(**FULL_BODY) as s:
                await s.get_final_message()
            await ours.stream(FULL_BODY).get_final_message()
        else:
            await sdk.messages.create(**FULL_BODY)
            await ours.create(FULL_BODY)
    finally:
        await sdk.close()
        await ours.aclose()
    assert len(server.requests) == 2
    return server.requests[0], server.requests[1]


@pytest.mark.parametrize("stream", [False, True])
async def test_body_and_headers_equal_the_sdk(fake_server: FakeServer, stream: bool) -> None:
    sdk, ours = await _sdk_and_ours(fake_server, stream=stream)
    assert ours.json == sdk.json
    assert (ours.method, ours.path) == (sdk.method, sdk.path) == ("POST", "/v1/messages")
    for name in SAME_HEADERS:
        assert ours.headers[name] == sdk.headers[name], name
    assert ours.headers["anthropic-version"] == API_VERSION == "2023-06-01"
    assert ours.headers["x-api-key"] == KEY
    assert ours.headers["user-agent"] == f"megachat/{__version__}"
    assert ("stream" in ours.json) is stream


async def test_trailing_slash_on_base_url_is_tolerated(fake_server: FakeServer) -> None:
    sdk, ours = await _sdk_and_ours(fake_server, stream=True, base_suffix="/")
    assert ours.path == sdk.path == "/v1/messages"


async def test_request_dict_is_not_mutated(fake_server: FakeServer) -> None:
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    before = repr(body)
    async with MessagesClient(api_key=KEY, base_url=fake_server.base_url) as client:
        await client.stream(body).get_final_message()
    assert repr(body) == before


async def test_default_timeouts_match_sdk_and_are_configurable() -> None:
    base = "http://127.0.0.1:9"  # never connected to
    client = MessagesClient(api_key=KEY, base_url=base)
    assert client.timeout == DEFAULT_TIMEOUT == httpx.Timeout(600.0, connect=5.0)
    assert anthropic.DEFAULT_TIMEOUT == DEFAULT_TIMEOUT
    await client.aclose()
    custom = MessagesClient(api_key=KEY, base_url=base, timeout=httpx.Timeout(30.0, connect=2.0))
    assert custom.timeout.connect == 2.0 and custom.timeout.read == 30.0
    await custom.aclose()
    plain = MessagesClient(api_key=KEY, base_url=base, timeout=12.5)  # a number is the read timeout
    assert plain.timeout.read == 12.5 and plain.timeout.connect == 5.0
    await plain.aclose()


async def test_one_http_connection_is_reused(fake_server: FakeServer) -> None:
    async with MessagesClient(api_key=KEY, base_url=fake_server.base_url) as client:
        for _ in range(3):
            await client.stream({"model": "m", "max_tokens": 5, "messages": []}).get_final_message()
            await client.create({"model": "m", "max_tokens": 5, "messages": []})
    assert len(fake_server.requests) == 6
    assert len({r.peer for r in fake_server.requests}) == 1  # one pooled keep-alive connection
