"""megachat's secondary screens (modal dialogs that return a result).

Names are imported lazily so that importing one screen (or the package) does not pull in the
widgets every other screen needs: start-up time matters more than a tidy import.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from megachat.tui.screens.api_key import ApiKeyScreen
    from megachat.tui.screens.confirm import ConfirmScreen, TextPromptScreen
    from megachat.tui.screens.conversations import NEW_CHAT, ConversationsScreen
    from megachat.tui.screens.help import HelpScreen
    from megachat.tui.screens.image_picker import ImagePickerScreen

__all__ = [
    "NEW_CHAT",
    "ApiKeyScreen",
    "ConfirmScreen",
    "ConversationsScreen",
    "HelpScreen",
    "ImagePickerScreen",
    "TextPromptScreen",
]

_WHERE = {
    "ApiKeyScreen": "api_key",
    "ConfirmScreen": "confirm",
    "TextPromptScreen": "confirm",
    "ConversationsScreen": "conversations",
    "NEW_CHAT": "conversations",
    "HelpScreen": "help",
    "ImagePickerScreen": "image_picker",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)
