"""The keys help (`?` / F1): a table of the bindings the app passes in, so it matches the keymap.

Rows come from the app's active bindings (descriptions may come from the user's config), so cells
are `rich.text.Text` after `clean`: never markup.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from megachat.sanitize import clean

__all__ = ["HelpScreen"]


def _cell(text: str) -> Text:
    return Text(" ".join(clean(text).split()))


class HelpScreen(ModalScreen[None]):
    """Shows (keys, description) rows; any of Esc, q, ?, F1 closes it."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > Vertical {
        width: 80;
        max-width: 95%;
        height: auto;
        max-height: 90%;
        border: round $primary;
        border-title-color: $primary;
        border-title-style: bold;
        background: $surface;
        padding: 0 1;
    }
    HelpScreen DataTable {
        height: auto;
        max-height: 30;
        background: $surface;
    }
    HelpScreen #help-footer {
        color: $text-muted;
        height: 1;
        margin-top: 1;
    }
    """

    BINDINGS = [
        Binding("escape", "close", "Close", id="help.close"),
        Binding("q", "close", "Close", show=False, id="help.close_q"),
        Binding("question_mark", "close", "Close", show=False, id="help.close_question"),
        Binding("f1", "close", "Close", show=False, id="help.close_f1"),
    ]

    def __init__(self, rows: Iterable[tuple[str, str]], *, title: str = "Keys") -> None:
        super().__init__()
        self.rows = [(str(keys), str(description)) for keys, description in rows]
        self.help_title = title

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = Content(" ".join(clean(self.help_title).split()))
            table: DataTable[Text] = DataTable(
                cursor_type="row", zebra_stripes=True, id="help-table"
            )
            table.add_column(Text("Key", style="bold"), key="keys")
            table.add_column(Text("Action", style="bold"), key="description")
            for keys, description in self.rows:
                table.add_row(_cell(keys), _cell(description))
            yield table
            yield Static(
                Content("Esc close · ctrl+p command palette (every action is there)"),
                id="help-footer",
            )

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()

    def action_close(self) -> None:
        self.dismiss(None)
