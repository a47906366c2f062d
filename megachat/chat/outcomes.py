"""What a turn came to, as types, and the one wording of a failure for both faces.

A `ChatSession` operation that sends returns exactly one of `Outcome`'s members; a face matches
on it (ending in `assert_never`), so a new kind of outcome cannot be forgotten by one of them.
`word_failure` and `skipped_warning` say the same thing in `megachat ask` and in the TUI, each
with the hint that fits where the user is.

No Textual, no httpx: megachat.api's error classes are imported only once something failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from megachat.chat.conversation import ChatMessage, Status
    from megachat.chat.documents import Attachment

Face = Literal["cli", "tui"]
KEY_REFUSED = "The API key was refused (HTTP 401). Enter another key to retry."


@dataclass(frozen=True)
class Draft:
    """What the user typed for a turn: handed back whole when it was not sent."""

    text: str
    images: tuple[Attachment, ...] = ()  # images, PDFs, text files


class SessionBusy(Exception):
    """A reply is still coming: one turn at a time per session."""

    def __init__(self) -> None:
        super().__init__("A reply is still coming (Esc cancels it).")


class NothingToDo(Exception):
    """The operation has nothing to act on (no reply to regenerate, no message to edit)."""


@dataclass(frozen=True)
class NotSent:
    """Nothing went out and no user turn was kept: `draft` (when the operation had one) goes
    back to the user. `error` says why (SessionBusy, NothingToDo, a store or client failure)."""

    error: BaseException
    draft: Draft | None = None


@dataclass(frozen=True)
class Finished:
    """The reply came in whole; `response` is the API's final Message object."""

    message: ChatMessage
    status: Status = "complete"
    response: dict | None = None
    skipped_events: int = 0


@dataclass(frozen=True)
class Cancelled:
    """The user cancelled: the partial reply (None when none had begun) is kept, "cancelled"."""

    message: ChatMessage | None


@dataclass(frozen=True)
class Failed:
    """The request failed after the user turn was stored; `message` is the partial reply kept
    (status interrupted / error), None when none had begun."""

    error: BaseException
    message: ChatMessage | None = None
    skipped_events: int = 0
    prefill: str = field(default="", repr=False)

    @property
    def key_refused(self) -> bool:
        """The API said 401: a new key and a retry may fix it."""
        from megachat.api.errors import AuthenticationError

        return isinstance(self.error, AuthenticationError)

    @property
    def deleted(self) -> bool:
        """The conversation was deleted elsewhere while the turn ran."""
        from megachat.chat.store import ConversationDeleted

        return isinstance(self.error, ConversationDeleted)


Outcome = NotSent | Finished | Cancelled | Failed


@dataclass(frozen=True)
class Wording:
    """A failure for the user: the error in the API's own words, and what to do next."""

    text: str
    hint: str = ""

    def line(self) -> str:
        """One line: the text, then the hint."""
        return f"{self.text}; {self.hint}" if self.hint else self.text


def word_failure(
    failed: Failed,
    *,
    face: Face,
    saved: bool = True,
    conversation_id: str = "",
    read_timeout: float | None = None,
) -> Wording:
    """The one wording of a failed turn, for `megachat ask` (face "cli") and the TUI ("tui")."""
    from megachat.api import APITimeoutError, StreamInterrupted

    exc = failed.error
    text = str(exc) or type(exc).__name__
    retry = "F5 retries" if face == "tui" else ""
    if failed.deleted:
        if face == "cli":
            return Wording(
                f"conversation {conversation_id} was deleted elsewhere while this turn ran; "
                "nothing more of it was saved"
            )
        return Wording(
            "This conversation was deleted elsewhere: the reply stopped and nothing more of it "
            "is saved. What you see stays here; start a new chat to go on."
        )
    if failed.key_refused:
        if face == "tui":
            return Wording(KEY_REFUSED)
        return Wording(text, "check MEGALLM_API_KEY or run `megachat key set`")
    if isinstance(exc, StreamInterrupted):
        message = failed.message
        received = message.text() if message is not None else ""
        kept = saved and message is not None and message.status == "interrupted"
        if face == "cli" and kept and received.strip() and received != failed.prefill:
            return Wording(text, "the partial reply was saved; continue with `megachat ask -c`")
        return Wording(text, retry)
    if isinstance(exc, APITimeoutError) and read_timeout is not None:
        text = (
            f"{text} (no answer within {read_timeout:g} s; "
            "raise it with `megachat config set timeout SECONDS`)"
        )
    return Wording(text, retry)


# The user turn sent to a model without prefill to get the rest of a reply cut at max_tokens.
CONTINUE_REQUEST = "Continue exactly where you stopped."
NOT_CUT = "The last reply did not stop at max_tokens: there is nothing to continue."


def stop_note(
    stop_reason: str | None, stop_sequence: str | None = None, *, continue_hint: str = ""
) -> str | None:
    """How a reply ended, when the user should know (None for end_turn and tool_use): one line
    for both faces; `continue_hint` says how to continue a cut reply where the user is
    ("ctrl+e continues", "continue with `megachat ask -c --continue-reply`")."""
    match stop_reason:
        case "max_tokens":
            cut = "✂ cut at max_tokens"
            return f"{cut} — {continue_hint}" if continue_hint else cut
        case "stop_sequence":
            shown = f" {stop_sequence!r}" if stop_sequence else ""
            return f"■ stopped at the stop sequence{shown}"
        case "refusal":
            return "⊘ refused: the model declined to go on (stop_reason refusal)"
        case "pause_turn":
            return "⏸ paused by the server (pause_turn): the turn is unfinished"
        case "model_context_window_exceeded":
            return "✂ cut: the context window is full"
        case _:
            return None


def skipped_warning(count: int) -> str | None:
    """The warning for malformed stream events the API layer dropped (None for none)."""
    if count <= 0:
        return None
    events = "event" if count == 1 else "events"
    return f"{count} malformed stream {events} skipped; the reply may be incomplete"
