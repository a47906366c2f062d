"""Conversations: ids, titles, settings and the request-building rules."""

from __future__ import annotations

import pytest

from megachat.chat.conversation import (
    ChatMessage,
    Conversation,
    merge_prefill,
    prefill_sent,
    title_from,
)
from megachat.chat.ids import ID_LENGTH, id_time, new_id
from megachat.chat.images import PreparedImage


def text(t: str) -> dict:
    return {"type": "text", "text": t}


def test_ids_are_short_unique_and_sortable() -> None:
    ids = [new_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(len(i) == ID_LENGTH <= 16 for i in ids)
    assert all(ch in "0123456789abcdefghjkmnpqrstvwxyz" for i in ids for ch in i)
    assert abs(id_time(ids[-1]) - id_time(ids[0])) < 60


def test_title_follows_first_user_text_until_renamed() -> None:
    conv = Conversation(model="m")
    assert conv.title == ""
    conv.add_user("\n   What is   the capital\tof France?  \nsecond line")
    assert conv.title == "What is the capital of France?"
    conv.add_user("another question")
    assert conv.title == "What is the capital of France?"
    conv.title = "Renamed"
    conv.add_user("third")
    assert conv.title == "Renamed"


def test_long_title_is_cut() -> None:
    title = title_from("word " * 50)
    assert len(title) <= 60 and title.endswith("…")


@pytest.mark.parametrize("bad", [-0.1, 1.01, 2, "0.5", True])
def test_temperature_out_of_range_is_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        Conversation(temperature=bad)  # type: ignore[arg-type]


def test_temperature_changed_later_is_checked_before_sending() -> None:
    conv = Conversation(model="m")
    conv.add_user("hi")
    conv.temperature = 1.5
    with pytest.raises(ValueError):
        conv.build_request()


def test_max_tokens_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Conversation(max_tokens=0)


def test_minimal_request_has_no_system_or_temperature() -> None:
    conv = Conversation(model="claude-x", max_tokens=100, system="   ")
    conv.add_user("hi")
    body = conv.build_request()
    assert body == {
        "model": "claude-x",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": [text("hi")]}],
        "stream": True,
    }
    assert "stream" not in conv.build_request(stream=False)


def test_system_and_temperature_sent_when_set() -> None:
    conv = Conversation(model="m", system="Be brief.", temperature=0.0)
    conv.add_user("hi")
    body = conv.build_request()
    assert body["system"] == "Be brief."
    assert body["temperature"] == 0.0  # zero is set, not unset


def test_same_role_neighbours_are_merged_and_empty_turns_dropped() -> None:
    conv = Conversation(model="m")
    conv.messages = [
        ChatMessage("assistant", [text("greeting before any user turn")]),
        ChatMessage("user", [text("one")]),
        ChatMessage("user", [text("   ")]),
        ChatMessage("user", [text("two")]),
        ChatMessage("assistant", [], status="error"),
        ChatMessage("assistant", [text("  \n")], status="cancelled"),
        ChatMessage("user", [text("three")]),
        ChatMessage(
            "assistant",
            [{"type": "thinking", "thinking": "hmm", "signature": "s"}, text("answer")],
        ),
        ChatMessage("assistant", [{"type": "tool_use", "id": "t", "name": "x", "input": {}}]),
        ChatMessage("user", [text("four")]),
    ]
    messages = conv.build_request()["messages"]
    assert messages == [
        {"role": "user", "content": [text("one"), text("two"), text("three")]},
        {"role": "assistant", "content": [text("answer")]},
        {"role": "user", "content": [text("four")]},
    ]
    assert messages[0]["role"] == "user"
    # building a request never changes the conversation
    assert conv.messages[1].content == [text("one")]


def test_prefill_is_final_assistant_message_right_stripped() -> None:
    conv = Conversation(model="m")
    conv.add_user("give me json")
    body = conv.build_request(prefill='{"name": \n ')
    assert body["messages"][-1] == {"role": "assistant", "content": [text('{"name":')]}
    assert prefill_sent('{"name": \n ') == '{"name":'
    # whitespace-only prefill sends nothing
    assert conv.build_request(prefill="  \n")["messages"][-1]["role"] == "user"


def test_interrupted_reply_last_is_sent_right_stripped() -> None:
    conv = Conversation(model="m")
    conv.add_user("count")
    conv.add_assistant("one two ", status="interrupted")
    messages = conv.build_request()["messages"]
    assert messages[-1] == {"role": "assistant", "content": [text("one two")]}
    assert conv.messages[-1].content == [text("one two ")]


def test_merge_prefill_stores_one_message() -> None:
    reply = [text('"a": 1}')]
    assert merge_prefill("{ ", reply) == [text('{"a": 1}')]
    assert merge_prefill("", reply) == reply
    thinking = {"type": "thinking", "thinking": "t", "signature": "s"}
    assert merge_prefill("{", [thinking, text("x}")]) == [thinking, text("{x}")]
    assert merge_prefill("{", []) == [text("{")]
    # the input is not modified
    assert reply == [text('"a": 1}')]


def test_add_user_with_images_puts_images_first() -> None:
    img = PreparedImage(
        name="a.png",
        media_type="image/png",
        data=b"\x89PNG\r\n\x1a\nrest",
        width=1,
        height=1,
        sha256="0" * 64,
        original_size=12,
    )
    conv = Conversation(model="m")
    msg = conv.add_user("look", [img])
    assert [b["type"] for b in msg.content] == ["image", "text"]
    assert msg.content[0]["source"]["type"] == "base64"
    assert msg.text() == "look"
    assert conv.title == "look"
    image_only = conv.add_user("", [img])
    assert [b["type"] for b in image_only.content] == ["image"]


def test_empty_user_message_is_refused() -> None:
    with pytest.raises(ValueError):
        Conversation().add_user("  \n")


def test_message_text_joins_text_blocks() -> None:
    msg = ChatMessage("assistant", [text("a"), {"type": "thinking", "thinking": "x"}, text("b")])
    assert msg.text() == "a\n\nb"
