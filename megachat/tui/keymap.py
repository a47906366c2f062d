"""Every key binding of the TUI, by id, in one place.

Bindings carry ids so `[keymap]` in config.toml can rebind them (`send = "ctrl+s"`); Textual's
`App.set_keymap` applies such overrides. Help, the footer and the command palette read the same
table, so a key and its description never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class KeySpec:
    """One bindable action: the id users rebind, its default keys and what it does."""

    id: str
    keys: str
    action: str
    description: str
    show: bool = False
    priority: bool = False


# Bindings of the application (active on every screen).
APP_KEYS: tuple[KeySpec, ...] = (
    KeySpec("quit", "ctrl+q", "quit", "Quit", show=True, priority=True),
    KeySpec("command_palette", "ctrl+p", "command_palette", "Commands", priority=True),
    KeySpec("help", "f1,question_mark", "help", "Help", show=True),
)

# Bindings of the main screen.
MAIN_KEYS: tuple[KeySpec, ...] = (
    KeySpec("cancel", "escape", "cancel", "Cancel reply", show=True),
    KeySpec("attach", "ctrl+o,ctrl+i", "attach", "Attach image", show=True),
    KeySpec("regenerate", "ctrl+r", "regenerate", "Regenerate", show=True),
    KeySpec("retry", "f5", "retry", "Retry after an error"),
    KeySpec("edit_last", "ctrl+g", "edit_last", "Edit last message"),
    KeySpec("conversations", "ctrl+l", "conversations", "Chats", show=True),
    KeySpec("new_chat", "ctrl+n", "new_chat", "New chat"),
    KeySpec("toggle_sidebar", "ctrl+b", "toggle_sidebar", "Toggle sidebar"),
    KeySpec("focus_prompt", "ctrl+t", "focus_prompt", "Focus the prompt"),
    KeySpec("focus_system", "ctrl+s", "focus_system", "Edit the system prompt"),
    KeySpec("copy", "c", "copy", "Copy focused message"),
    KeySpec("copy_code", "k", "copy_code", "Copy a code block of the focused message"),
)

# Bindings of the prompt input (PromptInput runs them itself, in order with typed text).
PROMPT_KEYS: tuple[KeySpec, ...] = (
    KeySpec("send", "enter", "submit", "Send", show=True),
    KeySpec("newline", "shift+enter,ctrl+j", "newline", "Newline"),
)

# Bindings of the attachments strip.
ATTACHMENT_KEYS: tuple[KeySpec, ...] = (
    KeySpec("remove_attachment", "delete,backspace", "remove", "Remove attachment", show=True),
)

ALL_KEYS: tuple[KeySpec, ...] = APP_KEYS + MAIN_KEYS + PROMPT_KEYS + ATTACHMENT_KEYS
BINDING_IDS: frozenset[str] = frozenset(spec.id for spec in ALL_KEYS)


def bindings(specs: Iterable[KeySpec]) -> list[Binding]:
    """Textual bindings for `specs`, each carrying its id so the keymap can override it."""
    return [
        Binding(
            spec.keys,
            spec.action,
            spec.description,
            show=spec.show,
            priority=spec.priority,
            id=spec.id,
        )
        for spec in specs
    ]


def check_keymap(keymap: Mapping[str, object]) -> tuple[dict[str, str], list[str]]:
    """Split a user keymap into usable overrides and warnings (unknown id, non-string keys)."""
    usable: dict[str, str] = {}
    warnings: list[str] = []
    for binding_id, keys in keymap.items():
        if binding_id not in BINDING_IDS:
            warnings.append(f"keymap: unknown binding id {binding_id!r} ignored")
            continue
        if not isinstance(keys, str) or not keys.strip():
            warnings.append(f"keymap: keys for {binding_id!r} must be a non-empty string")
            continue
        usable[binding_id] = keys.replace(" ", "")
    return usable, warnings


def help_rows(keymap: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """(keys, description) rows for the help screen, with the user's overrides applied."""
    from textual.keys import format_key

    keymap = keymap or {}
    rows = []
    for spec in ALL_KEYS:
        keys = keymap.get(spec.id, spec.keys)
        shown = ", ".join(format_key(key) for key in keys.split(",") if key)
        rows.append((shown, spec.description))
    return rows
