"""Textual's command palette, safe against Enter pressed twice in the same instant.

Picking a command with Enter can run the palette's select-or-run step twice (the list's
OptionSelected and the input's Submitted both reach it): the second dismisses a palette that is
already gone, popping the main screen, and the app died with ScreenStackError (found by the pty
clipboard test, which presses Enter again on each silence). The step is skipped once the palette
is no longer the current screen.
"""

from __future__ import annotations

from textual.command import CommandPalette
from textual.widgets import Button, Input


class SteadyCommandPalette(CommandPalette):
    """CommandPalette whose select-or-run step does nothing after the palette has closed."""

    _closed = False

    def _select_or_command(self, event: Input.Submitted | Button.Pressed | None = None) -> None:
        if self._closed or self.app.screen is not self:
            if event is not None:
                event.stop()
            return
        super()._select_or_command(event)
        if self.app.screen is not self:  # it ran the command and closed
            self._closed = True
