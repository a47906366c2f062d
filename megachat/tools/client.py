"""Talking to one MCP server: connect, list its tools, call a tool with a timeout.

Everything the SDK can throw is translated here, in one place, into typed outcomes: a caller gets
a `ToolResult` (Anthropic-shaped content blocks, ``is_error`` for a tool that failed), a
`ToolTimedOut`, or a `ServerFailed` with a one-line reason and the tail of the server's stderr.
`as_tool_result` folds any outcome into a `ToolResult`, so a failed call still answers the
model's ``tool_use``. The `mcp` SDK is imported inside the functions, never at start-up.

A `ServerConnection` belongs to the task that uses it (the SDK's task groups must be entered and
left by the same task): open it, `start`, call tools, leave it, all in one task.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Literal, TypedDict, assert_never

from megachat.tools.servers import HttpServer, ServerConfig, StdioServer, stdio_environment

if TYPE_CHECKING:
    from mcp.client import Client, Transport

    from megachat.tools.stdio_transport import ProcessWatch

# Text a tool returns beyond this is cut with a note: a reply the model can still use, and a
# bound on what one call adds to the conversation. (One message is capped at 8 MB below that.)
MAX_RESULT_TEXT_CHARS = 1024 * 1024
MAX_REASON_CHARS = 300
IMAGE_MEDIA_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
DEFAULT_CONNECT_TIMEOUT = 30.0


class ImageSource(TypedDict):
    type: Literal["base64"]
    media_type: str
    data: str


class TextBlock(TypedDict):
    type: Literal["text"]
    text: str


class ImageBlock(TypedDict):
    type: Literal["image"]
    source: ImageSource


ContentBlock = TextBlock | ImageBlock


@dataclass(frozen=True)
class ToolInfo:
    """One tool as the server lists it; ``input_schema`` is its JSON Schema, as sent to the API."""

    name: str
    description: str
    input_schema: dict[str, object]


@dataclass(frozen=True)
class ToolResult:
    """What the tool answered; ``is_error`` when the tool itself reported a failure."""

    content: list[ContentBlock]
    is_error: bool


@dataclass(frozen=True)
class ToolTimedOut:
    """The call took longer than allowed; the server was stopped (it restarts on the next call)."""

    seconds: float

    @property
    def reason(self) -> str:
        return f"the tool did not answer within {self.seconds:g} s"


FailureKind = Literal["start", "crashed", "connection"]


@dataclass(frozen=True)
class ServerFailed:
    """The server could not be started, died, or the connection broke."""

    server: str
    kind: FailureKind
    reason: str
    stderr_tail: str = ""


@dataclass(frozen=True)
class ServerRunning:
    """The server answered and listed its tools."""

    server: str
    tools: tuple[ToolInfo, ...]


ToolCallOutcome = ToolResult | ToolTimedOut | ServerFailed
ServerStatus = ServerRunning | ServerFailed


def as_tool_result(outcome: ToolCallOutcome) -> ToolResult:
    """Any outcome as a result for the model: failures become ``is_error`` with the reason."""
    match outcome:
        case ToolResult():
            return outcome
        case ToolTimedOut():
            return _error_result(outcome.reason)
        case ServerFailed():
            return _error_result(f"MCP server {outcome.server!r}: {outcome.reason}")
        case _:
            assert_never(outcome)


async def list_tools(server: ServerConfig, timeout: float) -> ServerStatus:
    """Start the server, list its tools, stop it: what ``megachat mcp list`` shows."""
    async with ServerConnection(server, connect_timeout=timeout) as connection:
        return await connection.start()


class ServerConnection:
    """One open connection to a server, kept for reuse across tool calls."""

    def __init__(
        self, server: ServerConfig, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    ) -> None:
        self.server = server
        self.connect_timeout = connect_timeout
        self._stack: AsyncExitStack | None = None
        self._client: Client | None = None
        self._watch: ProcessWatch | None = None
        self._status: ServerStatus | None = None

    async def __aenter__(self) -> ServerConnection:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def is_running(self) -> bool:
        return self._client is not None

    async def start(self) -> ServerStatus:
        """Connect (start the process for a stdio server) and list the tools; idempotent."""
        if self._client is not None and isinstance(self._status, ServerRunning):
            return self._status
        from mcp.client import Client

        stack = AsyncExitStack()
        try:
            transport = await self._open_transport(stack)
            client = Client(transport, read_timeout_seconds=self.connect_timeout, cache=None)
            await stack.enter_async_context(client)
            tools = await _all_tools(client)
        except Exception as error:  # every foreign failure becomes an outcome
            await _close_quietly(stack)
            failure = await self._failure("start", error)
            self._status = failure
            return failure
        self._stack, self._client = stack, client
        self._status = ServerRunning(self.server.name, tools)
        return self._status

    async def call_tool(
        self, name: str, arguments: Mapping[str, object], timeout: float
    ) -> ToolCallOutcome:
        """Call one tool; a stopped server is started again first."""
        import anyio
        from mcp.shared.exceptions import MCPError

        status = await self.start()
        if isinstance(status, ServerFailed):
            return status
        client = self._client
        assert client is not None
        try:
            with anyio.fail_after(timeout):
                # The SDK's own limit (the client's, the connect timeout, by default) must not
                # cut a call short of `timeout`: ours stops the server, the SDK's would not.
                result = await client.call_tool(
                    name, dict(arguments), read_timeout_seconds=timeout + _SDK_TIMEOUT_SLACK
                )
        except TimeoutError:
            await self.close()  # the server may be stuck: stop it rather than trust it
            return ToolTimedOut(timeout)
        except MCPError as error:
            if error.code not in _CONNECTION_ERRORS and not self._process_gone():
                return _error_result(_one_line(error.error.message))
            await self.close()
            return await self._failure("crashed", error)
        except Exception as error:  # the connection broke under the call
            await self.close()
            return await self._failure("connection", error)
        return ToolResult(
            content=convert_content(result.content, result.structured_content),
            is_error=bool(result.is_error),
        )

    async def close(self) -> None:
        """Leave the connection: for a stdio server, stop its process (group)."""
        stack, self._stack, self._client = self._stack, None, None
        self._status = None
        if stack is not None:
            await _close_quietly(stack)

    async def _open_transport(self, stack: AsyncExitStack) -> Transport:
        match self.server:
            case StdioServer():
                from megachat.tools.stdio_transport import ProcessWatch, stdio_transport

                self._watch = ProcessWatch()
                return stdio_transport(
                    self.server.command,
                    list(self.server.args),
                    stdio_environment(self.server),
                    self.server.cwd,
                    self._watch,
                )
            case HttpServer():
                import httpx2
                from mcp.client.streamable_http import streamable_http_client
                from mcp.shared._httpx_utils import create_mcp_http_client

                http = create_mcp_http_client(
                    headers=dict(self.server.headers),
                    timeout=httpx2.Timeout(self.connect_timeout, read=300.0),
                )
                await stack.enter_async_context(http)
                return streamable_http_client(self.server.url, http_client=http)
            case _:
                assert_never(self.server)

    def _process_gone(self) -> bool:
        return self._watch is not None and self._watch.stderr_done.is_set()

    async def _failure(self, kind: FailureKind, error: BaseException) -> ServerFailed:
        reason = _describe(error)
        tail = ""
        watch = self._watch
        if watch is not None:
            await watch.settle()
            tail = watch.stderr_text()
            if watch.transport_error is not None:
                reason = watch.transport_error
            elif watch.returncode is not None and kind != "start":
                reason = f"the server exited (code {watch.returncode}) during the call"
            elif watch.returncode is not None:
                reason = f"the server exited (code {watch.returncode}): {reason}"
        return ServerFailed(self.server.name, kind, reason, tail)


def convert_content(
    blocks: Sequence[object], structured: Mapping[str, object] | None = None
) -> list[ContentBlock]:
    """MCP content blocks as Anthropic content blocks, text bounded to MAX_RESULT_TEXT_CHARS."""
    import mcp_types

    converted: list[ContentBlock] = []
    for block in blocks:
        match block:
            case mcp_types.TextContent():
                converted.append(_text(block.text))
            case mcp_types.ImageContent() if block.mime_type in IMAGE_MEDIA_TYPES:
                source = ImageSource(type="base64", media_type=block.mime_type, data=block.data)
                converted.append(ImageBlock(type="image", source=source))
            case mcp_types.ImageContent():
                converted.append(_text(f"[an image of type {block.mime_type} was left out]"))
            case mcp_types.AudioContent():
                converted.append(_text("[audio was left out]"))
            case mcp_types.ResourceLink():
                converted.append(_text(f"[resource link: {block.uri}]"))
            case mcp_types.EmbeddedResource():
                resource = block.resource
                if isinstance(resource, mcp_types.TextResourceContents):
                    converted.append(_text(resource.text))
                else:
                    converted.append(_text(f"[binary resource {resource.uri} was left out]"))
            case _:
                converted.append(_text("[a content block of an unknown kind was left out]"))
    if not converted and structured is not None:
        converted.append(_text(json.dumps(structured, ensure_ascii=False)))
    return _bounded(converted)


_CONNECTION_ERRORS = frozenset({-32000})  # mcp_types.CONNECTION_CLOSED
_SDK_TIMEOUT_SLACK = 5.0  # seconds past a call's timeout before the SDK gives up on its own


def _bounded(blocks: list[ContentBlock]) -> list[ContentBlock]:
    budget = MAX_RESULT_TEXT_CHARS
    total = sum(len(block["text"]) for block in blocks if block["type"] == "text")
    if total <= budget:
        return blocks
    kept: list[ContentBlock] = []
    for block in blocks:
        if block["type"] != "text":
            kept.append(block)
            continue
        if budget <= 0:
            continue
        kept.append(_text(block["text"][:budget]))
        budget -= len(block["text"])
    note = (
        f"[the tool returned {total:,} characters of text; "
        f"cut to the first {MAX_RESULT_TEXT_CHARS:,}]"
    )
    kept.append(_text(note))
    return kept


def _text(text: str) -> TextBlock:
    return TextBlock(type="text", text=text)


def _error_result(reason: str) -> ToolResult:
    return ToolResult(content=[_text(reason)], is_error=True)


async def _all_tools(client: Client) -> tuple[ToolInfo, ...]:
    tools: list[ToolInfo] = []
    cursor: str | None = None
    while True:
        page = await client.list_tools(cursor=cursor)
        tools.extend(
            ToolInfo(tool.name, tool.description or "", dict(tool.input_schema))
            for tool in page.tools
        )
        cursor = page.next_cursor
        if cursor is None:
            return tuple(tools)


async def _close_quietly(stack: AsyncExitStack) -> None:
    """Leave a connection whose transport may already be broken; cleanup errors are no news."""
    try:
        await stack.aclose()
    except Exception:  # the failure that led here is what gets reported
        pass


_SPACES = re.compile(r"\s+")


def _describe(error: BaseException) -> str:
    """One readable line for a foreign exception (the first leaf of an exception group)."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    from mcp.shared.exceptions import MCPError

    match error:
        case FileNotFoundError():
            return f"command not found: {error.filename or error}"
        case PermissionError():
            return f"permission denied: {error.filename or error}"
        case NotADirectoryError() | IsADirectoryError():
            return f"cannot start: {error.strerror}: {error.filename}"
        case MCPError() if error.code == -32000:
            return "the server closed the connection"
        case MCPError() if error.code == -32001:
            return "the server did not answer in time"
        case MCPError():
            return _one_line(error.error.message)
        case TimeoutError():
            return "the server did not answer in time"
        case _:
            text = str(error) or type(error).__name__
            return _one_line(f"{type(error).__name__}: {text}")


def _one_line(text: str) -> str:
    text = _SPACES.sub(" ", text).strip()
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"
