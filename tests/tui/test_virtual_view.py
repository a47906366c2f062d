"""The virtual conversation view: only messages near the viewport are mounted, wherever it is.

The pane runs on its own in a tiny host App, or in the whole app over a conversation written
straight to the Store (fast; no requests). Synchronisation is on app state only (`settle`, `until`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App, ComposeResult

from megachat.chat.conversation import ChatMessage, Conversation
from megachat.tui.widgets.conversation_view import ConversationView
from megachat.tui.widgets.message import ReplyWidget
from tests.tui.conftest import ready, settle, until

BOUND = 80  # mounted messages never exceed this (a viewport is ~10 of them here)


class Host(App[None]):
    def compose(self) -> ComposeResult:
        yield ConversationView()

    @property
    def view(self) -> ConversationView:
        return self.query_one(ConversationView)


def text_of(index: int) -> str:
    """Messages of varied lengths: 1 to ~8 lines at 100 columns."""
    words = " ".join(f"w{index}x{k}" for k in range((index * 37) % 90 + 1))
    return f"message {index}: {words}"


def make(n: int) -> list[ChatMessage]:
    return [
        ChatMessage(
            role="user" if i % 2 == 0 else "assistant",
            content=[{"type": "text", "text": text_of(i)}],
        )
        for i in range(n)
    ]


def mounted_indices(view: ConversationView) -> list[int]:
    return [int(w.message.content[0]["text"].split(":")[0].split()[1]) for w in view._window()]


async def settled(pilot: Any) -> None:
    await settle(pilot)
    await settle(pilot)


async def window_settled(pilot: Any) -> None:
    """`settled` while a reply streams (its writer worker runs until it finishes): wait for
    the view's own window moves only."""
    for _ in range(2):
        for _ in range(2):
            moves = [w for w in pilot.app.workers if w.group == "virtual-window"]
            if moves:  # (an empty list would wait for every worker)
                await pilot.app.workers.wait_for_complete(moves)
            await pilot.pause()


def assert_window_sound(view: ConversationView) -> None:
    """Consecutive messages, bounded, and what the viewport shows is mounted."""
    indices = mounted_indices(view)
    assert indices == list(range(indices[0], indices[0] + len(indices)))
    assert len(indices) <= BOUND
    top, bottom = view.scroll_y, view.scroll_y + view.scrollable_content_region.height
    spans = [view._placed[w.message.id] for w in view._window()]
    assert spans[0][0] <= top or indices[0] == 0
    assert spans[-1][0] + spans[-1][1] >= bottom or indices[-1] == len(view.messages) - 1


async def page_up_to_top(
    pilot: Any, view: ConversationView, each: Callable[[], None] | None = None
) -> int:
    """PageUp held until the top (at most 2000 pages), settling and then calling `each` after
    every page; how many pages it took."""
    pages = 0
    while view.scroll_y > 0 and pages < 2000:
        view.scroll_page_up(animate=False)
        await settled(pilot)
        if each is not None:
            each()
        pages += 1
    return pages


async def test_scrolling_mounts_what_comes_near_and_unmounts_what_goes_far() -> None:
    app = Host()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.view
        await view.load(make(400))
        await settled(pilot)
        assert view.is_following
        assert mounted_indices(view)[-1] == 399
        assert len(view._window()) <= BOUND
        pages = await page_up_to_top(pilot, view, each=lambda: assert_window_sound(view))
        assert pages > 50
        assert mounted_indices(view)[0] == 0
        first = view._window()[0]
        assert first.region.y == view.content_region.y  # the first message at the very top
        # and back down with the scrollbar dragged to the end in two moves
        view.scroll_to(y=view.max_scroll_y / 2, animate=False, immediate=True)
        await settled(pilot)
        assert_window_sound(view)
        middle = mounted_indices(view)
        assert middle[0] > 0 and middle[-1] < 399
        view.scroll_end(animate=False, immediate=True)
        await settled(pilot)
        await until(pilot, lambda: view.scroll_y >= view.max_scroll_y)
        assert_window_sound(view)
        assert mounted_indices(view)[-1] == 399
        assert view.is_following


async def test_scrolling_keeps_the_content_under_the_eyes_still() -> None:
    app = Host()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.view
        await view.load(make(400))
        await settled(pilot)
        for _ in range(20):
            view.scroll_page_up(animate=False)
            await pilot.pause()
            # Whatever message is at the top of the viewport now stays there while the window
            # around it changes (messages mounted above it, others unmounted).
            top_widget = next(w for w in view._window() if w.region.bottom > view.region.y)
            at = top_widget.region.y
            await settled(pilot)
            assert top_widget.is_attached and top_widget.region.y == at


