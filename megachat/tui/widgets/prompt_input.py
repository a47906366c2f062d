"""The prompt box: a TextArea where Enter sends and shift+enter / ctrl+j insert a newline.

Textual's TextArea inserts a newline on Enter in its key handler, so this widget looks up its
own bindings (with the user's keymap applied) before that handler. Priority bindings would not
do: they run as soon as the key reaches the app, ahead of characters still queued for the
widget, so text pasted or typed fast and followed by Enter was sent before it was inserted.
A paste (or a file dragged onto the terminal, which pastes its path) that is just the path of a
file to attach (an image, a PDF, a text file) is reported as `ImagePathPasted` instead of being
inserted, so the screen can offer to attach it.

Enter takes the text out of the prompt in the same step as it posts `Submitted`, so keys typed
right after Enter (in one burst) land in an empty prompt instead of being wiped with the sent
text. From then until the screen settles that draft (and while a reply streams) the prompt is
`held`: Enter inserts a newline instead of sending, so the lines of a paste that arrives as keys
(no bracketed paste) stay whole and in order. A draft that was not sent comes back through
`give_back`, in front of whatever was typed since.

Event handlers here never call the base class's handler: Textual runs the handlers of every
class in the MRO itself unless one calls `prevent_default()`, so calling `super()` as well
would run TextArea's handler twice (every paste was inserted twice).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from textual import events
from textual.message import Message

from megachat.tui.keymap import PROMPT_KEYS, bindings
from megachat.tui.widgets.unicode_text_area import UnicodeTextArea

# A pasted or typed path is offered as an attachment when its suffix is one of these (what kind of
# file it is, megachat.chat.documents reads from the content when it is attached).
ATTACHABLE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".gif", ".webp", ".pdf", ".txt", ".md", ".markdown", ".rst"}
    | {".csv", ".tsv", ".json", ".jsonl", ".yaml", ".yml", ".toml", ".xml", ".html", ".log"}
    | {".py", ".js", ".ts", ".go", ".rs", ".c", ".h", ".cpp", ".java", ".rb", ".sh", ".sql"}
)


def attachable_path_from_text(text: str) -> Path | None:
    """The file `text` names (plain, quoted, backslash-escaped or file:// URL), if it is one to
    offer as an attachment (an image, a PDF, a text or code file, by ATTACHABLE_SUFFIXES)."""
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
        if path.suffix.lower() not in ATTACHABLE_SUFFIXES or not path.is_file():
            return None
    except (OSError, ValueError):
        return None
    return path


class PromptInput(UnicodeTextArea):
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

    class Held(Message):
        """Enter was pressed while `held`: a newline went in instead (posted once per hold)."""

        def __init__(self, prompt: PromptInput) -> None:
            super().__init__()
            self.prompt = prompt

        @property
        def control(self) -> PromptInput:
            return self.prompt

    class ImagePathPasted(Message):
        """A paste that is the path of an existing file to attach; the text was not inserted."""

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
        self._held = False
        self._held_told = False

    @property
    def held(self) -> bool:
        """True while a sent draft is unsettled or a reply streams: Enter is then a newline.

        Set by `submit` and by the screen (attributes down); the screen clears it.
        """
        return self._held

    @held.setter
    def held(self, value: bool) -> None:
        self._held = value
        self._held_told = False

    async def _on_key(self, event: events.Key) -> None:
        bindings = self._bindings.copy()
        if self.app._keymap:
            bindings.apply_keymap(self.app._keymap)
        for binding in bindings.key_to_bindings.get(event.key, ()):
            if await self.app.run_action(binding.action, self):
                event.stop()
                event.prevent_default()
                return
        # Not a binding, or one that skipped (ctrl+c with nothing selected in the prompt): Textual
        # goes on to UnicodeTextArea._on_key (format characters), TextArea._on_key (any other
        # character), then the bindings above the prompt: the screen's ctrl+c copies a mouse
        # selection in the conversation; with none, the app's tells how to quit.

    def action_submit(self) -> None:
        """Enter: send, or a newline while `held` (nothing typed is dropped either way)."""
        if self.held:
            self.insert("\n")
            if not self._held_told:
                self._held_told = True
                self.post_message(self.Held(self))
            return
        self.submit()

    def submit(self) -> None:
        """Take the text out (cleared now, not when the turn starts), hold, post `Submitted`."""
        text = self.text
        self.held = True
        self.clear()
        self.post_message(self.Submitted(self, text))

    def give_back(self, text: str) -> None:
        """Restore a draft that was not sent, in front of anything typed since it was taken
        (the Enter between them becomes a newline); the cursor stays where the user is typing."""
        if not text:
            return
        if self.text:
            self.insert(text + "\n", (0, 0))
        else:
            self.set_draft(text)

    def action_newline(self) -> None:
        self.insert("\n")

    def set_draft(self, text: str) -> None:
        """Replace the text and put the cursor at its end (used to restore a draft)."""
        self.load_text(text)
        self.move_cursor(self.document.end)

    async def _on_paste(self, event: events.Paste) -> None:
        if not self.read_only:
            path = attachable_path_from_text(event.text)
            if path is not None:
                event.stop()
                event.prevent_default()
                self.post_message(self.ImagePathPasted(self, path, event.text))
        # Otherwise Textual goes on to TextArea._on_paste, which inserts the text (once).
