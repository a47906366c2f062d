"""The conversation pane: a virtual scroll container that mounts only the messages near the view.

Layout in Textual walks every mounted widget on each refresh, and a mounted message costs about
0.17 MB, so a long conversation cannot be mounted whole (reference/textual.md). The view mounts a
window of consecutive messages around the viewport between two blank spacers that stand for the
messages above and below it, at their heights (measured once shown, per width; estimated from the
text before: `message_heights`), so the scrollbar stays true. Scrolling anywhere (wheel, scrollbar
drag, PageUp held, a jump) mounts what comes near the viewport and unmounts what went far from it.

Nothing under the user's eyes moves while that happens: the view places the window itself
(`arrange`) so that one message, the anchor (the first one visible when the window last changed),
keeps its place; the top spacer takes up whatever the real heights of the messages mounted above
it differ from their estimates. Only at the very top, where the spacer must end at zero, is the
scroll position corrected, in the same frame.

While a reply streams the view follows the bottom (`Widget.anchor`) until the user scrolls up,
and again once they scroll back down to the end. A reply streaming while the window is far from
the end (or while its branch is off screen) is kept mounted but hidden after the bottom spacer,
so it keeps receiving its stream and shows, still streaming or finished, once it is in view again.

Branches: the view shows one path of the conversation tree (`show_path`): what the new path shares
with the one on screen stays in place; each message's header says which version of its turn it
is (`branches`, set by the screen).
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from textual.await_complete import AwaitComplete
from textual.containers import VerticalScroll
from textual.geometry import Region, Size
from textual.layout import DockArrangeResult, WidgetPlacement
from textual.widget import Widget

from megachat.chat.conversation import unanswered_turn
from megachat.tui.widgets.message import Branch, MessageWidget, ReplyWidget
from megachat.tui.widgets.message_heights import HeightCache
from megachat.tui.widgets.tool_blocks import tool_names

if TYPE_CHECKING:
    from textual.widget import AwaitMount

    from megachat.chat.conversation import ChatMessage

__all__ = ["ConversationView", "Spacer"]

PAGE_SIZE = 4  # the fewest messages kept mounted
MOUNT_STEP = 12  # messages mounted per step while scrolling (~3 ms each: a frame's budget)
NEAR = 1.0  # messages within this many viewport heights of the viewport are mounted
FAR = 3.0  # and those further than this unmounted


class Spacer(Widget):
    """Blank space standing for the messages not mounted; the view's `arrange` sizes it."""

    BLANK = True
    ALLOW_SELECT = False  # no text: a selection through it would copy its class name
    DEFAULT_CSS = "Spacer { height: 0; }"


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
        self._index: dict[str, int] = {}
        self._shown_as: WeakKeyDictionary[MessageWidget, str] = WeakKeyDictionary()
        self._heights: list[int] = []
        self._prefix: list[int] | None = None
        self._cache = HeightCache()
        self._width = 0  # the content width heights are for
        self._top_spacer = Spacer(classes="-top")
        self._bottom_spacer = Spacer(classes="-bottom")
        # Where the last arrange put things (virtual y of the content).
        self._top = 0
        self._window_end = 0
        self._total = 0
        self._first = 0
        self._last = 0
        self._placed: dict[str, tuple[int, int]] = {}  # message id -> (y, height)
        self._raw_arrangement: DockArrangeResult | None = None
        self._arrangement: DockArrangeResult | None = None
        # The message that keeps its place (id, y); and one the viewport keeps its offset to.
        self._anchor: tuple[str, int] | None = None
        self._hold: tuple[str, int] | None = None
        self._stale = False  # the window changed and was not arranged yet
        self._lock = asyncio.Lock()
        self._scheduled = False
        self._stepping = False
        self._unanswered_id: str | None = None
        # Which version of its turn a message is (the screen's conversation tree); None: no labels.
        self.branches: Callable[[ChatMessage], Branch | None] | None = None
        # The reply streaming (or last streamed) here; hidden while not in the window.
        self._live: ReplyWidget | None = None

    def compose(self):
        yield self._top_spacer
        yield self._bottom_spacer

    # ---- state ----------------------------------------------------------------------------------

    @property
    def messages(self) -> list[ChatMessage]:
        """Every message of the conversation shown (mounted or not)."""
        return list(self._messages)

    @property
    def unmounted_count(self) -> int:
        """How many messages of the path are not mounted (blank space of their height)."""
        return len(self._messages) - len(self._window())

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
        return next((w for w in self._window() if w.message.id == message_id), None)

    @property
    def live_reply(self) -> ReplyWidget | None:
        """The reply widget still streaming, on screen or hidden."""
        live = self._live
        return live if live is not None and not live.is_finished else None

    def _window(self) -> list[MessageWidget]:
        """The mounted messages shown, between the spacers, in order."""
        window: list[MessageWidget] = []
        inside = False
        for child in self.children:
            if child is self._top_spacer:
                inside = True
            elif child is self._bottom_spacer:
                break
            elif inside and isinstance(child, MessageWidget) and child.display:
                window.append(child)
        return window

    def _is_parked(self, widget: MessageWidget) -> bool:
        """The live reply hidden while out of the window or off the path shown."""
        return widget is self._live and not widget.display

    def _make(self, message: ChatMessage) -> MessageWidget:
        index = self._index.get(message.id)
        names = self._tool_names_for(index) if index is not None else {}
        widget = MessageWidget(message, branch=self._branch(message), tool_names=names)
        self._shown_as[widget] = message.id
        return widget

    def _index_of(self, widget: MessageWidget) -> int | None:
        """Where the message a widget shows is on the path. A reply may finish as another
        message object (same turn): the path takes the one shown."""
        index = self._index.get(widget.message.id)
        if index is None:
            index = self._index.get(self._shown_as.get(widget, ""))
            if index is not None:
                self._messages[index] = widget.message
                self._index[widget.message.id] = index
        return index

    def _tool_names_for(self, index: int) -> dict[str, str]:
        """For a tool-results message on the path: tool use id -> tool name, from the calls of
        the message before it (a result block does not name its tool); else empty."""
        if index < 1 or not self._messages[index].is_tool_results():
            return {}
        previous = self._messages[index - 1]
        live = self._live
        if live is not None and self._shown_as.get(live) == previous.id:
            previous = live.message  # the reply may have finished as another object
        return tool_names(previous)

    def _branch(self, message: ChatMessage) -> Branch | None:
        return self.branches(message) if self.branches is not None else None

    def refresh_branches(self) -> None:
        """Update every shown header's `‹ n/m ›` (a version was added or deleted)."""
        for widget in self.message_widgets():
            widget.set_branch(self._branch(widget.message))

    # ---- heights --------------------------------------------------------------------------------

    def _content_width(self) -> int:
        width = self._width or self.scrollable_content_region.width
        return width if width > 0 else max(20, self.app.size.width - 6)

    def _set_messages(self, messages: list[ChatMessage], keep: int = 0) -> None:
        """The path shown becomes `messages`; the first `keep` heights are still right."""
        width = self._content_width()
        self._messages = messages
        self._index = {m.id: i for i, m in enumerate(messages)}
        self._heights = self._heights[:keep] + [
            self._cache.height(m, width) for m in messages[keep:]
        ]
        self._prefix = None

    def _sums(self) -> list[int]:
        """Prefix sums of the heights: `sums[i]` is the height of the messages before i."""
        if self._prefix is None:
            self._prefix = list(accumulate(self._heights, initial=0))
        return self._prefix

    def _measured(self, index: int, height: int) -> None:
        if self._heights[index] != height:
            self._heights[index] = height
            self._prefix = None
        self._cache.put(self._messages[index].id, self._width, height)

    def _rewidth(self, width: int) -> None:
        """The view's width changed: heights are those known at the new width, or estimates."""
        self._width = width
        self._heights = [self._cache.height(m, width) for m in self._messages]
        self._prefix = None
        sums = self._sums()
        if self._anchor is not None and self._anchor[0] in self._index:
            message_id, y = self._anchor
            if self._hold is None:
                self._hold = (message_id, round(self.scroll_y) - y)
            self._anchor = (message_id, sums[self._index[message_id]])

    def _y_of(self, index: int) -> int:
        """The virtual y of a message's top: exact when mounted, else from the heights (the
        messages above the window share the top spacer in proportion to their heights)."""
        sums = self._sums()
        if self._first <= index < self._last:
            placed = self._placed.get(self._messages[index].id)
            if placed is not None:
                return placed[0]
        if index < self._first:
            above = sums[self._first]
            return self._top * sums[index] // above if above else 0
        return self._window_end + sums[index] - sums[self._last]

    def _index_at(self, y: float) -> int:
        """The message at virtual y (the inverse of `_y_of`)."""
        n = len(self._messages)
        if not n:
            return 0
        sums = self._sums()
        first, last = self._first, self._last
        if y < self._top and first > 0:
            target = y * sums[first] / self._top if self._top else 0
            return min(first - 1, max(0, bisect_right(sums, target, 0, first + 1) - 1))
        if y >= self._window_end or first >= last:
            target = sums[last] + (y - self._window_end)
            return min(n - 1, max(min(last, n - 1), bisect_right(sums, target) - 1))
        for index in range(first, last):
            top, height = self._placed.get(self._messages[index].id, (0, 0))
            if y < top + height:
                return index
        return max(0, last - 1)

    # ---- placing the window ---------------------------------------------------------------------

    def arrange(self, size: Size, optimal: bool = False) -> DockArrangeResult:
        """Textual's vertical arrangement, with the spacers sized and the window placed so the
        anchor keeps its place (see the module docstring)."""
        result = super().arrange(size, optimal)
        if result is not self._raw_arrangement or self._arrangement is None:
            self._raw_arrangement = result
            self._arrangement = self._place_window(result, size)
        return self._arrangement

    def _place_window(self, result: DockArrangeResult, size: Size) -> DockArrangeResult:
        if size.width > 0 and size.width != self._width:
            self._rewidth(size.width)
        placements = result.placements
        top_at = bottom_at = -1
        members: list[tuple[int, int]] = []  # (position in placements, message index)
        for position, placement in enumerate(placements):
            widget = placement.widget
            if widget is self._top_spacer:
                top_at = position
            elif widget is self._bottom_spacer:
                bottom_at = position
            elif top_at >= 0 > bottom_at and isinstance(widget, MessageWidget):
                index = self._index_of(widget)
                if index is not None:
                    members.append((position, index))
        if top_at < 0 or bottom_at < 0:
            return result
        self._stale = False
        base = placements[top_at].region.bottom
        offsets: dict[int, tuple[int, int]] = {}  # message index -> (y in the window, height)
        for position, index in members:
            placement = placements[position]
            margin = placement.margin
            height = placement.region.height + margin.top + margin.bottom
            offsets[index] = (placement.region.y - base, height)
            self._measured(index, height)
        sums = self._sums()
        n = len(self._messages)
        if members:
            first, last = members[0][1], members[-1][1] + 1
            anchor = self._anchor
            index = self._index.get(anchor[0], -1) if anchor is not None else -1
            if anchor is not None and index in offsets:
                top = anchor[1] - offsets[index][0]
            else:
                index, top = first, self._top
            if top < 0 or (first == 0 and top):
                # The window cannot start there: the content moves, the viewport with it.
                if self._hold is None:
                    wanted = top + offsets[index][0]
                    self._hold = (self._messages[index].id, round(self.scroll_y) - wanted)
                top = 0
            self._anchor = (self._messages[index].id, top + offsets[index][0])
            last_y, last_height = offsets[last - 1]
            window_end = top + last_y + last_height
        else:
            first = last = n
            top = window_end = sums[n]
        bottom = sums[n] - sums[last]
        self._top, self._window_end, self._first, self._last = top, window_end, first, last
        self._total = window_end + bottom
        self._placed = {self._messages[i].id: (top + y, h) for i, (y, h) in offsets.items()}
        shift = top - placements[top_at].region.height
        bottom_shift = shift + bottom - placements[bottom_at].region.height
        placed: list[WidgetPlacement] = []
        for position, placement in enumerate(placements):
            region = placement.region
            if position == top_at:
                region = Region(region.x, region.y, region.width, top)
            elif position == bottom_at:
                region = Region(region.x, region.y + shift, region.width, bottom)
            elif position > top_at:
                move = shift if position < bottom_at else bottom_shift
                region = Region(region.x, region.y + move, region.width, region.height)
            placed.append(placement._replace(region=region))
        self._apply_hold(size, window_end + bottom)
        self._schedule()
        return DockArrangeResult(placed, result.widgets, result.scroll_spacing)

    def _apply_hold(self, size: Size, total: int) -> None:
        """Scroll (in this frame) so the held message sits where the viewport had it."""
        hold, self._hold = self._hold, None
        if hold is None or self.is_following:
            return
        placed = self._placed.get(hold[0])
        if placed is None:
            return
        y = max(0, min(placed[0] + hold[1], total - size.height))
        if y != round(self.scroll_y):
            self.set_reactive(Widget.scroll_y, y)
            self.set_reactive(Widget.scroll_target_y, y)
            self.vertical_scrollbar.position = y

    # ---- moving the window ----------------------------------------------------------------------

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._schedule()

    def _schedule(self) -> None:
        """Look, after this frame, whether the window must move."""
        if not self._scheduled and self.is_attached:
            self._scheduled = True
            self.call_after_refresh(self._kick)

    def _kick(self) -> None:
        self._scheduled = False
        if self._stepping or self._stale or not self._messages:
            return  # the step, or the next arrange, looks again
        self._stepping = True
        self.run_worker(self._step(), group="virtual-window", exit_on_error=True)

    async def _step(self) -> None:
        """One move of the window toward what the viewport needs."""
        moved = False
        try:
            async with self._lock:
                if not self._stale:
                    moved = await self._move_window()
        finally:
            self._stepping = False
        if moved:  # a window that did not move needs no look until the next scroll or arrange
            self._schedule()

    def _viewport(self) -> tuple[int, int]:
        """The virtual lines shown, clipped to the path's (not what a caller mounted after)."""
        span = max(1, self.scrollable_content_region.height)
        top = max(0, min(round(self.scroll_y), self._total - span))
        return top, top + span

    async def _move_window(self) -> bool:
        """Mount what came near the viewport, unmount what went far; True when it changed."""
        n = len(self._messages)
        window = self._window()
        y0, y1 = self._viewport()
        span = y1 - y0
        if not window or self._window_end <= y0 or self._top >= y1:
            index = self._index_at(y0)
            await self._jump(index, self._y_of(index))
            return True
        placed = [self._placed.get(w.message.id) for w in window]
        if None in placed:
            return False  # not arranged yet: the arrange looks again
        near_top, near_bottom = y0 - NEAR * span, y1 + NEAR * span
        far_top, far_bottom = y0 - FAR * span, y1 + FAR * span
        visible = next(
            (i for i, p in enumerate(placed) if p is not None and p[0] + p[1] > y0),
            len(window) - 1,
        )
        drop_above = 0
        while drop_above < visible and _end(placed[drop_above]) <= far_top:
            drop_above += 1
        drop_below = 0
        last = len(window) - 1
        while last - drop_below > visible and _start(placed[last - drop_below]) >= far_bottom:
            drop_below += 1
        spare = max(0, len(window) - self.page_size)
        drop_above = min(drop_above, spare)
        drop_below = min(drop_below, spare - drop_above)
        above: list[int] = []
        room = self._top - near_top
        index = self._first - 1
        while index >= 0 and room > 0 and len(above) < MOUNT_STEP:
            above.append(index)
            room -= self._heights[index]
            index -= 1
        below: list[int] = []
        room = near_bottom - self._window_end
        index = self._last
        while index < n and room > 0 and len(below) < MOUNT_STEP:
            below.append(index)
            room -= self._heights[index]
            index += 1
        if not (drop_above or drop_below or above or below):
            return False
        anchor = window[visible]
        self._anchor = (anchor.message.id, _start(placed[visible]))
        drop = window[:drop_above] + (window[len(window) - drop_below :] if drop_below else [])
        await self._change(drop, above[::-1], below, window[: len(window) - drop_below])
        return True

    async def _jump(self, index: int, y: int, *, hold: int | None = None) -> None:
        """Replace the window by the messages around `index`, which is put at virtual y (and the
        viewport `hold` lines below its top, if given)."""
        n = len(self._messages)
        if not n:
            return
        index = max(0, min(index, n - 1))
        span = max(1, self.scrollable_content_region.height)
        lo, room = index, NEAR * span
        while lo > 0 and room > 0 and index - lo < MOUNT_STEP:
            lo -= 1
            room -= self._heights[lo]
        hi, room = index, (1 + NEAR) * span
        while hi < n and (room > 0 or hi - lo < self.page_size) and hi - index < 3 * MOUNT_STEP:
            room -= self._heights[hi]
            hi += 1
        self._anchor = (self._messages[index].id, y)
        if hold is not None:
            self._hold = (self._messages[index].id, hold)
        window = self._window()
        await self._change(window, list(range(lo, hi)), [], [])

    async def _change(
        self,
        drop: Sequence[MessageWidget],
        above: Sequence[int],
        below: Sequence[int],
        kept: Sequence[MessageWidget],
    ) -> None:
        """Unmount `drop`, mount `above` before the window and `below` after what is `kept`
        (indices into the path), all in one frame."""
        with self.app.batch_update():
            self._stale = True
            gone = [w for w in drop if w is not self._live]
            if self._live is not None and self._live in drop:
                self._park(self._live)
            if gone:
                await self.remove_children(gone)
            kept = [w for w in kept if w not in drop]
            if above:
                await self._mount_run(above, after=self._top_spacer)
            if below:
                after = kept[-1] if kept else self._top_spacer
                await self._mount_run(below, after=after)

    async def _mount_run(self, indices: Sequence[int], *, after: Widget) -> None:
        """Mount the messages at `indices` (consecutive) after `after`; the live reply moves."""
        widgets: list[MessageWidget] = []
        live = self._live
        live_at = -1
        for position, index in enumerate(indices):
            message = self._messages[index]
            if live is not None and live.message.id == message.id:
                live_at = position
                widgets.append(live)
            else:
                widgets.append(self._make(message))
        fresh = [w for w in widgets if w is not live]
        if live_at < 0:
            await self.mount_all(fresh, after=after)
        else:
            assert live is not None
            before_live, after_live = fresh[:live_at], fresh[live_at:]
            if live.parent is not self:
                return  # removed meanwhile: nothing streams into it any more
            self.move_child(live, after=after)
            live.display = True
            live.set_branch(self._branch(live.message))
            if before_live:
                await self.mount_all(before_live, before=live)
            if after_live:
                await self.mount_all(after_live, after=live)
        for widget in fresh:
            if widget.message.id == self._unanswered_id:
                widget.set_unanswered(True)

    def _park(self, live: ReplyWidget) -> None:
        """The live reply leaves the window: hidden after the bottom spacer, still fed."""
        live.display = False
        if live.parent is self:
            self.move_child(live, after=self._bottom_spacer)

    # ---- loading --------------------------------------------------------------------------------

    async def load(self, messages: Iterable[ChatMessage], *, at: str | None = None) -> None:
        """Show a conversation: mount the newest messages and follow the bottom; or, with `at`
        (a search hit's message id on this path), mount what is around that message and show
        it at the top (the end is never drawn on the way)."""
        async with self._lock:
            await self._load(list(messages), at)

    async def _load(self, messages: list[ChatMessage], at: str | None = None) -> None:
        self._settle_live()
        await self._drop_live_unless_in(messages)
        self._set_messages(messages)
        self._unanswered_id = None
        n = len(messages)
        self._first = self._last = n
        self._top = self._window_end = self._sums()[n]
        self._hold = None
        index = self._index.get(at) if at is not None else None
        if index is not None:
            if self._anchored:
                self.release_anchor()
            await self._jump(index, self._sums()[index], hold=0)
            self.mark_unanswered(unanswered_turn(self._messages))
            return
        start = self._tail_start()
        self._anchor = (messages[start].id, self._sums()[start]) if n else None
        await self._change(self._window(), list(range(start, n)), [], [])
        self.mark_unanswered(unanswered_turn(self._messages))
        self.anchor()

    def _tail_start(self) -> int:
        """The first of the last messages that fill the viewport and what is near it."""
        n = len(self._messages)
        span = max(1, self.scrollable_content_region.height or self.app.size.height)
        start, room = n, (1 + NEAR) * span
        while start > 0 and (room > 0 or n - start < self.page_size):
            start -= 1
            room -= self._heights[start]
        return start

    async def show_path(self, messages: Iterable[ChatMessage]) -> None:
        """Show another path of the tree (a branch switch, a deleted branch): the messages it
        shares with the path on screen stay as they are (scroll position and focus too), the
        rest is replaced. The reply streaming, if any, is hidden while off the path."""
        async with self._lock:
            self._settle_live()
            new = list(messages)
            old = self._messages
            keep = 0
            for shown, wanted in zip(old, new, strict=False):
                if shown.id != wanted.id:
                    break
                keep += 1
            window = self._window()
            first = self._index_of(window[0]) if window else None
            first = len(old) if first is None else first
            if keep < first:
                await self._load(new)
                return
            kept = [w for w in window if (self._index_of(w) or 0) < keep]
            dropped = [w for w in window if w not in kept]
            y0, y1 = self._viewport()
            visible = next((w for w in kept if _end(self._placed.get(w.message.id)) > y0), None)
            holder = visible or (kept[-1] if kept else None)
            if holder is not None and holder.message.id in self._placed:
                self._anchor = (holder.message.id, self._placed[holder.message.id][0])
                end = _end(self._placed.get(kept[-1].message.id))
            else:
                self._anchor = (new[keep].id, self._top) if keep < len(new) else None
                end = self._top
            await self._drop_live_unless_in(new)
            self._set_messages(new, keep)
            below: list[int] = []
            if len(kept) == len(window) and window and first + len(window) < keep:
                pass  # the window ends above the change: nothing of it is near
            else:
                room = y1 + NEAR * (y1 - y0) - end
                index = keep
                while index < len(new) and room > 0 and len(below) < 3 * MOUNT_STEP:
                    below.append(index)
                    room -= self._heights[index]
                    index += 1
            await self._change(dropped, [], below, kept)
            self.refresh_branches()
            # Only added at the end (a turn just sent): it waits for its reply, not unanswered.
            appended = keep == len(old)
            self.mark_unanswered(None if appended else unanswered_turn(self._messages))

    def _settle_live(self) -> None:
        """A finished reply on screen is an ordinary message from now on."""
        live = self._live
        if live is not None and live.is_finished and not self._is_parked(live):
            self._live = None

    async def _drop_live_unless_in(self, messages: list[ChatMessage]) -> None:
        """The live reply is off the path: hidden while it streams, dropped once finished."""
        live = self._live
        if live is None or any(m.id == live.message.id for m in messages):
            return
        if live.is_finished:
            self._live = None
            if live.is_attached:
                await live.remove()
        else:
            self._park(live)

    def _reaches_end(self) -> bool:
        """The window holds the last message (or there is none): new ones are mounted."""
        window = self._window()
        if not window:
            return not self._messages
        return self._index_of(window[-1]) == len(self._messages) - 1

    def _append(self, message: ChatMessage) -> bool:
        """Add a message at the end of the path; True when it is to be mounted (in view)."""
        mounted = self._reaches_end()
        self._messages.append(message)
        self._index[message.id] = len(self._messages) - 1
        self._heights.append(self._cache.height(message, self._content_width()))
        self._prefix = None
        return mounted

    def add_message(self, message: ChatMessage) -> AwaitMount | AwaitComplete:
        """Append a finished message (e.g. the user's turn) at the bottom."""
        self.mark_unanswered(None)
        if self._append(message):
            return self.mount(self._make(message), before=self._bottom_spacer)
        return AwaitComplete(asyncio.sleep(0))

    def begin_reply(self, message: ChatMessage) -> ReplyWidget:
        """Append a streaming reply and follow it; feed it with the returned widget's calls.

        The widget keeps receiving the stream while it is hidden (out of view, off the path)."""
        self.mark_unanswered(None)
        if self._live is not None and self._is_parked(self._live):
            self._live.remove()  # hidden and no longer fed: nothing to keep it for
        reply = ReplyWidget(message, branch=self._branch(message))
        self._shown_as[reply] = message.id
        self._live = reply
        if self._append(message):
            self.mount(reply, before=self._bottom_spacer)
        else:
            reply.display = False
            self.mount(reply, after=self._bottom_spacer)
        if not self.is_anchored:
            self.anchor()
        return reply

    def mark_unanswered(self, message: ChatMessage | None) -> None:
        """Mark the user turn no reply answers: done on load; a screen may call it when a turn
        fails before its reply began. A new message or reply drops the mark."""
        self._unanswered_id = message.id if message is not None else None
        for widget in self.message_widgets():
            widget.set_unanswered(message is not None and widget.message is message)

    # ---- jumps ----------------------------------------------------------------------------------

    async def scroll_to_start(self) -> None:
        """Show the first message at the top, wherever the view was."""
        async with self._lock:
            if self._anchored:
                self.release_anchor()
            await self._jump(0, 0, hold=0)
        self.scroll_home(animate=False, immediate=True)

    async def scroll_to_end(self) -> None:
        """Show the last message at the bottom and follow it again."""
        async with self._lock:
            n = len(self._messages)
            if n and not self._reaches_end():
                index = self._tail_start()
                await self._jump(index, self._y_of(index))
        self.anchor()


def _start(placed: tuple[int, int] | None) -> int:
    return placed[0] if placed is not None else 0


def _end(placed: tuple[int, int] | None) -> int:
    return placed[0] + placed[1] if placed is not None else 0
