"""`megachat ask` end to end: real subprocesses, the real fake server, a real SQLite file."""

from __future__ import annotations

import base64
import json
import re

import pytest

from tests.cli.conftest import CLI, TEST_KEY, messages_sent, png_bytes
from tests.fakeserver import Reply, error_reply, message_events, message_reply, sse_text_reply


def conversations(cli: CLI) -> list[dict]:
    result = cli.call("list", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def export_json(cli: CLI, conv_id: str) -> dict:
    result = cli.call("export", conv_id, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def export_markdown(cli: CLI, conv_id: str) -> str:
    result = cli.call("export", conv_id)
    assert result.returncode == 0, result.stderr
    return result.stdout


# --------------------------------------------------------------------------- the basic turn


def test_ask_streams_the_reply_and_saves_the_turn(cli: CLI) -> None:
    cli.server.enqueue(sse_text_reply("The answer is 42.", chunks=["The ", "answer ", "is 42."]))
    result = cli.run("ask", "What", "is", "the", "answer?")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "The answer is 42.\n"
    assert result.stderr == ""
    (request,) = cli.server.requests_to("/v1/messages")
    assert request.headers["x-api-key"] == TEST_KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.headers["content-type"] == "application/json"
    assert request.json == {
        "model": "claude-sonnet-4",
        "max_tokens": 4096,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "What is the answer?"}]}
        ],
        "stream": True,
    }
    (conv,) = conversations(cli)
    assert conv["title"] == "What is the answer?"
    assert conv["message_count"] == 2
    assert conv["model"] == "claude-sonnet-4"
    exported = export_json(cli, conv["id"])
    assert exported["messages"][-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "The answer is 42."}],
    }


def test_options_reach_the_request(cli: CLI) -> None:
    result = cli.run(
        "ask", "-m", "claude-3.7-sonnet", "-s", "Be terse.", "-t", "0", "--max-tokens", "77", "hi"
    )
    assert result.returncode == 0, result.stderr
    body = messages_sent(cli.server)[0]
    assert body["model"] == "claude-3.7-sonnet"
    assert body["system"] == "Be terse."
    assert body["temperature"] == 0
    assert body["max_tokens"] == 77
    (conv,) = conversations(cli)
    exported = export_json(cli, conv["id"])
    assert (exported["system"], exported["temperature"], exported["model"]) == (
        "Be terse.",
        0.0,
        "claude-3.7-sonnet",
    )


def test_config_defaults_are_used(cli: CLI) -> None:
    cli.run("config", "set", "model", "claude-opus-4-1-20250805")
    cli.run("config", "set", "max_tokens", "99")
    cli.run("config", "set", "system_prompt", "From config.")
    cli.run("config", "set", "temperature", "0.2")
    assert cli.run("ask", "hi").returncode == 0
    body = messages_sent(cli.server)[0]
    assert body["model"] == "claude-opus-4-1-20250805"
    assert body["max_tokens"] == 99
    assert body["system"] == "From config."
    assert body["temperature"] == 0.2


# --------------------------------------------------------------------------- stdin


def test_stdin_text_then_blank_line_then_prompt(cli: CLI) -> None:
    result = cli.run("ask", "Summarize", "this.", input="line one\nline two\n")
    assert result.returncode == 0, result.stderr
    text = messages_sent(cli.server)[0]["messages"][0]["content"][0]["text"]
    assert text == "line one\nline two\n\nSummarize this."


def test_stdin_alone_is_the_prompt(cli: CLI) -> None:
    assert cli.run("ask", input="only stdin\n").returncode == 0
    text = messages_sent(cli.server)[0]["messages"][0]["content"][0]["text"]
    assert text == "only stdin"


def test_empty_stdin_adds_nothing(cli: CLI) -> None:
    assert cli.run("ask", "just", "args", input="").returncode == 0
    text = messages_sent(cli.server)[0]["messages"][0]["content"][0]["text"]
    assert text == "just args"


@pytest.mark.parametrize("stdin", ["", "  \n\n"])
def test_no_prompt_at_all_is_a_usage_error(cli: CLI, stdin: str) -> None:
    result = cli.run("ask", input=stdin)
    assert result.returncode == 2
    assert result.stderr.startswith("megachat: error: no prompt")
    assert result.stdout == ""
    assert cli.server.requests == []


# --------------------------------------------------------------------------- conversations


