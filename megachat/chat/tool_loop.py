"""The tool loop: MCP tools offered to the model, its calls approved, run and answered.

A face (the TUI, `megachat ask`) builds a `ToolBox` for the servers enabled in a conversation,
starts it, and gives the session a `ToolUse` (the box, an async `Approver`, the step limit).
The session then sends the box's `definitions()` with every request; when a reply stops with
``stop_reason: "tool_use"``, `run_tool_step` approves or denies each call, runs the approved
ones and stores ONE user message of ``tool_result`` blocks (in the order of the calls), and the
session sends the next request, until the model ends its turn or the step limit is reached.

Names: the API sees every tool as ``SERVER__TOOL`` (characters the API refuses become ``_``), so
two servers may both have an ``add`` and a call always reaches the server it was listed by, even
in a stored conversation resumed later. The user sees ``SERVER.TOOL`` (as ``--allow`` spells it).

Connections: the SDK wants a connection opened, used and closed by one task, while the session
runs each turn in a task of its own; so the box owns one worker task that holds every
connection and runs every start and call, handed over through a queue.

The API must never be left with a ``tool_use`` without its ``tool_result``: a cancel or a failure
at any point answers every call still open with an ``is_error`` result, stored at once
(`answer_open_calls`).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar, assert_never

from megachat.chat.conversation import TOOL_NAME_SEPARATOR
from megachat.chat.tool_events import ToolCall, ToolCallFinished, ToolCallStarted
from megachat.config import DEFAULT_MAX_TOOL_STEPS, DEFAULT_TOOL_TIMEOUT

if TYPE_CHECKING:
    from megachat.chat.conversation import ChatMessage, Conversation
    from megachat.chat.store import Store
    from megachat.chat.turn import TurnEvent
    from megachat.tools.client import ServerConnection, ServerStatus, ToolResult
    from megachat.tools.servers import ServerConfig

CANCELLED_REASON = "cancelled by the user"
SUMMARY_CHARS = 160
_API_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]")
_API_NAME_MAX = 64
_T = TypeVar("_T")


@dataclass(frozen=True)
class Approved:
    """Run the call; `always`: run this tool without asking for the rest of the session."""

    always: bool = False


@dataclass(frozen=True)
class Denied:
    """Do not run the call; `reason` goes to the model in the is_error result."""

    reason: str = "denied by the user"


Approval = Approved | Denied
Approver = Callable[[ToolCall], Awaitable[Approval]]
EventSink = Callable[["TurnEvent"], Awaitable[None] | None]


def api_tool_name(server: str, tool: str) -> str:
    """The name the API sees for `tool` of `server` (its rule: ``^[a-zA-Z0-9_-]{1,64}$``)."""
    return _API_NAME_BAD.sub("_", f"{server}{TOOL_NAME_SEPARATOR}{tool}")[:_API_NAME_MAX]


class ToolBox:
    """The MCP servers enabled for a conversation: their tools, the allow list, the calls.

    `start()` before use, `aclose()` after (or `async with`). A server that fails to start is
    reported in `statuses`; a call to it answers the model with the reason."""

    def __init__(
        self,
        servers: Sequence[ServerConfig],
        *,
        allow: Iterable[str] = (),
        call_timeout: float = DEFAULT_TOOL_TIMEOUT,
        connect_timeout: float = 30.0,
    ) -> None:
        self.servers = {server.name: server for server in servers}
        self.call_timeout = call_timeout
        self.connect_timeout = connect_timeout
        # "SERVER.TOOL" or "SERVER.*": the configured `allow` of each server, plus `allow`
        self._allowed = {f"{s.name}.{tool}" for s in servers for tool in s.allow} | set(allow)
        self.statuses: list[ServerStatus] = []
        self._definitions: list[dict] = []
        self._routes: dict[str, tuple[str, str]] = {}  # API name -> (server, tool)
        self._jobs: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ToolBox:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> list[ServerStatus]:
        """Start every server and list its tools (in the worker task that will keep them)."""
        if self._worker is None:
            self._worker = asyncio.create_task(self._serve(), name="megachat-tool-servers")
        statuses: list[ServerStatus] = []
        for name in self.servers:
            status = await self._submit(lambda c, name=name: c[name].start())
            statuses.append(status)
        self.statuses = statuses
        self._index(statuses)
        return statuses

    async def aclose(self) -> None:
        """Stop every server (their processes end) and the worker."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        self._jobs.put_nowait(None)
        try:
            await asyncio.shield(worker)
        except asyncio.CancelledError:
            worker.cancel()
            raise

    # -- what the model sees ---------------------------------------------------------------------

    def definitions(self) -> list[dict]:
        """The request's `tools`: name, description, input_schema of every listed tool."""
        return [dict(definition) for definition in self._definitions]

    def resolve(self, block: Mapping[str, object]) -> ToolCall:
        """A reply's tool_use block as a call: which server and tool it names."""
        name = str(block.get("name") or "")
        raw_input = block.get("input")
        arguments = raw_input if isinstance(raw_input, Mapping) else {}
        server, tool = self._routes.get(name) or self._guess_route(name)
        return ToolCall(str(block.get("id") or ""), name, server, tool, dict(arguments))

    # -- approval --------------------------------------------------------------------------------

    def is_allowed(self, call: ToolCall) -> bool:
        """Runs without asking: allowed by name or by ``SERVER.*``."""
        return bool(call.server) and (
            call.label in self._allowed or f"{call.server}.*" in self._allowed
        )

    def allow(self, call: ToolCall) -> None:
        """Run this tool without asking from now on (an "always" answer)."""
        if call.server:
            self._allowed.add(call.label)

    # -- calls -----------------------------------------------------------------------------------

    async def call(self, call: ToolCall) -> ToolResult:
        """Run one call: the tool's result, or an is_error result saying why there is none."""
        from megachat.tools.client import ToolResult, as_tool_result

        if not call.server:
            return ToolResult(
                [{"type": "text", "text": f"no enabled tool is named {call.name!r}"}],
                is_error=True,
            )
        timeout = self.call_timeout
        outcome = await self._submit(
            lambda c: c[call.server].call_tool(call.tool, call.input, timeout)
        )
        return as_tool_result(outcome)

    # -- the worker --------------------------------------------------------------------------

    async def _submit(self, run: Callable[[dict[str, ServerConnection]], Awaitable[_T]]) -> _T:
        if self._worker is None or self._worker.done():
            raise RuntimeError("the tool servers are not running (ToolBox.start first)")
        job: _Job = _Job(run, asyncio.get_running_loop().create_future())
        self._jobs.put_nowait(job)
        try:
            return await asyncio.shield(job.future)
        except asyncio.CancelledError:
            job.abandon(self._worker)  # stop the call in the worker, then go on cancelling
            raise

    async def _serve(self) -> None:
        from megachat.tools.client import ServerConnection

        connections = {
            name: ServerConnection(server, connect_timeout=self.connect_timeout)
            for name, server in self.servers.items()
        }
        try:
            while (job := await self._jobs.get()) is not None:
                await job.run_in(connections)
        finally:
            for connection in connections.values():
                await connection.close()

    def _index(self, statuses: Sequence[ServerStatus]) -> None:
        from megachat.tools.client import ServerFailed, ServerRunning

        self._definitions.clear()
        self._routes.clear()
        for status in statuses:
            match status:
                case ServerRunning():
                    for tool in status.tools:
                        name = api_tool_name(status.server, tool.name)
                        if name in self._routes:
                            continue  # two names the API would see alike: the first wins
                        self._routes[name] = (status.server, tool.name)
                        self._definitions.append(
                            {
                                "name": name,
                                "description": tool.description,
                                "input_schema": tool.input_schema,
                            }
                        )
                case ServerFailed():
                    pass
                case _:
                    assert_never(status)

    def _guess_route(self, name: str) -> tuple[str, str]:
        """A name of a server whose tools were not listed (it failed to start): its server, so
        the call is answered with that server's own failure; ("", "") when no server fits."""
        server, separator, tool = name.partition(TOOL_NAME_SEPARATOR)
        if separator and tool and server in self.servers:
            return server, tool
        return "", ""


