"""A TextArea that inserts every character the user types, format characters included.

Textual's TextArea inserts a key only when its character passes `str.isprintable()`, so it drops
the Unicode format characters (category Cf): the zero-width joiners of 👨‍👩‍👧‍👦 (which then
arrives as four emoji), the ZWNJ Persian needs, a zero-width space. They are text the user typed;
every multi-line text field of ours (the prompt, the system prompt) is one of these. What is
shown of such characters elsewhere is `sanitize.clean`'s business, not the editor's.
"""

from __future__ import annotations

import unicodedata

from textual import events
from textual.widgets import TextArea


class UnicodeTextArea(TextArea):
    """TextArea that keeps typed format characters (Cf) instead of dropping them."""

    async def _on_key(self, event: events.Key) -> None:
        character = event.character
        if character and not self.read_only and unicodedata.category(character) == "Cf":
            event.stop()
            event.prevent_default()  # TextArea's own handler would drop it
            self.replace(character, *self.selection, maintain_selection_offset=False)
        # Anything else: Textual goes on to TextArea._on_key by itself (never call super()).
