"""The sidebar's MCP servers: a switch per server for the open conversation, its state, its tools.

The screen owns the servers (it starts and stops them); this panel only shows what it is told
(`show`) and posts `Toggled` when the user flips a switch. A server's tools and its failure come
from a subprocess or a remote server: untrusted, shown as sanitized `Content`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, assert_never

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Checkbox, Label, Static

from megachat.sanitize import clean

ServerState = Literal["off", "starting", "running", "failed"]
TOOLS_SHOWN = 8  # tool names listed under a server; the rest are counted


@dataclass(frozen=True)
class ServerRow:
    """What the panel shows for one configured server."""

    name: str
    state: ServerState
    tools: tuple[str, ...] = ()
    detail: str = ""  # why it failed


def describe_row(row: ServerRow) -> str:
    """The line(s) under a server's switch."""
    match row.state:
        case "off":
            return "off for this chat"
        case "starting":
            return "starting…"
        case "failed":
            return " ".join(f"failed: {row.detail or 'unknown error'}".split())[:200]
        case "running":
            if not row.tools:
                return "running, no tools"
            names = [f"· {name}" for name in row.tools[:TOOLS_SHOWN]]
            if len(row.tools) > TOOLS_SHOWN:
                names.append(f"… {len(row.tools) - TOOLS_SHOWN} more")
            count = f"{len(row.tools)} tool{'s' if len(row.tools) != 1 else ''}"
            return "\n".join([count, *names])
        case _:
            assert_never(row.state)


class ToolServersPanel(Vertical):
    """One switch and one status per configured server."""

    DEFAULT_CSS = """
    ToolServersPanel {
        height: auto;
    }
    ToolServersPanel Checkbox {
        width: 100%;
        margin-top: 1;
    }
    ToolServersPanel .server-state {
        color: $text-muted;
        padding-left: 2;
    }
    ToolServersPanel .server-state.-failed {
        color: $error;
    }
    ToolServersPanel .server-state.-starting {
        color: $warning;
    }
    """

    class Toggled(Message):
        """The user switched `server` on or off for this conversation."""

        def __init__(self, server: str, enabled: bool) -> None:
            super().__init__()
            self.server = server
            self.enabled = enabled

    def __init__(self, rows: Sequence[ServerRow], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows = list(rows)

    @property
    def rows(self) -> list[ServerRow]:
        """What is shown, in order."""
        return list(self._rows)

    def compose(self) -> ComposeResult:
        yield Label("Tools (MCP servers)")
        for row in self._rows:
            yield Checkbox(
                Content(clean(row.name)),
                row.state != "off",
                id=f"server-{row.name}",
                name=row.name,
                compact=True,
            )
            yield Static(
                Content(clean(describe_row(row))),
                id=f"server-state-{row.name}",
                classes=f"server-state -{row.state}",
                markup=False,
            )

    def show(self, rows: Sequence[ServerRow]) -> None:
        """Show `rows` (the same servers, new states; other servers: rebuilt)."""
        rows = list(rows)
        if [row.name for row in rows] != [row.name for row in self._rows]:
            self._rows = rows
            self.refresh(recompose=True)
            return
        self._rows = rows
        with self.prevent(Checkbox.Changed):
            for row in rows:
                self.query_one(f"#server-{row.name}", Checkbox).value = row.state != "off"
                state = self.query_one(f"#server-state-{row.name}", Static)
                state.update(Content(clean(describe_row(row))))
                for kind in ("off", "starting", "running", "failed"):
                    state.set_class(kind == row.state, f"-{kind}")

    @on(Checkbox.Changed)
    def _switched(self, event: Checkbox.Changed) -> None:
        event.stop()
        name = event.checkbox.name
        if name:
            self.post_message(self.Toggled(name, event.value))
