"""Model lists in both shapes, paging, and count_tokens with its "not served here" memory."""

from __future__ import annotations

import anthropic
import pytest

from megachat.api import InternalServerError, MessagesClient, ModelInfo
from tests.api.helpers import KEY
from tests.fakeserver import COUNT_TOKENS_PATH, MODELS_PATH, FakeServer, Reply, error_reply


def _client(server: FakeServer) -> MessagesClient:
    return MessagesClient(api_key=KEY, base_url=server.base_url, max_retries=0)


async def test_anthropic_list_with_paging(fake_server: FakeServer) -> None:
    page1 = {
        "data": [{"type": "model", "id": "a", "display_name": "A", "max_input_tokens": 1000}],
        "has_more": True,
        "first_id": "a",
        "last_id": "a",
    }
    page2 = {
        "data": [{"type": "model", "id": "b", "display_name": "B", "max_tokens": 99}],
        "has_more": False,
        "first_id": "b",
        "last_id": "b",
    }
    fake_server.enqueue(Reply(json=page1, path=MODELS_PATH), Reply(json=page2, path=MODELS_PATH))
    async with _client(fake_server) as client:
        models = await client.list_models()
    assert models == [ModelInfo("a", "A", 1000, None), ModelInfo("b", "B", None, 99)]
    first, second = fake_server.requests_to(MODELS_PATH)
    assert first.query == {} and second.query == {"after_id": ["a"]}
    assert second.headers["x-api-key"] == KEY and second.method == "GET"


async def test_sdk_pages_the_same_way(fake_server: FakeServer) -> None:
    created = "2025-01-01T00:00:00Z"
    page1 = {
        "data": [{"type": "model", "id": "a", "display_name": "A", "created_at": created}],
        "has_more": True,
        "last_id": "a",
    }
    page2 = {
        "data": [{"type": "model", "id": "b", "display_name": "B", "created_at": created}],
        "has_more": False,
        "last_id": "b",
    }
    fake_server.enqueue(Reply(json=page1, path=MODELS_PATH), Reply(json=page2, path=MODELS_PATH))
    sdk = anthropic.AsyncAnthropic(base_url=fake_server.base_url, api_key=KEY)
    ids = [m.id async for m in sdk.models.list()]
    await sdk.close()
    assert ids == ["a", "b"]
    assert fake_server.requests_to(MODELS_PATH)[1].query["after_id"] == ["a"]


async def test_megallm_openai_style_list(fake_server: FakeServer) -> None:
    body = {
        "object": "list",
        "data": [
            {
                "id": "claude-sonnet-4",
                "object": "model",
                "owned_by": "anthropic",
                "display_name": "Claude Sonnet 4",
                "context_length": 200000,
                "max_output_tokens": 64000,
            },
            {"id": "gpt-4o", "object": "model", "owned_by": "openai"},
            {"object": "model"},  # no id: skipped
        ],
    }
    fake_server.enqueue(Reply(json=body, path=MODELS_PATH))
    async with _client(fake_server) as client:
        models = await client.list_models()
    assert models == [
        ModelInfo("claude-sonnet-4", "Claude Sonnet 4", 200000, 64000),
        ModelInfo("gpt-4o", "gpt-4o", None, None),
    ]
    assert len(fake_server.requests) == 1


async def test_default_fake_list(fake_server: FakeServer) -> None:
    async with _client(fake_server) as client:
        models = await client.list_models()
    assert [m.id for m in models][:1] == ["claude-sonnet-4"]


async def test_paging_stops_on_a_repeated_cursor(fake_server: FakeServer) -> None:
    page = {"data": [{"id": "a"}], "has_more": True, "last_id": "a"}
    fake_server.default = Reply(json=page, path=MODELS_PATH)
    async with _client(fake_server) as client:
        models = await client.list_models()
    assert len(fake_server.requests) == 2 and [m.id for m in models] == ["a", "a"]


@pytest.mark.parametrize("status", [404, 405])
async def test_count_tokens_not_served_is_remembered(fake_server: FakeServer, status: int) -> None:
    fake_server.enqueue(error_reply(status, "not_found_error", "no", path=COUNT_TOKENS_PATH))
    request = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    async with _client(fake_server) as client:
        assert await client.count_tokens(request) is None
        assert await client.count_tokens(request) is None
    assert len(fake_server.requests) == 1


async def test_count_tokens_body_equals_the_sdk(fake_server: FakeServer) -> None:
    for _ in range(2):
        fake_server.enqueue(Reply(json={"input_tokens": 42}, path=COUNT_TOKENS_PATH))
    params = {
        "model": "m",
        "system": "be brief",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"name": "t", "input_schema": {"type": "object"}}],
    }
    sdk = anthropic.AsyncAnthropic(base_url=fake_server.base_url, api_key=KEY)
    assert (await sdk.messages.count_tokens(**params)).input_tokens == 42
    await sdk.close()
    async with _client(fake_server) as client:
        assert await client.count_tokens({**params, "max_tokens": 5, "stream": True}) == 42
    sdk_req, ours = fake_server.requests_to(COUNT_TOKENS_PATH)
    assert ours.json == sdk_req.json


async def test_count_tokens_other_errors_raise(fake_server: FakeServer) -> None:
    fake_server.enqueue(error_reply(500, "api_error", "boom", path=COUNT_TOKENS_PATH))
    async with _client(fake_server) as client:
        with pytest.raises(InternalServerError):
            await client.count_tokens({"model": "m", "messages": []})