def test_continue_sends_the_whole_history_across_processes(cli: CLI) -> None:
    cli.server.enqueue(sse_text_reply("First reply."), sse_text_reply("Second reply."))
    assert cli.run("ask", "first question").returncode == 0
    assert cli.run("ask", "-c", "second question").returncode == 0
    assert cli.run("ask", "--continue", "third question").returncode == 0
    bodies = messages_sent(cli.server)
    assert [m["role"] for m in bodies[2]["messages"]] == ["user", "assistant"] * 2 + ["user"]
    texts = [m["content"][-1]["text"] for m in bodies[2]["messages"]]
    assert texts == [
        "first question",
        "First reply.",
        "second question",
        "Second reply.",
        "third question",
    ]
    (conv,) = conversations(cli)
    assert conv["message_count"] == 6


def test_conversation_id_appends_to_that_conversation(cli: CLI) -> None:
    cli.server.enqueue(sse_text_reply("About cats."), sse_text_reply("About dogs."))
    cli.run("ask", "cats")
    cli.run("ask", "dogs")
    convs = conversations(cli)
    assert [c["title"] for c in convs] == ["dogs", "cats"]  # newest first
    cats = convs[1]["id"]
    assert cli.run("ask", "--conversation", cats, "more cats").returncode == 0
    body = messages_sent(cli.server)[-1]
    assert [m["content"][-1]["text"] for m in body["messages"]] == [
        "cats",
        "About cats.",
        "more cats",
    ]
    assert conversations(cli)[0]["id"] == cats  # now the most recent


def test_unknown_conversation_and_nothing_to_continue_send_nothing(cli: CLI) -> None:
    result = cli.run("ask", "-c", "hello")
    assert result.returncode == 2
    assert "no saved conversation" in result.stderr
    result = cli.run("ask", "--conversation", "nope", "hello")
    assert result.returncode == 2
    assert "no conversation with id 'nope'" in result.stderr
    assert cli.server.requests == []


def test_no_save_keeps_nothing(cli: CLI) -> None:
    result = cli.run("ask", "--no-save", "secret question")
    assert result.returncode == 0
    assert result.stdout == "Hello from the fake server.\n"
    assert conversations(cli) == []


def test_no_save_with_continue_sends_history_but_stores_nothing_new(cli: CLI) -> None:
    cli.run("ask", "hello")
    assert cli.run("ask", "-c", "--no-save", "again").returncode == 0
    assert len(messages_sent(cli.server)[-1]["messages"]) == 3
    assert conversations(cli)[0]["message_count"] == 2


# --------------------------------------------------------------------------- prefill


def test_prefill_is_printed_sent_rstripped_and_stored_merged(cli: CLI) -> None:
    cli.server.enqueue(sse_text_reply('"name": "Ada"}', chunks=['"name"', ': "Ada"}']))
    result = cli.run("ask", "--prefill", "{ \n", "Extract the name: Ada")
    assert result.returncode == 0, result.stderr
    assert result.stdout == '{"name": "Ada"}\n'
    body = messages_sent(cli.server)[0]
    assert body["messages"][-1] == {"role": "assistant", "content": [{"type": "text", "text": "{"}]}
    (conv,) = conversations(cli)
    stored = export_json(cli, conv["id"])["messages"][-1]
    assert stored == {"role": "assistant", "content": [{"type": "text", "text": '{"name": "Ada"}'}]}


# --------------------------------------------------------------------------- output modes


def test_json_prints_the_final_message(cli: CLI) -> None:
    cli.server.enqueue(sse_text_reply("Hi there.", usage={"input_tokens": 5, "output_tokens": 3}))
    result = cli.run("ask", "--json", "hello")
    assert result.returncode == 0, result.stderr
    message = json.loads(result.stdout)
    assert message["type"] == "message"
    assert message["role"] == "assistant"
    assert message["content"] == [{"type": "text", "text": "Hi there."}]
    assert message["stop_reason"] == "end_turn"
    assert message["usage"]["output_tokens"] == 3


def test_no_stream_uses_a_plain_request(cli: CLI) -> None:
    cli.server.enqueue(message_reply("Whole reply at once."))
    result = cli.run("ask", "--no-stream", "hello")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Whole reply at once.\n"
    assert "stream" not in messages_sent(cli.server)[0]
    (conv,) = conversations(cli)
    assert export_json(cli, conv["id"])["messages"][-1]["content"][0]["text"] == (
        "Whole reply at once."
    )


