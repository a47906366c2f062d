"""Every key binding of the TUI, by id, in one place.

Bindings carry ids so `[keymap]` in config.toml can rebind them (`send = "ctrl+s"`); Textual's
`App.set_keymap` applies such overrides. Help, the footer and the command palette read the same
table, so a key and its description never disagree. A user's keys are checked here, by one rule
for the TUI at start (`check_keymap`) and `megachat config set keymap.ID` (`check_binding`): a
key Textual can report, not a typed character where text is typed, no clash within a scope or
with quitting.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache

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
    help: str = ""  # the help screen's longer wording, when the footer's is too short


# Bindings of the application (active on every screen).
APP_KEYS: tuple[KeySpec, ...] = (
    KeySpec("quit", "ctrl+q", "quit", "Quit", show=True, priority=True),
    KeySpec("command_palette", "ctrl+p", "command_palette", "Commands", priority=True),
    KeySpec("help", "f1,question_mark", "help", "Help", show=True),
)

# Bindings of the main screen.
MAIN_KEYS: tuple[KeySpec, ...] = (
    KeySpec("cancel", "escape", "cancel", "Cancel reply", show=True),
    KeySpec("attach", "ctrl+o,ctrl+i", "attach", "Attach file", show=True),
    KeySpec("regenerate", "ctrl+r", "regenerate", "Regenerate", show=True),
    KeySpec("retry", "f5", "retry", "Retry after an error"),
    # priority: it works from the prompt; with text being edited there, ctrl+e stays "end of
    # line" (the action steps aside: megachat.tui.screens.main_continue)
    KeySpec(
        "continue_reply",
        "ctrl+e",
        "continue_reply",
        "Continue cut reply",
        priority=True,
        help="Continue the last reply, cut at max_tokens (in a non-empty prompt: end of line)",
    ),
    KeySpec("edit_last", "ctrl+g", "edit_last", "Edit last message"),
    KeySpec("conversations", "ctrl+l", "conversations", "Chats", show=True),
    KeySpec("new_chat", "ctrl+n", "new_chat", "New chat"),
    KeySpec("toggle_sidebar", "ctrl+b", "toggle_sidebar", "Toggle sidebar"),
    KeySpec("focus_prompt", "ctrl+t", "focus_prompt", "Focus the prompt"),
    KeySpec("focus_system", "ctrl+s", "focus_system", "Edit the system prompt"),
    KeySpec("copy", "c", "copy", "Copy focused message"),
    KeySpec("copy_code", "k", "copy_code", "Copy a code block of the focused message"),
    KeySpec("scroll_top", "ctrl+home", "scroll_top", "First message"),
    KeySpec("scroll_bottom", "ctrl+end", "scroll_bottom", "Last message"),
)

# Bindings of a focused message (MessageWidget): they show in the footer only while a message
# has the focus, and act on that message's versions (its siblings in the conversation tree) or
# its links (open_link stays out of the footer, which is full: help lists it).
MESSAGE_KEYS: tuple[KeySpec, ...] = (
    KeySpec(
        "previous_branch",
        "left_square_bracket",
        "branch(-1)",
        "Previous version",
        show=True,
        help="Focused message: its previous version ‹ n/m ›",
    ),
    KeySpec(
        "next_branch",
        "right_square_bracket",
        "branch(1)",
        "Next version",
        show=True,
        help="Focused message: its next version ‹ n/m ›",
    ),
    KeySpec(
        "delete_branch",
        "delete",
        "delete_branch",
        "Delete version",
        show=True,
        help="Delete the focused version and all below it (asks first)",
    ),
    KeySpec(
        "open_link",
        "o",
        "open_link",
        "Open link",
        help="Focused message: open one of its links (shows it and asks first)",
    ),
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

# Bindings of the tool-call approval (ToolApproval), active while it has the focus.
APPROVAL_KEYS: tuple[KeySpec, ...] = (
    KeySpec(
        "approve_once",
        "y",
        "approve_once",
        "Allow once",
        show=True,
        help="A tool call waiting for approval: run it this once",
    ),
    KeySpec(
        "approve_always",
        "a",
        "approve_always",
        "Always allow",
        show=True,
        help="A tool call waiting for approval: run it, and this tool from now on (saved)",
    ),
    KeySpec(
        "deny",
        "n",
        "deny",
        "Deny",
        show=True,
        help="A tool call waiting for approval: deny it (a field for a reason opens; Enter denies)",
    ),
)

ALL_KEYS: tuple[KeySpec, ...] = (
    APP_KEYS + MAIN_KEYS + MESSAGE_KEYS + PROMPT_KEYS + ATTACHMENT_KEYS + APPROVAL_KEYS
)


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


# Where each table's bindings are active. Two bindings of one scope must not share a key; a
# priority binding (quit, the palette) is checked first on every screen, so it must not share a
# key with any other. In the prompt every typed character is text, so a bare printable key there
# (or in a priority binding) would stop that character from being typed.
SCOPES: dict[str, tuple[KeySpec, ...]] = {
    "app": APP_KEYS,
    "main": MAIN_KEYS,
    "message": MESSAGE_KEYS,
    "prompt": PROMPT_KEYS,
    "attachments": ATTACHMENT_KEYS,
    "approval": APPROVAL_KEYS,
}
_TYPING_SCOPES = frozenset({"prompt"})
# Scopes active at once whose keys must differ too: a focused message's keys would hide the
# main screen's (copy, copy_code) whenever a message has the focus.
_SHARED_SCOPES = frozenset({frozenset({"main", "message"}), frozenset({"main", "approval"})})
# Textual's modifier names, in the order it writes them in a key name (alphabetical).
MODIFIERS = ("alt", "ctrl", "hyper", "meta", "shift", "super")
_KEY_HINT = (
    "use a key name such as enter, escape, f8, ctrl+s or one character, with modifiers "
    + ", ".join(MODIFIERS)
)
_RESERVED_FOR = {"quit": "quitting", "help_quit": "copying and the quit hint"}


def check_keymap(keymap: Mapping[str, object]) -> tuple[dict[str, str], list[str]]:
    """Split a user keymap into usable overrides and one warning per override left out.

    An override that is not a key, takes a key from typing, or clashes with another binding or
    with quitting is dropped and its binding keeps its default keys (Enter still sends).
    """
    usable, problems = _resolve(keymap)
    warnings = []
    for binding_id, problem in problems.items():
        spec = _SPECS.get(binding_id)
        if spec is None:
            warnings.append(f"config: keymap: {problem}; ignored")
        else:
            warnings.append(f"config: 'keymap.{binding_id}': {problem}; using {spec.keys}")
    return usable, warnings


def check_binding(binding_id: str, keys: str, keymap: Mapping[str, object]) -> str:
    """Textual's spelling of `keys` for `binding_id`, given the user's other overrides.

    For `megachat config set keymap.ID KEYS`: the same rules as at start-up, so what the file
    accepts the TUI uses. ValueError says what is wrong.
    """
    usable, problems = _resolve({**keymap, binding_id: keys})
    if binding_id in problems:
        raise ValueError(problems[binding_id])
    return usable[binding_id]


def normalize_keys(keys: str) -> str:
    """Comma-separated keys as Textual names them ("Ctrl+S, ?" -> "ctrl+s,question_mark").

    ValueError when a part is not a key Textual can report.
    """
    names: list[str] = []
    for part in keys.split(","):
        name = _normalize_key("".join(part.split()))
        if name not in names:
            names.append(name)
    return ",".join(names)


_SPECS: dict[str, KeySpec] = {spec.id: spec for spec in ALL_KEYS}
_SCOPE_OF: dict[str, str] = {spec.id: scope for scope, specs in SCOPES.items() for spec in specs}


def _resolve(keymap: Mapping[str, object]) -> tuple[dict[str, str], dict[str, str]]:
    """(usable overrides, problem per binding id left out)."""
    usable: dict[str, str] = {}
    problems: dict[str, str] = {}
    for binding_id, keys in keymap.items():
        if binding_id not in _SPECS:
            known = ", ".join(sorted(_SPECS))
            problems[binding_id] = f"unknown binding id {binding_id!r} (known: {known})"
        elif not isinstance(keys, str) or not keys.strip():
            problems[binding_id] = "must be a non-empty key string such as ctrl+j"
        else:
            try:
                usable[binding_id] = _check_keys(_SPECS[binding_id], keys)
            except ValueError as exc:
                problems[binding_id] = str(exc)
    # Dropping an override gives its binding back its default keys, which may clash in turn.
    while clashes := _clashes(usable):
        for binding_id, problem in clashes.items():
            problems[binding_id] = problem
            del usable[binding_id]
    return usable, problems


def _check_keys(spec: KeySpec, keys: str) -> str:
    from textual.keys import key_to_character

    try:
        names = normalize_keys(keys)
    except ValueError as exc:
        raise ValueError(f"{keys[:40]!r} is not a key: {exc}") from None
    if spec.priority or _SCOPE_OF[spec.id] in _TYPING_SCOPES:
        for name in names.split(","):
            character = key_to_character(name)
            if character is not None and character.isprintable():
                raise ValueError(
                    f"{name} is a typed character and could no longer be typed; add a modifier,"
                    f" e.g. ctrl+{name}"
                )
    return names


def _normalize_key(key: str) -> str:
    if not key:
        raise ValueError("an empty key in the list")
    if len(key) == 1:
        return _base_name(key, modified=False)
    if key.endswith("++"):  # ctrl++ is ctrl and the plus key
        modifiers, base = key[:-2].split("+"), "+"
    else:
        *modifiers, base = key.split("+")
    modifiers = [modifier.lower() for modifier in modifiers]
    for modifier in modifiers:
        if modifier not in MODIFIERS:
            raise ValueError(f"{modifier[:20]!r} is not a modifier; {_KEY_HINT}")
    if len(set(modifiers)) != len(modifiers):
        raise ValueError(f"a modifier is repeated; {_KEY_HINT}")
    return "+".join([*sorted(modifiers), _base_name(base, modified=bool(modifiers))])


def _base_name(base: str, *, modified: bool) -> str:
    """The key's own name: one printable character, or a name Textual uses for a key."""
    from textual.keys import REPLACED_KEYS, _character_to_key, key_to_character

    if len(base) == 1:
        if not base.isprintable() or base.isspace():
            raise ValueError(f"{base!r} is not a printable character; {_KEY_HINT}")
        return _character_to_key(base.lower() if modified else base)
    name = base.lower()
    if name in _named_keys():
        return name
    # A character's name ("question_mark", "plus"): valid if it is the name Textual gives it.
    character = key_to_character(REPLACED_KEYS.get(name, name))
    if character is not None and character.isprintable() and _character_to_key(character) == name:
        return name
    raise ValueError(_KEY_HINT)


