"""MCP tools in the TUI: the sidebar's servers, the approval above the prompt, the loop.

A real stdio MCP server (tests/mcp_servers) and the loopback fake Messages server scripted to
ask for tools; the approval is answered with real key presses.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from megachat.config import Settings, config_path
from megachat.tools.servers import StdioServer
from tests.fakeserver import FakeServer, blocks_reply, text_reply
from tests.tui.conftest import ready, settle, stored, type_text, until

ROOT = Path(__file__).resolve().parents[2]


def _toolbox(**extra: Any) -> StdioServer:
    return StdioServer(
        name="toolbox",
        command=sys.executable,
        args=("-m", "tests.mcp_servers.stdio_server"),
        cwd=str(ROOT),
        **extra,
    )


@pytest.fixture
def tool_settings(settings: Settings) -> Settings:
    """The fake server's settings with the toolbox server configured (in config.toml too, so
    "always allow" has a table to write to)."""
    server = _toolbox()
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        tomli_w.dumps(
            {
                "mcp_servers": {
                    "toolbox": {
                        "command": server.command,
                        "args": list(server.args),
                        "cwd": server.cwd,
                    }
                }
            }
        )
    )
    return dataclasses.replace(settings, mcp_servers=[server])


@pytest.fixture
def tool_app(tool_settings: Settings) -> Any:
    from megachat.tui.app import MegachatApp

    return MegachatApp(tool_settings)


def _tool_use(name: str, tool_input: dict, tool_id: str = "toolu_1") -> dict:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}


def _ask_tool(server: FakeServer, *blocks: dict) -> None:
    server.enqueue(blocks_reply(list(blocks), stop_reason="tool_use"))


def _results(body: dict) -> list[dict]:
    return [b for b in body["messages"][-1]["content"] if b.get("type") == "tool_result"]


def _every_call_answered(body: dict) -> bool:
    """Each tool_use of an assistant turn has its tool_result in the next user turn."""
    messages = body["messages"]
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        ids = {b["id"] for b in message["content"] if b.get("type") == "tool_use"}
        if not ids:
            continue
        after = messages[i + 1]["content"] if i + 1 < len(messages) else []
        if ids - {b.get("tool_use_id") for b in after if b.get("type") == "tool_result"}:
            return False
    return True


def _approval(main: Any) -> Any:
    from megachat.tui.widgets.tool_approval import ToolApproval

    found = main.query(ToolApproval)
    return found.first() if found else None


def _panel_text(main: Any) -> str:
    from textual.widgets import Static

    panel = main.query_one("#tool-servers")
    return "\n".join(str(s.render()) for s in panel.query(Static))


async def _servers_up(pilot: Any, main: Any) -> None:
    """The servers of the conversation have started (or failed to): their worker is done."""
    starter = main._tool_starter
    assert starter is not None
    await starter.wait()
    await pilot.pause()


async def _send_until_approval(pilot: Any, main: Any, text: str) -> Any:
    await _servers_up(pilot, main)
    await type_text(pilot, text)
    await pilot.press("enter")
    await until(pilot, lambda: _approval(main) is not None, 400)
    return _approval(main)


async def _turn_done(pilot: Any, main: Any) -> None:
    await until(pilot, lambda: not main.busy, 400)
    await settle(pilot)


async def test_the_sidebar_lists_the_servers_and_their_tools(
    tool_app: Any, fake_server: FakeServer
) -> None:
    async with tool_app.run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        await _servers_up(pilot, main)
        text = _panel_text(main)
        assert "toolbox" in str(main.query_one("#server-toolbox").label)
        assert main.query_one("#server-toolbox").value is True
        assert "7 tools" in text and "· add" in text and "· sleep" in text


async def test_a_call_is_approved_once_shown_and_answered(
    tool_app: Any, fake_server: FakeServer
) -> None:
    _ask_tool(
        fake_server,
        {"type": "text", "text": "Adding."},
        _tool_use("toolbox__add", {"a": 2, "b": 3}),
    )
    fake_server.enqueue(text_reply("The sum is 5."))
    async with tool_app.run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        approval = await _send_until_approval(pilot, main, "what is 2+3?")
        assert "toolbox.add" in str(approval.border_title)
        assert main.focused is approval
        await pilot.press("y")
        await _turn_done(pilot, main)
        first, second = [r.json for r in fake_server.requests_to()]
        assert "toolbox__add" in [tool["name"] for tool in first["tools"]]
        assert _results(second) == [
            {
                "type": "tool_result",
                "tool_use_id": "toolu_1",
                "content": [{"type": "text", "text": "5"}],
            }
        ]
        shown = [m.role for m in main.view.messages]
        assert shown == ["user", "assistant", "user", "assistant"]  # the results are shown
        assert _approval(main) is None
        conversation = stored(main.conversation.id)
        assert conversation.messages[2].content == _results(second)


async def test_always_allow_writes_config_and_runs_later_calls_without_asking(
    tool_app: Any, fake_server: FakeServer
) -> None:
    _ask_tool(fake_server, _tool_use("toolbox__add", {"a": 1, "b": 1}))
    _ask_tool(fake_server, _tool_use("toolbox__add", {"a": 2, "b": 2}, "toolu_2"))
    fake_server.enqueue(text_reply("2 and 4."))
    async with tool_app.run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        await _send_until_approval(pilot, main, "add twice")
        await pilot.press("a")
        await _turn_done(pilot, main)
        assert len(fake_server.requests_to()) == 3  # the second call was not asked about
        assert _results(fake_server.requests_to()[2].json)[0]["content"][0]["text"] == "4"
        saved = tomllib.loads(config_path().read_text())
        assert saved["mcp_servers"]["toolbox"]["allow"] == ["add"]
        assert config_path().stat().st_mode & 0o777 == 0o600


async def test_deny_with_a_reason_tells_the_model(tool_app: Any, fake_server: FakeServer) -> None:
    _ask_tool(fake_server, _tool_use("toolbox__add", {"a": 1, "b": 1}))
    fake_server.enqueue(text_reply("Fine."))
    async with tool_app.run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        approval = await _send_until_approval(pilot, main, "add")
        await pilot.press("n")  # opens the reason field
        assert main.focused is approval.query_one("#approval-reason")
        await pilot.press(*"not now", "enter")
        await _turn_done(pilot, main)
        assert _results(fake_server.requests_to()[1].json) == [
            {
                "type": "tool_result",
                "tool_use_id": "toolu_1",
                "content": [{"type": "text", "text": "denied by the user: not now"}],
                "is_error": True,
            }
        ]


async def test_n_denies_and_esc_cancels_leaving_a_conversation_that_sends(
    tool_app: Any, fake_server: FakeServer
) -> None:
    _ask_tool(
        fake_server,
        _tool_use("toolbox__add", {"a": 1, "b": 1}),
        _tool_use("toolbox__add", {"a": 5, "b": 5}, "toolu_2"),
    )
    fake_server.enqueue(text_reply("after the cancel"))
    async with tool_app.run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        await _send_until_approval(pilot, main, "two calls")
        await pilot.press("n", "enter")  # the first denied, no reason given
        await until(
            pilot, lambda: _approval(main) is not None and _approval(main).call.id == "toolu_2"
        )
        await pilot.press("escape")  # the second: the turn is cancelled
        await _turn_done(pilot, main)
        conversation = stored(main.conversation.id)
        results = conversation.messages[-1].content
        assert [r["content"][0]["text"] for r in results] == [
            "denied by the user",
            "cancelled by the user",
        ]
        assert [m.id for m in main.view.messages] == [m.id for m in conversation.messages]
        await type_text(pilot, "go on")
        await pilot.press("enter")
        await _turn_done(pilot, main)
        body = fake_server.requests_to()[-1].json
        assert _every_call_answered(body)
        assert body["messages"][-1]["content"][-1] == {"type": "text", "text": "go on"}


async def test_approval_never_takes_keys_typed_in_the_prompt(
    tool_app: Any, fake_server: FakeServer
) -> None:
    """Typing goes on while the question shows: a draft in the prompt keeps the focus, and the
    letters typed (y, a, n among them) land in the prompt, not in the question."""
    reply = blocks_reply([_tool_use("toolbox__add", {"a": 1, "b": 1})], stop_reason="tool_use")
    reply.hold, reply.hold_after_events = threading.Event(), 1
    fake_server.enqueue(reply)
    fake_server.enqueue(text_reply("Done."))
    async with tool_app.run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        await _servers_up(pilot, main)
        await type_text(pilot, "first")
        await pilot.press("enter")
        prompt = main.query_one("#prompt")
        await until(pilot, lambda: len(fake_server.requests_to()) == 1, 400)
        await pilot.press(*"any")  # the next message, typed while the reply comes
        reply.hold.set()
        await until(pilot, lambda: _approval(main) is not None, 400)
        assert main.focused is prompt
        await pilot.press(*"nay")
        assert prompt.text == "anynay"
        assert _approval(main) is not None  # still waiting: nothing answered it
        await pilot.press("shift+tab")  # from the prompt to the question
        assert main.focused is _approval(main)
        await pilot.press("y")
        await _turn_done(pilot, main)
        assert _results(fake_server.requests_to()[1].json)[0]["content"][0]["text"] == "2"
        assert prompt.text == "anynay"


async def test_a_switch_turns_a_server_off_for_this_conversation(
    tool_app: Any, fake_server: FakeServer
) -> None:
    fake_server.enqueue(text_reply("No tools."))
    async with tool_app.run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        await _servers_up(pilot, main)
        main.query_one("#server-toolbox").scroll_visible(animate=False)
        await settle(pilot)
        await pilot.click("#server-toolbox")
        await settle(pilot)
        assert "off for this chat" in _panel_text(main)
        await pilot.press("ctrl+t")  # back to the prompt (the click focused the switch)
        await type_text(pilot, "hello")
        await pilot.press("enter")
        await _turn_done(pilot, main)
        assert "tools" not in fake_server.requests_to()[0].json
        assert stored(main.conversation.id).tool_servers == []


async def test_a_server_that_fails_to_start_is_shown_failed(
    settings: Settings, fake_server: FakeServer
) -> None:
    from megachat.tui.app import MegachatApp

    broken = StdioServer(name="broken", command="/nonexistent/megachat-test-server")
    app = MegachatApp(dataclasses.replace(settings, mcp_servers=[broken]))
    fake_server.enqueue(text_reply("Still fine."))
    async with app.run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        await _servers_up(pilot, main)
        assert "failed:" in _panel_text(main)
        await type_text(pilot, "hello")
        await pilot.press("enter")
        await _turn_done(pilot, main)
        assert "tools" not in fake_server.requests_to()[0].json  # no tool to offer


async def test_the_question_fits_a_40_column_terminal(
    tool_app: Any, fake_server: FakeServer
) -> None:
    _ask_tool(fake_server, _tool_use("toolbox__add", {"a": 1, "b": 1}))
    fake_server.enqueue(text_reply("Done."))
    async with tool_app.run_test(size=(40, 14)) as pilot:
        main = await ready(pilot)
        approval = await _send_until_approval(pilot, main, "add")
        for button_id in ("#approval-once", "#approval-always", "#approval-deny"):
            region = approval.query_one(button_id).region
            assert region.width > 0 and region.right <= 40, button_id
        await pilot.click("#approval-always")
        await _turn_done(pilot, main)
        assert len(fake_server.requests_to()) == 2
