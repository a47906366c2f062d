"""The main screen's `continue_reply` (a mixin of MainScreen): extend the last reply, cut at
max_tokens, through ChatSession.continue_reply (prefill where the model takes it, else a dimmed
user turn asking for the rest). The rules are the session's; this maps the key to the call.

ctrl+e is also "end of line" in a text area, so the binding has priority (it works from the
prompt) but steps aside while text is being edited there: in a non-empty prompt or editor the
key keeps moving the cursor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.actions import SkipAction
from textual.widgets import Input, TextArea

if TYPE_CHECKING:
    from megachat.tui.screens.main import MainScreen

    _Base = MainScreen
else:
    _Base = object


class ContinueActions(_Base):
    """`continue_reply`."""

    def action_continue_reply(self) -> None:
        """ctrl+e: continue the cut reply, unless text is being edited where the focus is."""
        focused = self.focused
        editing = (isinstance(focused, TextArea) and focused.text) or (
            isinstance(focused, Input) and focused.value
        )
        if editing:
            raise SkipAction()  # the text area's own ctrl+e (end of line)
        self.continue_reply()

    def continue_reply(self) -> None:
        """Continue the last reply where it was cut (one message; the cut version is kept)."""
        session = self.session
        if session is None or not self.ready.is_set() or self._refuse_while_busy():
            return
        self._start_turn(lambda sink: session.continue_reply(on_event=sink))
