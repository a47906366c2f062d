"""The main screen's MCP tools (a mixin of MainScreen): the servers of the open conversation, the
sidebar's switches, and the approval of each call.

The tool loop itself is the session's (megachat.chat.tool_loop); this mixin gives it a `ToolUse`:
a `ToolBox` of the servers switched on for the conversation (`Conversation.tool_servers`, or the
configured `enabled` ones) and an approver that shows a `ToolApproval` above the prompt and waits
for the user's answer there, never in a modal: the conversation stays readable and the prompt
usable, and Esc cancels the turn (the session then answers every open call "cancelled by the
user"). Servers start in the background after the conversation is shown; a send waits for them
("Starting tool servers…"). A switch flipped during a turn applies when the turn ends.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
from typing import TYPE_CHECKING, assert_never

from textual import work

from megachat.tui.widgets.prompt_input import PromptInput
from megachat.tui.widgets.sidebar import Sidebar
from megachat.tui.widgets.status_line import StatusLine

if TYPE_CHECKING:
    from textual.worker import Worker

    from megachat.chat.tool_events import ToolCall
    from megachat.chat.tool_loop import Approval, ToolBox
    from megachat.tools.client import ServerStatus
    from megachat.tools.servers import ServerConfig
    from megachat.tui.screens.main import MainScreen
    from megachat.tui.widgets.tool_approval import ToolApproval
    from megachat.tui.widgets.tool_servers import ServerRow, ToolServersPanel

    _Base = MainScreen
else:
    _Base = object


def server_rows(
    servers: list[ServerConfig], on: tuple[str, ...], statuses: dict[str, ServerStatus] | None
) -> list[ServerRow]:
    """The panel's rows: off, starting (no status yet), running with its tools, or failed."""
    from megachat.tools.client import ServerFailed, ServerRunning
    from megachat.tui.widgets.tool_servers import ServerRow

    rows: list[ServerRow] = []
    for server in servers:
        status = (statuses or {}).get(server.name)
        if server.name not in on:
            rows.append(ServerRow(server.name, "off"))
            continue
        match status:
            case None:
                rows.append(ServerRow(server.name, "starting"))
            case ServerRunning(tools=tools):
                rows.append(ServerRow(server.name, "running", tuple(t.name for t in tools)))
            case ServerFailed(reason=reason):
                rows.append(ServerRow(server.name, "failed", detail=reason))
            case _:
                assert_never(status)
    return rows


def _import_sdk() -> None:
    import megachat.tools.client
    import megachat.tools.stdio_transport  # noqa: F401  (imports mcp.client and its types)

    importlib.import_module("mcp.client")


def initial_rows(servers: list[ServerConfig]) -> list[ServerRow]:
    """The rows of the first frame (no conversation yet: the configured `enabled`)."""
    from megachat.tui.widgets.tool_servers import ServerRow

    return [ServerRow(s.name, "starting" if s.enabled else "off") for s in servers]


