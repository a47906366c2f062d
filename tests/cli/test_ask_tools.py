"""`megachat ask --mcp`: the tool loop end to end, with real processes.

megachat runs as a subprocess against the fake Messages server, scripted to ask for tools; the
tools are the real stdio MCP test server (tests/mcp_servers/stdio_server.py). stdin is not a TTY
here, so a call that is not allowed is denied with a reason.
"""

from __future__ import annotations

import json
import sys

import tomli_w

from tests.cli.conftest import CLI, ROOT
from tests.fakeserver import FakeServer, blocks_reply, text_reply


def _configure(cli: CLI, servers: dict[str, dict] | None = None, **settings: object) -> None:
    servers = servers if servers is not None else {"toolbox": _toolbox()}
    cli.config_file.parent.mkdir(parents=True, exist_ok=True)
    cli.config_file.write_text(tomli_w.dumps({**settings, "mcp_servers": servers}))


def _toolbox(**extra: object) -> dict:
    return {
        "command": sys.executable,
        "args": ["-m", "tests.mcp_servers.stdio_server"],
        "cwd": str(ROOT),
        **extra,
    }


def _tool_use(name: str, tool_input: dict, tool_id: str = "toolu_1") -> dict:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}


def _ask_tool(server: FakeServer, *blocks: dict) -> None:
    server.enqueue(blocks_reply(list(blocks), stop_reason="tool_use"))


def _results(request_body: dict) -> list[dict]:
    last = request_body["messages"][-1]
    assert last["role"] == "user"
    return [block for block in last["content"] if block["type"] == "tool_result"]


def test_allowed_call_runs_and_its_result_goes_back(cli: CLI, fake_server: FakeServer) -> None:
    _configure(cli)
    _ask_tool(
        fake_server,
        {"type": "text", "text": "Let me add."},
        _tool_use("toolbox__add", {"a": 1, "b": 2}),
    )
    fake_server.enqueue(text_reply("The sum is 3."))
    result = cli.run("ask", "--mcp", "toolbox", "--allow", "toolbox.add", "what is 1+2?")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "The sum is 3.\n"  # the final answer only
    assert "Let me add." in result.stderr
    assert 'tool toolbox.add {"a": 1, "b": 2}' in result.stderr
    assert "tool toolbox.add -> 3" in result.stderr
    first, second = [r.json for r in fake_server.requests_to()]
    names = [tool["name"] for tool in first["tools"]]
    assert "toolbox__add" in names and "toolbox__sleep" in names
    add = next(tool for tool in first["tools"] if tool["name"] == "toolbox__add")
    assert add["input_schema"]["properties"].keys() == {"a", "b"}
    assert second["tools"] == first["tools"]
    assert second["messages"][1]["content"][-1] == _tool_use("toolbox__add", {"a": 1, "b": 2})
    assert _results(second) == [
        {
            "type": "tool_result",
            "tool_use_id": "toolu_1",
            "content": [{"type": "text", "text": "3"}],
        }
    ]


def test_two_calls_in_one_reply_answered_in_one_message_in_order(
    cli: CLI, fake_server: FakeServer
) -> None:
    _configure(cli, {"toolbox": _toolbox(allow=["add"])})
    _ask_tool(
        fake_server,
        _tool_use("toolbox__add", {"a": 5, "b": 5}, "toolu_a"),
        _tool_use("toolbox__add", {"a": 1, "b": 1}, "toolu_b"),
    )
    fake_server.enqueue(text_reply("10 and 2."))
    result = cli.run("ask", "--mcp", "all", "sums")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "10 and 2.\n"
    second = fake_server.requests_to()[1].json
    results = _results(second)
    assert [(r["tool_use_id"], r["content"][0]["text"]) for r in results] == [
        ("toolu_a", "10"),
        ("toolu_b", "2"),
    ]
    assert len(second["messages"]) == 3  # user, assistant (two tool_use), user (two results)


def test_thinking_is_sent_back_unchanged_with_its_signature(
    cli: CLI, fake_server: FakeServer
) -> None:
    _configure(cli)
    thinking = {"type": "thinking", "thinking": "I should add.", "signature": "sig-XYZ-123"}
    _ask_tool(fake_server, thinking, _tool_use("toolbox__add", {"a": 2, "b": 2}))
    fake_server.enqueue(text_reply("4"))
    result = cli.run("ask", "--mcp", "toolbox", "--allow", "toolbox.*", "2+2")
    assert result.returncode == 0, result.stderr
    assistant = fake_server.requests_to()[1].json["messages"][1]
    assert assistant["role"] == "assistant"
    assert assistant["content"][0] == thinking


def test_a_call_not_allowed_is_denied_without_a_tty(cli: CLI, fake_server: FakeServer) -> None:
    _configure(cli)
    _ask_tool(fake_server, _tool_use("toolbox__add", {"a": 1, "b": 2}))
    fake_server.enqueue(text_reply("I could not add."))
    result = cli.run("ask", "--mcp", "toolbox", "1+2")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "I could not add.\n"
    reason = "denied: not allowed (run with --allow toolbox.add)"
    assert f"tool toolbox.add error: {reason}" in result.stderr
    assert _results(fake_server.requests_to()[1].json) == [
        {
            "type": "tool_result",
            "tool_use_id": "toolu_1",
            "content": [{"type": "text", "text": reason}],
            "is_error": True,
        }
    ]


