"""The main screen's jumps through the conversation (a mixin of MainScreen): to the first or the
last message from anywhere, the prompt focused included. The view mounts only what is near the
viewport, so a jump costs the same on 10 or 10,000 messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work

if TYPE_CHECKING:
    from megachat.tui.screens.main import MainScreen

    _Base = MainScreen
else:
    _Base = object


class ScrollActions(_Base):
    """`scroll_top` / `scroll_bottom`."""

    def action_scroll_top(self) -> None:
        """Show the first message of the conversation."""
        self._jump_worker(True)

    def action_scroll_bottom(self) -> None:
        """Show the last message and follow the bottom again."""
        self._jump_worker(False)

    @work(group="scroll-jump", exclusive=True, exit_on_error=False)
    async def _jump_worker(self, to_start: bool) -> None:
        view = self.view
        if view is None:
            return
        if to_start:
            await view.scroll_to_start()
        else:
            await view.scroll_to_end()
