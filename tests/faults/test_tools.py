"""Tool faults (issue 12): `megachat ask --mcp` against the real stdio MCP test server.

Each row drives the fault for real: the `megachat ask` process, the stdio server
(tests/mcp_servers/stdio_server.py) it starts, the loopback fake Messages server scripted to ask
for a tool. Each asserts what the user sees (stderr lines, exit status), what is kept (the
`tool_use` and an `is_error` `tool_result` with the reason, in `megachat export ID --format json`),
and that the conversation then sends cleanly: `ask -c` succeeds and every request it and the
first run made answers each `tool_use` with a `tool_result` (`assert_tool_uses_answered`), which
is what the API checks before it accepts a conversation.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterable

import tomli_w

from tests.fakeserver import blocks_reply, text_reply
from tests.faults.conftest import (
    ROOT,
    Sandbox,
    assert_clean,
    read_until,
    run_measured,
    wait_for,
)
from tests.mcp_servers.toolbox import BIG_TEXT_CHARS

MISSING_COMMAND = "/nonexistent/mcp-server-xyz"
CUT_CHARS = 1024 * 1024  # megachat.tools.client.MAX_RESULT_TEXT_CHARS


# -- the pairing rule, for any request body -------------------------------------------------------


def assert_tool_uses_answered(body: dict) -> None:
    """The API's rule for a request: each assistant turn's `tool_use` blocks are answered by
    `tool_result` blocks, one per id, at the start of the very next (user) turn; no result
    answers anything else; tool blocks only in a request that defines `tools`."""
    messages = body["messages"]
    for index, message in enumerate(messages):
        blocks = message["content"] if isinstance(message["content"], list) else []
        if message["role"] == "assistant":
            assert not [b for b in blocks if b["type"] == "tool_result"], message
            asked = [b["id"] for b in blocks if b["type"] == "tool_use"]
            if not asked:
                continue
            assert len(set(asked)) == len(asked), f"duplicate tool_use ids: {asked}"
            assert index + 1 < len(messages), "the request ends with unanswered tool calls"
            answer = messages[index + 1]
            assert answer["role"] == "user", answer
            first = answer["content"][: len(asked)]
            results = [b["tool_use_id"] for b in first if b["type"] == "tool_result"]
            assert sorted(results) == sorted(asked), (asked, answer["content"])
        else:
            previous = messages[index - 1]["content"] if index else []
            asked_before = {b["id"] for b in previous if b["type"] == "tool_use"}
            answered = [b["tool_use_id"] for b in blocks if b["type"] == "tool_result"]
            assert set(answered) <= asked_before, (answered, asked_before)
            assert blocks[: len(answered)] == [b for b in blocks if b["type"] == "tool_result"]
    if any(b["type"] in ("tool_use", "tool_result") for m in messages for b in _blocks(m)):
        assert body.get("tools"), "tool blocks in a request without `tools`"


def _blocks(message: dict) -> list[dict]:
    return message["content"] if isinstance(message["content"], list) else []


# -- set-up and what is kept ----------------------------------------------------------------------


def _toolbox(**extra: object) -> dict:
    return {
        "command": sys.executable,
        "args": ["-m", "tests.mcp_servers.stdio_server"],
        "cwd": str(ROOT),
        **extra,
    }


def _configure(mc: Sandbox, servers: dict[str, dict], **settings: object) -> None:
    """The fault harness's config (short retries, no rate limit), `settings` and the servers."""
    base = {"max_retries": 2, "prompt_cache": False, "rate_limit": {"requests": 0}}
    mc.write_config(tomli_w.dumps({**base, **settings, "mcp_servers": servers}))


def _tool_use(name: str, tool_input: dict, tool_id: str) -> dict:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}


def _error(tool_id: str, reason: str) -> dict:
    return {
        "type": "tool_result",
        "tool_use_id": tool_id,
        "content": [{"type": "text", "text": reason}],
        "is_error": True,
    }


def _ask_for(mc: Sandbox, *calls: dict, then: str = "The final answer.") -> None:
    """Script the model: one reply asking for `calls`, then a reply ending the turn."""
    mc.server.enqueue(blocks_reply(list(calls), stop_reason="tool_use"))
    mc.server.enqueue(text_reply(then))


def _lines(stderr: str) -> list[str]:
    assert_clean(stderr)
    return stderr.splitlines()


def _kept(mc: Sandbox) -> list[dict]:
    """The stored conversation as `megachat export ID --format json` shows it."""
    return mc.export(mc.only_conversation()["id"])["messages"]