async def test_heights_stay_true_after_a_resize() -> None:
    app = Host()
    async with app.run_test(size=(120, 30)) as pilot:
        view = app.view
        messages = make(150)
        await view.load(messages)
        await settled(pilot)
        await pilot.resize_terminal(70, 30)
        await settled(pilot)
        width = view._width
        assert width < 70
        await page_up_to_top(pilot, view)
        # every message was mounted on the way up, at this width: the virtual height is the sum
        # of the heights measured, and the first message starts at the very top
        measured = [view._cache.get(m.id, width) for m in messages]
        assert None not in measured
        assert view.virtual_size.height == sum(measured)  # type: ignore[arg-type]
        assert view._top == 0 and view._window()[0].region.y == view.content_region.y


async def test_a_reply_streaming_while_scrolled_far_up_keeps_streaming_without_pulling() -> None:
    app = Host()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.view
        await view.load(make(400))
        await window_settled(pilot)
        reply = view.begin_reply(ChatMessage(role="assistant", status="streaming"))
        reply.append_text(None, "first words\n\n")
        await until(pilot, lambda: reply.flush_count > 0)
        await view.scroll_to_start()
        await window_settled(pilot)
        assert not view.is_following and view.scroll_y == 0
        held = mounted_indices(view)
        assert held[0] == 0
        for k in range(50):
            reply.append_text(None, f"line {k}\n\n")
            if k % 10 == 0:
                await pilot.pause()
        await window_settled(pilot)
        assert view.scroll_y == 0 and mounted_indices(view) == held  # not pulled down
        assert reply.is_attached and not reply.display  # hidden, still fed
        text = "first words\n\n" + "".join(f"line {k}\n\n" for k in range(50))
        final = ChatMessage(
            id=reply.message.id, role="assistant", content=[{"type": "text", "text": text}]
        )
        await reply.finish(final)
        await view.scroll_to_end()
        await settled(pilot)
        shown = view.widget_for(final.id)
        assert isinstance(shown, ReplyWidget) and shown.display
        assert view.is_following and view.scroll_y == view.max_scroll_y
        assert "line 49" in "\n".join(shown.query_one("StreamingMarkdown").rendered_lines(80))


async def test_loading_at_a_message_far_up_puts_it_at_the_top() -> None:
    app = Host()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.view
        messages = make(1000)
        await view.load(messages)
        await settled(pilot)
        for index in (300, 5, 990, 0):
            await view.load(messages, at=messages[index].id)  # a search hit
            await settled(pilot)
            assert not view.is_following or index == 990
            widget = view.widget_for(messages[index].id)
            assert widget is not None
            if index < 990:  # near the end the view cannot scroll the message to the top
                assert widget.region.y == view.content_region.y
            assert view.region.contains_region(widget.region) or widget.region.height > 30
            assert_window_sound(view)


# ---- in the whole app ----------------------------------------------------------------------------


def stored_conversation(n: int, needle_at: int | None = None) -> Conversation:
    from megachat.chat.store import Store
    from megachat.config import db_path

    conv = Conversation(model="claude-sonnet-4", title="long one")
    for i in range(n):
        text = text_of(i) + (" needle" if i == needle_at else "")
        role = "user" if i % 2 == 0 else "assistant"
        conv.messages.append(ChatMessage(role=role, content=[{"type": "text", "text": text}]))
    store = Store(db_path())
    try:
        store.create(conv)
    finally:
        store.close()
    return conv


async def test_scroll_top_and_bottom_keys_work_from_the_prompt(make_app: Any) -> None:
    conv = stored_conversation(1000)
    app = make_app(conversation_id=conv.id)
    async with app.run_test(size=(100, 30)) as pilot:
        main = await ready(pilot)
        view = main.view
        assert app.focused is main.query_one("#prompt")
        assert mounted_indices(view)[-1] == 999
        await pilot.press("ctrl+home")
        await settled(pilot)
        assert mounted_indices(view)[0] == 0 and view.scroll_y == 0
        assert view._window()[0].region.y == view.content_region.y
        assert app.focused is main.query_one("#prompt")
        await pilot.press("ctrl+end")
        await settled(pilot)
        await until(pilot, lambda: view.scroll_y >= view.max_scroll_y)
        assert mounted_indices(view)[-1] == 999 and view.is_following


async def test_a_search_hit_opens_at_the_hit(make_app: Any) -> None:
    from textual.widgets import Input

    conv = stored_conversation(600, needle_at=151)
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        main = await ready(pilot)
        await pilot.press("ctrl+l")
        await until(pilot, lambda: app.screen is not main)
        await pilot.press("ctrl+f")
        app.screen.query_one("#conversations-search", Input).value = "needle"
        await until(pilot, lambda: bool(getattr(app.screen, "hit_messages", None)))
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is main)
        await settled(pilot)
        hit = conv.messages[151]
        view = main.view
        widget = view.widget_for(hit.id)
        assert widget is not None
        assert widget.region.y == view.content_region.y  # the hit at the top of the view
        assert mounted_indices(view)[0] > 100  # not everything above it mounted
