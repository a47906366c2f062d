"""One copy of each rule (issue 9, A4): temperature, token figures, the unanswered turn, export.

Each test holds two users of a rule side by side, so a second copy drifting apart fails here.
"""

from __future__ import annotations

import math

import pytest

from megachat import config
from megachat.chat.conversation import UNANSWERED_NOTE, Conversation
from megachat.chat.export import to_json, to_markdown
from megachat.chat.temperature import check_temperature, parse_temperature
from megachat.chat.tokens import format_usage
from megachat.cli.parser import temperature as cli_temperature

TYPED = ["0", "1", "0.5", " 0.25 ", "1.0", "-0", "1.01", "-0.1", "2", "nan", "inf", "-inf", "hot"]


@pytest.mark.parametrize("text", TYPED)
def test_every_face_takes_the_same_temperatures(text: str) -> None:
    """The sidebar (parse_temperature), `config set` / the file (config), `ask -t` (the parser)
    and the request itself (Conversation) accept exactly the same values."""
    try:
        expected = parse_temperature(text)
    except ValueError as exc:
        assert "temperature must be a number from 0 to 1" in str(exc)
        for face in (
            lambda: config.parse_value("temperature", text),
            lambda: cli_temperature(text),
        ):
            with pytest.raises(Exception, match="must be a number from 0 to 1"):
                face()
        with pytest.raises(config.ConfigError):
            config.parse_cli_value("temperature", text)
        try:
            number = float(text)
        except ValueError:
            return
        with pytest.raises(ValueError):
            Conversation(temperature=number)
        return
    assert expected is not None and 0 <= expected <= 1
    assert config.parse_value("temperature", text) == expected
    assert cli_temperature(text) == expected
    assert Conversation(temperature=float(text)).temperature == expected


def test_blank_temperature_means_the_server_default() -> None:
    assert parse_temperature("") is None and parse_temperature("  ") is None
    assert check_temperature(None) is None
    with pytest.raises(ValueError):
        check_temperature(math.nan)
    with pytest.raises(ValueError):
        check_temperature(True)  # type: ignore[arg-type]


def test_a_bad_temperature_in_the_file_is_reported_by_the_same_rule(tmp_path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("temperature = inf\n")
    settings = config.load_settings(path, environ={})
    assert settings.temperature is None
    assert any("'temperature' must be a number from 0 to 1" in w for w in settings.warnings)


@pytest.mark.parametrize(
    ("usage", "shown"),
    [
        ({"input_tokens": 2095, "output_tokens": 503}, "2,095 in / 503 out"),
        ({"output_tokens": 7}, "? in / 7 out"),
        ({"input_tokens": "many", "output_tokens": 1_000_000}, "? in / 1,000,000 out"),
        ({"input_tokens": 5}, None),
        ({"input_tokens": 5, "output_tokens": True}, None),
        (None, None),
        ({}, None),
    ],
)
def test_token_figures_have_one_format(usage: dict | None, shown: str | None) -> None:
    assert format_usage(usage) == shown


def test_the_message_header_and_the_sidebar_use_that_format() -> None:
    pytest.importorskip("textual")
    from megachat.tui.widgets.message import _header_content

    conv = Conversation(model="m")
    conv.add_user("hi")
    reply = conv.add_assistant("ok", status="complete", model="model-x")
    reply.usage = {"input_tokens": 2095, "output_tokens": 503}
    header = str(_header_content(reply))
    assert header == "Assistant · model-x · 2,095 in / 503 out"
    assert "…" in str(_header_content(reply, streaming=True))
    assert "in /" not in str(_header_content(reply, streaming=True))


def test_an_unanswered_user_turn_is_marked_in_markdown_not_in_json() -> None:
    conv = Conversation(model="m")
    conv.add_user("first")
    conv.add_assistant("answer", status="complete")
    assert conv.unanswered() is None
    assert UNANSWERED_NOTE not in to_markdown(conv)
    question = conv.add_user("a question whose request failed")
    assert conv.unanswered() is question
    md = to_markdown(conv)
    assert md.rstrip().endswith(f"*{UNANSWERED_NOTE} (F5 in megachat retries)*")
    assert md.index("a question whose request failed") < md.index(UNANSWERED_NOTE)
    assert UNANSWERED_NOTE not in str(to_json(conv))
    assert Conversation(model="m").unanswered() is None


def test_export_keeps_what_the_next_request_sends() -> None:
    """A reply's trailing newline is sent with the next turn, so export keeps it; whitespace-only
    blocks are sent by neither."""
    conv = Conversation(model="m")
    conv.add_user("write a line")
    reply = conv.add_assistant(status="complete")
    reply.content = [
        {"type": "text", "text": "line one\n"},
        {"type": "text", "text": " \n\t"},
        {"type": "text", "text": "line two\n\n"},
    ]
    exported = to_json(conv)["messages"]
    assert exported[-1]["content"] == [
        {"type": "text", "text": "line one\n"},
        {"type": "text", "text": "line two\n\n"},
    ]
    # only a request that ends with the reply itself (continuing it) strips its end
    assert conv.build_request()["messages"][-1]["content"][-1]["text"] == "line two"
    conv.add_user("and another")
    assert conv.build_request()["messages"][:-1] == exported