def _goes_on(mc: Sandbox, mcp: Iterable[str], calls: Iterable[dict]) -> dict:
    """`ask -c "go on"` with the servers again: it succeeds, replays the calls, all answered."""
    mc.server.enqueue(text_reply("Going on."))
    flags = [flag for name in mcp for flag in ("--mcp", name)]
    result = mc.run("ask", "-c", *flags, "go on")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Going on.\n"
    assert_clean(result.stderr)
    bodies = [request.json for request in mc.server.requests_to()]
    for body in bodies:
        assert_tool_uses_answered(body)
    last = bodies[-1]
    replayed = [b for m in last["messages"] for b in _blocks(m) if b["type"] == "tool_use"]
    assert replayed == list(calls)  # not vacuous: the calls are sent again, answered
    assert last["messages"][-1]["content"][-1] == {"type": "text", "text": "go on"}
    return last


# -- the rows -------------------------------------------------------------------------------------


def test_server_missing(mc: Sandbox) -> None:
    """A configured command that does not exist: the other servers' tools are offered, a call to
    it is answered with the reason, and the turn ends normally."""
    _configure(mc, {"toolbox": _toolbox(), "gone": {"command": MISSING_COMMAND}})
    call = _tool_use("gone__add", {"a": 1, "b": 2}, "toolu_gone")
    _ask_for(mc, call, then="The tool is unavailable.")
    result = mc.run("ask", "--mcp", "all", "--allow", "gone.*", "1+2")
    reason = f"MCP server 'gone': command not found: {MISSING_COMMAND}"
    assert (result.returncode, result.stdout) == (0, "The tool is unavailable.\n")
    assert _lines(result.stderr) == [
        f"megachat: MCP server 'gone' failed to start: command not found: {MISSING_COMMAND}",
        'megachat: tool gone.add {"a": 1, "b": 2}',
        f"megachat: tool gone.add error: {reason}",
    ]
    offered = [tool["name"] for tool in mc.server.requests_to()[0].json["tools"]]
    assert "toolbox__add" in offered and not [n for n in offered if n.startswith("gone")]
    assert _kept(mc) == [
        {"role": "user", "content": [{"type": "text", "text": "1+2"}]},
        {"role": "assistant", "content": [call]},
        {"role": "user", "content": [_error("toolu_gone", reason)]},
        {"role": "assistant", "content": [{"type": "text", "text": "The tool is unavailable."}]},
    ]
    _goes_on(mc, ["all"], [call])


def test_server_crashes_mid_call(mc: Sandbox) -> None:
    """The server exits during a call: that call is answered with the reason, and the next call
    of the same reply starts the server again and runs."""
    _configure(mc, {"toolbox": _toolbox()})
    crash = _tool_use("toolbox__crash", {}, "toolu_crash")
    add = _tool_use("toolbox__add", {"a": 2, "b": 3}, "toolu_add")
    _ask_for(mc, crash, add)
    result = mc.run("ask", "--mcp", "toolbox", "--allow", "toolbox.*", "crash, then add")
    reason = "MCP server 'toolbox': the server exited (code 3) during the call"
    assert (result.returncode, result.stdout) == (0, "The final answer.\n")
    assert _lines(result.stderr) == [
        "megachat: tool toolbox.crash {}",
        f"megachat: tool toolbox.crash error: {reason}",
        'megachat: tool toolbox.add {"a": 2, "b": 3}',
        "megachat: tool toolbox.add -> 5",
    ]
    added = {"type": "tool_result", "tool_use_id": "toolu_add", "content": [_text("5")]}
    assert _kept(mc)[1:3] == [
        {"role": "assistant", "content": [crash, add]},
        {"role": "user", "content": [_error("toolu_crash", reason), added]},
    ]
    _goes_on(mc, ["toolbox"], [crash, add])


def test_hang_past_the_tool_timeout(mc: Sandbox) -> None:
    """A tool that never answers: after `tool_timeout` the call is an error result (the server
    is stopped, restarted on the next call) and the model gets the reason."""
    _configure(mc, {"toolbox": _toolbox()}, tool_timeout=1.0)
    call = _tool_use("toolbox__sleep", {"seconds": 3600}, "toolu_sleep")
    _ask_for(mc, call, then="It took too long.")
    result = mc.run("ask", "--mcp", "toolbox", "--allow", "toolbox.sleep", "sleep")
    reason = "the tool did not answer within 1 s"
    assert (result.returncode, result.stdout) == (0, "It took too long.\n")
    assert _lines(result.stderr) == [
        'megachat: tool toolbox.sleep {"seconds": 3600}',
        f"megachat: tool toolbox.sleep error: {reason}",
    ]
    assert _kept(mc)[1:3] == [
        {"role": "assistant", "content": [call]},
        {"role": "user", "content": [_error("toolu_sleep", reason)]},
    ]
    _goes_on(mc, ["toolbox"], [call])


