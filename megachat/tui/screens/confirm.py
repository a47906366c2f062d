"""Small dialogs: a yes/no question (`ConfirmScreen`) and a one-line prompt (`TextPromptScreen`).

Both show text that may come from untrusted places (a conversation title inside the question, a
title being renamed), so everything goes in as `Content`, never as markup, after `clean`.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from megachat.sanitize import clean

__all__ = ["DIALOG_CSS", "ConfirmScreen", "TextPromptScreen", "one_line"]

DIALOG_CSS = """
{screen} {{
    align: center middle;
}}
{screen} > Vertical {{
    width: 64;
    max-width: 90%;
    height: auto;
    max-height: 90%;
    border: round $primary;
    border-title-color: $primary;
    border-title-style: bold;
    background: $surface;
    padding: 1 2;
}}
{screen} .dialog-text {{
    width: 1fr;
    height: auto;
    max-height: 12;
    margin-bottom: 1;
}}
{screen} .dialog-error {{
    color: $text-error;
    height: auto;
}}
{screen} .dialog-buttons {{
    width: 1fr;
    height: auto;
    align-horizontal: right;
    margin-top: 1;
}}
{screen} .dialog-buttons Button {{
    margin-left: 2;
}}
"""


def one_line(text: str, limit: int = 500) -> str:
    """Untrusted text as one clean line, cut at `limit` characters."""
    line = " ".join(clean(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class ConfirmScreen(ModalScreen[bool]):
    """Ask a yes/no question; dismisses with True (confirm) or False (cancel, Esc, n)."""

    DEFAULT_CSS = DIALOG_CSS.format(screen="ConfirmScreen")
    BINDINGS = [
        Binding("escape", "answer(False)", "Cancel", id="confirm.cancel"),
        Binding("n", "answer(False)", "No", show=False, id="confirm.no"),
        Binding("y", "answer(True)", "Yes", show=False, id="confirm.yes"),
    ]

    def __init__(
        self,
        question: str,
        *,
        title: str = "Confirm",
        confirm_label: str = "Yes",
        cancel_label: str = "No",
        destructive: bool = False,
    ) -> None:
        super().__init__()
        self.question = question
        self.dialog_title = title
        self.confirm_label = confirm_label
        self.cancel_label = cancel_label
        self.destructive = destructive

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = Content(one_line(self.dialog_title, 60))
            yield Static(Content(clean(self.question)), classes="dialog-text", id="confirm-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.cancel_label, id="confirm-no")
                yield Button(
                    self.confirm_label,
                    variant="error" if self.destructive else "primary",
                    id="confirm-yes",
                )

    def on_mount(self) -> None:
        # A destructive question starts on the safe answer: Enter alone never destroys.
        self.query_one("#confirm-no" if self.destructive else "#confirm-yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class TextPromptScreen(ModalScreen[str | None]):
    """Ask for one line of text (rename a conversation); dismisses with it stripped, or None."""

    DEFAULT_CSS = DIALOG_CSS.format(screen="TextPromptScreen")
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt.cancel")]

    def __init__(
        self,
        prompt: str,
        *,
        value: str = "",
        title: str = "",
        placeholder: str = "",
        confirm_label: str = "Save",
        max_length: int = 200,
        allow_empty: bool = False,
    ) -> None:
        super().__init__()
        self.prompt = prompt
        self.value = one_line(value, max_length)
        self.dialog_title = title
        self.placeholder = placeholder
        self.confirm_label = confirm_label
        self.max_length = max_length
        self.allow_empty = allow_empty

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = Content(one_line(self.dialog_title, 60))
            yield Static(Content(clean(self.prompt)), classes="dialog-text")
            yield Input(
                self.value,
                placeholder=self.placeholder,
                max_length=self.max_length,
                id="prompt-input",
            )
            yield Static(Content(""), classes="dialog-error", id="prompt-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="prompt-cancel")
                yield Button(self.confirm_label, variant="primary", id="prompt-ok")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._finish()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "prompt-ok":
            self._finish()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _finish(self) -> None:
        text = one_line(self.query_one(Input).value, self.max_length)
        if not text and not self.allow_empty:
            self.query_one("#prompt-error", Static).update(Content("This cannot be empty"))
            return
        self.dismiss(text)
