"""A reply cut at max_tokens says so (with the key, as bound) and ctrl+e continues it: one
message with the whole text where the model takes a prefill, a dimmed user turn where not."""

from __future__ import annotations

from megachat.chat.outcomes import CONTINUE_REQUEST
from megachat.tui.widgets.conversation_view import ConversationView
from megachat.tui.widgets.message import MessageWidget
from megachat.tui.widgets.prompt_input import PromptInput
from tests.fakeserver import Reply, message_events, sse_text_reply
from tests.tui.conftest import ready, settle, type_text

SIZE = (100, 30)
CUT = "The first half, cut"
REST = " and the second half."


def shown(main) -> list[MessageWidget]:
    return list(main.query_one(ConversationView).message_widgets())


def last_sent(fake_server) -> dict:
    """The last message of the last request, without prompt-caching breakpoints."""
    message = fake_server.requests_to()[-1].json["messages"][-1]
    blocks = [{k: v for k, v in b.items() if k != "cache_control"} for b in message["content"]]
    return {"role": message["role"], "content": blocks}


def stop_badges(main) -> list[str]:
    return [str(badge.render()) for badge in main.query(".status-badge.-stop")]


async def ask_and_get_cut(pilot, main, fake_server) -> None:
    fake_server.enqueue(sse_text_reply(CUT, stop_reason="max_tokens"))
    await type_text(pilot, "Tell me")
    await pilot.press("enter")
    await settle(pilot)
    assert stop_badges(main) == ["✂ cut at max_tokens — ctrl+e continues"]


async def test_ctrl_e_continues_into_one_message(make_app, fake_server):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        await ask_and_get_cut(pilot, main, fake_server)

        fake_server.enqueue(sse_text_reply(REST))
        assert main.focused is main.query_one(PromptInput)
        await pilot.press("ctrl+e")
        await settle(pilot)

        assert [w.message.text() for w in shown(main)] == ["Tell me", CUT + REST]
        assert stop_badges(main) == []  # the new version ended normally
        assert last_sent(fake_server) == {
            "role": "assistant",
            "content": [{"type": "text", "text": CUT}],
        }
        reply = main.conversation.messages[-1]
        assert [m.text() for m in main.conversation.siblings(reply)] == [CUT, CUT + REST]


async def test_ctrl_e_in_a_draft_is_end_of_line(make_app, fake_server):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        await ask_and_get_cut(pilot, main, fake_server)
        prompt = main.query_one(PromptInput)
        await type_text(pilot, "draft")
        prompt.move_cursor((0, 0))
        await pilot.press("ctrl+e")
        await settle(pilot)
        assert len(fake_server.requests_to()) == 1
        assert prompt.text == "draft" and prompt.cursor_location == (0, 5)


async def test_without_prefill_the_request_turn_is_dimmed(make_app, settings, fake_server):
    settings.models = {"claude-sonnet-4": {"prefill": False}}
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        await ask_and_get_cut(pilot, main, fake_server)
        fake_server.enqueue(sse_text_reply("The rest."))
        await pilot.press("ctrl+e")
        await settle(pilot)

        widgets = shown(main)
        assert [w.message.text() for w in widgets] == [
            "Tell me",
            CUT,
            CONTINUE_REQUEST,
            "The rest.",
        ]
        assert [w.has_class("-continue-request") for w in widgets] == [False, False, True, False]
        assert last_sent(fake_server) == {
            "role": "user",
            "content": [{"type": "text", "text": CONTINUE_REQUEST}],
        }


async def test_other_stop_reasons_are_shown_and_ctrl_e_refuses(make_app, fake_server):
    events = message_events(
        [{"type": "text", "text": "a, b"}], stop_reason="stop_sequence", stop_sequence="[/]END"
    )
    fake_server.enqueue(Reply(sse=events))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        await type_text(pilot, "List")
        await pilot.press("enter")
        await settle(pilot)
        assert stop_badges(main) == ["■ stopped at the stop sequence '[/]END'"]
        await pilot.press("ctrl+e")
        await settle(pilot)
        assert len(fake_server.requests_to()) == 1  # nothing to continue: nothing sent


async def test_the_palette_entry_continues_even_with_a_draft(make_app, fake_server):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        await ask_and_get_cut(pilot, main, fake_server)
        await type_text(pilot, "draft")
        (entry,) = [cb for title, _, cb in app.command_entries(main) if title == "Continue reply"]
        fake_server.enqueue(sse_text_reply(REST))
        entry()
        await settle(pilot)
        assert [w.message.text() for w in shown(main)] == ["Tell me", CUT + REST]
        assert main.query_one(PromptInput).text == "draft"
