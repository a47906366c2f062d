"""A tiny App that pushes one secondary screen and records what it dismissed with.

Used by tests/tui/test_screens_*.py: the screens are tested on their own, with megachat's real
themes registered, so they do not depend on the main screen being ready.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import Static

from megachat.tui.themes import DARK_THEME, load_themes

_NO_RESULT = object()


class ScreenHost(App[None]):
    """Pushes `make_screen()` on mount; `results` collects each dismissal's value."""

    def __init__(self, make_screen: Callable[[], Screen[Any]], *, theme: str = DARK_THEME) -> None:
        super().__init__()
        self.make_screen = make_screen
        self.theme_name = theme
        self.results: list[Any] = []
        self.pushed: Screen[Any] | None = None

    def compose(self) -> ComposeResult:
        yield Static("host")

    def on_mount(self) -> None:
        themes, warnings = load_themes(None)
        assert warnings == []
        for theme in themes:
            self.register_theme(theme)
        self.theme = self.theme_name
        self.pushed = self.make_screen()
        self.push_screen(self.pushed, self.results.append)

    @property
    def result(self) -> Any:
        return self.results[-1] if self.results else _NO_RESULT

    @property
    def dismissed(self) -> bool:
        return bool(self.results)


def screen_text(app: App[Any]) -> str:
    """The text currently drawn on the active screen (what a user would read)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def wait_until(pilot: Any, condition: Callable[[], bool], *, rounds: int = 200) -> None:
    """Process events until `condition()` holds (state-based; fails after `rounds` idle rounds)."""
    for _ in range(rounds):
        if condition():
            return
        await pilot.pause()
    raise AssertionError("condition not reached")