async def test_a_tool_slower_than_the_connect_timeout_still_gets_tool_timeout() -> None:
    """A call is bounded by the tool timeout alone: the SDK's read timeout (the connect timeout,
    30 s in `ask`) used to end a 31 s call at 30 s with "Request 'tools/call' timed out", the
    server left running, although `tool_timeout` (default 120 s) allowed it. In-process: the
    connect timeout is not a setting, so a real process cannot shorten it."""
    from megachat.tools.client import ServerConnection, ToolResult
    from megachat.tools.servers import StdioServer

    server = StdioServer(
        name="toolbox",
        command=sys.executable,
        args=("-m", "tests.mcp_servers.stdio_server"),
        env={"PYTHONPATH": str(ROOT)},
        cwd=str(ROOT),
    )
    async with ServerConnection(server, connect_timeout=1.0) as connection:
        outcome = await connection.call_tool("sleep", {"seconds": 1.5}, timeout=60.0)
    assert outcome == ToolResult([_text("slept 1.5")], is_error=False)


def test_huge_output(mc: Sandbox) -> None:
    """A tool returning 1.1 MB of text: the model gets (and the store keeps) the first MiB and a
    note saying how much there was; stderr shows one short line; memory stays bounded."""
    _configure(mc, {"toolbox": _toolbox()})
    ordinary_call = _tool_use("toolbox__add", {"a": 1, "b": 1}, "toolu_small")
    _ask_for(mc, ordinary_call)
    ordinary = run_measured(mc, "ask", "--mcp", "toolbox", "--allow", "toolbox.*", "small")
    assert ordinary.returncode == 0, ordinary.stderr
    mc.db.unlink()  # one conversation per measured run
    for leftover in mc.data_dir.glob("megachat.db-*"):
        leftover.unlink()

    call = _tool_use("toolbox__big", {}, "toolu_big")
    _ask_for(mc, call)
    big = run_measured(mc, "ask", "--mcp", "toolbox", "--allow", "toolbox.*", "big")
    assert (big.returncode, big.stdout) == (0, "The final answer.\n")
    assert _lines(big.stderr) == [
        "megachat: tool toolbox.big {}",
        "megachat: tool toolbox.big -> " + "x" * 159 + "…",
    ]
    note = f"[the tool returned {BIG_TEXT_CHARS:,} characters of text; cut to the first 1,048,576]"
    expected = {
        "type": "tool_result",
        "tool_use_id": "toolu_big",
        "content": [_text("x" * CUT_CHARS), _text(note)],
    }
    sent = mc.server.requests_to()[-1].json
    assert sent["messages"][-1] == {"role": "user", "content": [expected]}  # to the model
    assert _kept(mc)[2] == {"role": "user", "content": [expected]}  # in the store
    assert big.peak_rss_mb <= ordinary.peak_rss_mb + 64, (big.peak_rss_mb, ordinary.peak_rss_mb)
    _goes_on(mc, ["toolbox"], [call])


def test_invalid_arguments_and_an_unknown_tool(mc: Sandbox) -> None:
    """Arguments that do not match the schema, and a tool name no server has: each call is an
    error result the model can read (the server's validation message, or ours)."""
    _configure(mc, {"toolbox": _toolbox()})
    calls = [
        _tool_use("toolbox__add", {"a": "x", "b": 1}, "toolu_type"),
        _tool_use("toolbox__add", {"a": 1}, "toolu_missing"),
        _tool_use("nosuch__tool", {}, "toolu_unknown"),
    ]
    _ask_for(mc, *calls)
    result = mc.run("ask", "--mcp", "toolbox", "--allow", "toolbox.add", "add")
    assert (result.returncode, result.stdout) == (0, "The final answer.\n")
    lines = _lines(result.stderr)
    assert len(lines) == 6
    assert lines[0] == 'megachat: tool toolbox.add {"a": "x", "b": 1}'
    assert lines[1].startswith("megachat: tool toolbox.add error: Error executing tool add: ")
    assert lines[2] == 'megachat: tool toolbox.add {"a": 1}'
    assert lines[3].startswith("megachat: tool toolbox.add error: Error executing tool add: ")
    assert lines[4:] == [
        "megachat: tool nosuch__tool {}",
        "megachat: tool nosuch__tool error: no enabled tool is named 'nosuch__tool'",
    ]
    kept = _kept(mc)
    assert kept[1] == {"role": "assistant", "content": calls}
    wrong_type, missing, unknown = kept[2]["content"]
    assert wrong_type["is_error"] and missing["is_error"]
    assert "a\n  Input should be a valid integer" in wrong_type["content"][0]["text"]
    assert "b\n  Field required" in missing["content"][0]["text"]
    assert unknown == _error("toolu_unknown", "no enabled tool is named 'nosuch__tool'")
    _goes_on(mc, ["toolbox"], calls)


