"""Pilot tests of the main screen against the fake server: send, stream, cancel, regenerate,
edit-and-resend, retry, the sidebar settings, prefill and the draft's safety."""

from __future__ import annotations

from typing import Any

from megachat.tui.widgets.prompt_input import PromptInput
from megachat.tui.widgets.sidebar import Sidebar
from megachat.tui.widgets.status_line import StatusLine
from tests.fakeserver import error_reply, models_reply, sse_text_reply
from tests.tui.conftest import notifications, ready, send, settle, stored, type_text

SIZE = (120, 40)


async def test_prompt_has_focus_and_enter_sends_streams_and_stores(make_app, fake_server):
    fake_server.enqueue(sse_text_reply("Hi! I am streamed in pieces.", chunks=5))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        prompt = main.query_one(PromptInput)
        assert app.focused is prompt
        await send(pilot, "Hello there")
        conversation = main.conversation
        assert [m.role for m in conversation.messages] == ["user", "assistant"]
        assert conversation.messages[1].text() == "Hi! I am streamed in pieces."
        assert conversation.messages[1].status == "complete"
        assert prompt.text == ""
        body = fake_server.requests_to()[-1].json
        assert body["messages"] == [
            {"role": "user", "content": [{"type": "text", "text": "Hello there"}]}
        ]
        assert body["model"] == "claude-sonnet-4"
        assert body["stream"] is True
        assert "temperature" not in body and "system" not in body
        saved = stored(conversation.id)
        assert [m.text() for m in saved.messages] == ["Hello there", "Hi! I am streamed in pieces."]
        assert saved.title == "Hello there"
        assert not main.query_one(StatusLine).text


async def test_shift_enter_and_ctrl_j_insert_newlines(make_app, fake_server):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        await pilot.press("a", "ctrl+j", "b", "shift+enter", "c")
        assert main.query_one(PromptInput).text == "a\nb\nc"
        assert not fake_server.requests_to()
        await pilot.press("enter")
        await settle(pilot)
        assert fake_server.requests_to()[-1].json["messages"][0]["content"][0]["text"] == "a\nb\nc"


