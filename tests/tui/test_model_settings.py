"""The sidebar's model settings (issue 13): thinking, effort, sampling, what the model cannot
take greyed out, and the costs. Real key presses on the sidebar's widgets, the fake server."""

from __future__ import annotations

import dataclasses
from typing import Any

from megachat.config import Settings
from tests.fakeserver import FakeServer, sse_text_reply
from tests.tui.conftest import ready, send, settle, stored


def _app(settings: Settings, **changes: Any) -> Any:
    from megachat.tui.app import MegachatApp

    return MegachatApp(dataclasses.replace(settings, **changes))


def _figures(main: Any) -> str:
    return str(main.query_one("#figures").render())


async def test_thinking_and_sampling_from_the_sidebar_reach_the_request(
    settings: Settings, fake_server: FakeServer
) -> None:
    from textual.widgets import Input, Select, TextArea

    fake_server.enqueue(sse_text_reply("thought about it"))
    app = _app(settings, model="claude-sonnet-4-5", max_tokens=8192)  # > the budget
    async with app.run_test(size=(120, 60)) as pilot:
        main = await ready(pilot)
        sidebar = main.query_one("#sidebar")
        sidebar.query_one("#thinking", Select).value = "4096"
        sidebar.query_one("#stop-sequences", TextArea).load_text("END\n\n###")
        sidebar.query_one("#top-p", Input).value = "0.97"
        await settle(pilot)
        assert sidebar.query_one("#temperature").has_class("-not-for-model")
        assert sidebar.query_one("#prefill").has_class("-not-for-model")
        main.query_one("#prompt").focus()
        await send(pilot, "think")
        body = fake_server.requests_to()[0].json
        assert body["thinking"] == {"type": "enabled", "budget_tokens": 4096}
        assert body["stop_sequences"] == ["END", "###"]
        assert body["top_p"] == 0.97
        assert "top_k" not in body and "temperature" not in body
        saved = stored(main.conversation.id)
        assert (saved.thinking, saved.stop_sequences, saved.top_p) == (4096, ["END", "###"], 0.97)


async def test_a_model_without_prefill_greys_it_out_and_a_prefill_is_refused_unsent(
    settings: Settings, fake_server: FakeServer
) -> None:
    from textual.widgets import Input

    app = _app(settings, model="no-prefill-model", models={"no-prefill-model": {"prefill": False}})
    async with app.run_test(size=(120, 60)) as pilot:
        main = await ready(pilot)
        prefill = main.query_one("#prefill", Input)
        assert prefill.has_class("-not-for-model")
        prefill.value = "Sure,"
        main.query_one("#prompt").focus()
        await send(pilot, "hello")
        assert fake_server.requests_to() == []  # nothing was sent
        assert main.query_one("#prompt").text == "hello"  # the draft is back
        from tests.tui.conftest import notifications

        assert any("prefill" in text for text in notifications(pilot.app))


async def test_costs_show_for_a_priced_model(settings: Settings, fake_server: FakeServer) -> None:
    fake_server.enqueue(
        sse_text_reply("priced", usage={"input_tokens": 1000, "output_tokens": 500})
    )
    app = _app(
        settings,
        model="priced-model",
        models={"priced-model": {"prices": {"input": 3.0, "output": 15.0}}},
    )
    async with app.run_test(size=(120, 60)) as pilot:
        main = await ready(pilot)
        assert "Sending it" not in _figures(main)  # nothing typed: no estimate
        from tests.tui.conftest import type_text

        await type_text(pilot, "x" * 4000)  # ~1,000 tokens at $3 per million
        assert "Sending it: ≈ $0.003" in _figures(main)
        main.query_one("#prompt").clear()
        await send(pilot, "how much?")
        text = _figures(main)
        # 1000 x $3 + 500 x $15 per million = $0.0105
        assert "Last reply cost: $0.0105" in text
        assert "This chat so far: $0.0105" in text
        assert stored(main.conversation.id).messages[-1].cost_usd == 0.0105


async def test_a_server_refusing_prompt_caching_is_said_once_and_the_reply_comes(
    settings: Settings, fake_server: FakeServer
) -> None:
    from tests.fakeserver import ModelRule
    from tests.tui.conftest import notifications

    fake_server.model_rules = {"*": ModelRule("*", cache_control=False)}
    fake_server.enqueue(sse_text_reply("cached or not"), sse_text_reply("second"))
    app = _app(settings, prompt_cache=True, system_prompt="Be terse.")
    async with app.run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        await send(pilot, "one")
        await send(pilot, "two")
        bodies = [r.json for r in fake_server.requests_to()]
        assert "cache_control" in str(bodies[0]) and "cache_control" not in str(bodies[1:])
        assert len(bodies) == 3  # one resend, then the next turn goes without at once
        said = [n for n in notifications(pilot.app) if "prompt caching" in n]
        assert said == [
            "the server does not take prompt caching; sent without it "
            f"(remembered for {fake_server.base_url})"
        ]
        assert "second" in main.view.messages[-1].text()


async def test_the_draft_is_counted_exactly_where_the_server_counts_tokens(
    settings: Settings, fake_server: FakeServer
) -> None:
    from tests.fakeserver import COUNT_TOKENS_PATH, Reply
    from tests.tui.conftest import type_text

    fake_server.enqueue(Reply(json={"input_tokens": 1234}, path=COUNT_TOKENS_PATH))
    app = _app(
        settings,
        model="priced-model",
        models={"priced-model": {"prices": {"input": 3.0, "output": 15.0}}},
        system_prompt="Be terse.",
    )
    async with app.run_test(size=(120, 60)) as pilot:
        main = await ready(pilot)
        await type_text(pilot, "count me")
        assert "Sending it: ≈ $" in _figures(main)  # estimated until counted
        main.count_draft()  # what the pause after typing starts
        await settle(pilot)
        # 1,234 x $3 per million, counted by the server: no "≈"
        assert "Sending it: 1,234 tokens, $0.0037 in" in _figures(main)
        (counted,) = fake_server.requests_to(COUNT_TOKENS_PATH)
        assert counted.json["system"] == "Be terse."
        assert counted.json["messages"] == [
            {"role": "user", "content": [{"type": "text", "text": "count me"}]}
        ]
        await type_text(pilot, "!")  # another draft: estimated again until counted
        assert "Sending it: ≈ $" in _figures(main)


async def test_a_server_without_count_tokens_is_asked_once(
    settings: Settings, fake_server: FakeServer
) -> None:
    from tests.fakeserver import COUNT_TOKENS_PATH
    from tests.tui.conftest import type_text

    app = _app(
        settings,
        model="priced-model",
        models={"priced-model": {"prices": {"input": 3.0, "output": 15.0}}},
    )
    async with app.run_test(size=(120, 60)) as pilot:
        main = await ready(pilot)
        for text in ("one", " two"):
            await type_text(pilot, text)
            main.count_draft()
            await settle(pilot)
            assert "Sending it: ≈ $" in _figures(main)
        assert len(fake_server.requests_to(COUNT_TOKENS_PATH)) == 1  # 404: not asked again
