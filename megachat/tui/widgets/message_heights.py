"""How many lines a message takes in the conversation view, measured or estimated.

The virtual conversation view mounts only the messages near the viewport; the others are blank
space of their height, so the scrollbar stays true. A height measured at one width is exact at
that width and kept (`HeightCache`); a message never measured at the current width gets an
estimate from its text (`estimate_height`), corrected the first time it is mounted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from megachat.chat.conversation import ChatMessage

__all__ = ["HeightCache", "estimate_height"]

# Columns a message's frame takes from the view's content width: border, padding, spare.
_FRAME_COLUMNS = 4
_STATUSES_WITH_BADGE = frozenset({"interrupted", "cancelled", "error", "streaming"})


def _wrapped_lines(text: str, width: int) -> int:
    """Lines `text` wraps to at `width` columns (by characters: cheap and close enough)."""
    return sum(1 + len(line) // width for line in text.split("\n"))


def estimate_height(message: ChatMessage, width: int) -> int:
    """Lines `message` takes in a view `width` columns wide, its bottom margin included.

    Before a message is mounted its height is only guessed; the guess should be cheap (it is made
    for every message of a 10,000-message conversation on open) and near (the scrollbar and a
    jump by the scrollbar land where the guess says)."""
    inner = max(8, width - _FRAME_COLUMNS)
    lines = 2  # header and the margin under the message
    for block in message.content or []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            lines += _wrapped_lines(str(block.get("text", "")), inner)
            if message.role != "user":
                lines += 1  # the Markdown's margin
        elif kind in ("thinking", "redacted_thinking"):
            lines += 2  # collapsed title and margin
        elif kind in ("tool_use", "tool_result"):
            lines += 1  # a collapsed tool block: one title line, cut at the edge, never wrapped
        else:
            lines += 1
    if getattr(message, "status", "complete") in _STATUSES_WITH_BADGE:
        lines += 1
    return lines


class HeightCache:
    """Heights measured on screen, per view width and message id."""

    def __init__(self) -> None:
        self._by_width: dict[int, dict[str, int]] = {}

    def get(self, message_id: str, width: int) -> int | None:
        """The height measured at `width`, if any."""
        known = self._by_width.get(width)
        return known.get(message_id) if known is not None else None

    def put(self, message_id: str, width: int, height: int) -> None:
        """Remember a measured height."""
        self._by_width.setdefault(width, {})[message_id] = height

    def height(self, message: ChatMessage, width: int) -> int:
        """Measured if known at `width`, else estimated."""
        known = self.get(message.id, width)
        return known if known is not None else estimate_height(message, width)
