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


# -- the message tree -------------------------------------------------------------------------


def ids(messages: list[ChatMessage]) -> list[str]:
    return [m.id for m in messages]


def test_plain_list_is_a_chain() -> None:
    a, b, c = ChatMessage("user", [text("a")]), ChatMessage("assistant", [text("b")]), None
    conv = Conversation(messages=[a, b])
    assert [a.parent_id, b.parent_id] == [None, a.id]
    c = conv.add_user("c")
    assert c.parent_id == b.id
    assert conv.messages == [a, b, c] == conv.all_messages()
    assert conv.children(None) == [a] and conv.children(a.id) == [b]
    assert conv.active_leaf_id == c.id


def test_messages_appended_to_the_path_join_the_tree() -> None:
    conv = Conversation()
    conv.messages.append(ChatMessage("user", [text("x")]))
    conv.messages.append(ChatMessage("assistant", [text("y")]))
    reply = conv.add_user("z")
    assert [m.parent_id for m in conv.all_messages()] == [
        None,
        conv.messages[0].id,
        reply.parent_id,
    ]
    assert len(conv.all_messages()) == 3


def test_branch_reply_adds_a_sibling_and_keeps_the_old_one() -> None:
    conv = Conversation()
    user = conv.add_user("q")
    first = conv.add_assistant("one", status="complete")
    conv.branch_reply(first)
    assert conv.messages == [user]
    second = conv.add_assistant("two")
    assert second.parent_id == user.id
    assert conv.siblings(first) == [first, second]
    assert conv.messages == [user, second]
    assert len(conv.all_messages()) == 3
    assert conv.sibling(second, -1) is first
    assert conv.sibling(second, +1) is None
    assert conv.sibling(first, -1) is None


def test_branch_user_edits_with_images_under_the_same_parent() -> None:
    img = PreparedImage(
        name="/secret/dir/a.png",
        media_type="image/png",
        data=b"\x89PNG\r\n\x1a\nrest",
        width=1,
        height=1,
        sha256="1" * 64,
        original_size=12,
    )
    conv = Conversation()
    q1 = conv.add_user("first")
    r1 = conv.add_assistant("r1", status="complete")
    q2 = conv.add_user("second")
    conv.add_assistant("r2", status="complete")
    edited = conv.branch_user(q2, "second, edited", [img])
    assert edited.parent_id == r1.id
    assert conv.messages == [q1, r1, edited]
    assert conv.siblings(q2) == [q2, edited]
    assert edited.image_names == {"1" * 64: "a.png"}
    root_edit = conv.branch_user(q1, "first, edited")
    assert root_edit.parent_id is None and conv.messages == [root_edit]
    assert conv.children(None) == [q1, root_edit]
    assert conv.title == "first"  # the title stays until renamed


def test_switch_to_follows_the_leaf_last_used() -> None:
    conv = Conversation()
    q = conv.add_user("q")
    a1 = conv.add_assistant("a1", status="complete")
    f1 = conv.add_user("follow-up on a1")
    conv.branch_reply(a1)
    a2 = conv.add_assistant("a2", status="complete")
    f2 = conv.add_user("follow-up on a2")
    g2 = conv.add_assistant("g2", status="complete")
    conv.switch_to(a1.id)
    assert conv.messages == [q, a1, f1]
    conv.switch_to(a2.id)
    assert conv.messages == [q, a2, f2, g2]
    # under a2 the leaf last used was g2; switching to q goes down the path last used
    conv.switch_to(q.id)
    assert conv.messages == [q, a2, f2, g2]
    conv.switch_to(f1.id)
    conv.switch_to(q.id)
    assert conv.messages == [q, a1, f1]
    with pytest.raises(KeyError):
        conv.switch_to("missing")


def test_delete_branch_on_the_path_moves_to_a_sibling() -> None:
    conv = Conversation()
    q = conv.add_user("q")
    a1 = conv.add_assistant("a1", status="complete")
    conv.branch_reply(a1)
    a2 = conv.add_assistant("a2", status="complete")
    f2 = conv.add_user("under a2")
    conv.branch_reply(a1)
    a3 = conv.add_assistant("a3", status="complete")
    conv.switch_to(a2.id)
    removed = conv.delete_branch(a2.id)
    assert ids(removed) == ids([a2, f2])
    assert conv.messages == [q, a1]  # the previous sibling
    assert conv.siblings(a1) == [a1, a3]
    assert conv.delete_branch(a1.id) == [a1]
    assert conv.messages == [q, a3]  # no previous one: the next
    assert conv.delete_branch(a3.id) == [a3]
    assert conv.messages == [q]  # no sibling left: the path ends at the parent
    assert conv.all_messages() == [q]
    with pytest.raises(KeyError):
        conv.delete_branch(a3.id)


def test_delete_branch_off_the_path_leaves_the_path() -> None:
    conv = Conversation()
    q = conv.add_user("q")
    a1 = conv.add_assistant("a1", status="complete")
    conv.branch_reply(a1)
    a2 = conv.add_assistant("a2", status="complete")
    assert ids(conv.delete_branch(a1.id)) == [a1.id]
    assert conv.messages == [q, a2]
    assert conv.delete_branch(q.id) == [q, a2]
    assert conv.messages == [] and conv.all_messages() == []
    assert conv.active_leaf_id is None


def test_load_tree_restores_path_and_last_used() -> None:
    conv = Conversation()
    q = conv.add_user("q")
    a1 = conv.add_assistant("a1", status="complete")
    conv.branch_reply(a1)
    a2 = conv.add_assistant("a2", status="complete")
    conv.switch_to(a1.id)
    copy_ = Conversation(id=conv.id)
    copy_.load_tree(conv.all_messages(), None, conv.used())
    assert copy_.messages == [q, a1]  # no leaf given: the path last used
    copy_.load_tree(conv.all_messages(), a2.id, conv.used())
    assert copy_.messages == [q, a2]
    copy_.switch_to(q.id)
    assert copy_.messages == [q, a2]
    with pytest.raises(ValueError):
        Conversation().load_tree([a1, q], None)