class ToolActions(_Base):
    """Tool servers for the open conversation, their switches, and approvals."""

    _tool_box: ToolBox | None = None
    _tool_names: tuple[str, ...] = ()
    _tool_statuses: dict[str, ServerStatus] | None = None
    _tool_starter: Worker[None] | None = None
    _approvals: dict[str, asyncio.Future[Approval]] | None = None  # by call id, while asked

    # -- which servers ------------------------------------------------------------------------

    def _servers(self) -> list[ServerConfig]:
        return list(self.mc_app.settings.mcp_servers)

    def _wanted_servers(self) -> tuple[str, ...]:
        from megachat.chat.conversation import enabled_server_names

        conversation = self.conversation
        if conversation is None:
            return ()
        return tuple(enabled_server_names(conversation, self._servers()))

    def sync_tools(self) -> None:
        """Run the servers the open conversation wants: start them if they changed (in the
        background), stop the others. Waits for the end of a turn (its loop holds the box)."""
        if not self._servers() or self._turn_running():
            return
        wanted = self._wanted_servers()
        if wanted == self._tool_names and (self._tool_box is not None or not wanted):
            self._show_servers()
            return
        old, self._tool_box = self._tool_box, None
        self._tool_names, self._tool_statuses = wanted, None
        if self.session is not None:
            self.session.tool_use = None
        if old is not None:
            self._stop_box(old)
        if wanted:
            from megachat.chat.tool_loop import ToolBox

            settings = self.mc_app.settings
            chosen = [server for server in self._servers() if server.name in wanted]
            self._tool_box = ToolBox(chosen, call_timeout=settings.tool_timeout)
            self._tool_starter = self._start_box(self._tool_box)
        self._show_servers()

    def _turn_running(self) -> bool:
        """The session's turn (its tool loop holds the box) is under way."""
        return self.session is not None and self.session.busy

    def _show_servers(self) -> None:
        rows = server_rows(self._servers(), self._tool_names, self._tool_statuses)
        self.query_one(Sidebar).show_tool_servers(rows)

    @work(group="tool-servers", exit_on_error=False)
    async def _start_box(self, box: ToolBox) -> None:
        from megachat.chat.tool_loop import ToolUse

        try:
            await asyncio.to_thread(_import_sdk)  # ~0.5 s of imports, off the event loop
            statuses = await box.start()
        except Exception as exc:  # a bug or a broken install: shown, and no tools offered
            from megachat.tools.client import ServerFailed

            reason = f"{type(exc).__name__}: {exc}"
            statuses = [ServerFailed(name, "start", reason) for name in box.servers]
        if box is not self._tool_box:
            return  # switched again meanwhile: that box was stopped
        self._tool_statuses = {status.server: status for status in statuses}
        if self.session is not None:
            self.session.tool_use = ToolUse(box, self._approve, self.mc_app.settings.max_tool_steps)
        self._show_servers()

    @work(group="tool-servers-stop", exit_on_error=False)
    async def _stop_box(self, box: ToolBox) -> None:
        await box.aclose()

    async def tools_ready(self) -> None:
        """Before a turn: wait for the conversation's servers to start (Esc cancels it)."""
        while (starter := self._tool_starter) is not None and not starter.is_finished:
            self.query_one(StatusLine).show("Starting tool servers… (Esc cancels)")
            await starter.wait()  # a switch meanwhile starts another: wait for that one

    async def close_tools(self) -> None:
        """Stop every server (their processes end): the app is closing."""
        box, self._tool_box = self._tool_box, None
        if box is not None:
            await box.aclose()

    def on_tool_servers_panel_toggled(self, event: ToolServersPanel.Toggled) -> None:
        """A switch: this conversation's servers change (saved with it), from the next turn."""
        event.stop()
        conversation = self.conversation
        if conversation is None:
            return
        names = list(self._wanted_servers())
        if event.enabled and event.server not in names:
            names.append(event.server)
        elif not event.enabled and event.server in names:
            names.remove(event.server)
        conversation.tool_servers = [s.name for s in self._servers() if s.name in names]
        self._save_settings()
        if self._turn_running():
            self.notify("The tool servers change when this reply ends.", markup=False)
        self.sync_tools()

    def _ends_in_tool_results(self) -> bool:
        """The path ends with a user turn of tool results (the loop's, or a cancel's)."""
        conversation = self.conversation
        last = conversation.messages[-1] if conversation and conversation.messages else None
        return last is not None and last.is_tool_results()

    async def on_unmount(self) -> None:
        await self.close_tools()

    # -- approvals -----------------------------------------------------------------------------

    async def _approve(self, call: ToolCall) -> Approval:
        """The session's approver: ask above the prompt and wait for the answer."""
        from megachat.chat.tool_loop import Approved
        from megachat.tui.widgets.tool_approval import ToolApproval

        future: asyncio.Future[Approval] = asyncio.get_running_loop().create_future()
        if self._approvals is None:
            self._approvals = {}
        self._approvals[call.id] = future
        widget = ToolApproval(call)
        prompt = self.query_one(PromptInput)
        status = self.query_one(StatusLine)
        await self.query_one("#chat").mount(widget, before="#attachments")
        # The focus goes to the question unless the user is writing in the prompt: the letters
        # they type next must not answer it.
        if self.focused is not prompt or not prompt.text.strip():
            widget.focus()
        status.show(
            f"Run {call.label}? y allows once, a always, n denies (Esc cancels the turn)",
            warning=True,
        )
        try:
            approval = await future
        finally:
            self._approvals.pop(call.id, None)
            had_focus = widget.has_focus_within
            await widget.remove()
            status.show("Waiting for the reply… (Esc cancels)")
            if had_focus:
                prompt.focus()
        if isinstance(approval, Approved) and approval.always:
            self._save_allow(call)
        return approval

    def on_tool_approval_answered(self, event: ToolApproval.Answered) -> None:
        event.stop()
        future = (self._approvals or {}).get(event.call.id)
        if future is not None and not future.done():
            future.set_result(event.approval)

    @work(group="tool-allow", exit_on_error=False)
    async def _save_allow(self, call: ToolCall) -> None:
        """ "Always allow": the tool joins its server's `allow` in config.toml (and this run's)."""
        from megachat.config import ConfigError, add_tool_allow

        try:
            path = await asyncio.to_thread(add_tool_allow, call.server, call.tool)
        except (ConfigError, OSError) as exc:
            self.mc_app.notify_error(f"Not saved: {exc}")
            return
        settings = self.mc_app.settings
        settings.mcp_servers = [
            dataclasses.replace(server, allow=(*server.allow, call.tool))
            if server.name == call.server and call.tool not in server.allow
            else server
            for server in settings.mcp_servers
        ]
        self.notify(f"{call.label} now runs without asking (saved in {path}).", markup=False)
