"""One line under the conversation saying what the app is waiting for.

"Waiting for the reply…", "rate limited (429), retrying in 3 s", "rate limiter: waiting 2 s".
It never shows a clock, so screenshots stay deterministic. Text may quote an API error message,
so it is sanitized and shown as `Content`.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from megachat.sanitize import clean


class StatusLine(Static):
    """A one-line status; empty means hidden."""

    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        padding: 0 1;
        color: $text-muted;
        display: none;
    }
    StatusLine.-visible {
        display: block;
    }
    StatusLine.-warning {
        color: $warning;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.text = ""

    def show(self, text: str, *, warning: bool = False) -> None:
        """Show `text` (untrusted text is fine) on the line."""
        self.text = " ".join(clean(text).split())
        self.update(Content(self.text))
        self.set_class(bool(self.text), "-visible")
        self.set_class(warning, "-warning")

    def clear(self) -> None:
        self.show("")
