"""The settings sidebar: model, temperature, max tokens, prefill, system prompt, token figures.

The widgets here only hold values; the main screen listens to their Changed messages and applies
them to the conversation (from the next turn on). Model names come from the server and are
untrusted, so they are shown as `Content`; the figures line is built from numbers only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.validation import Integer, Number
from textual.widgets import Input, Label, Select, Static, TextArea

from megachat.sanitize import clean

MAX_TOKENS_LIMIT = 1_000_000


def _option(model: str) -> tuple[Content, str]:
    return Content(clean(model) or "?"), model


class Sidebar(VerticalScroll):
    """Per-conversation request settings and the draft/usage figures."""

    DEFAULT_CSS = """
    Sidebar {
        width: 34;
        dock: right;
        padding: 0 1;
        border-left: vkey $foreground 20%;
    }
    Sidebar.-hidden {
        display: none;
    }
    Sidebar Label {
        margin-top: 1;
        color: $text-muted;
    }
    Sidebar Input, Sidebar Select {
        width: 100%;
    }
    Sidebar #system {
        height: 8;
    }
    Sidebar #figures {
        margin-top: 1;
        color: $text-muted;
    }
    Sidebar #warning {
        color: $warning;
        display: none;
    }
    Sidebar #warning.-visible {
        display: block;
    }
    """

    def __init__(self, model: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._initial_model = model
        self._models: list[str] = [model] if model else []

    def compose(self) -> ComposeResult:
        yield Label("Model")
        yield Select(
            [_option(m) for m in self._models],
            id="model",
            allow_blank=not self._models,
            value=self._models[0] if self._models else Select.NULL,
            compact=True,
        )
        yield Label("Temperature (0–1)")
        yield Input(
            placeholder="default",
            id="temperature",
            validators=[Number(minimum=0.0, maximum=1.0)],
            valid_empty=True,
            compact=True,
        )
        yield Label("Max tokens")
        yield Input(
            id="max-tokens",
            type="integer",
            validators=[Integer(minimum=1, maximum=MAX_TOKENS_LIMIT)],
            compact=True,
        )
        yield Label("Prefill")
        yield Input(placeholder="the reply starts with…", id="prefill", compact=True)
        yield Label("System prompt")
        yield TextArea(
            id="system",
            soft_wrap=True,
            tab_behavior="focus",
            placeholder="applies from the next turn",
            highlight_cursor_line=False,
        )
        yield Static("", id="figures", markup=False)
        yield Static("", id="warning", markup=False)

    # -- values -------------------------------------------------------------------------------

    @property
    def model(self) -> str | None:
        value = self.query_one("#model", Select).value
        return None if value is Select.NULL else str(value)

    def temperature(self) -> float | None:
        """The temperature to send; None when blank. ValueError when it is not in 0..1."""
        text = self.query_one("#temperature", Input).value.strip()
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            raise ValueError("Temperature must be a number between 0 and 1") from None
        if not 0.0 <= value <= 1.0 or value != value:
            raise ValueError("Temperature must be between 0 and 1")
        return value

    def max_tokens(self) -> int:
        """The max_tokens to send. ValueError when it is not a positive integer."""
        text = self.query_one("#max-tokens", Input).value.strip()
        try:
            value = int(text)
        except ValueError:
            raise ValueError("Max tokens must be a whole number") from None
        if not 1 <= value <= MAX_TOKENS_LIMIT:
            raise ValueError(f"Max tokens must be between 1 and {MAX_TOKENS_LIMIT:,}")
        return value

    @property
    def prefill(self) -> str:
        return self.query_one("#prefill", Input).value

    @property
    def system(self) -> str:
        return self.query_one("#system", TextArea).text

    # -- updates ------------------------------------------------------------------------------

    def load(self, conversation: Any, *, prefill: str | None = None) -> None:
        """Show `conversation`'s settings without reporting them as user changes."""
        model = getattr(conversation, "model", None) or self._initial_model
        self.set_models(self._models, current=model)
        temperature = getattr(conversation, "temperature", None)
        system = getattr(conversation, "system", "") or ""
        max_tokens = getattr(conversation, "max_tokens", None)
        temperature_input = self.query_one("#temperature", Input)
        max_input = self.query_one("#max-tokens", Input)
        system_area = self.query_one("#system", TextArea)
        with self.prevent(Input.Changed, TextArea.Changed):
            temperature_input.value = "" if temperature is None else f"{temperature:g}"
            max_input.value = "" if max_tokens is None else str(max_tokens)
            if system_area.text != system:
                system_area.load_text(system)
            if prefill is not None:
                self.query_one("#prefill", Input).value = prefill

    def set_models(self, models: Iterable[str], *, current: str | None = None) -> None:
        """Fill the model list (the current model is always kept in it)."""
        select = self.query_one("#model", Select)
        current = current if current is not None else self.model
        names: list[str] = []
        for name in [*models, *([current] if current else [])]:
            if isinstance(name, str) and name and name not in names:
                names.append(name)
        self._models = names
        if not names:
            return
        with self.prevent(Select.Changed):
            select.set_options([_option(name) for name in names])
            select.value = current if current in names else names[0]

    def set_figures(
        self, *, draft_tokens: int, usage: dict | None, warning: str | None = None
    ) -> None:
        lines = [f"Draft ≈ {draft_tokens:,} tokens"]
        if usage:
            used_in = int(usage.get("input_tokens") or 0)
            used_out = int(usage.get("output_tokens") or 0)
            lines.append(f"Last reply: {used_in:,} in · {used_out:,} out")
        self.query_one("#figures", Static).update(Content("\n".join(lines)))
        warning_widget = self.query_one("#warning", Static)
        warning_widget.update(Content(clean(warning or "")))
        warning_widget.set_class(bool(warning), "-visible")