class _Job:
    """One start or call, run by the worker; `abandon` cancels it from the caller's side."""

    def __init__(
        self,
        run: Callable[[dict[str, ServerConnection]], Awaitable[object]],
        future: asyncio.Future,  # type: ignore[type-arg]
    ) -> None:
        self.run = run
        self.future = future
        self._running = False
        self._abandoned = False

    async def run_in(self, connections: dict[str, ServerConnection]) -> None:
        if self._abandoned:
            return
        self._running = True
        try:
            result = await self.run(connections)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or not self._abandoned:
                raise  # the worker itself is being stopped
            task.uncancel()
            for connection in connections.values():  # a call cut short: restart on next use
                if connection.is_running:
                    await connection.close()
            return
        except Exception as error:  # a bug below: the caller gets it, the worker goes on
            if not self.future.done():
                self.future.set_exception(error)
            return
        finally:
            self._running = False
        if not self.future.done():
            self.future.set_result(result)

    def abandon(self, worker: asyncio.Task[None] | None) -> None:
        self._abandoned = True
        if not self.future.done():
            self.future.cancel()
        if self._running and worker is not None:
            worker.cancel()


@dataclass
class ToolUse:
    """What the session needs for the loop: the box, who approves, how many steps at most."""

    toolbox: ToolBox
    approver: Approver
    max_steps: int = DEFAULT_MAX_TOOL_STEPS


