"""The approval of one tool call, shown above the prompt while the turn waits for it.

Not a modal screen: the conversation stays readable, scrollable and copyable, the prompt stays
usable, and Esc (the screen's cancel) still stops the whole turn. The widget posts `Answered` up;
the screen resolves the approval the session is waiting for. Tool names and arguments come from
the model, so they are shown as sanitized `Content`, never markup.
"""

from __future__ import annotations

from collections.abc import Mapping

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Input, Static

from megachat.chat.tool_events import ToolCall
from megachat.chat.tool_loop import Approval, Approved, Denied
from megachat.sanitize import clean
from megachat.tui.keymap import APPROVAL_KEYS, bindings
from megachat.tui.widgets.block_lines import pretty_json

ARGUMENT_LINES = 12  # the arguments shown; the rest is counted ("… 30 more lines")
DEFAULT_DENIAL = "denied by the user"
_BUTTONS = (
    ("Once (y)", "approval-once", "success"),
    ("Always (a)", "approval-always", "default"),
    ("Deny (n)", "approval-deny", "error"),
)


def arguments_text(arguments: Mapping[str, object], max_lines: int = ARGUMENT_LINES) -> str:
    """A call's arguments as pretty JSON, sanitized, cut to `max_lines` lines."""
    lines = pretty_json(dict(arguments)).split("\n")
    if len(lines) > max_lines:
        rest = len(lines) - max_lines + 1
        lines = [*lines[: max_lines - 1], f"… {rest} more lines"]
    return "\n".join(lines)


class ToolApproval(Vertical, can_focus=True):
    """Run this call? y: once, a: always (saved in config), n: deny, after an optional reason.

    Only the widget itself takes the focus (its buttons are for the mouse), so shift+tab from
    the prompt lands on it; `n` opens the reason field and Enter there denies."""

    DEFAULT_CSS = """
    ToolApproval {
        height: auto;
        max-height: 60%;
        border: round $warning;
        border-title-color: $warning;
        padding: 0 1;
    }
    ToolApproval:focus-within {
        border: round $accent;
    }
    ToolApproval #approval-arguments {
        max-height: 14;
        overflow-y: auto;
        color: $text-muted;
    }
    ToolApproval #approval-buttons {
        height: auto;
    }
    ToolApproval Button {
        margin-right: 1;
        min-width: 10;
    }
    ToolApproval #approval-reason {
        width: 100%;
        display: none;
    }
    ToolApproval.-denying #approval-reason {
        display: block;
    }
    """

    BINDINGS = bindings(APPROVAL_KEYS)

    class Answered(Message):
        """The user answered `call`."""

        def __init__(self, call: ToolCall, approval: Approval) -> None:
            super().__init__()
            self.call = call
            self.approval = approval

    def __init__(self, call: ToolCall, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="tool-approval")
        self.call = call
        self.border_title = Content(f"Run {clean(call.label)}?")
        self._answered = False

    def compose(self) -> ComposeResult:
        yield Static(
            Content(arguments_text(self.call.input)), id="approval-arguments", markup=False
        )
        with Horizontal(id="approval-buttons"):  # short labels: 36 columns fit them
            for label, button_id, variant in _BUTTONS:
                button = Button(label, id=button_id, compact=True, variant=variant)
                button.can_focus = False
                yield button
        yield Input(
            placeholder="why not? (optional; Enter denies)", id="approval-reason", compact=True
        )

    # -- answers ------------------------------------------------------------------------------

    def action_approve_once(self) -> None:
        self._answer(Approved())

    def action_approve_always(self) -> None:
        self._answer(Approved(always=True))

    def action_deny(self) -> None:
        """First `n`: the reason field opens (focused); Enter there denies."""
        if not self.has_class("-denying"):
            self.add_class("-denying")
            self.query_one("#approval-reason", Input).focus()
            return
        reason = " ".join(self.query_one("#approval-reason", Input).value.split())
        self._answer(Denied(f"{DEFAULT_DENIAL}: {reason}" if reason else DEFAULT_DENIAL))

    @on(Button.Pressed, "#approval-once")
    def _once_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_approve_once()

    @on(Button.Pressed, "#approval-always")
    def _always_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_approve_always()

    @on(Button.Pressed, "#approval-deny")
    def _deny_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_deny()

    @on(Input.Submitted, "#approval-reason")
    def _reason_given(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_deny()

    def _answer(self, approval: Approval) -> None:
        """Once: a second key of a burst (y then n) must not answer a call already answered."""
        if not self._answered:
            self._answered = True
            self.post_message(self.Answered(self.call, approval))