def test_a_call_past_the_timeout_is_an_error_result(cli: CLI, fake_server: FakeServer) -> None:
    _configure(cli, tool_timeout=1.0)
    _ask_tool(fake_server, _tool_use("toolbox__sleep", {"seconds": 30}))
    fake_server.enqueue(text_reply("It took too long."))
    result = cli.run("ask", "--mcp", "toolbox", "--allow", "toolbox.sleep", "sleep")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "It took too long.\n"
    (tool_result,) = _results(fake_server.requests_to()[1].json)
    assert tool_result["is_error"] is True
    assert "did not answer within 1 s" in tool_result["content"][0]["text"]


def test_a_missing_server_answers_with_an_error_and_the_answer_is_printed(
    cli: CLI, fake_server: FakeServer
) -> None:
    _configure(cli, {"toolbox": _toolbox(), "gone": {"command": "/nonexistent/mcp-server-xyz"}})
    _ask_tool(fake_server, _tool_use("gone__add", {"a": 1, "b": 2}))
    fake_server.enqueue(text_reply("The tool is unavailable."))
    result = cli.run("ask", "--mcp", "all", "--allow", "gone.*", "1+2")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "The tool is unavailable.\n"
    assert "MCP server 'gone' failed to start" in result.stderr
    (tool_result,) = _results(fake_server.requests_to()[1].json)
    assert tool_result["is_error"] is True
    assert "MCP server 'gone'" in tool_result["content"][0]["text"]
    offered = [tool["name"] for tool in fake_server.requests_to()[0].json["tools"]]
    assert "toolbox__add" in offered and not any(n.startswith("gone") for n in offered)


def test_the_loop_stops_at_max_tool_steps(cli: CLI, fake_server: FakeServer) -> None:
    _configure(cli, max_tool_steps=2)
    for step in range(3):
        _ask_tool(fake_server, _tool_use("toolbox__add", {"a": step, "b": 1}, f"toolu_{step}"))
    fake_server.enqueue(text_reply("never asked for"))
    result = cli.run("ask", "--mcp", "toolbox", "--allow", "toolbox.add", "loop")
    assert result.returncode == 0, result.stderr
    assert len(fake_server.requests_to()) == 3
    assert "Stopped after 2 tool steps (max_tool_steps = 2)" in result.stderr
    assert result.stdout == ""
    # the calls of the last reply were answered and stored: the conversation can be sent again
    fake_server.enqueue(text_reply("ok"))
    again = cli.run("ask", "-c", "--mcp", "toolbox", "go on")
    assert again.returncode == 0, again.stderr
    body = fake_server.requests_to()[-1].json
    last = body["messages"][-1]["content"]
    assert last[0]["type"] == "tool_result" and last[0]["tool_use_id"] == "toolu_2"
    assert last[0]["is_error"] is True and "limit of 2 tool steps" in last[0]["content"][0]["text"]
    assert last[-1] == {"type": "text", "text": "go on"}


def test_json_prints_the_final_message(cli: CLI, fake_server: FakeServer) -> None:
    _configure(cli)
    _ask_tool(fake_server, _tool_use("toolbox__add", {"a": 1, "b": 2}))
    fake_server.enqueue(text_reply("3"))
    result = cli.run("ask", "--json", "--mcp", "toolbox", "--allow", "toolbox.add", "1+2")
    assert result.returncode == 0, result.stderr
    message = json.loads(result.stdout)
    assert message["stop_reason"] == "end_turn"
    assert message["content"] == [{"type": "text", "text": "3"}]


def test_the_tool_turns_are_stored_as_sent(cli: CLI, fake_server: FakeServer) -> None:
    _configure(cli)
    _ask_tool(fake_server, _tool_use("toolbox__add", {"a": 1, "b": 2}))
    fake_server.enqueue(text_reply("3"))
    assert cli.run("ask", "--mcp", "toolbox", "--allow", "toolbox.add", "1+2").returncode == 0
    sent = fake_server.requests_to()[1].json["messages"]
    fake_server.enqueue(text_reply("ok"))
    again = cli.run("ask", "-c", "--mcp", "toolbox", "thanks")
    assert again.returncode == 0, again.stderr
    replayed = fake_server.requests_to()[2].json["messages"]
    assert replayed[:3] == sent  # the stored turns, sent again exactly as first sent
    assert replayed[3] == {"role": "assistant", "content": [{"type": "text", "text": "3"}]}


def test_unknown_server_is_a_usage_error(cli: CLI, fake_server: FakeServer) -> None:
    _configure(cli)
    result = cli.run("ask", "--mcp", "nope", "hi")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "unknown MCP server 'nope'" in result.stderr
    assert fake_server.requests_to() == []


def test_the_api_key_never_reaches_the_tool_server(cli: CLI, fake_server: FakeServer) -> None:
    _configure(cli)
    _ask_tool(fake_server, _tool_use("toolbox__env", {"name": "MEGALLM_API_KEY"}))
    fake_server.enqueue(text_reply("done"))
    result = cli.run("ask", "--mcp", "toolbox", "--allow", "toolbox.env", "env")
    assert result.returncode == 0, result.stderr
    (tool_result,) = _results(fake_server.requests_to()[1].json)
    assert tool_result["content"] == [{"type": "text", "text": "(unset)"}]
