"""Widgets of the megachat TUI. Names are imported lazily so importing one widget stays cheap."""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    # conversation pane (conversation_view.py, message.py, stream_markdown.py)
    "ConversationView": "conversation_view",
    "MessageWidget": "message",
    "ReplyWidget": "message",
    "StreamingMarkdown": "stream_markdown",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)