def test_cancel_mid_call(mc: Sandbox) -> None:
    """Ctrl+C while a tool runs: exit 130 at once, every call of the reply answered "cancelled
    by the user" and stored, the server process stopped; `ask -c` then sends cleanly."""
    _configure(mc, {"toolbox": _toolbox()})
    calls = [
        _tool_use("toolbox__sleep", {"seconds": 3600}, "toolu_sleep"),
        _tool_use("toolbox__add", {"a": 1, "b": 2}, "toolu_after"),
    ]
    mc.server.enqueue(blocks_reply(calls, stop_reason="tool_use"))
    proc = mc.popen("ask", "--mcp", "toolbox", "--allow", "toolbox.*", "sleep, then add")
    shown = read_until(proc.stderr.fileno(), b'toolbox.sleep {"seconds": 3600}\n')
    (server_pid,) = _children(proc.pid)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    stderr = (shown + proc.stderr.read()).decode()
    assert _lines(stderr) == ['megachat: tool toolbox.sleep {"seconds": 3600}']
    assert proc.stdout.read() == b""
    wait_for(lambda: not _alive(server_pid), "the MCP server to be stopped")
    assert _kept(mc) == [
        {"role": "user", "content": [_text("sleep, then add")]},
        {"role": "assistant", "content": calls},
        {
            "role": "user",
            "content": [
                _error("toolu_sleep", "cancelled by the user"),
                _error("toolu_after", "cancelled by the user"),
            ],
        },
    ]
    last = _goes_on(mc, ["toolbox"], calls)
    assert [b["type"] for b in last["messages"][-1]["content"]] == [
        "tool_result",
        "tool_result",
        "text",
    ]  # the results and the new text: one user turn


def test_a_denied_call_without_a_tty(mc: Sandbox) -> None:
    """A call not allowed, stdin not a terminal: denied without running, the reason goes to the
    model and to stderr."""
    _configure(mc, {"toolbox": _toolbox()})
    call = _tool_use("toolbox__add", {"a": 1, "b": 2}, "toolu_denied")
    _ask_for(mc, call, then="I could not add.")
    result = mc.run("ask", "--mcp", "toolbox", "1+2")
    reason = "denied: not allowed (run with --allow toolbox.add)"
    assert (result.returncode, result.stdout) == (0, "I could not add.\n")
    assert _lines(result.stderr) == [f"megachat: tool toolbox.add error: {reason}"]
    assert _kept(mc)[1:3] == [
        {"role": "assistant", "content": [call]},
        {"role": "user", "content": [_error("toolu_denied", reason)]},
    ]
    _goes_on(mc, ["toolbox"], [call])


def test_the_pairing_check_catches_an_unanswered_call() -> None:
    """The helper itself can fail: a call left open, or answered by the wrong id."""
    call = _tool_use("toolbox__add", {}, "toolu_1")
    ok = {
        "tools": [{"name": "toolbox__add"}],
        "messages": [
            {"role": "user", "content": [_text("hi")]},
            {"role": "assistant", "content": [call]},
            {"role": "user", "content": [_error("toolu_1", "r"), _text("go on")]},
        ],
    }
    assert_tool_uses_answered(ok)
    broken = [
        {**ok, "messages": ok["messages"][:2]},
        {**ok, "messages": [*ok["messages"][:2], {"role": "user", "content": [_text("x")]}]},
        {**ok, "messages": [*ok["messages"][:2], {"role": "user", "content": [_error("t9", "")]}]},
        {"messages": ok["messages"]},
    ]
    for body in broken:
        try:
            assert_tool_uses_answered(body)
        except AssertionError:
            continue
        raise AssertionError(f"not caught: {body}")


# -- helpers ------------------------------------------------------------------------------------


def _text(text: str) -> dict:
    return {"type": "text", "text": text}


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped has stopped)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
