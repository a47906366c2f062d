"""`megachat ask -c --continue-reply`: a reply cut at max_tokens is continued and stored as one
reply (prefill) or after a marked user turn (a model without prefill); only the continuation is
printed; stderr says how every reply that did not simply end stopped."""

from __future__ import annotations

import anthropic

from megachat.chat.outcomes import CONTINUE_REQUEST
from megachat.chat.store import Store
from tests.cli.conftest import CLI, TEST_KEY
from tests.fakeserver import Reply, message_events, sse_text_reply

MODEL = "claude-sonnet-4"
CUT = "The first half, cut "
REST = " and the second half."


def ask_cut(cli: CLI) -> str:
    """Ask once, the reply cut at max_tokens; returns the conversation id."""
    assert cli.server is not None
    cli.server.enqueue(sse_text_reply(CUT, stop_reason="max_tokens"))
    result = cli.call("ask", "-m", MODEL, "--max-tokens", "50", "Tell me")
    assert result.returncode == 0, result.stderr
    assert result.stdout == CUT + "\n"
    with Store(cli.data_dir / "megachat.db") as store:
        conversation_id = store.latest_id()
    assert conversation_id is not None
    hint = f"continue with `megachat ask --conversation {conversation_id} --continue-reply`"
    assert result.stderr == f"megachat: ✂ cut at max_tokens — {hint}\n"
    return conversation_id


def sdk_body(cli: CLI, body: dict) -> dict:
    """What the official SDK streams for the same parameters, to the same fake server."""
    assert cli.server is not None
    cli.server.enqueue(sse_text_reply("sdk"))
    params = {key: value for key, value in body.items() if key != "stream"}
    sdk = anthropic.Anthropic(base_url=cli.server.base_url, api_key=TEST_KEY)
    with sdk.messages.stream(**params) as stream:
        stream.get_final_message()
    sdk.close()
    return cli.server.requests_to()[-1].json


def without_cache_marks(messages: list[dict]) -> list[dict]:
    """The messages without prompt-caching breakpoints (where they go is not this test's)."""
    return [
        {
            "role": m["role"],
            "content": [{k: v for k, v in b.items() if k != "cache_control"} for b in m["content"]],
        }
        for m in messages
    ]


def test_continue_reply_prints_the_continuation_and_stores_one_reply(cli: CLI) -> None:
    conversation_id = ask_cut(cli)
    assert cli.server is not None
    cli.server.enqueue(sse_text_reply(REST))
    result = cli.call("ask", "-c", "--continue-reply")
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == (REST + "\n", "")

    sent = cli.server.requests_to()[-1].json
    expected = [
        {"role": "user", "content": [{"type": "text", "text": "Tell me"}]},
        {"role": "assistant", "content": [{"type": "text", "text": CUT.rstrip()}]},
    ]
    assert without_cache_marks(sent["messages"]) == expected
    assert sent == sdk_body(cli, sent)
    with Store(cli.data_dir / "megachat.db") as store:
        conversation = store.get(conversation_id)
    whole = CUT.rstrip() + REST
    assert [m.text() for m in conversation.messages] == ["Tell me", whole]
    assert [m.text() for m in conversation.siblings(conversation.messages[-1])] == [CUT, whole]


def test_a_model_without_prefill_gets_a_marked_user_turn(cli: CLI) -> None:
    cli.config_file.parent.mkdir(parents=True, exist_ok=True)
    cli.config_file.write_text(f'[models."{MODEL}"]\nprefill = false\n', encoding="utf-8")
    conversation_id = ask_cut(cli)
    assert cli.server is not None
    cli.server.enqueue(sse_text_reply("The rest."))
    result = cli.call("ask", "--conversation", conversation_id, "--continue-reply")
    assert (result.returncode, result.stdout) == (0, "The rest.\n"), result.stderr

    sent = cli.server.requests_to()[-1].json
    assert without_cache_marks(sent["messages"])[-1] == {
        "role": "user",
        "content": [{"type": "text", "text": CONTINUE_REQUEST}],
    }
    assert sent == sdk_body(cli, sent)
    with Store(cli.data_dir / "megachat.db") as store:
        path = store.get(conversation_id).messages
    assert [m.text() for m in path] == ["Tell me", CUT, CONTINUE_REQUEST, "The rest."]
    assert [m.is_continue_request() for m in path] == [False, False, True, False]


def test_refusals_send_nothing(cli: CLI) -> None:
    assert cli.server is not None
    no_conversation = cli.call("ask", "--continue-reply")
    assert no_conversation.returncode == 2
    assert "--continue-reply needs -c/--continue" in no_conversation.stderr
    cli.server.enqueue(sse_text_reply("Complete."))
    assert cli.call("ask", "-m", MODEL, "Hi").returncode == 0
    with_prompt = cli.call("ask", "-c", "--continue-reply", "more")
    assert with_prompt.returncode == 2 and "takes no prompt" in with_prompt.stderr
    not_cut = cli.call("ask", "-c", "--continue-reply")
    assert not_cut.returncode == 2
    assert "did not stop at max_tokens" in not_cut.stderr
    assert len(cli.server.requests_to()) == 1


def test_other_stop_reasons_are_said_on_stderr(cli: CLI) -> None:
    assert cli.server is not None
    events = message_events(
        [{"type": "text", "text": "a, b"}], stop_reason="stop_sequence", stop_sequence="END"
    )
    cli.server.enqueue(Reply(sse=events), sse_text_reply("No.", stop_reason="refusal"))
    stopped = cli.call("ask", "-m", MODEL, "List")
    assert stopped.stderr == "megachat: ■ stopped at the stop sequence 'END'\n"
    refused = cli.call("ask", "-m", MODEL, "Bad")
    assert refused.stderr == (
        "megachat: ⊘ refused: the model declined to go on (stop_reason refusal)\n"
    )