async def test_prompt_grows_with_its_text(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        prompt = main.query_one(PromptInput)
        one_line = prompt.size.height
        await type_text(pilot, "1\n2\n3\n4")
        assert prompt.size.height > one_line
        await type_text(pilot, "\n".join(str(n) for n in range(40)))
        assert prompt.size.height <= 10


async def test_escape_cancels_a_slow_reply_and_keeps_the_partial_text(make_app, fake_server):
    words = [f"word{n} " for n in range(200)]
    fake_server.enqueue(sse_text_reply("".join(words), chunks=words, delay_per_event=0.05))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        await type_text(pilot, "Tell me a long story")
        await pilot.press("enter")
        # Wait (on app state) until part of the reply has arrived.
        while not (
            len(main.conversation.messages) == 2 and "word3" in main.conversation.messages[1].text()
        ):
            await pilot.pause()
        # The text in memory is written by Turn when it flushes; wait for the view's first text.
        assert main.busy
        await pilot.press("escape")
        await settle(pilot)
        assert not main.busy
        reply = main.conversation.messages[1]
        assert reply.status == "cancelled"
        assert reply.text().startswith("word0 word1")
        assert len(reply.text()) < len("".join(words))
        saved = stored(main.conversation.id).messages[1]
        assert saved.status == "cancelled"
        assert saved.text().startswith("word0")
        assert any("cancelled" in n for n in notifications(app))


async def test_regenerate_replaces_the_last_reply(make_app, fake_server):
    fake_server.enqueue(sse_text_reply("First answer"), sse_text_reply("Second answer"))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        await send(pilot, "Question")
        assert main.conversation.messages[-1].text() == "First answer"
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert [m.text() for m in main.conversation.messages] == ["Question", "Second answer"]
        assert [m.text() for m in stored(main.conversation.id).messages] == [
            "Question",
            "Second answer",
        ]
        second = fake_server.requests_to()[-1].json
        assert second["messages"] == [
            {"role": "user", "content": [{"type": "text", "text": "Question"}]}
        ]


async def test_edit_last_message_and_resend(make_app, fake_server):
    fake_server.enqueue(sse_text_reply("About cats"), sse_text_reply("About dogs"))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        await send(pilot, "Tell me about cats")
        await pilot.press("ctrl+g")
        await settle(pilot)
        prompt = main.query_one(PromptInput)
        assert prompt.text == "Tell me about cats"
        assert main.conversation.messages == []
        prompt.clear()
        await send(pilot, "Tell me about dogs")
        assert [m.text() for m in main.conversation.messages] == [
            "Tell me about dogs",
            "About dogs",
        ]
        assert [m.text() for m in stored(main.conversation.id).messages] == [
            "Tell me about dogs",
            "About dogs",
        ]


async def test_error_is_a_notification_and_retry_resends(make_app, fake_server):
    fake_server.enqueue(error_reply(529, "overloaded_error", "The servers are busy right now"))
    fake_server.enqueue(sse_text_reply("Better now"))
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        main = await ready(pilot)
        await send(pilot, "Are you there?")
        assert any("The servers are busy right now" in n for n in notifications(app))
        assert main.last_error and "529" in main.last_error
        # The user turn was stored before the request, so the draft is gone and kept in the chat.
        assert main.query_one(PromptInput).text == ""
        assert [m.text() for m in stored(main.conversation.id).messages] == ["Are you there?"]
        await pilot.press("f5")
        await settle(pilot)
        assert [m.text() for m in main.conversation.messages] == ["Are you there?", "Better now"]
        assert main.last_error is None
        retried = fake_server.requests_to()[-1].json
        assert retried["messages"] == [
            {"role": "user", "content": [{"type": "text", "text": "Are you there?"}]}
        ]


async def test_midstream_error_keeps_partial_reply_and_retry_replaces_it(make_app, fake_server):
    fake_server.enqueue(
        sse_text_reply("partial words here", chunks=3, drop_after_events=4),
        sse_text_reply("complete answer"),
    )
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        main = await ready(pilot)
        await send(pilot, "Go")
        reply = main.conversation.messages[-1]
        assert reply.status == "interrupted"
        assert main.last_error
        await pilot.press("f5")
        await settle(pilot)
        assert [m.text() for m in main.conversation.messages] == ["Go", "complete answer"]
        assert [m.status for m in stored(main.conversation.id).messages] == [
            "complete",
            "complete",
        ]


async def test_draft_survives_when_the_user_turn_cannot_be_stored(make_app, fake_server):
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        main = await ready(pilot)
        app.store.close()  # every write now fails before the request is sent
        await send(pilot, "Do not lose me")
        assert main.query_one(PromptInput).text == "Do not lose me"
        assert main.conversation.messages == []
        assert not fake_server.requests_to()
        assert any("Not sent" in n for n in notifications(app))


async def test_model_list_fills_the_select(make_app, fake_server):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        sidebar = main.query_one(Sidebar)
        assert sidebar._models == [
            "claude-sonnet-4",
            "claude-3.7-sonnet",
            "claude-opus-4-1-20250805",
        ]
        assert sidebar.model == "claude-sonnet-4"
        select = sidebar.query_one("#model")
        select.value = "claude-3.7-sonnet"
        await pilot.pause()
        assert main.conversation.model == "claude-3.7-sonnet"
        await send(pilot, "hi")
        assert fake_server.requests_to()[-1].json["model"] == "claude-3.7-sonnet"


async def test_model_list_failure_falls_back_to_the_configured_model(make_app, fake_server):
    fake_server.enqueue(error_reply(500, "api_error", "no list", path="/v1/models"))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        sidebar = main.query_one(Sidebar)
        assert sidebar._models == ["claude-sonnet-4"]
        assert sidebar.model == "claude-sonnet-4"


async def test_temperature_is_validated_blank_means_unset(make_app, fake_server):
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        main = await ready(pilot)
        temperature = main.query_one("#temperature")
        temperature.value = "1.5"
        await pilot.pause()
        await send(pilot, "hot")
        assert not fake_server.requests_to()
        assert any("temperature must be a number from 0 to 1" in n for n in notifications(app))
        assert main.query_one(PromptInput).text == "hot"
        temperature.value = "0.3"
        await pilot.pause()
        main.query_one(PromptInput).focus()
        await pilot.press("enter")
        await settle(pilot)
        assert fake_server.requests_to()[-1].json["temperature"] == 0.3
        temperature.value = ""
        await pilot.pause()
        main.query_one(PromptInput).focus()
        await send(pilot, "again")
        assert "temperature" not in fake_server.requests_to()[-1].json


async def test_max_tokens_and_system_prompt_apply_from_the_next_turn(make_app, fake_server):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        await send(pilot, "first")
        main.query_one("#max-tokens").value = "77"
        main.query_one("#system").load_text("You are terse.")
        await pilot.pause()
        main.query_one(PromptInput).focus()
        await send(pilot, "second")
        body = fake_server.requests_to()[-1].json
        assert body["max_tokens"] == 77
        assert body["system"] == "You are terse."
        saved = stored(main.conversation.id)
        assert saved.system == "You are terse."
        assert saved.max_tokens == 77


async def test_prefill_is_sent_and_stored_with_the_reply(make_app, fake_server):
    fake_server.enqueue(sse_text_reply('"a": 1}'))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        main.query_one("#prefill").value = "{"
        await pilot.pause()
        main.query_one(PromptInput).focus()
        await send(pilot, "JSON please")
        body = fake_server.requests_to()[-1].json
        assert body["messages"][-1] == {
            "role": "assistant",
            "content": [{"type": "text", "text": "{"}],
        }
        assert main.conversation.messages[-1].text() == '{"a": 1}'
        assert stored(main.conversation.id).messages[-1].text() == '{"a": 1}'


async def test_waits_show_in_the_status_line(make_app, fake_server, settings):
    settings.max_retries = 1
    fake_server.enqueue(
        error_reply(429, "rate_limit_error", "slow down", headers={"retry-after-ms": "10"}),
        sse_text_reply("after the wait"),
    )
    app = make_app()
    seen: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        status = main.query_one(StatusLine)
        original = status.show

        def record(text: str, **kwargs: Any) -> None:
            seen.append(text)
            original(text, **kwargs)

        status.show = record  # type: ignore[method-assign]
        await send(pilot, "hi")
        assert main.conversation.messages[-1].text() == "after the wait"
        assert any("retry" in line.lower() for line in seen), seen
        assert not status.text


async def test_usage_and_draft_estimate_in_the_sidebar(make_app, fake_server):
    fake_server.enqueue(sse_text_reply("ok", usage={"input_tokens": 12, "output_tokens": 34}))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        figures = main.query_one("#figures")
        await type_text(pilot, "x" * 400)
        assert "Draft ≈ 100 tokens" in str(figures.content)
        await pilot.press("enter")
        await settle(pilot)
        assert "12 in / 34 out" in str(figures.content)


async def test_context_warning_when_the_draft_passes_the_window(make_app, settings):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        warning = main.query_one("#warning")
        assert not warning.has_class("-visible")
        await type_text(pilot, "y" * 900_000)
        assert warning.has_class("-visible")
        assert "context window" in str(warning.content)


async def test_models_from_a_server_are_untrusted(make_app, fake_server):
    fake_server.enqueue(
        models_reply(
            [
                {"type": "model", "id": "[bold]x[/]", "display_name": "n"},
                {"type": "model", "id": "evil\x1b]2;pwned\x07", "display_name": "n"},
            ]
        )
    )
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        sidebar = main.query_one(Sidebar)
        assert "[bold]x[/]" in sidebar._models
        select = sidebar.query_one("#model")
        select.value = "[bold]x[/]"
        await pilot.pause()
        assert main.conversation.model == "[bold]x[/]"
        await pilot.click("#model")
        await pilot.pause()


async def test_image_file_name_is_shown_after_a_reload_and_never_sent(
    make_app, fake_server, tmp_path
):
    import json

    from PIL import Image

    from megachat.tui.widgets.attachments import AttachmentsStrip
    from megachat.tui.widgets.message import MessageWidget

    path = tmp_path / "kitten-on-sofa.png"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(path, format="PNG")
    fake_server.enqueue(sse_text_reply("A kitten."), sse_text_reply("Still a kitten."))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        main.attach_path(path)
        await settle(pilot)
        await send(pilot, "What is this?")
        # Edit-and-resend puts the image back under its name; the old turn stays a branch.
        await pilot.press("ctrl+g")
        await settle(pilot)
        strip = main.query_one(AttachmentsStrip)
        assert [i.name for i in strip.images] == ["kitten-on-sofa.png"]
        assert main.conversation.messages == []
        assert len(stored(main.conversation.id).all_messages()) == 2
        await pilot.press("enter")
        await settle(pilot)
        for request in fake_server.requests_to():
            assert "kitten" not in json.dumps(request.json)
        reloaded = stored(main.conversation.id)
        assert [m.text() for m in reloaded.messages] == ["What is this?", "Still a kitten."]
        await main.show_conversation(reloaded)
        await settle(pilot)
        first = main.query(MessageWidget).first()
        assert first.plain_text().startswith("[image: kitten-on-sofa.png 40x30, ")
