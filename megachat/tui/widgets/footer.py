"""Textual's Footer, rebuilt only when the keys it shows change.

Textual's Footer rebuilds itself (a widget per key, each restyled as it mounts) on every bindings
signal, even when the keys shown are the same: three identical rebuilds at start-up. Its row is
in the first frame; the keys fill it right after, in place (composing them with the first frame
made the prompt usable ~0.1 s later).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Footer

if TYPE_CHECKING:
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

    def bindings_changed(self, screen: Screen) -> None:
        """Rebuild (after the next frame, as Footer does) only when the keys shown change."""
        self._bindings_ready = True
        if not (self.is_attached and screen is self.screen and screen.app.app_focus):
            return
        keys = self._keys()
        if keys != self._shown:
            self._shown = keys
            self.call_after_refresh(self.recompose)
