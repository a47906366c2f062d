"""The MCP client layer against real test servers: a stdio process and streamable HTTP."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from megachat.tools.client import (
    MAX_RESULT_TEXT_CHARS,
    ServerConnection,
    ServerFailed,
    ServerRunning,
    ToolResult,
    ToolTimedOut,
    as_tool_result,
    list_tools,
)
from megachat.tools.servers import HttpServer, StdioServer
from tests.mcp_servers.http_server import serve_in_thread
from tests.mcp_servers.toolbox import CRASH_STDERR, TINY_PNG

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[2]
TOOL_NAMES = {"add", "image", "sleep", "fail", "big", "env"}


def stdio_server(**env: str) -> StdioServer:
    # PYTHONPATH through the server's own env: ours is not passed on (that is the point).
    return StdioServer(
        name="local",
        command=sys.executable,
        args=("-m", "tests.mcp_servers.stdio_server"),
        env={"PYTHONPATH": str(REPO), **env},
        cwd=str(REPO),
    )


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    with serve_in_thread() as url:
        yield url


@pytest.fixture(params=["stdio", "http"])
def server(request: pytest.FixtureRequest, http_url: str) -> StdioServer | HttpServer:
    if request.param == "stdio":
        return stdio_server()
    return HttpServer(name="remote", url=http_url)


def text_of(outcome: object) -> str:
    assert isinstance(outcome, ToolResult), outcome
    return "".join(block["text"] for block in outcome.content if block["type"] == "text")


async def test_lists_the_tools_of_both_servers(server: StdioServer | HttpServer) -> None:
    status = await list_tools(server, timeout=20)
    assert isinstance(status, ServerRunning), status
    names = {tool.name for tool in status.tools}
    assert names >= TOOL_NAMES
    add = next(tool for tool in status.tools if tool.name == "add")
    assert add.description == "Add two integers."
    assert set(add.input_schema["properties"]) == {"a", "b"}  # type: ignore[arg-type]


async def test_calls_tools_on_one_reused_connection(server: StdioServer | HttpServer) -> None:
    async with ServerConnection(server) as connection:
        added = await connection.call_tool("add", {"a": 1, "b": 2}, timeout=20)
        assert added == ToolResult(content=[{"type": "text", "text": "3"}], is_error=False)

        image = await connection.call_tool("image", {}, timeout=20)
        assert isinstance(image, ToolResult) and not image.is_error
        assert image.content[0]["type"] == "image"
        source = image.content[0]["source"]
        assert source["type"] == "base64" and source["media_type"] == "image/png"
        import base64

        assert base64.b64decode(source["data"]) == TINY_PNG

        failed = await connection.call_tool("fail", {}, timeout=20)
        assert isinstance(failed, ToolResult) and failed.is_error
        assert "the fail tool failed on purpose" in text_of(failed)

        unknown = await connection.call_tool("no_such_tool", {}, timeout=20)
        assert isinstance(unknown, ToolResult) and unknown.is_error
        assert connection.is_running  # a tool's failure leaves the server up


async def test_big_text_is_cut_with_a_note(server: StdioServer | HttpServer) -> None:
    async with ServerConnection(server) as connection:
        big = await connection.call_tool("big", {}, timeout=30)
    assert isinstance(big, ToolResult) and not big.is_error
    first, note = big.content
    assert first == {"type": "text", "text": "x" * MAX_RESULT_TEXT_CHARS}
    assert note["type"] == "text" and "1,100,000 characters" in note["text"]


async def test_a_call_past_its_timeout_stops_the_server(
    server: StdioServer | HttpServer,
) -> None:
    async with ServerConnection(server) as connection:
        await connection.start()
        outcome = await connection.call_tool("sleep", {"seconds": 30}, timeout=0.5)
        assert outcome == ToolTimedOut(0.5)
        assert not connection.is_running
        assert as_tool_result(outcome).is_error
        # the next call starts it again
        again = await connection.call_tool("add", {"a": 2, "b": 2}, timeout=20)
        assert text_of(again) == "4"


async def test_a_timed_out_stdio_process_is_gone() -> None:
    async with ServerConnection(stdio_server()) as connection:
        await connection.start()
        watch = connection._watch
        assert watch is not None
        outcome = await connection.call_tool("sleep", {"seconds": 30}, timeout=0.5)
        assert isinstance(outcome, ToolTimedOut)
        assert watch.returncode is not None  # reaped, not left running


async def test_a_crash_mid_call_reports_the_stderr_tail() -> None:
    async with ServerConnection(stdio_server()) as connection:
        outcome = await connection.call_tool("crash", {}, timeout=20)
    assert isinstance(outcome, ServerFailed), outcome
    assert outcome.kind == "crashed"
    assert "code 3" in outcome.reason
    assert CRASH_STDERR in outcome.stderr_tail
    assert "\n" not in outcome.reason
    result = as_tool_result(outcome)
    assert result.is_error and "local" in text_of(result)


async def test_the_api_key_never_reaches_a_stdio_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MEGALLM_API_KEY", "sk-test-secret")
    monkeypatch.setenv("SOME_OTHER_SECRET", "hunter2")
    async with ServerConnection(stdio_server(GIVEN="by config")) as connection:
        key = await connection.call_tool("env", {"name": "MEGALLM_API_KEY"}, timeout=20)
        other = await connection.call_tool("env", {"name": "SOME_OTHER_SECRET"}, timeout=20)
        path = await connection.call_tool("env", {"name": "PATH"}, timeout=20)
        given = await connection.call_tool("env", {"name": "GIVEN"}, timeout=20)
        user = await connection.call_tool("env", {"name": "USER"}, timeout=20)
    assert text_of(key) == "(unset)"
    assert text_of(other) == "(unset)"
    assert text_of(path) == os.environ["PATH"]
    assert text_of(given) == "by config"
    assert text_of(user) == "(unset)"


async def test_a_missing_command_fails_to_start_with_one_line() -> None:
    server = StdioServer(name="ghost", command="/nonexistent/megachat-no-such-server")
    status = await list_tools(server, timeout=5)
    assert isinstance(status, ServerFailed)
    assert status.kind == "start"
    assert "command not found" in status.reason
    assert "\n" not in status.reason and "Traceback" not in status.reason


async def test_a_server_that_exits_at_once_fails_to_start_with_its_stderr() -> None:
    server = StdioServer(
        name="broken",
        command=sys.executable,
        args=("-c", "import sys; sys.stderr.write('cannot start: no config\\n'); sys.exit(2)"),
    )
    status = await list_tools(server, timeout=10)
    assert isinstance(status, ServerFailed)
    assert status.kind == "start"
    assert "code 2" in status.reason
    assert "cannot start: no config" in status.stderr_tail


async def test_nothing_listening_fails_to_start() -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        status = await list_tools(HttpServer(name="off", url=f"http://127.0.0.1:{port}/mcp"), 5)
    assert isinstance(status, ServerFailed)
    assert status.kind == "start"
    assert "\n" not in status.reason
