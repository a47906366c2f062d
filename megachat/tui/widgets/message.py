"""One conversation turn as a widget, and the streaming variant for a reply in progress.

Every string shown here is untrusted (model output, tool input, file names): it goes through
`megachat.sanitize.clean` and reaches widgets only as `Content(...)` or Markdown tokens, never as
content markup. A finished plain-text message costs three widgets (frame, header, body);
thinking and tool_use blocks add their own.

Streaming (`ReplyWidget`): the app forwards plain calls (`append_text`, `apply_event`, `finish`);
they only buffer. One writer task per reply applies the buffer at most ~25 times a second, so a
fast stream costs a bounded number of renders, and the widgets are changed by exactly one awaited
writer (concurrent appends corrupt a document: reference/textual.md).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events
from textual.await_complete import AwaitComplete
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Collapsible, Static

from megachat.api.events import BlockStart, BlockStop, InputJsonDelta, StreamEvent, ThinkingDelta
from megachat.chat.conversation import text_of, tool_label
from megachat.chat.documents import describe_document_block
from megachat.chat.tokens import format_usage
from megachat.sanitize import clean
from megachat.tui.keymap import MESSAGE_KEYS, bindings
from megachat.tui.widgets.block_lines import describe_image, pretty_json
from megachat.tui.widgets.stream_markdown import StreamingMarkdown, split_blocks
from megachat.tui.widgets.tool_blocks import (
    ToolResultSection,
    ToolUseSection,
    result_plain_text,
    result_tool_name,
)

if TYPE_CHECKING:
    from megachat.chat.conversation import ChatMessage

__all__ = [
    "Branch",
    "MessageWidget",
    "ReplyWidget",
    "ThinkingSection",
    "ToolResultSection",
    "ToolUseSection",
    "branch_label",
    "code_blocks",
    "describe_image",
    "plain_text",
]

FRAME_INTERVAL = 1 / 30  # at most ~30 renders per second per streaming reply (fewer when costly)
_ESC_HOLD = 256  # hold back a possibly unfinished escape sequence this close to the end

STATUS_BADGES = {
    "interrupted": "⚠ interrupted: the connection broke, the partial reply is kept",
    "cancelled": "■ cancelled: the partial reply is kept",
    "error": "✖ error: the reply failed, the partial reply is kept",
    "streaming": "… not finished (the reply was still streaming when it was saved)",
}


def stop_badge(message: ChatMessage, app: Any = None) -> str | None:
    """The line under a complete reply that did not simply end (cut at max_tokens, a stop
    sequence, a refusal, pause_turn); a cut one names the key that continues it, as bound."""
    from megachat.chat.outcomes import stop_note
    from megachat.tui.keymap import shown_keys

    if message.role != "assistant" or getattr(message, "status", "complete") != "complete":
        return None
    keys = shown_keys("continue_reply", getattr(app, "keymap_overrides", None))
    hint = f"{keys[0]} continues" if keys else ""
    sequence = getattr(message, "stop_sequence", None)
    return stop_note(getattr(message, "stop_reason", None), sequence, continue_hint=hint)


def _image_name(message: ChatMessage | None, block: dict) -> str | None:
    """The file name an image block was attached under (None when unknown)."""
    lookup = getattr(message, "image_name", None)
    if lookup is None:
        return None
    try:
        name = lookup(block)
    except Exception:
        return None
    return str(name) if name else None


def _user_text(text: str) -> Static:
    return Static(Content(clean(text)), classes="user-text", markup=False)


def _line(text: str, classes: str) -> Static:
    return Static(Content(clean(text)), classes=classes, markup=False)


class ThinkingSection(Collapsible):
    """A thinking block, collapsed by default; the text is plain (no Markdown, no markup)."""

    def __init__(self, text: str = "", *, redacted: bool = False) -> None:
        self._text = text
        self._body = Static(Content(text), classes="thinking-text", markup=False)
        title = "Thinking (redacted)" if redacted else "Thinking"
        super().__init__(self._body, title=title, collapsed=True, classes="thinking")

    @property
    def text(self) -> str:
        """The thinking text shown."""
        return self._text

    def set_text(self, text: str) -> None:
        """Show `text` (already sanitized)."""
        if text != self._text:
            self._text = text
            self._body.update(Content(text))


def _section_for(
    role: str,
    block: dict,
    message: ChatMessage | None = None,
    tool_names: Mapping[str, str] | None = None,
) -> Widget:
    """The widget for one stored content block (of `message`, for its image names; a
    tool_result's tool is named by `tool_names`, the calls of the turn before)."""
    kind = block.get("type")
    if kind == "text":
        text = clean(str(block.get("text", "")))
        if role == "user":
            return _user_text(text)
        return StreamingMarkdown(text, classes="assistant-text")
    if kind == "thinking":
        return ThinkingSection(clean(str(block.get("thinking", ""))))
    if kind == "redacted_thinking":
        return ThinkingSection("[redacted thinking]", redacted=True)
    if kind == "tool_use":
        return ToolUseSection(str(block.get("name", "")), block.get("input"))
    if kind == "image":
        return _line(describe_image(block, _image_name(message, block)), "image-line")
    if kind == "tool_result":
        return ToolResultSection(block, result_tool_name(tool_names, block))
    if kind == "document":
        return _line(f"[{describe_document_block(block)}]", "image-line")
    return _line(f"[{kind} block]", "other-block")


Branch = tuple[int, int]
"""Which version of its turn a message is: (position from 1, how many versions)."""


def branch_label(branch: Branch | None) -> str:
    """`‹ 2/3 ›` for the second of three versions; "" when the turn has only one."""
    if branch is None or branch[1] < 2:
        return ""
    return f"‹ {branch[0]}/{branch[1]} ›"


def _header_content(
    message: ChatMessage, streaming: bool = False, branch: Branch | None = None
) -> Content:
    label = branch_label(branch)
    if message.role == "user":
        who = "Tool results" if message.is_tool_results() else "You"
        return Content(f"{who} · {label}" if label else who)
    parts = ["Assistant"]
    if label:
        parts.append(label)
    if message.model:
        parts.append(clean(str(message.model)))
    if streaming:
        parts.append("…")
    figures = None if streaming else format_usage(message.usage)
    if figures:
        parts.append(figures)
    return Content(" · ".join(parts))


def unanswered_note(app: Any = None) -> str:
    """The marker under an unanswered user turn, naming the key that retries (as bound)."""
    from megachat.chat.conversation import UNANSWERED_NOTE
    from megachat.tui.keymap import shown_keys

    keys = shown_keys("retry", getattr(app, "keymap_overrides", None))
    shown = keys[0] if keys else "retry"
    if shown[:1] == "f" and shown[1:].isdigit():
        shown = shown.upper()  # F5, as the README and the help say
    return f"{UNANSWERED_NOTE} — {shown} retries"


def plain_text(message: ChatMessage, tool_names: Mapping[str, str] | None = None) -> str:
    """A message as plain text for copying: the Markdown source of its text blocks, its tool
    calls, its tool results whole (their tools named by `tool_names`, the calls of the turn
    before) and image lines, sanitized as on screen. One rule for a focused message and for the
    last reply copied from the prompt."""
    out: list[str] = []
    for block in message.content or []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            out.append(clean(str(block.get("text", ""))))
        elif kind == "tool_use":
            name = clean(tool_label(str(block.get("name", ""))))
            out.append(f"tool_use {name}:\n{pretty_json(block.get('input'))}")
        elif kind == "tool_result":
            out.append(result_plain_text(block, result_tool_name(tool_names, block)))
        elif kind == "image":
            out.append(describe_image(block, _image_name(message, block)))
    return "\n\n".join(out)


def code_blocks(message: ChatMessage) -> list[str]:
    """The contents of a message's code blocks, in order (for copying one).

    Found by the same block splitter that draws them (fenced with any number of backticks or
    tildes, or indented; Markdown only up to its budget), so "code block 2 of 3" is the second one
    the user sees, and a huge reply costs no more to search than to draw."""
    text = clean(text_of(message.content or []))
    if "```" not in text and "~~~" not in text and "    " not in text and "\t" not in text:
        return []
    return [code for block in split_blocks(text) for code in block.code()]


class MessageWidget(Vertical, can_focus=True):
    """A finished turn (user or assistant). Focusable so the app can copy it and walk its
    versions: the branch keys post `SwitchBranch` / `DeleteBranch` for the screen to act on."""

    DEFAULT_CSS = Path(__file__).with_name("message.tcss").read_text(encoding="utf-8")
    BINDINGS = bindings(MESSAGE_KEYS)

    class SwitchBranch(Message):
        """Show the previous (step -1) or next (+1) version of `message` and the path under it."""

        def __init__(self, message: ChatMessage, step: int) -> None:
            super().__init__()
            self.message = message
            self.step = step

    class DeleteBranch(Message):
        """Delete this version of a turn and everything under it (the screen asks first)."""

        def __init__(self, message: ChatMessage) -> None:
            super().__init__()
            self.message = message

    class OpenLink(Message):
        """Open one of `urls`, the links of a message (the screen lets the user pick and asks)."""

        def __init__(self, urls: tuple[str, ...]) -> None:
            super().__init__()
            self.urls = urls

    class TypedAway(Message):
        """A character typed while this message had the focus that is none of its keys: it
        belongs in the prompt (a click on a message, or on a link in it, focuses the message;
        what the user types next must not be lost)."""

        def __init__(self, character: str) -> None:
            super().__init__()
            self.character = character

    def __init__(
        self,
        message: ChatMessage,
        *,
        id: str | None = None,
        branch: Branch | None = None,
        tool_names: Mapping[str, str] | None = None,
    ) -> None:
        role = message.role if message.role in ("user", "assistant") else "assistant"
        classes = f"message -{role}"
        if message.is_tool_results():
            classes += " -tool-results"
        if message.is_continue_request():
            classes += " -continue-request"  # megachat asked for the rest of a cut reply: dimmed
        super().__init__(id=id, classes=classes)
        self.message = message
        self.branch = branch
        # tool use id -> tool name, of the turn before (names the tools of tool results)
        self.tool_names: Mapping[str, str] = tool_names or {}
        self._header = Static(
            _header_content(message, branch=branch), classes="message-header", markup=False
        )
        self._badge: Static | None = None
        self._stop: Static | None = None  # how the reply ended (stop_badge)
        self._unanswered: Static | None = None
        self._typing_away = False  # keys go on to the prompt (on_key)

    def set_branch(self, branch: Branch | None) -> None:
        """Show which version of its turn this message is (the tree changed around it)."""
        if branch != self.branch:
            self.branch = branch
            self._header.update(self._header_now())
            self.refresh_bindings()

    def _header_now(self) -> Content:
        return _header_content(self.message, branch=self.branch)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The version keys show (and act) only where there is another version to go to."""
        if action == "branch":
            position, count = self.branch or (1, 1)
            step = parameters[0] if parameters else 0
            target = position + (step if isinstance(step, int) else 0)
            if count < 2:
                return False
            return True if 1 <= target <= count else None  # None: shown dimmed at either end
        return True

    def action_branch(self, step: int) -> None:
        """Ask the screen for the previous (-1) / next (+1) version of this turn."""
        self.post_message(self.SwitchBranch(self.message, step))

    def action_delete_branch(self) -> None:
        """Ask the screen to delete this version and everything under it."""
        self.post_message(self.DeleteBranch(self.message))

    def on_key(self, event: events.Key) -> None:
        """Printable keys that are no binding here go on to the prompt (see `TypedAway`), and so
        do all that follow them until the message is focused again: keys typed in a burst were
        all sent here before the focus could move, and the letters that are keys here (`o`,
        `c`...) belong to the words typed, not to this message."""
        if not (event.is_printable and event.character):
            return
        focused = self.has_focus_within  # the message, or a block's title in it
        if self._typing_away or not focused or event.key not in self.screen.active_bindings:
            self._typing_away = True
            event.stop()
            event.prevent_default()
            self.post_message(self.TypedAway(event.character))

    def on_focus(self) -> None:
        self._typing_away = False

    def on_descendant_focus(self) -> None:
        self._typing_away = False  # a tool or thinking block's title: the message's keys apply

    def action_open_link(self) -> None:
        """`o`: ask the screen to open one of this message's links (it shows the URL first)."""
        urls = self.links()
        if urls:
            self.post_message(self.OpenLink(urls))
        else:
            self.notify("No link in this message.", markup=False)

    def links(self) -> tuple[str, ...]:
        """The targets of the links drawn in this message, in order, each once (the same
        tokens that make them clickable, so the list matches what a click can open)."""
        urls: dict[str, None] = {}
        for markdown in self.query(StreamingMarkdown):
            for block in markdown.blocks:
                for token in block.tokens:
                    for child in token.children or ():
                        if child.type == "link_open":
                            urls.setdefault(str(child.attrs.get("href", "")))
        urls.pop("", None)
        return tuple(urls)

    def compose(self):
        yield self._header
        for block in self.message.content or []:
            if isinstance(block, dict):
                yield _section_for(self.message.role, block, self.message, self.tool_names)
        status = getattr(self.message, "status", "complete")
        if status in STATUS_BADGES:
            self._badge = self._make_badge(status)
            yield self._badge
        note = stop_badge(self.message, self.app)
        if note:
            self._stop = Static(Content(clean(note)), classes="status-badge -stop", markup=False)
            yield self._stop

    def _make_badge(self, status: str) -> Static:
        self.add_class(f"-status-{status}")
        return Static(Content(STATUS_BADGES[status]), classes=f"status-badge -{status}")

    @property
    def unanswered(self) -> bool:
        """True while the "not answered" marker shows under this (user) turn."""
        return self._unanswered is not None

    def set_unanswered(self, unanswered: bool) -> None:
        """Show or drop the marker of a user turn no reply answers (Conversation.unanswered):
        its request failed before a reply began, so it must not look answered-but-empty."""
        if unanswered and self._unanswered is None and self.message.role == "user":
            self._unanswered = Static(
                Content(unanswered_note(self.app)), classes="status-badge -unanswered"
            )
            self.add_class("-status-unanswered")
            self.mount(self._unanswered)
        elif not unanswered and self._unanswered is not None:
            self._unanswered.remove()
            self._unanswered = None
            self.remove_class("-status-unanswered")

    # ---- what the app copies --------------------------------------------------------------------

    def plain_text(self) -> str:
        """The message as plain text (see `plain_text`)."""
        return plain_text(self.message, self.tool_names)

    def code_blocks(self) -> list[str]:
        """The message's code blocks (see `code_blocks`)."""
        return code_blocks(self.message)


@dataclass(eq=False)
class _Pending:
    """What has arrived for one content block, and how much of it the widget shows."""

    kind: str
    index: int | None
    raw: list[str] = field(default_factory=list)  # raw fragments not yet shown
    shown: str = ""  # sanitized text already given to the widget
    name: str = ""
    done: bool = False
    widget: Widget | None = None


class ReplyWidget(MessageWidget):
    """An assistant reply while it streams. Calls only buffer; one writer renders per frame."""

    frame_interval: ClassVar[float] = FRAME_INTERVAL

    def __init__(
        self, message: ChatMessage, *, id: str | None = None, branch: Branch | None = None
    ) -> None:
        super().__init__(message, id=id, branch=branch)
        self.add_class("-streaming")
        self._header.update(_header_content(message, streaming=True, branch=branch))
        self._blocks: list[_Pending] = []
        self._by_index: dict[int, _Pending] = {}
        self._current_text: _Pending | None = None
        self._final: ChatMessage | None = None
        self._wake = asyncio.Event()
        self._urgent = asyncio.Event()
        self._done: asyncio.Future[None] | None = None
        self._writer_gone = False  # the writer ended (finished, failed or unmounted)
        self.flush_count = 0  # renders done (for benchmarks and tests)

    def compose(self):
        yield self._header

    def _header_now(self) -> Content:
        return _header_content(self.message, streaming=self._final is None, branch=self.branch)

    def on_mount(self) -> None:
        self.run_worker(self._writer(), group="reply-writer")

    def on_unmount(self) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    @property
    def is_finished(self) -> bool:
        """True once finish() was called."""
        return self._final is not None

    # ---- the plain calls the app forwards -------------------------------------------------------

    def append_text(self, index: int | None, text: str) -> None:
        """Text for content block `index` (None: the current text block, e.g. from ReplyText)."""
        if not text or self._final is not None:
            return
        if index is None:
            block = self._current_text or self._new_block("text", None)
        else:
            block = self._by_index.get(index) or self._new_block("text", index)
        block.raw.append(text)
        self._wake.set()

    def apply_event(self, event: StreamEvent) -> None:
        """A raw stream event (megachat.api.events). Text comes via append_text, never here:
        forward every ReplyEvent here and every ReplyText to append_text(None, text)."""
        if self._final is not None:
            return
        match event:
            case BlockStart(index=index, block=block):
                self._block_started(index, block if isinstance(block, dict) else {})
            case ThinkingDelta(index=index, thinking=thinking):
                pending = self._by_index.get(index) or self._new_block("thinking", index)
                pending.raw.append(thinking)
            case InputJsonDelta(index=index, partial_json=partial_json):
                pending = self._by_index.get(index) or self._new_block("tool_use", index)
                pending.raw.append(partial_json)
            case BlockStop(index=index):
                pending = self._by_index.get(index)
                if pending is not None:
                    pending.done = True
            case _:  # message start / delta / stop, signatures, citations: nothing to draw
                return
        self._wake.set()

    def _block_started(self, index: int, block: dict) -> None:
        btype = str(block.get("type", "text"))
        if btype == "text":
            # the prefill arrives (as ReplyText) before the first text block starts
            current = self._current_text
            if current is not None and current.index is None:
                current.index = index
                self._by_index[index] = current
            else:
                self._new_block("text", index)
            if block.get("text"):
                self.append_text(index, str(block["text"]))
        else:
            pending = self._new_block(btype, index)
            pending.name = str(block.get("name", ""))
            if btype == "thinking" and block.get("thinking"):
                pending.raw.append(str(block["thinking"]))

    def finish(self, message: ChatMessage | None = None) -> AwaitComplete:
        """The reply ended: render the final message (status badge included). Await optional."""
        self._final = message if message is not None else self.message
        loop = asyncio.get_running_loop()
        if self._done is None:
            self._done = loop.create_future()
            if self._writer_gone:
                self._done.set_result(None)
        self._wake.set()
        self._urgent.set()
        return AwaitComplete(self._wait_done(self._done))

    @staticmethod
    async def _wait_done(done: asyncio.Future[None]) -> None:
        await asyncio.shield(done)

    # ---- the writer -----------------------------------------------------------------------------

    def _new_block(self, kind: str, index: int | None) -> _Pending:
        block = _Pending(kind, index)
        self._blocks.append(block)
        if index is not None:
            self._by_index[index] = block
        if kind == "text":
            self._current_text = block
        return block

    async def _writer(self) -> None:
        """The only code that changes this reply's widgets: one flush per frame at most."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                started = loop.time()
                if self._final is not None:
                    await self._apply_final(self._final)
                    return
                await self._flush(final=False)
                self.flush_count += 1
                # Render now (not in the next layout) to learn what the open tail costs: it is
                # re-rendered on every frame (a huge list or table still growing), so frames get
                # rarer as it grows, keeping that repeated work to about a quarter of the time.
                # Newly frozen blocks are rendered once and do not count.
                tail_cost = 0.0
                for block in self._blocks:
                    if isinstance(block.widget, StreamingMarkdown):
                        tail_cost += block.widget.prerender()
                wait = max(self.frame_interval, 4 * tail_cost) - (loop.time() - started)
                if wait > 0 and not self._urgent.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._urgent.wait(), wait)
        finally:
            self._writer_gone = True
            if self._done is not None and not self._done.done():
                self._done.set_result(None)

    def _take(self, block: _Pending, final: bool) -> str:
        """Sanitized new text of a block; a possibly unfinished escape sequence waits a frame."""
        if not block.raw:
            return ""
        raw = "".join(block.raw)
        block.raw.clear()
        if not final:
            cut = max(raw.rfind("\x1b"), raw.rfind("\x9b"), raw.rfind("\x9d"))
            if cut != -1 and len(raw) - cut < _ESC_HOLD:
                block.raw.append(raw[cut:])
                raw = raw[:cut]
        return clean(raw)

    async def _flush(self, *, final: bool) -> None:
        new_widgets: list[Widget] = []
        for block in self._blocks:
            fresh = self._take(block, final)
            if block.kind == "text":
                if block.widget is None:
                    if not fresh:
                        continue
                    block.widget = StreamingMarkdown(
                        fresh, streaming=True, classes="assistant-text"
                    )
                    new_widgets.append(block.widget)
                elif fresh:
                    assert isinstance(block.widget, StreamingMarkdown)
                    block.widget.append(fresh)
                block.shown += fresh
            elif block.kind in ("thinking", "redacted_thinking"):
                block.shown += fresh
                if block.widget is None:
                    block.widget = ThinkingSection(
                        block.shown, redacted=block.kind == "redacted_thinking"
                    )
                    new_widgets.append(block.widget)
                elif fresh:
                    assert isinstance(block.widget, ThinkingSection)
                    block.widget.set_text(block.shown)
            elif block.kind == "tool_use":
                block.shown += fresh
                if block.widget is None:
                    block.widget = ToolUseSection(block.name, partial=block.shown)
                    new_widgets.append(block.widget)
                elif fresh:
                    assert isinstance(block.widget, ToolUseSection)
                    block.widget.set_input(partial=block.shown)
            elif block.widget is None:
                block.widget = _line(f"[{block.kind} block]", "other-block")
                new_widgets.append(block.widget)
        if new_widgets:
            await self.mount_all(new_widgets)

    async def _apply_final(self, message: ChatMessage) -> None:
        """Make the widget show exactly what MessageWidget(message) would show."""
        self.message = message
        content = [b for b in message.content or [] if isinstance(b, dict)]
        shown = [b for b in self._blocks if b.widget is not None or b.raw]
        if [_kind_of(b) for b in content] == [b.kind for b in shown]:
            await self._flush(final=True)
            for block, data in zip(shown, content, strict=True):
                widget = block.widget
                if isinstance(widget, StreamingMarkdown):
                    widget.set_text(clean(str(data.get("text", ""))))
                    widget.finish()
                elif isinstance(widget, ThinkingSection):
                    if data.get("type") == "thinking":
                        widget.set_text(clean(str(data.get("thinking", ""))))
                elif isinstance(widget, ToolUseSection):
                    widget.set_input(data.get("input"))
        else:
            # A different structure than streamed (e.g. no deltas were forwarded): rebuild.
            for block in self._blocks:
                if block.widget is not None:
                    await block.widget.remove()
                    block.widget = None
            await self.mount_all([_section_for("assistant", b) for b in content])
        self._header.update(self._header_now())
        self.remove_class("-streaming")
        status = getattr(message, "status", "complete")
        if status in STATUS_BADGES and status != "streaming" and self._badge is None:
            self._badge = self._make_badge(status)
            await self.mount(self._badge)
        note = stop_badge(message, self.app)
        if note and self._stop is None:
            self._stop = Static(Content(clean(note)), classes="status-badge -stop", markup=False)
            await self.mount(self._stop)


def _kind_of(block: dict) -> str:
    return str(block.get("type", ""))