@cache
def _named_keys() -> frozenset[str]:
    from textual.keys import Keys

    return frozenset(key.value.rsplit("+", 1)[-1] for key in Keys if "<" not in key.value)


def _clashes(usable: Mapping[str, str]) -> dict[str, str]:
    """For each override, the first binding or reserved key it clashes with."""
    effective = {spec.id: _key_set(usable.get(spec.id, spec.keys)) for spec in ALL_KEYS}
    reserved = _reserved_keys()
    clashes: dict[str, str] = {}
    for binding_id, keys in usable.items():
        spec = _SPECS[binding_id]
        for key in keys.split(","):
            same = _key_set(key)
            action = next((reserved[k] for k in same if k in reserved), None)
            if action is not None and action != spec.action:
                clashes[binding_id] = f"{key} is reserved for {_RESERVED_FOR.get(action, action)}"
                break
            other = next(
                (
                    other
                    for other in ALL_KEYS
                    if other is not spec
                    and same & effective[other.id]
                    and (
                        spec.priority
                        or other.priority
                        or _same_scope(_SCOPE_OF[spec.id], _SCOPE_OF[other.id])
                    )
                ),
                None,
            )
            if other is not None:
                clashes[binding_id] = (
                    f"{key} is already bound to {other.id!r} ({other.description});"
                    " rebind that first or choose another key"
                )
                break
    return clashes