def test_no_stream_json_with_prefill(cli: CLI) -> None:
    cli.server.enqueue(message_reply('"a": 1}'))
    result = cli.run("ask", "--no-stream", "--json", "--prefill", "{", "x")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["content"][0]["text"] == '"a": 1}'
    (conv,) = conversations(cli)
    assert export_json(cli, conv["id"])["messages"][-1]["content"][0]["text"] == '{"a": 1}'


def test_pipe_output_is_faithful_to_the_bytes(cli: CLI) -> None:
    text = "red \x1b[31mRED\x1b[0m title\x1b]0;pwned\x07 done"
    cli.server.enqueue(
        sse_text_reply(text, chunks=["red \x1b[3", "1mRED\x1b[0m title\x1b]0;", "pwned\x07 done"])
    )
    result = cli.run("ask", "colours")
    assert result.returncode == 0
    assert result.stdout == text + "\n"


# --------------------------------------------------------------------------- images


def test_image_type_comes_from_content_not_name(cli: CLI, tmp_path) -> None:
    image = tmp_path / "photo.jpg"
    data = png_bytes()
    image.write_bytes(data)
    result = cli.run("ask", "-i", str(image), "What is this?")
    assert result.returncode == 0, result.stderr
    content = messages_sent(cli.server)[0]["messages"][0]["content"]
    assert content[0] == {
        "type": "image",
        "source": {
            "type": "base64",
            "media_type": "image/png",
            "data": base64.b64encode(data).decode(),
        },
    }
    assert content[1] == {"type": "text", "text": "What is this?"}
    # stored once and exported as base64 blocks
    (conv,) = conversations(cli)
    assert export_json(cli, conv["id"])["messages"][0]["content"][0] == content[0]


def test_repeated_images(cli: CLI, tmp_path) -> None:
    a, b = tmp_path / "a.png", tmp_path / "b.webp"
    a.write_bytes(png_bytes(2, 2))
    b.write_bytes(png_bytes(3, 3))
    assert cli.run("ask", "-i", str(a), "--image", str(b), "two").returncode == 0
    content = messages_sent(cli.server)[0]["messages"][0]["content"]
    assert [c["type"] for c in content] == ["image", "image", "text"]


@pytest.mark.parametrize("kind", ["binary", "missing", "empty"])
def test_bad_image_exits_2_and_sends_nothing(cli: CLI, tmp_path, kind: str) -> None:
    path = tmp_path / "picture.png"
    if kind == "binary":  # (UTF-8 text would be attached as a text document, whatever its name)
        path.write_bytes(b"\x00not an image at all")
    elif kind == "empty":
        path.write_bytes(b"")
    result = cli.run("ask", "-i", str(path), "describe")
    assert result.returncode == 2
    assert result.stderr.startswith("megachat: error: ")
    assert "picture.png" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert cli.server.requests == []
    assert conversations(cli) == []


# --------------------------------------------------------------------------- failures


def test_missing_key_exits_2_and_sends_nothing(cli: CLI) -> None:
    result = cli.run("ask", "hello", env={"MEGALLM_API_KEY": ""})
    assert result.returncode == 2
    assert result.stderr.startswith("megachat: error: no API key")
    assert cli.server.requests == []


def test_temperature_out_of_range_sends_nothing(cli: CLI) -> None:
    result = cli.run("ask", "-t", "1.01", "hello")
    assert result.returncode == 2
    assert cli.server.requests == []


def test_server_error_exits_1_with_one_line_naming_type_and_status(cli: CLI) -> None:
    cli.server.enqueue(
        Reply(
            status=500,
            json={"type": "error", "error": {"type": "api_error", "message": "boom"}},
            headers={"x-should-retry": "false"},
        )
    )
    result = cli.run("ask", "hello")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("megachat: error: ")
    assert "api_error" in lines[0] and "500" in lines[0]
    assert "Traceback" not in result.stderr
    # the user turn was stored before the request and is still there
    (conv,) = conversations(cli)
    assert conv["message_count"] == 1


def test_retries_are_reported_on_stderr_then_fail_with_exit_1(cli: CLI) -> None:
    for _ in range(3):
        cli.server.enqueue(
            error_reply(529, "overloaded_error", "Overloaded", headers={"retry-after-ms": "10"})
        )
    result = cli.run("ask", "hello")
    assert result.returncode == 1
    assert len(cli.server.requests_to("/v1/messages")) == 3  # 1 + 2 retries
    lines = result.stderr.splitlines()
    for line in lines[:2]:
        assert re.fullmatch(r"megachat: overloaded \(529\), retrying in [0-9.]+ s.*", line), line
    assert lines[2].startswith("megachat: error: overloaded_error (HTTP 529)")
    assert len(lines) == 3