def open_calls(conversation: Conversation) -> list[dict]:
    """The tool_use blocks at the end of the active path that have no tool_result yet."""
    path = conversation.messages
    if not path or path[-1].role != "assistant":
        return []
    return [block for block in path[-1].content if block.get("type") == "tool_use"]


def answer_open_calls(
    conversation: Conversation, store: Store | None, reason: str = CANCELLED_REASON
) -> ChatMessage | None:
    """Answer every call left open (a cancel, a failure) with an is_error result, stored now,
    so that the next request is one the API accepts. None when nothing was open."""
    blocks = open_calls(conversation)
    if not blocks:
        return None
    results = [error_block(str(block.get("id") or ""), reason) for block in blocks]
    return _store_results(conversation, store, results)


async def run_tool_step(
    conversation: Conversation,
    tool_use: ToolUse,
    store: Store | None,
    emit: EventSink | None,
) -> ChatMessage:
    """Approve, run and answer every tool call of the reply ending the path, in order; the
    results are stored as one user message (also when cancelled midway: the calls not done
    then get "cancelled by the user")."""
    box = tool_use.toolbox
    calls = [box.resolve(block) for block in open_calls(conversation)]
    results: dict[str, dict] = {}
    try:
        for call in calls:
            results[call.id] = await _answer(call, tool_use, emit)
    except BaseException as error:
        reason = (
            CANCELLED_REASON if isinstance(error, asyncio.CancelledError) else f"not run: {error}"
        )
        for call in calls:
            results.setdefault(call.id, error_block(call.id, reason))
        _store_results(conversation, store, [results[call.id] for call in calls])
        raise
    return _store_results(conversation, store, [results[call.id] for call in calls])


async def _answer(call: ToolCall, tool_use: ToolUse, emit: EventSink | None) -> dict:
    box = tool_use.toolbox
    if call.server and not box.is_allowed(call):  # an unknown tool: nothing to ask about
        approval = await tool_use.approver(call)
        match approval:
            case Approved(always=always):
                if always:
                    box.allow(call)
            case Denied(reason=reason):
                block = error_block(call.id, reason)
                await _emit(emit, ToolCallFinished(call, reason, is_error=True))
                return block
            case _:
                assert_never(approval)
    await _emit(emit, ToolCallStarted(call))
    result = await box.call(call)
    block: dict = {"type": "tool_result", "tool_use_id": call.id, "content": list(result.content)}
    if result.is_error:
        block["is_error"] = True
    await _emit(emit, ToolCallFinished(call, summarize(result.content), result.is_error))
    return block


def error_block(tool_use_id: str, reason: str) -> dict:
    """An is_error tool_result the model can read."""
    return {
        "type": "tool_result",
        "tool_use_id": tool_use_id,
        "content": [{"type": "text", "text": reason}],
        "is_error": True,
    }


def summarize(content: Sequence[Mapping[str, object]]) -> str:
    """One short line of a result, for a report (the result itself is stored whole)."""
    parts: list[str] = []
    for block in content:
        if block.get("type") == "text":
            parts.append(str(block.get("text") or ""))
        else:
            parts.append(f"[{block.get('type')}]")
    line = " ".join(" ".join(parts).split())
    return line if len(line) <= SUMMARY_CHARS else line[: SUMMARY_CHARS - 1] + "…"


def describe_input(arguments: Mapping[str, object]) -> str:
    """A call's arguments as compact JSON, for a one-line report or prompt."""
    text = json.dumps(dict(arguments), ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


def _store_results(
    conversation: Conversation, store: Store | None, results: list[dict]
) -> ChatMessage:
    message = conversation.add_tool_results(results)
    if store is not None:
        store.append_message(conversation.id, message)
    return message


async def _emit(emit: EventSink | None, event: TurnEvent) -> None:
    if emit is None:
        return
    result = emit(event)
    if inspect.isawaitable(result):
        await result
