"""The prompt box: a TextArea where Enter sends and shift+enter / ctrl+j insert a newline.

Textual's TextArea inserts a newline on Enter in its key handler, so this widget looks up its
own bindings (with the user's keymap applied) before that handler. Priority bindings would not
do: they run as soon as the key reaches the app, ahead of characters still queued for the
widget, so text pasted or typed fast and followed by Enter was sent before it was inserted.
A paste (or a file dragged onto the terminal, which pastes its path) that is just the path of an
image file is reported as `ImagePathPasted` instead of being inserted, so the screen can offer
to attach it.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from textual import events
from textual.message import Message
from textual.widgets import TextArea

from megachat.tui.keymap import PROMPT_KEYS, bindings

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp"})


def image_path_from_text(text: str) -> Path | None:
    """The image file `text` names (plain, quoted, backslash-escaped or file:// URL), if any."""
    candidate = text.strip()
    if not candidate or "\n" in candidate or len(candidate) > 4096:
        return None
    if len(candidate) >= 2 and candidate[0] == candidate[-1] and candidate[0] in "'\"":
        candidate = candidate[1:-1]
    if candidate.startswith("file://"):
        parts = urlsplit(candidate)
        if parts.netloc not in ("", "localhost"):
            return None
        candidate = unquote(parts.path)
    elif "\\ " in candidate:
        candidate = candidate.replace("\\ ", " ")
    if "\x00" in candidate:
        return None
    try:
        path = Path(candidate).expanduser()
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            return None
    except (OSError, ValueError):
        return None
    return path


class PromptInput(TextArea):
    """Multi-line prompt; grows with its text up to a few lines (see prompt_input.tcss)."""

    BINDINGS = bindings(PROMPT_KEYS)

    DEFAULT_CSS = """
    PromptInput {
        height: auto;
        min-height: 3;
        max-height: 10;
    }
    """

    class Submitted(Message):
        """The user asked to send the current text."""

        def __init__(self, prompt: PromptInput, text: str) -> None:
            super().__init__()
            self.prompt = prompt
            self.text = text

        @property
        def control(self) -> PromptInput:
            return self.prompt

    class ImagePathPasted(Message):
        """A paste that is the path of an existing image file; the text was not inserted."""

        def __init__(self, prompt: PromptInput, path: Path, text: str) -> None:
            super().__init__()
            self.prompt = prompt
            self.path = path
            self.text = text

        @property
        def control(self) -> PromptInput:
            return self.prompt

    def __init__(self, text: str = "", *, id: str | None = None) -> None:
        super().__init__(
            text,
            id=id,
            soft_wrap=True,
            tab_behavior="focus",
            show_line_numbers=False,
            highlight_cursor_line=False,
            placeholder="Message (Enter to send, shift+enter or ctrl+j for a newline)",
        )

    async def _on_key(self, event: events.Key) -> None:
        bindings = self._bindings.copy()
        if self.app._keymap:
            bindings.apply_keymap(self.app._keymap)
        for binding in bindings.key_to_bindings.get(event.key, ()):
            event.stop()
            event.prevent_default()
            await self.run_action(binding.action)
            return
        await super()._on_key(event)

    def action_submit(self) -> None:
        self.post_message(self.Submitted(self, self.text))

    def action_newline(self) -> None:
        self.insert("\n")

    def set_draft(self, text: str) -> None:
        """Replace the text and put the cursor at its end (used to restore a draft)."""
        self.load_text(text)
        self.move_cursor(self.document.end)

    async def _on_paste(self, event: events.Paste) -> None:
        if not self.read_only:
            path = image_path_from_text(event.text)
            if path is not None:
                event.stop()
                event.prevent_default()
                self.post_message(self.ImagePathPasted(self, path, event.text))
                return
        await super()._on_paste(event)
