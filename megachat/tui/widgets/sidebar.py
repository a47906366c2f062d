"""The settings sidebar: model, temperature, max tokens, prefill, system prompt, token figures.

The sidebar owns its inputs: a user's change is posted as one `Sidebar.Changed` (which setting,
its new value) and the screen applies it to the conversation (from the next turn on); screens
call its methods (`load`, `apply_preset`, `focus_system`) rather than reach into its children.
Whether it shows, and how (beside the chat, or as an overlay on a narrow screen), is the screen's
business: it sets the classes `-hidden` and `-overlay`.
Model names come from the server and are untrusted, so they are shown as `Content`; the figures
line is built from numbers only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.validation import Function, Integer
from textual.widgets import Input, Label, Select, Static, TextArea

from megachat.chat.temperature import TEMPERATURE_ALLOWED, parse_temperature
from megachat.config import MAX_MAX_TOKENS
from megachat.sanitize import clean
from megachat.tui.widgets.unicode_text_area import UnicodeTextArea

if TYPE_CHECKING:
    from textual.widget import Widget

    from megachat.tui.widgets.tool_servers import ServerRow

MAX_TOKENS_LIMIT = MAX_MAX_TOKENS  # the `max_tokens` setting's own limit
_NOT_FOR_MODEL = {
    "#prefill": "This model (or thinking) does not take a prefill: sending would be refused",
    "#temperature": "Not with thinking: the API refuses temperature while thinking is on",
    "#top-k": "Not with thinking: the API refuses top_k while thinking is on",
    "#thinking": "This model does not think",
}


def _temperature_ok(text: str) -> bool:
    """Marks the input invalid by the same rule that refuses to send (chat's)."""
    try:
        parse_temperature(text)
    except ValueError:
        return False
    return True


def _option(model: str) -> tuple[Content, str]:
    return Content(clean(model) or "?"), model


def _temperature_text(temperature: float | None) -> str:
    return "" if temperature is None else f"{temperature:g}"


def _max_tokens_text(max_tokens: int | None) -> str:
    return "" if max_tokens is None else str(max_tokens)


def _dollars(value: float) -> str:
    """$0.0123 below a dollar (a reply often costs a fraction of a cent), else $1.23."""
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


@dataclass(frozen=True)
class Costs:
    """What the figures line shows in dollars; None: unknown (no prices for the model)."""

    draft: float | None = None  # what sending the draft costs, at the input price
    draft_exact: bool = False  # counted by the server (count_tokens), not estimated
    request_tokens: int | None = None  # the input tokens of the request the draft would send
    last_reply: float | None = None
    conversation: float | None = None


def _figures_text(draft_tokens: int, usage: dict | None, costs: Costs | None = None) -> str:
    """The figures lines: the draft's estimate, then the last reply's usage, then costs."""
    costs = costs or Costs()
    lines = [f"Draft ≈ {draft_tokens:,} tokens"]
    if costs.draft is not None and draft_tokens:  # the request it would send, input price
        mark = "" if costs.draft_exact else "≈ "
        tokens = f"{costs.request_tokens:,} tokens, " if costs.draft_exact else ""
        lines.append(f"Sending it: {mark}{tokens}{_dollars(costs.draft)} in")
    if usage:
        from megachat.chat.tokens import format_usage  # chat.images with it: not in frame one

        figures = format_usage(usage)
        if figures:
            lines.append(f"Last reply: {figures}")
    if costs.last_reply is not None:
        lines.append(f"Last reply cost: {_dollars(costs.last_reply)}")
    if costs.conversation is not None:
        lines.append(f"This chat so far: {_dollars(costs.conversation)}")
    return "\n".join(lines)


# The thinking choices: off, adaptive, or a budget of tokens (the API's minimum is 1,024).
THINKING_BUDGETS = (1024, 2048, 4096, 8192, 16384, 32768)
EFFORTS = ("low", "medium", "high")
ThinkingStyle = Literal["budget", "adaptive", "none", "any"]


def _thinking_options(style: ThinkingStyle, current: int | str | None) -> list[tuple[str, str]]:
    """The Thinking select's (label, value) options for a model's thinking style."""
    options = [("Off", "off")]
    if style in ("adaptive", "any"):
        options.append(("Adaptive", "adaptive"))
    if style in ("budget", "any"):
        budgets = list(THINKING_BUDGETS)
        if isinstance(current, int) and current not in budgets:
            budgets = sorted([*budgets, current])  # a budget set by `ask` stays choosable
        options += [(f"Budget {n:,} tokens", str(n)) for n in budgets]
    return options


def _thinking_value(text: str) -> int | str | None:
    return None if text == "off" else "adaptive" if text == "adaptive" else int(text)


def _number_or_none(text: str, kind: type[int] | type[float]) -> int | float | None:
    text = text.strip()
    return kind(text) if text else None


def _top_p_ok(text: str) -> bool:
    try:
        value = _number_or_none(text, float)
    except ValueError:
        return False
    return value is None or 0 <= value <= 1


def _top_k_ok(text: str) -> bool:
    try:
        value = _number_or_none(text, int)
    except ValueError:
        return False
    return value is None or value >= 1


Setting = Literal[
    "model",
    "temperature",
    "max_tokens",
    "system",
    "prefill",
    "thinking",
    "effort",
    "stop_sequences",
    "top_p",
    "top_k",
]


class Sidebar(VerticalScroll):
    """Per-conversation request settings and the draft/usage figures."""

    @dataclass
    class Changed(Message):
        """The user changed a setting to a valid value (an invalid one is shown, not posted)."""

        sidebar: Sidebar
        setting: Setting
        value: Any

    DEFAULT_CSS = """
    Sidebar {
        width: 34;
        dock: right;
        padding: 0 1;
        border-left: vkey $foreground 20%;
        /* its scrollbar's room is kept from the first frame: the settings are taller than most
           terminals, and a scrollbar appearing after start-up would shift every row */
        scrollbar-gutter: stable;
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
    Sidebar #advanced {
        height: auto;
    }
    Sidebar #stop-sequences {
        height: 4;
    }
    Sidebar #advanced-label {
        color: $text;
        text-style: bold;
        margin-top: 2;
    }
    Sidebar .-not-for-model {
        opacity: 50%;
    }
    Sidebar #figures {
        margin-top: 1;
        color: $text-muted;
        min-height: 5;  /* the lines that fill in after start-up move nothing below them */
    }
    Sidebar #warning {
        color: $warning;
        display: none;
    }
    Sidebar #warning.-visible {
        display: block;
    }
    """

    def __init__(
        self,
        model: str,
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        system: str = "",
        tool_servers: Sequence[ServerRow] = (),
        id: str | None = None,
    ) -> None:
        """Start with a new chat's settings, so the inputs show what `load` would show for it:
        composed with the first frame, the sidebar is final at once (nothing fills in later).
        `tool_servers`: the configured MCP servers (none: no tools section)."""
        super().__init__(id=id)
        self._tool_servers = list(tool_servers)
        self._thinking_style: ThinkingStyle = "any"
        self._limits: dict[str, bool] = {}  # selector -> what the model cannot take
        self._initial_model = model
        self._models: list[str] = [model] if model else []
        self._initial_temperature = temperature
        self._initial_max_tokens = max_tokens
        self._initial_system = system

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
            _temperature_text(self._initial_temperature),
            placeholder="default",
            id="temperature",
            validators=[Function(_temperature_ok, f"temperature must be {TEMPERATURE_ALLOWED}")],
            valid_empty=True,
            compact=True,
        )
        yield Label("Max tokens")
        yield Input(
            _max_tokens_text(self._initial_max_tokens),
            id="max-tokens",
            type="integer",
            validators=[Integer(minimum=1, maximum=MAX_TOKENS_LIMIT)],
            compact=True,
        )
        yield Label("Thinking")
        yield Select(
            _thinking_options("any", None),
            id="thinking",
            allow_blank=False,
            value="off",
            compact=True,
        )
        yield Label("Effort (adaptive thinking)")
        yield Select(
            [("Default", "default"), *((e.capitalize(), e) for e in EFFORTS)],
            id="effort",
            allow_blank=False,
            value="default",
            compact=True,
            disabled=True,
        )
        yield Label("Prefill")
        yield Input(placeholder="the reply starts with…", id="prefill", compact=True)
        yield Label("System prompt")
        yield UnicodeTextArea(
            self._initial_system,
            id="system",
            soft_wrap=True,
            tab_behavior="focus",
            placeholder="applies from the next turn",
            highlight_cursor_line=False,
        )
        yield Static(Content(_figures_text(0, None)), id="figures", markup=False)
        yield Static("", id="warning", markup=False)
        if self._tool_servers:  # its module only when there is something to show
            from megachat.tui.widgets.tool_servers import ToolServersPanel

            yield ToolServersPanel(self._tool_servers, id="tool-servers")
        yield Vertical(*self._advanced_widgets(), id="advanced")

    def _advanced_widgets(self) -> list[Widget]:
        return [
            Label("Advanced sampling", id="advanced-label"),
            Label("Stop sequences (one per line)"),
            UnicodeTextArea(
                "",
                id="stop-sequences",
                soft_wrap=True,
                tab_behavior="focus",
                placeholder="none",
                highlight_cursor_line=False,
            ),
            Label("Top p (0–1)"),
            Input(
                placeholder="default",
                id="top-p",
                validators=[Function(_top_p_ok, "top_p must be a number from 0 to 1")],
                valid_empty=True,
                compact=True,
            ),
            Label("Top k"),
            Input(
                placeholder="default",
                id="top-k",
                validators=[Function(_top_k_ok, "top_k must be a whole number >= 1")],
                valid_empty=True,
                compact=True,
            ),
        ]

    # -- values -------------------------------------------------------------------------------

    @property
    def model(self) -> str | None:
        value = self.query_one("#model", Select).value
        return None if value is Select.NULL else str(value)

    def temperature(self) -> float | None:
        """The temperature to send; None when blank. ValueError when it is not in 0..1."""
        return parse_temperature(self.query_one("#temperature", Input).value)

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
    def thinking(self) -> int | str | None:
        """None (off), "adaptive" or a budget of tokens."""
        return _thinking_value(str(self.query_one("#thinking", Select).value))

    @property
    def effort(self) -> str | None:
        value = self.query_one("#effort", Select).value
        return None if value in ("default", Select.NULL) else str(value)

    def _advanced_texts(self) -> tuple[str, str, str]:
        """(stop sequences, top p, top k) as typed."""
        return (
            self.query_one("#stop-sequences", TextArea).text,
            self.query_one("#top-p", Input).value,
            self.query_one("#top-k", Input).value,
        )

    @property
    def stop_sequences(self) -> list[str]:
        """The stop sequences, one per line (blank lines left out)."""
        text = self._advanced_texts()[0]
        return [line for line in text.split("\n") if line.strip()]

    def sampling(self) -> tuple[float | None, int | None]:
        """(top_p, top_k) to send; None when blank. ValueError when one is invalid."""
        _, top_p, top_k = self._advanced_texts()
        if not _top_p_ok(top_p):
            raise ValueError("Top p must be a number from 0 to 1")
        if not _top_k_ok(top_k):
            raise ValueError("Top k must be a whole number of at least 1")
        return _number_or_none(top_p, float), _number_or_none(top_k, int)  # type: ignore[return-value]

    @property
    def system(self) -> str:
        return self.query_one("#system", TextArea).text

    # -- the user's changes, posted as one message -----------------------------------------------

    @on(Select.Changed, "#model")
    def _model_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.value is not Select.NULL:
            self.post_message(self.Changed(self, "model", str(event.value)))

    @on(Input.Changed, "#temperature")
    def _temperature_changed(self, event: Input.Changed) -> None:
        event.stop()
        try:
            value = self.temperature()
        except ValueError:
            return  # shown as invalid; sending is refused until it is fixed
        self.post_message(self.Changed(self, "temperature", value))

    @on(Input.Changed, "#max-tokens")
    def _max_tokens_changed(self, event: Input.Changed) -> None:
        event.stop()
        try:
            value = self.max_tokens()
        except ValueError:
            return
        self.post_message(self.Changed(self, "max_tokens", value))

    @on(Input.Changed, "#prefill")
    def _prefill_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self, "prefill", event.value))

    @on(Select.Changed, "#thinking")
    def _thinking_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.value is Select.NULL:
            return
        value = _thinking_value(str(event.value))
        self.query_one("#effort", Select).disabled = value != "adaptive"
        self.post_message(self.Changed(self, "thinking", value))

    @on(Select.Changed, "#effort")
    def _effort_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.value is not Select.NULL:
            value = None if event.value == "default" else str(event.value)
            self.post_message(self.Changed(self, "effort", value))

    @on(TextArea.Changed, "#stop-sequences")
    def _stop_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self, "stop_sequences", self.stop_sequences))

    @on(Input.Changed, "#top-p")
    def _top_p_changed(self, event: Input.Changed) -> None:
        event.stop()
        if _top_p_ok(event.value):
            self.post_message(self.Changed(self, "top_p", _number_or_none(event.value, float)))

    @on(Input.Changed, "#top-k")
    def _top_k_changed(self, event: Input.Changed) -> None:
        event.stop()
        if _top_k_ok(event.value):
            self.post_message(self.Changed(self, "top_k", _number_or_none(event.value, int)))

    @on(TextArea.Changed, "#system")
    def _system_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self, "system", event.text_area.text))

    # -- updates ------------------------------------------------------------------------------

    def apply_preset(self, *, system: str, temperature: float | None, prefill: str) -> None:
        """Show a preset's values without reporting them as user changes: the caller applies
        them to the conversation and saves it once."""
        with self.prevent(Input.Changed, TextArea.Changed):
            self.query_one("#system", TextArea).load_text(system)
            self.query_one("#temperature", Input).value = _temperature_text(temperature)
            self.query_one("#prefill", Input).value = prefill

    def focus_system(self) -> None:
        """Put the cursor in the system prompt (the screen shows the sidebar first)."""
        self.query_one("#system", TextArea).focus()

    def focus_first_setting(self) -> None:
        """Put the focus on the first setting (the model), as a sidebar just opened takes it."""
        self.query_one("#model", Select).focus()

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
        thinking = getattr(conversation, "thinking", None)
        effort = getattr(conversation, "effort", None)
        stops = "\n".join(getattr(conversation, "stop_sequences", None) or [])
        top_p, top_k = getattr(conversation, "top_p", None), getattr(conversation, "top_k", None)
        with self.prevent(Input.Changed, TextArea.Changed, Select.Changed):
            temperature_input.value = _temperature_text(temperature)
            max_input.value = _max_tokens_text(max_tokens)
            if system_area.text != system:
                system_area.load_text(system)
            if prefill is not None:
                self.query_one("#prefill", Input).value = prefill
            self._show_thinking(thinking)
            self.query_one("#effort", Select).value = effort or "default"
        with self.prevent(Input.Changed, TextArea.Changed):
            stop_area = self.query_one("#stop-sequences", TextArea)
            if stop_area.text != stops:
                stop_area.load_text(stops)
            self.query_one("#top-p", Input).value = "" if top_p is None else f"{top_p:g}"
            self.query_one("#top-k", Input).value = "" if top_k is None else str(top_k)
        self.query_one("#effort", Select).disabled = thinking != "adaptive"

    def _show_thinking(
        self, thinking: int | str | None, style: ThinkingStyle | None = None
    ) -> None:
        """Offer the thinking choices of the model's style, showing `thinking`."""
        select = self.query_one("#thinking", Select)
        self._thinking_style = style or self._thinking_style
        options = _thinking_options(self._thinking_style, thinking)
        select.set_options(options)
        value = "off" if thinking is None else str(thinking)
        select.value = value if any(v == value for _, v in options) else "off"

    def set_model_limits(
        self, *, prefill: bool, thinking: ThinkingStyle, thinking_on: bool
    ) -> None:
        """Grey out what the model cannot take (or cannot take with thinking on): the prefill
        (a model without it, or with thinking), temperature and top k (with thinking), and
        offer only the thinking forms it knows. Sending checks the same rules again."""
        self._limits = {
            "#prefill": not prefill or thinking_on,
            "#temperature": thinking_on,
            "#top-k": thinking_on,
            "#thinking": thinking == "none",
        }
        self._grey_out()
        current = _thinking_value(str(self.query_one("#thinking", Select).value))
        if thinking != self._thinking_style:
            with self.prevent(Select.Changed):
                self._show_thinking(current, thinking)

    def _grey_out(self) -> None:
        for selector, off in self._limits.items():
            for widget in self.query(selector):  # #top-k: once the advanced part is shown
                widget.set_class(off, "-not-for-model")
                widget.tooltip = _NOT_FOR_MODEL.get(selector) if off else None

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

    def show_tool_servers(self, rows: Sequence[ServerRow]) -> None:
        """Show the MCP servers' switches and states (ToolServersPanel posts the toggles)."""
        from megachat.tui.widgets.tool_servers import ToolServersPanel

        self._tool_servers = list(rows)
        for panel in self.query(ToolServersPanel):
            panel.show(rows)
            return
        if rows:
            self.mount(ToolServersPanel(rows, id="tool-servers"))

    def set_figures(
        self,
        *,
        draft_tokens: int,
        usage: dict | None,
        warning: str | None = None,
        costs: Costs | None = None,
    ) -> None:
        text = _figures_text(draft_tokens, usage, costs)
        self.query_one("#figures", Static).update(Content(text))
        warning_widget = self.query_one("#warning", Static)
        warning_widget.update(Content(clean(warning or "")))
        warning_widget.set_class(bool(warning), "-visible")
