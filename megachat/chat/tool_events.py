"""What a face hears about the tool loop: typed events, members of `TurnEvent`.

Kept apart from megachat.chat.tool_loop so that turn.py can name them without importing the
loop (and the loop imports turn.py). No `mcp` here: plain data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class ToolCall:
    """One `tool_use` block of a reply, resolved to the server and tool it names.

    `server` and `tool` are empty when the model named a tool no enabled server has."""

    id: str
    name: str  # the name the model used (the API-side name, e.g. "toolbox__add")
    server: str
    tool: str
    input: Mapping[str, object] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """SERVER.TOOL, as `--allow` and the approval prompt spell it."""
        return f"{self.server}.{self.tool}" if self.server else self.name


@dataclass(frozen=True)
class ToolCallStarted:
    """A tool call was approved and is running (a denied one gets only ToolCallFinished)."""

    call: ToolCall


@dataclass(frozen=True)
class ToolCallFinished:
    """A tool call has its result: `summary` is one short line of it (untrusted text)."""

    call: ToolCall
    summary: str
    is_error: bool


StopReason = Literal["end_turn", "max_tool_steps", "cancelled", "failed"]


@dataclass(frozen=True)
class ToolLoopStopped:
    """The tool loop ended; `message` says why, for the user."""

    reason: StopReason
    message: str


ToolEvent = ToolCallStarted | ToolCallFinished | ToolLoopStopped
