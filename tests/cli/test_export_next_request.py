"""`export --format json` prints the messages exactly as the next request sends them.

Against a real LiteLLM proxy export once trimmed a reply's trailing newline that the next request
still sent. Here the reply ends in newlines and carries whitespace-only blocks; the body the fake
server receives on the next `ask -c` must start with exactly what export printed.
"""

from __future__ import annotations

import json

from tests.cli.conftest import CLI, messages_sent
from tests.fakeserver import blocks_reply, error_reply, sse_text_reply


def _only_conversation(cli: CLI) -> str:
    listed = cli.call("list", "--json")
    assert listed.returncode == 0, listed.stderr
    (conv,) = json.loads(listed.stdout)
    return conv["id"]


def test_export_json_is_the_start_of_the_next_request(cli: CLI) -> None:
    cli.server.enqueue(
        blocks_reply(
            [
                {"type": "text", "text": "First line.\n"},
                {"type": "text", "text": "  \n\t"},
                {"type": "text", "text": "Second block.\n\n"},
            ]
        ),
        sse_text_reply("ok"),
    )
    first = cli.run("ask", "Say two things")
    assert first.returncode == 0, first.stderr
    conv_id = _only_conversation(cli)

    exported = cli.call("export", conv_id, "--format", "json")
    assert exported.returncode == 0, exported.stderr
    messages = json.loads(exported.stdout)["messages"]
    assert messages[-1]["content"][-1]["text"].endswith("\n\n")  # kept, as it is sent

    second = cli.run("ask", "-c", "And a third?")
    assert second.returncode == 0, second.stderr
    sent = messages_sent(cli.server)[-1]["messages"]
    assert sent[:-1] == messages
    assert sent[-1] == {"role": "user", "content": [{"type": "text", "text": "And a third?"}]}


def test_a_failed_turn_is_marked_unanswered_in_the_markdown_export(cli: CLI) -> None:
    cli.server.enqueue(error_reply(400, "invalid_request_error", "no such model"))
    failed = cli.run("ask", "Is anyone there?")
    assert failed.returncode == 1
    conv_id = _only_conversation(cli)
    markdown = cli.call("export", conv_id).stdout
    assert "Is anyone there?" in markdown
    assert "⚠ not answered: no reply was received (F5 in megachat retries)" in markdown

    cli.server.enqueue(sse_text_reply("Yes."))
    assert cli.run("ask", "-c", "Hello?").returncode == 0
    assert "not answered" not in cli.call("export", conv_id).stdout
