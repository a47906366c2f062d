"""Import: what export writes comes back as the same conversation (new ids); bad input is refused
whole, with the place and the problem named."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path

import pytest

from megachat.chat.conversation import Conversation
from megachat.chat.export import to_json, to_markdown
from megachat.chat.images import load_image
from megachat.chat.importing import ImportFormatError, build_conversation, parse_export
from tests.chat.conftest import make_image


def branched(tmp_path: Path) -> Conversation:
    """Two user versions at the root (one with an image), three replies to the first, and a
    follow-up under the second reply; the active path ends on the second reply's follow-up."""
    path = tmp_path / "pic.png"
    path.write_bytes(make_image("PNG", (12, 9)))
    conv = Conversation(model="model-a", system="Be brief.", temperature=0.25)
    first = conv.add_user("Describe this", [load_image(path)])
    one = conv.add_assistant("One.", status="complete")
    conv.branch_reply(one)
    two = conv.add_assistant("Two, partly", status="cancelled")
    conv.add_user("And more?")
    conv.add_assistant("More.", status="complete")
    conv.branch_reply(one)
    conv.add_assistant("Three.", status="complete")
    conv.branch_user(first, "Describe it differently")
    conv.add_assistant("Differently.", status="complete")
    conv.switch_to(two.id)
    return conv


def normalized(export: dict) -> dict:
    """An export with ids and times replaced by positions, to compare two exports."""
    data = copy.deepcopy(export)
    data.pop("id")
    if "tree" in data:
        index = {node["id"]: i for i, node in enumerate(data["tree"])}
        for node in data["tree"]:
            node["id"] = index[node["id"]]
            node["parent_id"] = None if node["parent_id"] is None else index[node["parent_id"]]
            node.pop("created_at")
    return data


def round_trip(export: dict) -> Conversation:
    return build_conversation(parse_export(json.dumps(export).encode()))


def test_all_branches_round_trip(tmp_path: Path) -> None:
    conv = branched(tmp_path)
    export = to_json(conv, all_branches=True)
    assert [m["content"][-1]["text"] for m in export["messages"]] == [
        "Describe this",
        "Two, partly",
        "And more?",
        "More.",
    ]
    assert set(export["tree"][0]) == {"id", "parent_id", "role", "content", "status", "created_at"}
    assert len(export["tree"]) == 8
    again = round_trip(export)
    assert again.id != conv.id
    assert not {m.id for m in again.all_messages()} & {m.id for m in conv.all_messages()}
    assert normalized(to_json(again, all_branches=True)) == normalized(export)
    assert [m.text() for m in again.siblings(again.messages[1])] == [
        "One.",
        "Two, partly",
        "Three.",
    ]
    assert again.messages[1].status == "cancelled"


def test_active_path_is_the_newest_path_sending_messages(tmp_path: Path) -> None:
    conv = branched(tmp_path)
    conv.switch_to(conv.messages[0].id)  # down through the child last used: still "Two"
    conv.add_assistant("Two, partly", status="complete")  # a twin whose path sends the same
    export = to_json(conv, all_branches=True)
    again = round_trip(export)
    assert again.messages[-1].text() == "Two, partly"
    assert again.messages[-1].status == "complete"  # the newest of the two twins
    assert to_json(again)["messages"] == export["messages"]


def test_no_matching_path_means_the_last_leaf(tmp_path: Path) -> None:
    export = to_json(branched(tmp_path), all_branches=True)
    export["messages"] = [{"role": "user", "content": [{"type": "text", "text": "edited"}]}]
    again = round_trip(export)
    assert [m.text() for m in again.messages] == ["Describe it differently", "Differently."]


def test_messages_without_tree_become_a_chain(tmp_path: Path) -> None:
    conv = branched(tmp_path)
    export = to_json(conv)
    again = round_trip(export)
    assert len(again.all_messages()) == 4
    assert [m.parent_id for m in again.messages[1:]] == [m.id for m in again.messages[:-1]]
    assert normalized(to_json(again)) == normalized(export)
    assert again.title == "Describe this"
    image = again.messages[0].content[0]
    assert base64.b64decode(image["source"]["data"]) == (tmp_path / "pic.png").read_bytes()


def test_a_tree_given_out_of_order_is_placed_parents_first(tmp_path: Path) -> None:
    export = to_json(branched(tmp_path), all_branches=True)
    export["tree"].reverse()
    again = round_trip(export)
    assert len(again.all_messages()) == 8
    assert to_json(again)["messages"] == export["messages"]


