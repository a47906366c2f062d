"""Ask for the MegaLLM API key: on first run without one, and after the API refused it (401).

The screen only collects and checks the key's shape; the app stores it (config.store_api_key,
file mode 0600). The key is never shown: the input is masked unless the user asks to see it, and
nothing here logs it or puts it in an error message.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from megachat.sanitize import clean

__all__ = ["ApiKeyScreen", "check_api_key"]

MAX_KEY_LENGTH = 512

INTRO = (
    "megachat needs a MegaLLM API key to talk to the model. It is saved in your megachat "
    "config file, readable only by you. (The MEGALLM_API_KEY environment variable, when set, "
    "takes precedence.)"
)


def check_api_key(value: str) -> tuple[str | None, str | None]:
    """Return (key, None) for a usable key, or (None, why not). Surrounding spaces are dropped.

    A key travels in an HTTP header, so it must be one line of printable ASCII without spaces.
    """
    key = value.strip()
    if not key:
        return None, "Enter your API key"
    if len(key) > MAX_KEY_LENGTH:
        return None, f"That is longer than any API key ({len(key)} characters)"
    if not key.isascii() or not key.isprintable() or any(ch.isspace() for ch in key):
        return None, "An API key is one word of printable ASCII characters"
    return key, None


class ApiKeyScreen(ModalScreen[str | None]):
    """Dismisses with the entered key, or None when the user gives up (Esc / Quit)."""

    DEFAULT_CSS = """
    ApiKeyScreen {
        align: center middle;
    }
    ApiKeyScreen > Vertical {
        width: 72;
        max-width: 95%;
        height: auto;
        max-height: 95%;
        border: round $primary;
        border-title-color: $primary;
        border-title-style: bold;
        background: $surface;
        padding: 1 2;
    }
    ApiKeyScreen #api-key-refused {
        color: $text-error;
        text-style: bold;
        height: auto;
        margin-bottom: 1;
    }
    ApiKeyScreen #api-key-intro {
        height: auto;
        color: $text-muted;
        margin-bottom: 1;
    }
    ApiKeyScreen #api-key-error {
        color: $text-error;
        height: auto;
    }
    ApiKeyScreen #api-key-buttons {
        height: auto;
        align-horizontal: right;
        margin-top: 1;
    }
    ApiKeyScreen #api-key-buttons Button {
        margin-left: 2;
    }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="api_key.cancel"),
        Binding("ctrl+t", "toggle_visible", "Show/hide key", id="api_key.toggle_visible"),
    ]

    def __init__(self, message: str | None = None) -> None:
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = Content("MegaLLM API key")
            if self.message:
                text = " ".join(clean(self.message).split())[:500]
                yield Static(Content(text), id="api-key-refused")
            yield Static(Content(INTRO), id="api-key-intro")
            yield Input(
                password=True,
                placeholder="Paste your API key",
                max_length=MAX_KEY_LENGTH * 2,
                id="api-key-input",
            )
            yield Static(Content(""), id="api-key-error")
            with Horizontal(id="api-key-buttons"):
                yield Button("Cancel", id="api-key-cancel")
                yield Button("Save key", variant="primary", id="api-key-save")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.query_one("#api-key-error", Static).update(Content(""))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "api-key-save":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_toggle_visible(self) -> None:
        key_input = self.query_one(Input)
        key_input.password = not key_input.password

    def _submit(self) -> None:
        key, problem = check_api_key(self.query_one(Input).value)
        if key is None:
            self.query_one("#api-key-error", Static).update(Content(problem or ""))
            return
        self.dismiss(key)
