"""What a conversation is, and how it becomes a Messages API request.

Messages hold Messages-API content blocks so that what is stored, exported and sent is the same
structure. Images are held in memory as base64 blocks; the store keeps their bytes once, by sha256.
The file an image came from is display-only metadata beside the blocks (ChatMessage.image_names,
keyed by the sha256 of the image bytes), so it never reaches a request or a JSON export.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING, Literal

from megachat.chat.ids import new_id
from megachat.chat.temperature import check_temperature  # the one rule lives there
from megachat.config import DEFAULT_MAX_TOKENS  # its one home: the settings default

if TYPE_CHECKING:
    from megachat.chat.documents import Attachment
    from megachat.tools.servers import ServerConfig

Role = Literal["user", "assistant"]
Status = Literal["complete", "streaming", "interrupted", "cancelled", "error"]
STATUSES = ("complete", "streaming", "interrupted", "cancelled", "error")
TITLE_LENGTH = 60

# Block types replayed to the API from history. Thinking and tool blocks from earlier replies are
# left out: without the tools and thinking settings of that request they would be rejected.
_SENDABLE = {"text", "image", "document"}
# ...except in a request that carries `tools`: then tool calls, their results and the thinking
# that led to them (signatures included) go back unchanged, as the tool loop requires.
_SENDABLE_WITH_TOOLS = _SENDABLE | {"tool_use", "tool_result", "thinking", "redacted_thinking"}
# ...and, while thinking is on, the thinking of earlier replies goes back unchanged too.
_SENDABLE_WITH_THINKING = _SENDABLE | {"thinking", "redacted_thinking"}
# The API-side name of a tool is SERVER__TOOL (megachat.chat.tool_loop builds it).
TOOL_NAME_SEPARATOR = "__"
MIN_THINKING_BUDGET = 1024  # the API's least budget_tokens
EFFORTS = ("low", "medium", "high")
# Prompt caching: the API takes at most 4 cache_control breakpoints per request.
MAX_CACHE_BREAKPOINTS = 4
EPHEMERAL: dict = {"type": "ephemeral"}
# The key marking the text block of a user turn megachat wrote itself to ask for the rest of a
# reply cut at max_tokens (a model without prefill). Stored with the block, never sent.
CONTINUE_MARK = "megachat_continue"


def text_of(content: Iterable[dict]) -> str:
    """Plain text of the text blocks, joined by blank lines: the one plain-text join of a
    message (copy, code blocks, `ask`; the search index adds tools: searchable_text)."""
    return "\n\n".join(
        str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text"
    )


def tool_label(name: str) -> str:
    """SERVER.TOOL for the API-side name SERVER__TOOL (as the user sees and `--allow` spells it);
    a name without the separator is shown as it is."""
    server, separator, tool = name.partition(TOOL_NAME_SEPARATOR)
    return f"{server}.{tool}" if separator and server and tool else name


def tool_result_text(block: dict) -> str:
    """The text of a tool_result block: its string content, or its text blocks joined."""
    content = block.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return text_of(content)
    return ""


def searchable_text(content: Iterable[dict]) -> str:
    """What the search index holds for a message: its text, the name of each tool it calls
    (both SERVER__TOOL and SERVER.TOOL, so either spelling finds it) and the text of each
    tool result. For the index only: copy and `ask` use text_of."""
    parts: list[str] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        match block.get("type"):
            case "text":
                parts.append(str(block.get("text", "")))
            case "tool_use":
                name = str(block.get("name", ""))
                label = tool_label(name)
                parts.append(name if label == name else f"{name} {label}")
            case "tool_result":
                parts.append(tool_result_text(block))
            case _:
                pass
    return "\n\n".join(part for part in parts if part)


def title_from(text: str) -> str:
    """A title from the first non-empty line of text, whitespace collapsed, at most 60 chars."""
    for line in text.splitlines():
        line = " ".join(line.split())
        if line:
            if len(line) > TITLE_LENGTH:
                line = line[: TITLE_LENGTH - 1].rstrip() + "…"
            return line
    return ""


def prefill_sent(prefill: str) -> str:
    """The prefill as sent: the API rejects a final assistant turn ending in whitespace."""
    return prefill.rstrip()


def merge_prefill(prefill: str, content: list[dict]) -> list[dict]:
    """The reply to store after a prefilled request: prefill + continuation as one message.

    `content` is the reply's content blocks (the continuation only, as the API returns it). The
    (right-stripped, as sent) prefill is put in front of the first text block.
    """
    sent = prefill_sent(prefill)
    blocks = [dict(b) for b in content]
    if not sent:
        return blocks
    for b in blocks:
        if b.get("type") == "text":
            b["text"] = sent + b.get("text", "")
            return blocks
    return [{"type": "text", "text": sent}, *blocks]


@dataclass
class ChatMessage:
    """One turn: a role and its content blocks, with how the reply ended."""

    role: Role
    content: list[dict] = field(default_factory=list)
    id: str = field(default_factory=new_id)
    status: Status = "complete"
    created_at: float = field(default_factory=time.time)
    usage: dict | None = None
    stop_reason: str | None = None
    model: str | None = None
    # sha256 of an image's bytes -> the file name it was attached under (display only, not sent)
    image_names: dict[str, str] = field(default_factory=dict)
    # the message this one answers or follows; None for a first message (a root)
    parent_id: str | None = None
    # what this reply cost in US dollars, priced from the model table (None: unknown)
    cost_usd: float | None = None
    # the stop sequence that ended the reply (stop_reason "stop_sequence"), as the API said it;
    # shown under the reply while the app runs (the store has no column for it yet)
    stop_sequence: str | None = field(default=None, compare=False)

    def text(self) -> str:
        """Plain text of the text blocks."""
        return text_of(self.content)

    def is_tool_results(self) -> bool:
        """A user turn made only of tool results (the tool loop's answer), not typed by the user."""
        return (
            self.role == "user"
            and bool(self.content)
            and all(isinstance(b, dict) and b.get("type") == "tool_result" for b in self.content)
        )

    def is_continue_request(self) -> bool:
        """A user turn megachat wrote to ask for the rest of a cut reply (CONTINUE_MARK): shown
        dimmed, since the user did not type it."""
        return self.role == "user" and any(
            isinstance(b, dict) and b.get(CONTINUE_MARK) for b in self.content
        )

    def images(self) -> list[dict]:
        """The image blocks."""
        return [b for b in self.content if b.get("type") == "image"]

    def image_name(self, block: dict) -> str | None:
        """The file name an image block of this message was attached under, when known."""
        if not self.image_names:
            return None
        source = block.get("source") if isinstance(block, dict) else None
        if not isinstance(source, dict):
            return None
        sha = source.get("sha256")
        if not isinstance(sha, str) and source.get("type") == "base64":
            try:
                sha = hashlib.sha256(
                    base64.b64decode(source.get("data") or "", validate=True)
                ).hexdigest()
            except (binascii.Error, ValueError, TypeError):
                return None
        return self.image_names.get(sha) if isinstance(sha, str) else None

    def set_text(self, text: str) -> None:
        """Replace the text (keeping non-text blocks before it); used while a reply streams."""
        others = [b for b in self.content if b.get("type") not in ("text",)]
        self.content = [*others, {"type": "text", "text": text}] if text else others


# the tree's bookkeeping: not constructor arguments, not shown, not compared
_PRIVATE: dict = {"init": False, "repr": False, "compare": False}


@dataclass
class Conversation:
    """A conversation and its settings. The title follows the first user text until renamed.

    Messages form a tree (each has a `parent_id`): regenerate, edit and retry add siblings, so no
    version the user had is lost. `messages` is the active path, root to leaf: what is shown,
    sent and exported. Every branch is kept (`all_messages`); each node remembers the child last
    used under it, so switching to a message shows the path under it down to the leaf last used.
    A plain list given as `messages` is taken as a chain.
    """

    id: str = field(default_factory=new_id)
    title: str = ""
    model: str = ""
    system: str = ""
    temperature: float | None = None
    max_tokens: int = DEFAULT_MAX_TOKENS
    created_at: float = field(default_factory=time.time)
    updated_at: float = 0.0
    messages: list[ChatMessage] = field(default_factory=list)
    # The MCP servers switched on for this conversation, by name; None: follow the config (each
    # server's `enabled`). [] is "none", not "follow the config". See enabled_server_names.
    tool_servers: list[str] | None = None
    # Request options beyond temperature and max_tokens, each sent only when set: thinking
    # (a budget of tokens, "adaptive", or None: off), effort (low/medium/high, with adaptive
    # thinking), stop_sequences, top_p, top_k. Stored together (request_options, schema v7).
    thinking: int | Literal["adaptive"] | None = None
    effort: str | None = None
    stop_sequences: list[str] = field(default_factory=list)
    top_p: float | None = None
    top_k: int | None = None
    # every message of every branch by id, in creation order
    _nodes: dict[str, ChatMessage] = field(default_factory=dict, **_PRIVATE)
    # parent id (None: the roots) -> ids of its children, in creation order
    _kids: dict[str | None, list[str]] = field(default_factory=dict, **_PRIVATE)
    # message id -> when it was last on the active path (a counter: higher is more recent)
    _used: dict[str, int] = field(default_factory=dict, **_PRIVATE)
    _clock: int = field(default=0, **_PRIVATE)
    _synced: tuple = field(default=(), **_PRIVATE)

    def __post_init__(self) -> None:
        if isinstance(self.max_tokens, bool) or int(self.max_tokens) < 1:
            raise ValueError(f"max_tokens must be a positive integer, not {self.max_tokens!r}")
        self.max_tokens = int(self.max_tokens)
        if self.tool_servers is not None:
            if isinstance(self.tool_servers, str) or not all(
                isinstance(name, str) for name in self.tool_servers
            ):
                raise ValueError(f"tool_servers must be a list of names, not {self.tool_servers!r}")
            self.tool_servers = list(dict.fromkeys(self.tool_servers))
        check_request_options(self)
        if not self.updated_at:
            self.updated_at = self.created_at
        chain, self.messages = list(self.messages), []
        for msg in chain:
            msg.parent_id = self.messages[-1].id if self.messages else None
            self._attach(msg)
            self.messages.append(msg)
        self._mark_path()

    # -- the tree ------------------------------------------------------------------------------

    def load_tree(
        self,
        messages: Iterable[ChatMessage],
        active_leaf_id: str | None,
        used: dict[str, int] | None = None,
    ) -> None:
        """Replace the tree with `messages` (creation order, parents before children), as stored.

        `used` gives each message's last-used counter; the active path is root..active_leaf_id,
        or, when that is unknown, the path down through the children last used.
        """
        self._nodes, self._kids, self.messages = {}, {}, []
        self._used = dict(used or {})
        self._clock = max(self._used.values(), default=0)
        for msg in messages:
            if msg.parent_id is not None and msg.parent_id not in self._nodes:
                raise ValueError(f"message {msg.id} comes before its parent {msg.parent_id}")
            self._attach(msg)
        if active_leaf_id is not None and active_leaf_id in self._nodes:
            self.messages = self._ancestry(active_leaf_id)
            self._mark_path()  # the active path is, by definition, the one last used
        else:
            self.messages = self._descend(None, [])

    @property
    def active_leaf_id(self) -> str | None:
        """The id of the last message of the active path (None when it is empty)."""
        self._sync()
        return self.messages[-1].id if self.messages else None

    def used(self) -> dict[str, int]:
        """Message id -> last-used counter (higher: more recent), as the store persists it."""
        self._sync()
        return dict(self._used)

    def get(self, message_id: str) -> ChatMessage | None:
        """The message with that id, in any branch."""
        self._sync()
        return self._nodes.get(message_id)

    def all_messages(self) -> list[ChatMessage]:
        """Every message of every branch, in creation order."""
        self._sync()
        return list(self._nodes.values())

    def children(self, parent_id: str | None) -> list[ChatMessage]:
        """The messages that follow `parent_id` (None: the roots), in creation order."""
        self._sync()
        return [self._nodes[i] for i in self._kids.get(parent_id, ())]

    def siblings(self, message: ChatMessage) -> list[ChatMessage]:
        """The versions of this turn: the children of its parent, itself included."""
        return self.children(message.parent_id)

    def sibling(self, message: ChatMessage, step: int) -> ChatMessage | None:
        """The previous (-1) or next (+1) sibling of `message`; None past either end (no wrap)."""
        siblings = self.siblings(message)
        ids = [m.id for m in siblings]
        if message.id not in ids:
            raise KeyError(message.id)
        index = ids.index(message.id) + step
        return siblings[index] if 0 <= index < len(siblings) else None

    def switch_to(self, message_id: str) -> None:
        """Make the active path root..that message, then down through the child last used."""
        self._sync()
        if message_id not in self._nodes:
            raise KeyError(message_id)
        path = self._ancestry(message_id)
        self.messages = self._descend(message_id, path)
        self._mark_path()

    def branch_user(
        self, of: ChatMessage, text: str, images: Iterable[Attachment] = ()
    ) -> ChatMessage:
        """A new version of the user turn `of` (edit and resend): a sibling, ending the path."""
        self._sync()
        if of.id not in self._nodes:
            raise KeyError(of.id)
        self.messages = self._ancestry(of.parent_id) if of.parent_id else []
        return self.add_user(text, images)

    def branch_reply(self, of: ChatMessage) -> None:
        """End the active path at `of`'s parent, so the next add_assistant is a sibling of `of`."""
        self._sync()
        if of.id not in self._nodes:
            raise KeyError(of.id)
        self.messages = self._ancestry(of.parent_id) if of.parent_id else []
        self._mark_path()

    def delete_branch(self, message_id: str) -> list[ChatMessage]:
        """Remove the message and everything under it; returns the removed messages.

        When it was on the active path, the path moves to its previous sibling (else the next,
        else it ends at the parent). This is the only way history is deleted.
        """
        self._sync()
        if message_id not in self._nodes:
            raise KeyError(message_id)
        target = self._nodes[message_id]
        doomed = {message_id}
        for msg in self._nodes.values():  # creation order: parents come before children
            if msg.parent_id in doomed:
                doomed.add(msg.id)
        on_path = any(m.id == message_id for m in self.messages)
        replacement = None
        if on_path:
            replacement = self.sibling(target, -1) or self.sibling(target, +1)
            self.messages = self._ancestry(target.parent_id) if target.parent_id else []
        removed = [m for m in self._nodes.values() if m.id in doomed]
        for msg in removed:
            del self._nodes[msg.id]
            self._used.pop(msg.id, None)
            self._kids.pop(msg.id, None)
        self._kids[target.parent_id] = [
            i for i in self._kids.get(target.parent_id, ()) if i != message_id
        ]
        if replacement is not None:
            self.switch_to(replacement.id)
        self.updated_at = max(self.updated_at, time.time())
        return removed

    def _attach(self, msg: ChatMessage) -> None:
        """Add a message to the tree (its parent must be there already)."""
        if msg.id in self._nodes:
            raise ValueError(f"duplicate message id {msg.id}")
        if msg.parent_id is not None and msg.parent_id not in self._nodes:
            raise ValueError(f"unknown parent {msg.parent_id}")
        self._nodes[msg.id] = msg
        self._kids.setdefault(msg.parent_id, []).append(msg.id)

    def _sync(self) -> None:
        """Take in messages appended straight to `messages` (older callers) as a chain."""
        path = self.messages
        mark = (id(path), len(path), path[-1].id if path else None)
        if mark == self._synced:  # the path is as the tree methods left it: nothing to take in
            return
        previous: str | None = None
        for msg in self.messages:
            if msg.id not in self._nodes:
                msg.parent_id = previous
                self._attach(msg)
                self._used[msg.id] = self._clock
            previous = msg.id
        self._synced = mark

    def _ancestry(self, message_id: str) -> list[ChatMessage]:
        """The path root..message."""
        path: list[ChatMessage] = []
        current: str | None = message_id
        while current is not None:
            msg = self._nodes[current]
            path.append(msg)
            current = msg.parent_id
        path.reverse()
        return path

    def _descend(self, start: str | None, path: list[ChatMessage]) -> list[ChatMessage]:
        """Extend `path` (ending at `start`) down through the child last used at each level
        (ties: the newest)."""
        path = list(path)
        current = start
        while kids := self._kids.get(current):
            index = max(range(len(kids)), key=lambda k: (self._used.get(kids[k], 0), k))
            current = kids[index]
            path.append(self._nodes[current])
        return path

    def _mark_path(self) -> None:
        """Record the active path as the one last used at each of its levels."""
        if self.messages:
            self._clock += 1
            for msg in self.messages:
                self._used[msg.id] = self._clock

    def _append(self, msg: ChatMessage) -> None:
        """Add `msg` as a child of the active leaf and make it the new leaf."""
        self._sync()
        msg.parent_id = self.messages[-1].id if self.messages else None
        self._attach(msg)
        self.messages.append(msg)
        self._mark_path()

    # -- turns ---------------------------------------------------------------------------------

    def add_user(self, text: str, images: Iterable[Attachment] = ()) -> ChatMessage:
        """Append a user turn (images and documents first, then the text, as the API
        recommends)."""
        from megachat.chat.documents import attachment_block  # with the first attachment only

        images = list(images)
        content = [attachment_block(img) for img in images]
        if text.strip():
            content.append({"type": "text", "text": text})
        if not content:
            raise ValueError("an empty message (no text, no images)")
        msg = ChatMessage(role="user", content=content)
        # the file name only: the directories it was attached from are nobody's business
        msg.image_names = {
            img.sha256: PurePath(img.name).name for img in images if PurePath(img.name).name
        }
        self._append(msg)
        if not self.title:
            self.title = title_from(text)
        self.updated_at = msg.created_at
        return msg

    def add_assistant(
        self, text: str = "", *, model: str | None = None, status: Status = "streaming"
    ) -> ChatMessage:
        """Append an assistant turn, by default a reply about to stream (text: prefill sent)."""
        content = [{"type": "text", "text": text}] if text else []
        msg = ChatMessage(role="assistant", content=content, status=status, model=model)
        self._append(msg)
        self.updated_at = msg.created_at
        return msg

    def request_messages(
        self, *, with_tools: bool = False, with_thinking: bool | None = None
    ) -> list[dict]:
        """The active path as the API's `messages`, as every next request starts with it.

        `export --format json` prints exactly this, so "as it would be sent next" is literal.
        Only text/image/document blocks are replayed; whitespace-only text blocks and turns left
        empty are dropped; neighbouring same-role turns are merged; leading assistant turns are
        dropped so the first message is the user's. Text is sent as stored (a reply's trailing
        newline included): only a *final* assistant turn is stripped, by build_request.
        `with_tools`: tool_use, tool_result and thinking blocks are replayed too.
        `with_thinking` (default: whether thinking is on): thinking blocks are replayed unchanged
        (signature and redacted data included); one without its signature (a cut-off reply)
        cannot be verified by the API and is left out.
        """
        if with_thinking is None:
            with_thinking = self.thinking is not None
        if with_tools:
            sendable = _SENDABLE_WITH_TOOLS
        else:
            sendable = _SENDABLE_WITH_THINKING if with_thinking else _SENDABLE
        messages: list[dict] = []
        for msg in self.messages:
            blocks = [_unmarked(copy.deepcopy(b)) for b in msg.content if _replayable(b, sendable)]
            if not blocks:
                continue
            if not messages and msg.role != "user":
                continue
            if messages and messages[-1]["role"] == msg.role:
                messages[-1]["content"].extend(blocks)
            else:
                messages.append({"role": msg.role, "content": blocks})
        return messages

    def uses_tools(self) -> bool:
        """Whether a tool loop ran on the active path (it holds a tool_result), so that its
        export carries the tool blocks as a request with tools sends them. A tool_use nobody
        answered (a reply asking for tools no request offered) does not count: replayed without
        its result, the API would reject it; a request without tools leaves it out."""
        return any(
            b.get("type") == "tool_result"
            for msg in self.messages
            if msg.role == "user"
            for b in msg.content
        )

    def export_messages(self) -> list[dict]:
        """The `messages` of `export --format json` (and what `import` matches a path against):
        request_messages, with the tool blocks when the path holds any, as a request carrying
        the tools sends them."""
        return self.request_messages(with_tools=self.uses_tools())

    def build_request(
        self,
        *,
        prefill: str = "",
        stream: bool = True,
        tools: Sequence[dict] | None = None,
        cache: bool = False,
    ) -> dict:
        """The Messages API body for the next request: request_messages(), then the prefill.

        The prefill (right-stripped) becomes the final assistant message, and a final assistant
        turn is right-stripped (the API rejects trailing whitespace there); `system` only when
        non-empty; `temperature`, `thinking`, `output_config.effort`, `stop_sequences`,
        `top_p` and `top_k` only when set; `tools` (the API's tool definitions) when given, and
        then the tool blocks of the history with them. `cache`: prompt-caching breakpoints
        (see mark_cache_breakpoints). ValueError when an option was set out of range since.
        """
        check_request_options(self)  # they may have been set since
        messages = self.request_messages(with_tools=bool(tools))
        sent = prefill_sent(prefill)
        if sent and messages:
            if messages[-1]["role"] == "assistant":
                messages[-1]["content"].append({"type": "text", "text": sent})
            else:
                messages.append({"role": "assistant", "content": [{"type": "text", "text": sent}]})
        if messages and messages[-1]["role"] == "assistant":
            _strip_final(messages)
        body: dict = {"model": self.model, "max_tokens": self.max_tokens, "messages": messages}
        if self.system.strip():
            body["system"] = self.system
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.thinking == "adaptive":
            body["thinking"] = {"type": "adaptive"}
        elif self.thinking is not None:
            body["thinking"] = {"type": "enabled", "budget_tokens": self.thinking}
        if self.effort is not None:
            body["output_config"] = {"effort": self.effort}
        if self.stop_sequences:
            body["stop_sequences"] = list(self.stop_sequences)
        if self.top_p is not None:
            body["top_p"] = self.top_p
        if self.top_k is not None:
            body["top_k"] = self.top_k
        if tools:
            body["tools"] = [copy.deepcopy(dict(tool)) for tool in tools]
        if stream:
            body["stream"] = True
        if cache:
            mark_cache_breakpoints(body)
        return body

    def request_options(self) -> dict:
        """The options beyond temperature and max_tokens that are set, as stored
        (conversations.request_options); {} when none is."""
        options: dict = {
            "thinking": self.thinking,
            "effort": self.effort,
            "stop_sequences": list(self.stop_sequences) or None,
            "top_p": self.top_p,
            "top_k": self.top_k,
        }
        return {name: value for name, value in options.items() if value is not None}

    def add_tool_results(self, results: Sequence[dict]) -> ChatMessage:
        """Append the user turn answering a reply's tool calls: its `tool_result` blocks."""
        if not results:
            raise ValueError("no tool results")
        msg = ChatMessage(role="user", content=[dict(block) for block in results])
        self._append(msg)
        self.updated_at = msg.created_at
        return msg

    def last(self, role: Role | None = None) -> ChatMessage | None:
        """The last message (of a role)."""
        for msg in reversed(self.messages):
            if role is None or msg.role == role:
                return msg
        return None

    def unanswered(self) -> ChatMessage | None:
        """The user turn ending the active path, when no reply answers it.

        Derived, not stored: a request that failed (or was cancelled, or whose process died)
        before any reply began leaves exactly this. Views mark it (UNANSWERED_NOTE) so it does
        not look answered-but-empty; the caller knows whether a reply is streaming right now.
        """
        return unanswered_turn(self.messages)


# What the TUI and the Markdown export show under an unanswered user turn (with how to retry).
UNANSWERED_NOTE = "⚠ not answered: no reply was received"


def enabled_server_names(conversation: Conversation, servers: Sequence[ServerConfig]) -> list[str]:
    """The names of the configured MCP servers in effect for the conversation, in config order:
    with `tool_servers` None, those with enabled = true; otherwise those of its names that are
    configured (a name no longer in the config is ignored). The one rule for the TUI and `ask`."""
    chosen = conversation.tool_servers
    if chosen is None:
        return [server.name for server in servers if server.enabled]
    wanted = set(chosen)
    return [server.name for server in servers if server.name in wanted]


def unanswered_turn(path: Sequence[ChatMessage]) -> ChatMessage | None:
    """The user turn ending a path (root to leaf) when no reply follows it: see
    Conversation.unanswered. The one rule, for views that hold the path without a Conversation."""
    last = path[-1] if path else None
    return last if last is not None and last.role == "user" else None


def _unmarked(block: dict) -> dict:
    """A block as the API takes it: without megachat's own marks (CONTINUE_MARK)."""
    block.pop(CONTINUE_MARK, None)
    return block


def check_request_options(conversation: Conversation) -> None:
    """Check (and normalise) the conversation's request options; ValueError with one line
    naming the setting otherwise. The one rule for the store, `ask` and the request."""
    conv = conversation
    conv.temperature = check_temperature(conv.temperature)
    thinking = conv.thinking
    if thinking is not None and thinking != "adaptive":
        if isinstance(thinking, bool) or not isinstance(thinking, int):
            raise ValueError(f"thinking must be a token budget or 'adaptive', not {thinking!r}")
        if thinking < MIN_THINKING_BUDGET:
            raise ValueError(
                f"a thinking budget must be at least {MIN_THINKING_BUDGET} tokens, not {thinking}"
            )
        if thinking >= conv.max_tokens:
            raise ValueError(
                f"the thinking budget ({thinking}) must be below max_tokens ({conv.max_tokens}): "
                "lower the budget or raise max_tokens"
            )
    if conv.effort is not None and conv.effort not in EFFORTS:
        raise ValueError(f"effort must be one of {', '.join(EFFORTS)}, not {conv.effort!r}")
    stops = conv.stop_sequences
    if isinstance(stops, str) or not all(isinstance(s, str) and s for s in stops or ()):
        raise ValueError(f"stop_sequences must be a list of non-empty texts, not {stops!r}")
    conv.stop_sequences = list(stops or ())
    top_p = conv.top_p
    if top_p is not None:
        if isinstance(top_p, bool) or not isinstance(top_p, int | float) or not 0 <= top_p <= 1:
            raise ValueError(f"top_p must be a number from 0 to 1, not {top_p!r}")
        conv.top_p = float(top_p)
    top_k = conv.top_k
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be a whole number of at least 1, not {top_k!r}")


def mark_cache_breakpoints(body: dict) -> None:
    """Put prompt-caching breakpoints (`cache_control: ephemeral`) on a request body, in place.

    The cache covers the prefix up to a marked block (tools, then system, then messages), so the
    marks go on the last tool definition, the system prompt (sent as one text block to carry
    one) and the last block of each of the two newest user turns: the newest writes the cache,
    the one before reads what the previous request wrote. Never more than the API's 4.
    """
    left = MAX_CACHE_BREAKPOINTS
    tools = body.get("tools")
    if tools:
        tools[-1]["cache_control"] = dict(EPHEMERAL)
        left -= 1
    system = body.get("system")
    if isinstance(system, str) and system:
        body["system"] = [{"type": "text", "text": system, "cache_control": dict(EPHEMERAL)}]
        left -= 1
    turns = min(2, left)
    for message in reversed(body.get("messages") or ()):
        content = message.get("content")
        if turns <= 0:
            break
        if message.get("role") == "user" and isinstance(content, list) and content:
            content[-1]["cache_control"] = dict(EPHEMERAL)
            turns -= 1


def _replayable(block: dict, sendable: set[str]) -> bool:
    """Whether a stored block goes back to the API in a request that sends `sendable` types."""
    kind = block.get("type")
    if kind not in sendable:
        return False
    if kind == "text":
        return bool(str(block.get("text", "")).strip())
    if kind == "thinking":
        return bool(block.get("signature"))
    if kind == "redacted_thinking":
        return bool(block.get("data"))
    return True


def _strip_final(messages: list[dict]) -> None:
    """Right-strip the text ending a final assistant turn, dropping what becomes empty."""
    content = messages[-1]["content"]
    while content and content[-1].get("type") == "text":
        stripped = content[-1]["text"].rstrip()
        if stripped:
            content[-1]["text"] = stripped
            break
        content.pop()
    if not content:
        messages.pop()