def test_markdown_with_all_branches(tmp_path: Path) -> None:
    conv = branched(tmp_path)
    plain = to_markdown(conv)
    assert "Branch" not in plain and "(2/3)" not in plain
    md = to_markdown(conv, all_branches=True)
    main = md.partition("## Branch")[0].rstrip("\n")
    assert [line for line in main.splitlines() if not line.startswith("## ")] == [
        line for line in plain.splitlines() if not line.startswith("## ")
    ]
    assert "## Assistant (cancelled) (2/3)" in md
    assert "## User (1/2)" in md
    assert "## Branch at message 2 (1/3)\n\n### Assistant (1/3)\n\nOne." in md
    assert "## Branch at message 2 (3/3)\n\n### Assistant (3/3)\n\nThree." in md
    assert "## Branch at message 1 (2/2)\n\n### User (2/2)\n\nDescribe it differently" in md
    assert "### Assistant\n\nDifferently." in md
    for text in ("One.", "Two, partly", "Three.", "And more?", "More.", "Differently."):
        assert md.count(text) == 1


PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()


def user(text: str = "hi") -> dict:
    return {"role": "user", "content": [{"type": "text", "text": text}]}


def node(id_: str, parent: str | None, role: str = "user", **kw: object) -> dict:
    return {
        "id": id_,
        "parent_id": parent,
        "role": role,
        "content": [{"type": "text", "text": id_}],
        **kw,
    }


def image(media_type: str = "image/png", data: str = PNG) -> dict:
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"{not json", "not JSON (line 1 column 2"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[]", "expected a JSON object, not an array"),
        ({"title": "x"}, "no `messages`"),
        ({"messages": {}}, "messages: expected an array"),
        ({"messages": [user(), user()]}, "messages[1]: roles must alternate"),
        ({"messages": [{"role": "assistant", "content": "x"}]}, "messages[0]: roles must"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": []}]}, "messages[0].content: empty"),
        ({"messages": [{"role": "user", "content": [7]}]}, "messages[0].content[0]: expected"),
        ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "content[0].text"),
        ({"messages": [], "temperature": 2}, "temperature: "),
        ({"messages": [], "title": 5}, "title: expected a string"),
        (
            {"messages": [{"role": "user", "content": [image(data="!!notbase64")]}]},
            "content[0].source.data: not valid base64",
        ),
        (
            {"messages": [{"role": "user", "content": [image(data="aGVsbG8=")]}]},
            "not a PNG, JPEG, GIF or WebP image",
        ),
        (
            {"messages": [{"role": "user", "content": [image("image/jpeg")]}]},
            "the image is image/png, not image/jpeg",
        ),
        (
            {"messages": [{"role": "user", "content": [image("image/bmp")]}]},
            "source.media_type",
        ),
        ({"messages": [], "tree": {}}, "tree: expected an array"),
        ({"messages": [], "tree": [node("a", None), node("a", None)]}, "tree[1].id: 'a' appears"),
        ({"messages": [], "tree": [node("a", "zz")]}, "tree[0].parent_id: no message with id 'zz'"),
        (
            {"messages": [], "tree": [node("r", None), node("a", "b"), node("b", "a")]},
            "tree[1].parent_id: the parent links form a cycle",
        ),
        ({"messages": [], "tree": [node("a", "a")]}, "cycle"),
        ({"messages": [], "tree": [node("a", None, status="done")]}, "tree[0].status"),
        ({"messages": [], "tree": [node("a", None, role="tool")]}, "tree[0].role"),
        ({"messages": [], "tree": [node("a", None, created_at="noon")]}, "tree[0].created_at"),
        ({"messages": [], "tree": [{**node("a", None), "content": "x"}]}, "tree[0].content"),
        ({"messages": [], "tree": [{**node("a", None), "id": ""}]}, "tree[0].id"),
    ],
)
def test_malformed_input_is_refused_with_the_place_named(data: object, expected: str) -> None:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    with pytest.raises(ImportFormatError) as info:
        parse_export(raw)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_json_nested_too_deeply_is_malformed_not_a_crash() -> None:
    with pytest.raises(ImportFormatError, match="nested too deeply"):
        parse_export(b"[" * 100_000)


def test_a_good_minimal_export_is_accepted() -> None:
    imported = parse_export(json.dumps({"messages": [user("Hello there")]}).encode())
    conv = build_conversation(imported)
    assert conv.title == "Hello there"
    assert conv.model == "" and conv.temperature is None
    assert [m.text() for m in conv.messages] == ["Hello there"]
    tree = parse_export(
        json.dumps(
            {"messages": [], "tree": [node("b", "a", "assistant"), node("a", None)]}
        ).encode()
    )
    assert [m.role for m in tree.messages] == ["user", "assistant"]
    assert tree.messages[1].parent_id == tree.messages[0].id
