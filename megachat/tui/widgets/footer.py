"""Textual's Footer, with its keys in the first frame and rebuilt only when they change.

Textual's Footer composes nothing until the screen first reports its bindings (after the first
frame), then rebuilds itself on every bindings signal, even when the keys shown are the same. At
start-up that was a frame of its own ~0.1-0.2 s after the rest of the screen (the screen moved
when it came) and three identical rebuilds. Here the keys are composed with the screen, and a
signal that does not change what is shown rebuilds nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Footer

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.screen import Screen

__all__ = ["SteadyFooter"]


class SteadyFooter(Footer):
    """The screen's keys, as Textual's Footer shows them; see the module docstring."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._shown: tuple | None = None

    def _keys(self) -> tuple:
        """What the footer shows: the shown bindings, whether enabled, and their tooltips."""
        return tuple(
            (binding.key, binding.action, binding.description, enabled, tooltip)
            for (_, binding, enabled, tooltip) in self.screen.active_bindings.values()
            if binding.show
        )

    def compose(self) -> ComposeResult:
        self._bindings_ready = True  # the screen's bindings are known once it composes
        self._shown = self._keys()
        yield from super().compose()

    def bindings_changed(self, screen: Screen) -> None:
        """Rebuild at once (not after the next frame, as Footer does) and only on a change: the
        focus set while the screen mounts shows its keys in the first frame."""
        self._bindings_ready = True
        if not (self.is_attached and screen is self.screen and screen.app.app_focus):
            return
        keys = self._keys()
        if keys != self._shown:
            self._shown = keys
            self.call_next(self.recompose)
