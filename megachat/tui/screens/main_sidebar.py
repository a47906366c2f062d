"""The main screen's sidebar (a mixin of MainScreen): beside the chat on a wide screen, an overlay
on a narrow one.

Below `SIDEBAR_DOCKED_MIN_WIDTH` columns the screen has the class `-narrow` (Textual's
breakpoints, set in `compose` too, so the first frame has it) and main.tcss takes the sidebar out
of the layout; ctrl+b shows it as an overlay above the conversation, which keeps its full width
(`action_toggle_sidebar` says what happens on a resize).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events

from megachat.tui.widgets.prompt_input import PromptInput
from megachat.tui.widgets.sidebar import Sidebar

if TYPE_CHECKING:
    from textual.widget import Widget

    from megachat.tui.screens.main import MainScreen

    _Base = MainScreen
else:
    _Base = object

# The narrowest screen on which the sidebar (34 columns) sits beside the chat; below it the
# sidebar is an overlay that ctrl+b opens (main.tcss styles both by the screen's class).
SIDEBAR_DOCKED_MIN_WIDTH = 90


class SidebarActions(_Base):
    """ctrl+b, ctrl+s and the narrow layout."""

    _focus_before_sidebar: Widget | None = None

    def action_toggle_sidebar(self) -> None:
        """ctrl+b. On a wide screen the sidebar shows or hides beside the chat, and that choice
        is kept across resizes (hidden stays hidden after a trip to a narrow width). On a narrow
        one it opens as an overlay with the focus in it, and closes again (so does Esc); the
        focus goes back to where it was. The overlay belongs to the narrow layout: widening past
        the line closes it, and narrowing with the focus in the sidebar opens it (see
        `on_resize`)."""
        sidebar = self.query_one(Sidebar)
        if self._is_narrow():
            if sidebar.has_class("-overlay"):
                self._close_sidebar_overlay()
            else:
                self._open_sidebar()
                sidebar.focus_first_setting()
        elif sidebar.has_class("-hidden"):
            sidebar.remove_class("-hidden")
        else:
            self._give_focus_back()
            sidebar.add_class("-hidden")

    def action_focus_system(self) -> None:
        """ctrl+s: show the sidebar (an overlay on a narrow screen) with the cursor in the
        system prompt."""
        self._open_sidebar()
        self.query_one(Sidebar).focus_system()

    def on_resize(self, event: events.Resize) -> None:
        """Crossing the line keeps the sidebar where the user is: an open overlay closes on
        widening (the docked sidebar then shows unless the user hid it), and a docked sidebar
        with the focus in it becomes the overlay on narrowing (typing is never hidden)."""
        sidebar = self.query_one(Sidebar)
        if event.size.width >= SIDEBAR_DOCKED_MIN_WIDTH:
            if sidebar.has_class("-overlay"):
                sidebar.remove_class("-overlay")
                if sidebar.has_class("-hidden"):
                    self._give_focus_back()
        elif self._sidebar_has_focus():
            sidebar.add_class("-overlay")

    def _set_width_class(self) -> None:
        """`-narrow` or `-wide` now, as HORIZONTAL_BREAKPOINTS will set it: Textual does so at
        the screen's first Resize, which a real terminal delivers after the first frame (that
        frame would have the sidebar, then lose it: a jump)."""
        narrow = self._is_narrow()
        self.set_class(narrow, "-narrow")
        self.set_class(not narrow, "-wide")

    def _is_narrow(self) -> bool:
        return self.app.size.width < SIDEBAR_DOCKED_MIN_WIDTH

    def _open_sidebar(self) -> None:
        """Show the sidebar in this width's way, remembering where the focus was."""
        if not self._sidebar_has_focus():
            self._focus_before_sidebar = self.focused
        sidebar = self.query_one(Sidebar)
        if self._is_narrow():
            sidebar.add_class("-overlay")
        else:
            sidebar.remove_class("-hidden")

    def _close_sidebar_overlay(self) -> None:
        self._give_focus_back()
        self.query_one(Sidebar).remove_class("-overlay")

    def _sidebar_has_focus(self) -> bool:
        focused = self.focused
        return focused is not None and self.query_one(Sidebar) in focused.ancestors_with_self

    def _give_focus_back(self) -> None:
        """The sidebar is going out of sight: if the focus is in it, it goes back to where it
        was before the sidebar took it (the prompt when that is gone)."""
        if not self._sidebar_has_focus():
            return
        target, self._focus_before_sidebar = self._focus_before_sidebar, None
        if target is None or not target.is_attached or not target.focusable:
            target = self.query_one(PromptInput)
        target.focus()
