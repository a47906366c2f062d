"""A user turn whose request failed is marked on resume, with the key that retries it."""

from __future__ import annotations

from megachat.tui.widgets.conversation_view import ConversationView
from megachat.tui.widgets.message import MessageWidget, ReplyWidget
from megachat.tui.widgets.prompt_input import PromptInput
from tests.fakeserver import error_reply, sse_text_reply
from tests.tui.conftest import ready, settle, type_text

SIZE = (100, 30)


def _markers(main) -> list[str]:
    return [
        str(w.message.text())
        for w in main.query(MessageWidget)
        if w.unanswered and not isinstance(w, ReplyWidget)
    ]


async def test_failed_turn_is_marked_on_resume_and_retry_clears_it(make_app, fake_server):
    fake_server.enqueue(error_reply(400, "invalid_request_error", "no such model"))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        await type_text(pilot, "Is anyone there?")
        await pilot.press("enter")
        await settle(pilot)
    assert len(fake_server.requests_to()) == 1

    app = make_app(continue_last=True)
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        assert _markers(main) == ["Is anyone there?"]
        (marked,) = [w for w in main.query(MessageWidget) if w.unanswered]
        badge = marked.query(".-unanswered").first()
        assert str(badge.render()) == "⚠ not answered: no reply was received — F5 retries"

        fake_server.enqueue(sse_text_reply("Yes, here."))
        main.query_one(PromptInput).focus()
        await pilot.press("f5")
        await settle(pilot)
        assert _markers(main) == []
        assert fake_server.requests_to()[-1].json["messages"][-1]["role"] == "user"
        shown = [w.message.text() for w in main.query_one(ConversationView).message_widgets()]
        assert shown == ["Is anyone there?", "Yes, here."]


async def test_a_new_message_takes_the_marker_away(make_app, fake_server):
    fake_server.enqueue(error_reply(400, "invalid_request_error", "no such model"))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        await type_text(pilot, "first try")
        await pilot.press("enter")
        await settle(pilot)

    app = make_app(continue_last=True)
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        assert _markers(main) == ["first try"]
        fake_server.enqueue(sse_text_reply("Answered."))
        await type_text(pilot, "second try")
        await pilot.press("enter")
        await settle(pilot)
        assert _markers(main) == []