def _same_scope(one: str, other: str) -> bool:
    """Two scopes whose bindings are active together, so their keys must not be shared."""
    return one == other or frozenset({one, other}) in _SHARED_SCOPES


def _key_set(keys: str) -> frozenset[str]:
    """The keys and the names Textual treats as the same key (tab and ctrl+i, enter and ctrl+m)."""
    from textual.keys import KEY_ALIASES

    names: set[str] = set()
    for key in keys.split(","):
        names.add(key)
        names.update(KEY_ALIASES.get(key, ()))
        names.update(name for name, aliases in KEY_ALIASES.items() if key in aliases)
    return frozenset(names)


@cache
def _reserved_keys() -> dict[str, str]:
    """Keys Textual's App binds without an id (so no keymap moves them): key -> action."""
    from textual.app import App

    return {
        binding.key: binding.action
        for binding in Binding.make_bindings(App.BINDINGS)
        if binding.id is None
    }


def help_rows(keymap: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """(keys, description) rows for the help screen, with the user's overrides applied."""
    return [
        (", ".join(shown_keys(spec.id, keymap)), spec.help or spec.description) for spec in ALL_KEYS
    ]


def shown_keys(binding_id: str, keymap: Mapping[str, str] | None = None) -> list[str]:
    """The keys bound to `binding_id` (the user's override, else the default), as displayed."""
    from textual.keys import format_key

    keys = (keymap or {}).get(binding_id)
    if keys is None:
        keys = next(spec.keys for spec in ALL_KEYS if spec.id == binding_id)
    return [format_key(key) for key in keys.split(",") if key]
