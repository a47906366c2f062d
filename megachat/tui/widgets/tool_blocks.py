"""Tool calls and their results in the conversation: collapsible blocks with a short title.

A call (a `tool_use` block) reads "⚙ SERVER.TOOL {compact arguments}" and, expanded, shows its
arguments as pretty JSON. A result (a `tool_result` block) reads "↳ SERVER.TOOL → summary", or
"✖ SERVER.TOOL failed: summary", and, expanded, shows its text truncated: a result may be
megabytes, stored whole (`c` copies it whole), and the view must stay fast, so only its head is
ever sanitized and drawn. Both are collapsed once complete; a call still streaming is open, so
its arguments can be watched as they arrive.

A result block does not carry its tool's name: it is the name of the `tool_use` with the same id
in the previous message of the path (`tool_names`); the view passes it in.

Everything here is untrusted (the model picks names and arguments, a server writes results):
sanitized, and given to widgets as `Content`, never as markup.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from textual.content import Content
from textual.widgets import Collapsible, Static
from textual.widgets.collapsible import CollapsibleTitle

from megachat.chat.conversation import tool_label, tool_result_text
from megachat.sanitize import clean
from megachat.tui.widgets.block_lines import describe_image, pretty_json

if TYPE_CHECKING:
    from megachat.chat.conversation import ChatMessage

__all__ = [
    "ToolResultSection",
    "ToolUseSection",
    "call_title",
    "result_plain_text",
    "result_title",
    "result_tool_name",
    "tool_names",
]

DETAIL_CHARS = 48  # the arguments or the summary in a title, at most
BODY_CHARS = 2_000  # an expanded block shows at most this much of its text...
BODY_LINES = 40  # ...and at most this many lines of it


def tool_names(message: ChatMessage | None) -> dict[str, str]:
    """Tool use id -> the tool's API-side name, for the calls of `message` (the turn a
    tool-results message answers)."""
    if message is None:
        return {}
    return {
        str(b.get("id", "")): str(b.get("name", ""))
        for b in message.content or []
        if isinstance(b, dict) and b.get("type") == "tool_use"
    }


def one_line(text: str, limit: int = DETAIL_CHARS) -> str:
    """`text` on one line, whitespace collapsed, sanitized, cut to `limit` characters with "…".

    Only its head is read: a 1 MB result costs no more than a short one."""
    head = text[: limit * 4 + 16]
    line = " ".join(clean(head).split())
    if len(line) > limit or len(head) < len(text):
        line = line[: limit - 1].rstrip() + "…"
    return line


def _compact_json(value: object) -> str:
    if value is None:
        value = {}  # a call without input is drawn as one with no arguments
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    except (TypeError, ValueError):
        text = repr(value)
    return one_line(text)


def _pretty_input(value: object) -> str:
    return pretty_json(value if value is not None else {})


def _head(text: str) -> tuple[str, bool]:
    """The part of `text` shown (at most BODY_CHARS, BODY_LINES lines) and whether it is cut."""
    shown = text[:BODY_CHARS]
    end = -1
    for _ in range(BODY_LINES):
        end = shown.find("\n", end + 1)
        if end == -1:
            break
    if end != -1:
        shown = shown[:end]
    return shown, len(shown) < len(text.rstrip())


def _label(name: str) -> str:
    """SERVER.TOOL on one line (a title is one line), whole: a name is never shortened."""
    return " ".join(clean(tool_label(name)).split()) or "tool"


def _result_label(block: dict, name: str | None) -> str:
    """The tool a result answers; its tool_use_id when the call is not known."""
    if name:
        return _label(name)
    return " ".join(clean(str(block.get("tool_use_id") or "")).split()) or "tool"


def call_title(name: str, detail: str) -> Content:
    """A call's title: "⚙ SERVER.TOOL" and its arguments on one line (`detail`, sanitized)."""
    return Content.assemble((f"⚙ {_label(name)}", "bold"), "  ", (detail, "dim"))


def result_title(block: dict, name: str | None) -> Content:
    """A result's title: "↳ SERVER.TOOL → summary", or "✖ SERVER.TOOL failed: summary".

    `name` is the tool's API-side name; unknown (None), the block's tool_use_id stands in."""
    label = _result_label(block, name)
    text = tool_result_text(block)
    if text.strip():
        summary = one_line(text)
    else:
        images = _image_lines(block)
        summary = images[0] if images else "(no output)"
    if block.get("is_error") is True:
        return Content.assemble((f"✖ {label}", "bold"), " failed: ", summary)
    return Content.assemble((f"↳ {label}", "bold"), " → ", summary)


