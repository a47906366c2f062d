"""The conversation pane: a scroll container that mounts only the messages near the bottom.

Layout in Textual walks every mounted widget on each refresh, so a 1,000-message conversation
with every message mounted makes each streamed update slow (reference/textual.md). `load()`
mounts the last `page_size` messages; older ones are paged in, a page at a time, when the user
scrolls to the top, keeping what they were looking at in place. While a reply streams the view
follows the bottom (`Widget.anchor`) until the user scrolls up, and again once they scroll back
down to the end.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from megachat.tui.widgets.message import MessageWidget, ReplyWidget

if TYPE_CHECKING:
    from textual.await_remove import AwaitRemove
    from textual.widget import AwaitMount

    from megachat.chat.conversation import ChatMessage

__all__ = ["ConversationView"]

PAGE_SIZE = 30


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
        """The mounted message widgets, oldest first."""
        return [child for child in self.children if isinstance(child, MessageWidget)]

    # ---- loading --------------------------------------------------------------------------------

    async def load(self, messages: Iterable[ChatMessage]) -> None:
        """Show a conversation: mount the newest `page_size` messages and follow the bottom."""
        self._paging = True  # no paging while the old messages go and the new ones come
        try:
            self._messages = list(messages)
            self._first_mounted = 0
            await self.remove_children(MessageWidget)
            self._first_mounted = max(0, len(self._messages) - self.page_size)
            widgets = [MessageWidget(m) for m in self._messages[self._first_mounted :]]
            self._update_marker()
            if widgets:
                await self.mount_all(widgets)
            self.anchor()
        finally:
            self._paging = False
        self.call_after_refresh(self._fill_viewport)

    def add_message(self, message: ChatMessage) -> AwaitMount:
        """Append a finished message (e.g. the user's turn) at the bottom."""
        self._messages.append(message)
        return self.mount(MessageWidget(message))

    def begin_reply(self, message: ChatMessage) -> ReplyWidget:
        """Append a streaming reply and follow it; feed it with the returned widget's calls."""
        self._messages.append(message)
        reply = ReplyWidget(message)
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
            widgets = [MessageWidget(m) for m in self._messages[start : self._first_mounted]]
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
