"""`megachat` with no command: open the chat TUI (Textual is imported only here, when it runs).

The one CLI module that reaches into megachat.tui (tests/chat/test_layering.py): the TUI's
entry point, and its key rules for `config set keymap.ID`.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from megachat.cli.resources import open_store, read_settings, resolve_id


def check_binding(binding_id: str, keys: str, keymap: Mapping[str, object]) -> str:
    """`keys` for that binding in Textual's spelling, checked by the TUI's own keymap rules;
    ValueError says why not. Textual is imported only when this is called."""
    from megachat.tui.keymap import check_binding as tui_check_binding

    return tui_check_binding(binding_id, keys, keymap)


def cmd_tui(args: argparse.Namespace) -> int:
    settings = read_settings(report=False)  # the TUI shows bad config values as notifications
    from megachat.tui.app import run_app  # lazy: Textual is imported only here

    conversation_id = args.resume or None
    pick = args.resume == ""
    if conversation_id is not None:
        # A bad id is a usage error here, before the screen is taken over; a prefix is expanded.
        store = open_store()
        try:
            conversation_id = resolve_id(store, conversation_id)
        finally:
            store.close()
    return int(
        run_app(
            settings,
            conversation_id=conversation_id,
            continue_last=bool(args.tui_continue),
            pick=pick,
        )
        or 0
    )
