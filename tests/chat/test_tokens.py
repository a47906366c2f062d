"""Token estimate (chars/4 + w*h/750 per image) and the context-window warning."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from megachat.chat.conversation import Conversation
from megachat.chat.images import load_image
from megachat.chat.tokens import (
    DEFAULT_CONTEXT_WINDOW,
    context_warning,
    context_window,
    estimate_tokens,
)
from tests.chat.conftest import make_image


def test_text_is_chars_over_four() -> None:
    assert estimate_tokens("a" * 400) == 100
    assert estimate_tokens("abcde") == 2
    assert estimate_tokens([{"type": "text", "text": "a" * 40}]) == 10


def test_request_counts_system_and_all_messages(tmp_path: Path) -> None:
    path = tmp_path / "pic.png"
    path.write_bytes(make_image("PNG", (750, 100)))
    conv = Conversation(model="m", system="s" * 40)
    conv.add_user("u" * 80, [load_image(path)])
    conv.add_assistant("a" * 80, status="complete")
    body = conv.build_request()
    # 200 chars -> 50 tokens, 750*100/750 = 100 tokens for the image
    assert estimate_tokens(body) == 150
    assert estimate_tokens(conv) == 150
    assert estimate_tokens(body["messages"]) == 140


def test_image_estimate_uses_size_after_resizing(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    path.write_bytes(make_image("PNG", (10000, 100)))
    img = load_image(path)
    conv = Conversation(model="m")
    conv.add_user("", [img])
    assert estimate_tokens(conv.build_request()) == -(-img.width * img.height // 750)


def test_context_warning() -> None:
    assert context_warning(100_000, 4096) is None
    assert context_warning(196_000, 4000) is None
    warning = context_warning(196_000, 4001)
    assert warning and "200,000" in warning
    assert context_warning(50_000, 4096, window=32_000)


@dataclass
class Info:
    id: str
    context_window: int | None


def test_context_window_from_models_list() -> None:
    models = [Info("big", 1_000_000), Info("unknown", None)]
    assert context_window("big", models) == 1_000_000
    assert context_window("unknown", models) == DEFAULT_CONTEXT_WINDOW
    assert context_window("absent", models) == DEFAULT_CONTEXT_WINDOW
    assert context_window("x", {"x": 8192}) == 8192
    assert context_window("x") == DEFAULT_CONTEXT_WINDOW


async def test_exact_count_where_served_else_estimate(fake_server) -> None:
    from megachat.api import MessagesClient
    from megachat.chat.tokens import count_input_tokens
    from tests.fakeserver import Reply

    conv = Conversation(model="m", system="s" * 40)
    conv.add_user("u" * 40)
    body = conv.build_request()
    fake_server.enqueue(
        Reply(json={"input_tokens": 1234}, path="/v1/messages/count_tokens"),
        Reply(
            status=404,
            json={"type": "error", "error": {"type": "not_found_error", "message": "no"}},
            path="/v1/messages/count_tokens",
        ),
    )
    async with MessagesClient(api_key="sk-test", base_url=fake_server.base_url) as client:
        assert await count_input_tokens(client, body) == (1234, True)
        assert await count_input_tokens(client, body) == (20, False)
        assert await count_input_tokens(client, body) == (20, False)  # 404 remembered
    sent = fake_server.requests_to("/v1/messages/count_tokens")
    assert len(sent) == 2
    assert sent[0].json["messages"] == body["messages"] and "max_tokens" not in sent[0].json