def test_rate_limited_then_success(cli: CLI) -> None:
    cli.server.enqueue(
        error_reply(429, "rate_limit_error", "slow down", headers={"retry-after-ms": "20"}),
        sse_text_reply("Finally."),
    )
    result = cli.run("ask", "hello")
    assert result.returncode == 0
    assert result.stdout == "Finally.\n"
    assert result.stderr.startswith("megachat: rate limited (429), retrying in")


def test_max_retries_from_config(cli: CLI) -> None:
    cli.run("config", "set", "max_retries", "0")
    cli.server.enqueue(error_reply(503, "api_error", "unavailable"))
    result = cli.run("ask", "hello")
    assert result.returncode == 1
    assert len(cli.server.requests_to("/v1/messages")) == 1


def test_4xx_is_not_retried(cli: CLI) -> None:
    cli.server.enqueue(error_reply(400, "invalid_request_error", "bad model"))
    result = cli.run("ask", "hello")
    assert result.returncode == 1
    assert "invalid_request_error (HTTP 400)" in result.stderr
    assert len(cli.server.requests_to("/v1/messages")) == 1


def test_connection_refused_exits_1(cli: CLI) -> None:
    cli.run("config", "set", "max_retries", "0")
    result = cli.run("ask", "hello", env={"MEGALLM_BASE_URL": "http://127.0.0.1:9"})
    assert result.returncode == 1
    assert result.stderr.startswith("megachat: error: ")
    assert len(result.stderr.splitlines()) == 1


def test_stream_dropped_midway_keeps_the_partial_reply_as_interrupted(cli: CLI) -> None:
    events = message_events([{"type": "text", "text": "alpha beta gamma delta", "chunks": 4}])
    cli.server.enqueue(Reply(sse=events, drop_after_events=5))
    result = cli.run("ask", "hello")
    assert result.returncode == 1
    assert result.stdout.startswith("alpha ")
    assert "interrupted" in result.stderr or "connection" in result.stderr
    (conv,) = conversations(cli)
    markdown = export_markdown(cli, conv["id"])
    assert "## Assistant (interrupted)" in markdown
    assert "alpha " in markdown


def test_mid_stream_error_event(cli: CLI) -> None:
    events = message_events([{"type": "text", "text": "partial words here", "chunks": 3}])
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    cli.server.enqueue(Reply(sse=[*events[:4], error]))
    result = cli.run("ask", "hello")
    assert result.returncode == 1
    assert "overloaded_error" in result.stderr
    (conv,) = conversations(cli)
    assert "## Assistant (error)" in export_markdown(cli, conv["id"])


# --------------------------------------------------------------------------- the key stays secret


def test_api_key_never_reaches_disk_exports_or_errors(cli: CLI, tmp_path) -> None:
    image = tmp_path / "i.png"
    image.write_bytes(png_bytes())
    cli.server.enqueue(
        sse_text_reply("ok"),
        error_reply(401, "authentication_error", f"invalid x-api-key {TEST_KEY}"),
    )
    assert cli.run("ask", "-i", str(image), "hello").returncode == 0
    failed = cli.run("ask", "-c", "again")
    assert failed.returncode == 1
    assert "authentication_error" in failed.stderr
    assert TEST_KEY not in failed.stderr + failed.stdout
    (conv,) = conversations(cli)
    for fmt in ("markdown", "json"):
        assert TEST_KEY not in cli.run("export", conv["id"], "--format", fmt).stdout
    files = [p for p in cli.data_dir.rglob("*") if p.is_file()]
    assert files  # the database (and its WAL) exist
    for path in files:
        assert TEST_KEY.encode() not in path.read_bytes(), path


# --------------------------------------------------------------------------- presets


def test_preset_translate_with_variable(cli: CLI) -> None:
    assert (
        cli.run("ask", "--preset", "translate", "--var", "language=French", "Hello").returncode == 0
    )
    body = messages_sent(cli.server)[0]
    assert "French" in body["system"]
    assert body["temperature"] == 0.3
    assert cli.run("ask", "--preset", "translate:German", "Hello").returncode == 0
    assert "German" in messages_sent(cli.server)[1]["system"]


