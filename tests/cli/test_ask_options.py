"""`ask --thinking/--effort/--stop/--top-p/--top-k`, refusals before sending, prompt caching."""

from __future__ import annotations

import json

from tests.cli.conftest import CLI, allow_prompt_cache, messages_sent
from tests.fakeserver import ModelRule

MODEL = "claude-sonnet-4"


def test_the_options_reach_the_request_and_a_continued_conversation_keeps_them(
    cli: CLI,
) -> None:
    first = cli.run(
        "ask", "-m", MODEL, "--max-tokens", "8192", "--thinking", "2048",
        "--stop", "END", "--stop", "</a>", "hi",
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    body = messages_sent(cli.server)[-1]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["stop_sequences"] == ["END", "</a>"]
    assert "top_p" not in body and "top_k" not in body and "output_config" not in body

    again = cli.run("ask", "-c", "more")
    assert again.returncode == 0, again.stderr
    kept = messages_sent(cli.server)[-1]
    assert kept["thinking"] == body["thinking"] and kept["stop_sequences"] == ["END", "</a>"]

    off = cli.run("ask", "-c", "--thinking", "off", "--top-p", "0.5", "--top-k", "3", "plain")
    assert off.returncode == 0, off.stderr
    plain = messages_sent(cli.server)[-1]
    assert "thinking" not in plain and (plain["top_p"], plain["top_k"]) == (0.5, 3)


def test_adaptive_thinking_and_effort(cli: CLI) -> None:
    done = cli.run(
        "ask", "-m", "claude-sonnet-4-6", "--thinking", "adaptive", "--effort", "low", "q"
    )
    assert done.returncode == 0, done.stderr
    body = messages_sent(cli.server)[-1]
    assert body["thinking"] == {"type": "adaptive"}
    assert body["output_config"] == {"effort": "low"}


def test_out_of_range_options_are_usage_errors_and_send_nothing(cli: CLI) -> None:
    for flags, named in [
        (["--thinking", "100"], "at least 1024"),
        (["--thinking", "8000"], "below max_tokens"),  # the default max_tokens is 4096
        (["--top-p", "1.5"], "0 to 1"),
        (["--top-k", "0"], "--top-k"),
        (["--effort", "extreme"], "--effort"),
        (["--stop", ""], "empty"),
    ]:
        result = cli.run("ask", "-m", MODEL, *flags, "hi")
        assert result.returncode == 2, (flags, result.stderr)
        assert named in result.stderr, (flags, result.stderr)
    assert messages_sent(cli.server) == []
    assert cli.call("list", "--json").stdout.strip() == "[]"


def test_what_the_model_rejects_is_refused_in_one_line_and_not_sent(cli: CLI) -> None:
    assert cli.server is not None
    cli.server.model_rules = {"claude-opus-4-7": ModelRule("claude-opus-4-7", prefill=False)}
    result = cli.run("ask", "-m", "claude-opus-4-7", "--prefill", "Sure", "hi")
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("megachat: error: ") and line.endswith("(nothing was sent)")
    assert "prefill" in line
    assert messages_sent(cli.server) == [] and cli.server.refused == []
    assert cli.call("list", "--json").stdout.strip() == "[]"


def test_prompt_caching_is_on_by_default_and_off_by_setting(cli: CLI) -> None:
    allow_prompt_cache(cli)
    assert cli.run("ask", "-s", "Be terse.", "one").returncode == 0
    body = messages_sent(cli.server)[-1]
    assert body["system"] == [
        {"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}
    ]
    assert body["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert cli.call("config", "set", "prompt_cache", "false").returncode == 0
    assert cli.run("ask", "-c", "two").returncode == 0
    assert "cache_control" not in json.dumps(messages_sent(cli.server)[-1])


def test_a_server_refusing_cache_control_gets_one_resend_and_is_remembered(cli: CLI) -> None:
    assert cli.server is not None
    allow_prompt_cache(cli)
    cli.server.model_rules = {"*": ModelRule("*", cache_control=False)}
    first = cli.run("ask", "one")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "Hello from the fake server."
    notice = (
        "the server does not take prompt caching; sent without it "
        f"(remembered for {cli.server.base_url})"
    )
    assert notice in first.stderr
    tries = messages_sent(cli.server)
    assert len(tries) == 2 and cli.server.refused == [
        "cache_control: Extra inputs are not permitted"
    ]
    assert "cache_control" not in json.dumps(tries[1])

    second = cli.run("ask", "-c", "two")
    assert second.returncode == 0 and notice not in second.stderr
    assert len(messages_sent(cli.server)) == 3 and len(cli.server.refused) == 1