def _image_lines(block: dict) -> list[str]:
    """A line for each non-text part of a result's content (images described)."""
    content = block.get("content")
    if not isinstance(content, list):
        return []
    lines: list[str] = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") == "text":
            continue
        if part.get("type") == "image":
            lines.append(describe_image(part))
        else:
            lines.append(clean(f"[{part.get('type')} block]"))
    return lines


def result_plain_text(block: dict, name: str | None) -> str:
    """A result as copied: its title's first words, then its text whole (sanitized) and its
    images described."""
    label = _result_label(block, name)
    error = " (error)" if block.get("is_error") is True else ""
    parts = [clean(tool_result_text(block)), *_image_lines(block)]
    body = "\n".join(part for part in parts if part)
    return f"tool_result {label}{error}:\n{body}"


def _body(text: str, what: str) -> Content:
    """`text` (raw) as drawn in an expanded block: its head sanitized, then a note if cut."""
    shown, cut = _head(text)
    if not cut:
        return Content(clean(shown))
    note = f"… {len(text):,} characters in all; the whole {what} is stored (c copies it)"
    return Content.assemble(clean(shown), ("\n" + note, "italic dim"))


class _ToolBlock(Collapsible):
    """A collapsible whose title is Content (untrusted text, never markup)."""

    def __init__(self, *children: Static, title: Content, collapsed: bool, classes: str) -> None:
        super().__init__(*children, collapsed=collapsed, classes=f"tool-block {classes}")
        self._shown_title = title
        self.title = title  # type: ignore[assignment]  # Content is what the title widget takes

    def _set_title(self, title: Content) -> None:
        if title.plain != self._shown_title.plain:
            self._shown_title = title
            self.title = title  # type: ignore[assignment]

    def collapse_in_place(self) -> None:
        """Collapse without Collapsible's scroll to this block: a reply finishing must not move
        the view (the user may be reading elsewhere)."""
        if self.collapsed:
            return
        if not self.is_mounted:
            self.collapsed = True
            return
        self.set_reactive(Collapsible.collapsed, True)
        self.add_class("-collapsed")
        self.query_one(CollapsibleTitle).collapsed = True


class ToolUseSection(_ToolBlock):
    """A tool_use block: the tool and its arguments on one line; expanded, as pretty JSON.

    Open while the arguments stream in (`partial`), collapsed once they are complete."""

    def __init__(
        self, name: str, input_value: object = None, *, partial: str | None = None
    ) -> None:
        self._tool_name = clean(str(name or "tool"))
        if partial is None:
            self._input_text, detail = _pretty_input(input_value), _compact_json(input_value)
        else:
            self._input_text, detail = clean(partial), one_line(partial)
        self._input = Static(
            _body(self._input_text, "input"), classes="tool-input tool-body", markup=False
        )
        super().__init__(
            self._input,
            title=call_title(self._tool_name, detail),
            collapsed=partial is None,
            classes="tool-use",
        )

    @property
    def input_text(self) -> str:
        """The input whole (pretty JSON, or the partial JSON while streaming), sanitized."""
        return self._input_text

    @property
    def tool_name(self) -> str:
        """The tool's API-side name (sanitized)."""
        return self._tool_name

    def set_input(self, input_value: object = None, *, partial: str | None = None) -> None:
        """Show the partial JSON received so far, or the final input (a JSON value): then the
        block is complete and collapses, as a stored one is drawn."""
        if partial is not None:
            text, detail = clean(partial), one_line(partial)
        else:
            text, detail = _pretty_input(input_value), _compact_json(input_value)
        if text != self._input_text:
            self._input_text = text
            self._input.update(_body(text, "input"))
        self._set_title(call_title(self._tool_name, detail))
        if partial is None:
            self.collapse_in_place()


class ToolResultSection(_ToolBlock):
    """A tool_result block: the tool and a summary; expanded, its text (truncated) and images.

    `name` is the API-side name of the tool that produced it (None when unknown)."""

    def __init__(self, block: dict, name: str | None = None) -> None:
        self.block = block
        self.is_error = block.get("is_error") is True
        children = [
            Static(
                _body(tool_result_text(block), "result"),
                classes="tool-output tool-body",
                markup=False,
            )
        ]
        children += [
            Static(Content(line), classes="image-line", markup=False)
            for line in _image_lines(block)
        ]
        super().__init__(
            *children,
            title=result_title(block, name),
            collapsed=True,
            classes="tool-result -error" if self.is_error else "tool-result",
        )


def result_tool_name(names: Mapping[str, str] | None, block: dict) -> str | None:
    """The API-side name of the tool a result block answers, from `names` (the `tool_names`
    of the turn before); None when unknown."""
    if not names:
        return None
    return names.get(str(block.get("tool_use_id", "")))
