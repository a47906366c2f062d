"""Keys that arrive in one burst (fast typing, a terminal paste, tmux send-keys) keep their order.

The driver posts every key of a burst at once. A priority binding for Enter would run as soon as
Enter reaches the app, before the characters queued ahead of it reached the prompt, and send an
empty or truncated prompt while the text stayed behind.
"""

from __future__ import annotations

from textual import events

from megachat.tui.widgets.prompt_input import PromptInput
from tests.tui.conftest import ready, settle


def _burst(app, text: str, *keys: str) -> None:
    for char in text:
        app.post_message(events.Key(char, char))
    for key in keys:
        app.post_message(events.Key(key, "\r" if key == "enter" else None))


async def test_text_and_enter_in_one_burst_sends_the_whole_text(make_app, fake_server):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        _burst(app, "typed fast", "enter")
        await settle(pilot)
        prompts = [
            r.json["messages"][-1]["content"] for r in fake_server.requests_to("/v1/messages")
        ]
        assert prompts and "typed fast" in str(prompts[-1])
        assert app.screen.query_one(PromptInput).text == ""


async def test_newline_key_in_a_burst_lands_between_the_characters(make_app, fake_server):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        _burst(app, "ab", "ctrl+j")
        _burst(app, "cd")
        await settle(pilot)
        assert app.screen.query_one(PromptInput).text == "ab\ncd"