def test_preset_extract_json_uses_prefill(cli: CLI) -> None:
    cli.server.enqueue(sse_text_reply('"x": 1}'))
    result = cli.run("ask", "--preset", "extract-json", "x is 1")
    assert result.returncode == 0, result.stderr
    assert result.stdout == '{"x": 1}\n'
    body = messages_sent(cli.server)[0]
    assert body["temperature"] == 0
    assert body["messages"][-1] == {"role": "assistant", "content": [{"type": "text", "text": "{"}]}


def test_preset_summarize_style_choice(cli: CLI) -> None:
    assert cli.run("ask", "--preset", "summarize", "--var", "style=eli5", "text").returncode == 0
    assert "like I'm five" in messages_sent(cli.server)[0]["system"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--preset", "nonexistent", "x"],
        ["--preset", "summarize", "--var", "style=haiku", "x"],
        ["--preset", "translate", "--var", "colour=red", "x"],
        ["--var", "language=French", "x"],
    ],
)
def test_bad_preset_use_is_a_usage_error(cli: CLI, argv: list[str]) -> None:
    result = cli.run("ask", *argv)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert cli.server.requests == []


def test_user_preset_from_config_dir(cli: CLI) -> None:
    folder = cli.config_home / "megachat" / "presets"
    folder.mkdir(parents=True)
    (folder / "pirate.toml").write_text(
        'description = "Talk like a pirate"\nsystem = "Arr, {{mood}} pirate."\n'
        '[variables.mood]\ndefault = "jolly"\n'
    )
    listing = cli.run("presets")
    assert "pirate" in listing.stdout and "translate" in listing.stdout
    assert cli.run("ask", "--preset", "pirate", "hi").returncode == 0
    assert messages_sent(cli.server)[0]["system"] == "Arr, jolly pirate."


def test_context_window_warning_is_printed_and_the_request_still_sent(cli: CLI) -> None:
    # A model the table does not know (a proxy's): megachat cannot say it refuses 199,999.
    question = "a rather long question " * 20
    result = cli.run("ask", "-m", "proxy-model", "--max-tokens", "199999", question)
    assert result.returncode == 0
    assert result.stderr.startswith("megachat: warning: about ")
    assert "context window" in result.stderr
    assert len(cli.server.requests_to("/v1/messages")) == 1
    assert cli.run("ask", "short").stderr == ""


def test_large_image_is_downscaled_and_said_so(cli: CLI, tmp_path) -> None:
    import io

    from PIL import Image

    path = tmp_path / "wide.png"
    Image.new("RGB", (3000, 200), (200, 30, 30)).save(path)
    result = cli.run("ask", "-i", str(path), "what colour?")
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("megachat: ")
    assert "wide.png: resized from 3000x200" in result.stderr
    block = messages_sent(cli.server)[0]["messages"][0]["content"][0]
    sent = Image.open(io.BytesIO(base64.b64decode(block["source"]["data"])))
    assert max(sent.size) == 1568
    assert block["source"]["media_type"] == f"image/{sent.format.lower()}"


@pytest.mark.parametrize(
    ("fmt", "media_type", "name"),
    [
        ("JPEG", "image/jpeg", "really-a-jpeg.png"),
        ("GIF", "image/gif", "really-a-gif.webp"),
        ("WEBP", "image/webp", "really-a-webp.gif"),
        ("PNG", "image/png", "really-a-png"),
    ],
)
def test_each_format_under_a_misleading_name(
    cli: CLI, tmp_path, fmt: str, media_type: str, name: str
) -> None:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (16, 12), (10, 120, 200)).save(buffer, fmt)
    (tmp_path / name).write_bytes(buffer.getvalue())
    assert cli.run("ask", "-i", str(tmp_path / name), "describe").returncode == 0
    source = messages_sent(cli.server)[0]["messages"][0]["content"][0]["source"]
    assert source["media_type"] == media_type
    assert base64.b64decode(source["data"]) == buffer.getvalue()  # small: sent byte for byte


def test_two_processes_saving_at_once(cli: CLI) -> None:
    import subprocess

    words = [f"w{i} " for i in range(30)]
    cli.server.default = sse_text_reply("".join(words), chunks=words, delay_per_event=0.01)
    procs = [
        cli.popen("ask", f"question {n}", stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        for n in range(2)
    ]
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        assert out.decode().startswith("w0 w1")
    rows = conversations(cli)
    assert sorted(r["title"] for r in rows) == ["question 0", "question 1"]
    assert all(r["message_count"] == 2 for r in rows)
