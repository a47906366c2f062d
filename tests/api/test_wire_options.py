"""Thinking, effort, sampling and prompt caching on the wire: the body megachat builds from a
conversation equals what the official SDK sends for the same typed params (same fake server)."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from anthropic.types import (
    CacheControlEphemeralParam,
    MessageParam,
    OutputConfigParam,
    RedactedThinkingBlockParam,
    TextBlockParam,
    ThinkingBlockParam,
    ThinkingConfigAdaptiveParam,
    ThinkingConfigEnabledParam,
    ToolParam,
)

from megachat.api import MessagesClient
from megachat.chat.conversation import ChatMessage, Conversation
from tests.api.helpers import KEY
from tests.fakeserver import FakeServer

MODEL = "claude-sonnet-4"
TOOLS = [
    {"name": "files__read", "description": "Read a file", "input_schema": {"type": "object"}},
    {"name": "files__list", "description": "List files", "input_schema": {"type": "object"}},
]
EPHEMERAL = CacheControlEphemeralParam(type="ephemeral")


def _text(text: str, *, cached: bool = False) -> TextBlockParam:
    if cached:
        return TextBlockParam(type="text", text=text, cache_control=EPHEMERAL)
    return TextBlockParam(type="text", text=text)


def _tool(index: int, *, cached: bool = False) -> ToolParam:
    spec = TOOLS[index]
    tool = ToolParam(
        name=spec["name"], description=spec["description"], input_schema={"type": "object"}
    )
    if cached:
        tool["cache_control"] = EPHEMERAL
    return tool


def _conversation(**options: Any) -> Conversation:
    """Two user turns and a reply that thought first (signature kept)."""
    conv = Conversation(model=MODEL, max_tokens=8192, **options)
    conv.add_user("What is 2+2?")
    conv.messages.append(
        ChatMessage(
            role="assistant",
            content=[
                {"type": "thinking", "thinking": "Simple sum.", "signature": "c2ln"},
                {"type": "redacted_thinking", "data": "b3BhcXVl"},
                {"type": "text", "text": "4"},
            ],
        )
    )
    conv.add_user("And 3+3?")
    return conv


def _history(*, thinking: bool, cached: bool) -> list[MessageParam]:
    reply: list = [_text("4")]
    if thinking:
        reply = [
            ThinkingBlockParam(type="thinking", thinking="Simple sum.", signature="c2ln"),
            RedactedThinkingBlockParam(type="redacted_thinking", data="b3BhcXVl"),
            *reply,
        ]
    return [
        MessageParam(role="user", content=[_text("What is 2+2?", cached=cached)]),
        MessageParam(role="assistant", content=reply),
        MessageParam(role="user", content=[_text("And 3+3?", cached=cached)]),
    ]


CASES: dict[str, tuple[dict, dict, dict]] = {
    # name: (conversation options, build_request arguments, the SDK's typed params)
    "thinking budget, stop, top_p": (
        {"thinking": 2048, "stop_sequences": ["END", "</a>"], "top_p": 0.97},
        {},
        {
            "messages": _history(thinking=True, cached=False),
            "thinking": ThinkingConfigEnabledParam(type="enabled", budget_tokens=2048),
            "stop_sequences": ["END", "</a>"],
            "top_p": 0.97,
        },
    ),
    "adaptive thinking with effort": (
        {"thinking": "adaptive", "effort": "medium"},
        {},
        {
            "messages": _history(thinking=True, cached=False),
            "thinking": ThinkingConfigAdaptiveParam(type="adaptive"),
            "output_config": OutputConfigParam(effort="medium"),
        },
    ),
    "sampling without thinking": (
        {"temperature": 0.3, "top_k": 40},
        {},
        {"messages": _history(thinking=False, cached=False), "temperature": 0.3, "top_k": 40},
    ),
    "caching off, tools and a system prompt": (
        {"system": "Be terse."},
        {"tools": TOOLS},
        {
            # a request with tools replays the thinking of the tool loop (as before issue 13)
            "messages": _history(thinking=True, cached=False),
            "system": "Be terse.",
            "tools": [_tool(0), _tool(1)],
        },
    ),
    "caching on, tools and a system prompt": (
        {"system": "Be terse."},
        {"tools": TOOLS, "cache": True},
        {
            "messages": _history(thinking=True, cached=True),
            "system": [TextBlockParam(type="text", text="Be terse.", cache_control=EPHEMERAL)],
            "tools": [_tool(0), _tool(1, cached=True)],
        },
    ),
    "caching on with a prefill": (
        {},
        {"prefill": "It is ", "cache": True},
        {
            "messages": [
                *_history(thinking=False, cached=True),
                MessageParam(role="assistant", content=[_text("It is")]),
            ],
        },
    ),
    "caching on with thinking and tools": (
        {"thinking": 4096},
        {"tools": TOOLS, "cache": True},
        {
            "messages": _history(thinking=True, cached=True),
            "thinking": ThinkingConfigEnabledParam(type="enabled", budget_tokens=4096),
            "tools": [_tool(0), _tool(1, cached=True)],
        },
    ),
}


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("case", list(CASES))
async def test_the_request_equals_the_sdks_for_the_same_params(
    fake_server: FakeServer, case: str, stream: bool
) -> None:
    options, arguments, sdk_params = CASES[case]
    body = _conversation(**options).build_request(stream=stream, **arguments)
    sdk = anthropic.AsyncAnthropic(base_url=fake_server.base_url, api_key=KEY)
    ours = MessagesClient(api_key=KEY, base_url=fake_server.base_url)
    params = {"model": MODEL, "max_tokens": 8192, **sdk_params}
    try:
        if stream:
            async with sdk.messages.stream(**params) as s:
                await s.get_final_message()
            await ours.stream(body).get_final_message()
        else:
            await sdk.messages.create(**params)
            await ours.create(body)
    finally:
        await sdk.close()
        await ours.aclose()
    sent_by_sdk, sent_by_us = (r.json for r in fake_server.requests)
    assert sent_by_us == sent_by_sdk
    assert sent_by_us["messages"][-1]["role"] in ("user", "assistant")
