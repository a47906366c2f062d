"""The conversation pane: a scroll container that mounts only the messages near the bottom.

Layout in Textual walks every mounted widget on each refresh, so a 1,000-message conversation
with every message mounted makes each streamed update slow (reference/textual.md). `load()`
mounts the last `page_size` messages; older ones are paged in, a page at a time, when the user
scrolls to the top, keeping what they were looking at in place. While a reply streams the view
follows the bottom (`Widget.anchor`) until the user scrolls up, and again once they scroll back
down to the end.

Branches: the view shows one path of the conversation tree (`show_path`), and each message's
header says which version of its turn it is (`branches`, set by the screen). A reply still
streaming into a branch that goes off screen is kept, hidden, and shown again (still streaming
or finished) when its branch comes back on screen, so its text is never re-read or lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from megachat.chat.conversation import unanswered_turn
from megachat.tui.widgets.message import Branch, MessageWidget, ReplyWidget

if TYPE_CHECKING:
    from textual.await_remove import AwaitRemove
    from textual.widget import AwaitMount

    from megachat.chat.conversation import ChatMessage

__all__ = ["ConversationView"]

PAGE_SIZE = 30
# A path switch mounts the messages new to the screen in place; more than this many: reloaded.
MAX_SWITCH_MOUNT = 3 * PAGE_SIZE


class ConversationView(VerticalScroll, can_focus=False):
    """Messages of one conversation, newest at the bottom; see the module docstring."""

    DEFAULT_CSS = (Path(__file__).with_name("conversation_view.tcss")).read_text(encoding="utf-8")

    def __init__(
        self,
        *,
        page_size: int = PAGE_SIZE,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.page_size = max(1, page_size)
        self._messages: list[ChatMessage] = []
        self._first_mounted = 0  # index in _messages of the oldest mounted message
        self._paging = False
        self._marker = Static("", classes="older-marker", markup=False)
        self._marker.display = False
        # Which version of its turn a message is (the screen's conversation tree); None: no labels.
        self.branches: Callable[[ChatMessage], Branch | None] | None = None
        # The reply streaming (or last streamed) here; hidden while its branch is off screen.
        self._live: ReplyWidget | None = None

    def compose(self):
        yield self._marker

    # ---- state ----------------------------------------------------------------------------------

    @property
    def messages(self) -> list[ChatMessage]:
        """Every message of the conversation shown (mounted or not)."""
        return list(self._messages)

    @property
    def unmounted_count(self) -> int:
        """How many older messages are not mounted yet."""
        return self._first_mounted

    @property
    def is_following(self) -> bool:
        """True while the view sticks to the bottom (anchored and not scrolled up by the user)."""
        return self._anchored and not self._anchor_released

    def message_widgets(self) -> list[MessageWidget]:
        """The mounted message widgets of the path shown, oldest first."""
        return [
            child
            for child in self.children
            if isinstance(child, MessageWidget) and not self._is_parked(child)
        ]

    def widget_for(self, message_id: str) -> MessageWidget | None:
        """The mounted widget showing that message, if it is on screen."""
        return next((w for w in self.message_widgets() if w.message.id == message_id), None)

    @property
    def live_reply(self) -> ReplyWidget | None:
        """The reply widget still streaming, on screen or hidden (its branch off screen)."""
        live = self._live
        return live if live is not None and not live.is_finished else None

    def _is_parked(self, widget: MessageWidget) -> bool:
        """The live reply hidden while its branch is off screen (see `_park_live`)."""
        return widget is self._live and not widget.display

    def _make(self, message: ChatMessage) -> MessageWidget:
        return MessageWidget(message, branch=self._branch(message))

    def _branch(self, message: ChatMessage) -> Branch | None:
        return self.branches(message) if self.branches is not None else None

    def refresh_branches(self) -> None:
        """Update every shown header's `‹ n/m ›` (a version was added or deleted)."""
        for widget in self.message_widgets():
            widget.set_branch(self._branch(widget.message))

    # ---- loading --------------------------------------------------------------------------------

    async def load(self, messages: Iterable[ChatMessage]) -> None:
        """Show a conversation: mount the newest `page_size` messages and follow the bottom."""
        self._paging = True  # no paging while the old messages go and the new ones come
        try:
            self._settle_live()
            self._messages = list(messages)
            self._first_mounted = 0
            await self.remove_children(
                [w for w in self.children if isinstance(w, MessageWidget) and w is not self._live]
            )
            self._first_mounted = max(0, len(self._messages) - self.page_size)
            shown = self._messages[self._first_mounted :]
            await self._park_live(shown)
            widgets = [self._make(m) for m in shown if not self._is_live(m)]
            self._update_marker()
            if widgets:
                await self.mount_all(widgets, after=self._marker)
            self._unpark_live(shown, widgets[-1] if widgets else self._marker)
            self.mark_unanswered(unanswered_turn(self._messages))
            self.anchor()
        finally:
            self._paging = False
        self.call_after_refresh(self._fill_viewport)

    async def show_path(self, messages: Iterable[ChatMessage]) -> None:
        """Show another path of the tree (a branch switch, a deleted branch): the messages it
        shares with the path on screen stay as they are (scroll position and focus too), the
        rest is replaced. The reply streaming, if any, is hidden while off the path."""
        self._settle_live()
        new = list(messages)
        old = self._messages
        keep = 0
        for shown, wanted in zip(old, new, strict=False):
            if shown.id != wanted.id:
                break
            keep += 1
        if keep < self._first_mounted or len(new) - keep > MAX_SWITCH_MOUNT:
            await self.load(new)
            return
        self._paging = True
        try:
            mounted = self.message_widgets()
            kept, dropped = (
                mounted[: keep - self._first_mounted],
                mounted[keep - self._first_mounted :],
            )
            self._messages = new
            tail = new[keep:]
            await self._park_live(new)
            await self.remove_children([w for w in dropped if w is not self._live])
            widgets = [self._make(m) for m in tail if not self._is_live(m)]
            after: MessageWidget | Static = kept[-1] if kept else self._marker
            if widgets:
                await self.mount_all(widgets, after=after)
            self._unpark_live(tail, widgets[-1] if widgets else after)
            self.refresh_branches()
            # Only added at the end (a turn just sent): it waits for its reply, not unanswered.
            appended = keep == len(old)
            self.mark_unanswered(None if appended else unanswered_turn(self._messages))
        finally:
            self._paging = False
        self.call_after_refresh(self._fill_viewport)

    def _settle_live(self) -> None:
        """A finished reply on screen is an ordinary message from now on."""
        live = self._live
        if live is not None and live.is_finished and not self._is_parked(live):
            self._live = None

    def _is_live(self, message: ChatMessage) -> bool:
        return self._live is not None and self._live.message.id == message.id

    async def _park_live(self, shown: list[ChatMessage]) -> None:
        """The live reply leaves the screen: hidden while it streams, dropped once finished."""
        live = self._live
        if live is None or any(m.id == live.message.id for m in shown):
            return
        if live.is_finished:
            self._live = None
            if live.is_attached:
                await live.remove()
        else:
            live.display = False

    def _unpark_live(self, shown: list[ChatMessage], after: MessageWidget | Static) -> None:
        """The live reply's branch is on screen again: show it where its message is (the end)."""
        live = self._live
        if live is None or not any(m.id == live.message.id for m in shown):
            return
        live.display = True
        if live.parent is self and after is not live:
            self.move_child(live, after=after)
        live.set_branch(self._branch(live.message))

    def add_message(self, message: ChatMessage) -> AwaitMount:
        """Append a finished message (e.g. the user's turn) at the bottom."""
        self.mark_unanswered(None)
        self._messages.append(message)
        return self.mount(self._make(message))

    def begin_reply(self, message: ChatMessage) -> ReplyWidget:
        """Append a streaming reply and follow it; feed it with the returned widget's calls.

        The widget keeps receiving the stream while its branch is off screen (hidden)."""
        self.mark_unanswered(None)
        if self._live is not None and self._is_parked(self._live):
            self._live.remove()  # hidden and no longer fed: nothing to keep it for
        self._messages.append(message)
        reply = ReplyWidget(message, branch=self._branch(message))
        self._live = reply
        self.mount(reply)
        if not self.is_anchored:
            self.anchor()
        return reply

    def remove_message(self, message_id: str) -> AwaitRemove | None:
        """Forget a message (regenerate, edit-and-resend); removes its widget if mounted."""
        for i, message in enumerate(self._messages):
            if message.id == message_id:
                del self._messages[i]
                if i < self._first_mounted:
                    self._first_mounted -= 1
                    self._update_marker()
                    return None
                for widget in self.message_widgets():
                    if widget.message.id == message_id:
                        return widget.remove()
                return None
        return None

    def mark_unanswered(self, message: ChatMessage | None) -> None:
        """Mark the user turn no reply answers: done on load; a screen may call it when a turn
        fails before its reply began. A new message or reply drops the mark."""
        for widget in self.message_widgets():
            widget.set_unanswered(message is not None and widget.message is message)

    async def clear(self) -> None:
        """Show an empty conversation."""
        await self.load([])

    # ---- paging older messages in ----------------------------------------------------------------

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value <= 1 and self._first_mounted and not self._paging:
            self._paging = True
            self.call_later(self.load_older)

    def _fill_viewport(self) -> None:
        """Page in more while the mounted messages do not fill the view (no scrolling possible)."""
        if self._first_mounted and not self._paging and self.max_scroll_y <= 1:
            self._paging = True
            self.call_later(self.load_older)

    async def load_older(self) -> int:
        """Mount the previous page of messages above the oldest one; returns how many."""
        self._paging = True
        try:
            if not self._first_mounted:
                return 0
            start = max(0, self._first_mounted - self.page_size)
            widgets = [self._make(m) for m in self._messages[start : self._first_mounted]]
            old_height = self.virtual_size.height
            old_y = self.scroll_y
            following = self.is_following
            self._first_mounted = start
            self._update_marker()
            await self.mount_all(widgets, after=self._marker)
        except BaseException:
            self._paging = False
            raise
        self.call_after_refresh(self._restore_position, old_height, old_y, following)
        return len(widgets)

    def _restore_position(self, old_height: int, old_y: float, following: bool) -> None:
        """Keep the message the user was reading where it was after content grew above it."""
        try:
            if following:
                self.scroll_end(animate=False, immediate=True)
            else:
                grown = self.virtual_size.height - old_height
                self.scroll_to(y=old_y + grown, animate=False, immediate=True)
        finally:
            self._paging = False
        self._fill_viewport()

    def _update_marker(self) -> None:
        count = self._first_mounted
        self._marker.display = bool(count)
        if count:
            noun = "message" if count == 1 else "messages"
            self._marker.update(Content(f"↑ {count} earlier {noun} (scroll up to load)"))
