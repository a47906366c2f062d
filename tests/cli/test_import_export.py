"""export --all-branches, import, search across branches and ask --regenerate, run for real."""

from __future__ import annotations

import base64
import copy
import json
import sqlite3
from pathlib import Path

import pytest

from megachat.chat.conversation import Conversation
from megachat.chat.images import prepare_image_bytes
from megachat.chat.store import Store
from tests.chat.test_importing import normalized
from tests.cli.conftest import CLI, messages_sent, png_bytes
from tests.fakeserver import sse_text_reply


def seed_branches(cli: CLI) -> str:
    """A stored conversation with an image, three replies to its first turn (the second one
    active, with a follow-up) and a second version of the first user turn."""
    conv = Conversation(model="claude-sonnet-4", system="Be brief.", temperature=0.5)
    first = conv.add_user("What is in this picture?", [prepare_image_bytes(png_bytes(), "a.png")])
    one = conv.add_assistant("A square.", status="complete")
    conv.branch_reply(one)
    two = conv.add_assistant("A small square, coloured.", status="complete")
    conv.add_user("Which colour?")
    conv.add_assistant("Dark blue.\n", status="complete")
    conv.branch_reply(one)
    conv.add_assistant("Lighthouse keepers see squares.", status="cancelled")
    conv.branch_user(first, "Describe the picture")
    conv.add_assistant("Pixels.", status="complete")
    conv.switch_to(two.id)
    with Store(cli.data_dir / "megachat.db") as store:
        store.create(conv)
    return conv.id


def message_rows(cli: CLI) -> int:
    with sqlite3.connect(cli.data_dir / "megachat.db") as db:
        return db.execute("SELECT count(*) FROM messages").fetchone()[0]


def export_json(cli: CLI, conv_id: str, *flags: str) -> dict:
    result = cli.call("export", conv_id, "--format", "json", *flags)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("flags", [(), ("--all-branches",)])
def test_export_import_export_round_trip(cli: CLI, tmp_path: Path, flags: tuple[str, ...]) -> None:
    conv_id = seed_branches(cli)
    first = export_json(cli, conv_id, *flags)
    assert ("tree" in first) == bool(flags)
    path = tmp_path / "export.json"
    path.write_text(json.dumps(first), encoding="utf-8")
    result = cli.call("import", str(path))
    assert result.returncode == 0, result.stderr
    new_id = result.stdout.strip()
    assert result.stdout == new_id + "\n" and new_id != conv_id
    second = export_json(cli, new_id, *flags)
    assert normalized(second) == normalized(first)
    if flags:
        assert len(second["tree"]) == 8
        assert not {n["id"] for n in second["tree"]} & {n["id"] for n in first["tree"]}
    image = second["messages"][0]["content"][0]
    assert base64.b64decode(image["source"]["data"]) == png_bytes()
    rows = {r["id"]: r for r in json.loads(cli.call("list", "--json").stdout)}
    assert rows[new_id]["message_count"] == 4  # the active path
    assert rows[new_id]["title"] == "What is in this picture?"


def test_export_without_the_flag_is_unchanged(cli: CLI) -> None:
    conv_id = seed_branches(cli)
    data = export_json(cli, conv_id)
    assert list(data) == ["id", "title", "model", "system", "temperature", "messages"]
    assert [m["content"][-1]["text"] for m in data["messages"]] == [
        "What is in this picture?",
        "A small square, coloured.",
        "Which colour?",
        "Dark blue.\n",  # as the next request sends it
    ]
    tree = export_json(cli, conv_id, "--all-branches")["tree"]
    assert set(tree[0]) == {"id", "parent_id", "role", "content", "status", "created_at"}
    assert tree[0]["parent_id"] is None and tree[1]["parent_id"] == tree[0]["id"]
    assert [n["status"] for n in tree].count("cancelled") == 1


def test_markdown_with_all_branches(cli: CLI) -> None:
    conv_id = seed_branches(cli)
    plain = cli.call("export", conv_id).stdout
    assert "Lighthouse" not in plain and "Branch at" not in plain
    md = cli.call("export", conv_id, "--all-branches").stdout
    assert "## Assistant (2/3)" in md
    assert "## Branch at message 2 (1/3)" in md and "## Branch at message 2 (3/3)" in md
    assert "## Branch at message 1 (2/2)" in md
    assert "### Assistant (cancelled) (3/3)\n\nLighthouse keepers see squares." in md


def test_import_from_stdin(cli: CLI) -> None:
    conv_id = seed_branches(cli)
    first = export_json(cli, conv_id, "--all-branches")
    result = cli.run("import", "-", input=json.dumps(first))
    assert result.returncode == 0, result.stderr
    assert normalized(export_json(cli, result.stdout.strip(), "--all-branches")) == normalized(
        first
    )


def broken_exports(good: dict) -> list[tuple[str, str]]:
    """(file text, what the error line says) for malformed inputs derived from a good export."""
    cycle = copy.deepcopy(good)
    cycle["tree"][0]["parent_id"] = cycle["tree"][1]["id"]  # its own reply
    unknown = copy.deepcopy(good)
    unknown["tree"][3]["parent_id"] = "no-such-id"
    bad_image = copy.deepcopy(good)
    bad_image["tree"][0]["content"][0]["source"]["data"] = "bm90IGFuIGltYWdl"
    roles = copy.deepcopy(good)
    roles["messages"][1]["role"] = "user"
    return [
        ("{", "not JSON"),
        (json.dumps(cycle), "tree[0].parent_id: the parent links form a cycle"),
        (json.dumps(unknown), "tree[3].parent_id: no message with id 'no-such-id'"),
        (json.dumps(bad_image), "tree[0].content[0].source.data: not a PNG, JPEG, GIF or WebP"),
        (json.dumps(roles), "messages[1]: roles must alternate"),
    ]


def test_malformed_import_writes_nothing(cli: CLI, tmp_path: Path) -> None:
    conv_id = seed_branches(cli)
    good = export_json(cli, conv_id, "--all-branches")
    before = (cli.call("list", "--json").stdout, message_rows(cli))
    path = tmp_path / "bad.json"
    for text, expected in broken_exports(good):
        path.write_text(text, encoding="utf-8")
        result = cli.call("import", str(path))
        assert result.returncode == 2, text[:80]
        assert result.stdout == ""
        assert result.stderr.startswith(f"megachat: error: {path}: ")
        assert expected in result.stderr and result.stderr.count("\n") == 1
    assert (cli.call("list", "--json").stdout, message_rows(cli)) == before


def test_unreadable_import_file(cli: CLI, tmp_path: Path) -> None:
    for path in (tmp_path / "missing.json", tmp_path):
        result = cli.call("import", str(path))
        assert result.returncode == 2
        assert result.stderr.startswith(f"megachat: error: {path}: ")
    result = cli.run("import", "-", input=b"\xff\xfe")
    assert result.returncode == 2 and "stdin: not UTF-8" in result.stderr


def test_search_finds_text_in_every_branch(cli: CLI) -> None:
    conv_id = seed_branches(cli)
    hits = json.loads(cli.call("search", "--json", "lighthouse").stdout)
    assert [h["conversation_id"] for h in hits] == [conv_id]
    assert hits[0]["message_id"] is not None
    assert hits[0]["on_active_path"] is False  # a reply that is not the version shown
    text = cli.call("search", "lighthouse").stdout
    assert text.startswith(conv_id) and "[Lighthouse]" in text
    assert text.splitlines()[0].endswith("(in another version)")
    (shown,) = json.loads(cli.call("search", "--json", "blue").stdout)
    assert shown["on_active_path"] is True
    assert "another version" not in cli.call("search", "blue").stdout


def test_ask_regenerate_adds_a_sibling_reply(cli: CLI) -> None:
    assert cli.server is not None
    cli.server.enqueue(sse_text_reply("First answer."), sse_text_reply("Second answer."))
    assert cli.call("ask", "Name a colour").returncode == 0
    result = cli.call("ask", "-c", "--regenerate")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Second answer.\n"
    sent = messages_sent(cli.server)
    assert sent[1]["messages"] == sent[0]["messages"]  # the same question, without the old reply
    (row,) = json.loads(cli.call("list", "--json").stdout)
    data = export_json(cli, row["id"], "--all-branches")
    assert [m["content"][0]["text"] for m in data["messages"]] == [
        "Name a colour",
        "Second answer.",
    ]
    replies = [n for n in data["tree"] if n["role"] == "assistant"]
    assert [n["content"][0]["text"] for n in replies] == ["First answer.", "Second answer."]
    assert replies[0]["parent_id"] == replies[1]["parent_id"] == data["tree"][0]["id"]
    assert row["message_count"] == 2
    cli.server.enqueue(sse_text_reply("Third answer."))
    result = cli.call("ask", "--conversation", row["id"][:8], "--regenerate", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["content"][0]["text"] == "Third answer."
    data = export_json(cli, row["id"], "--all-branches")
    assert data["messages"][-1]["content"][0]["text"] == "Third answer."
    assert [n["role"] for n in data["tree"]] == ["user", "assistant", "assistant", "assistant"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("ask", "--regenerate"), "--regenerate needs -c/--continue or --conversation ID"),
        (("ask", "-c", "--regenerate", "a prompt"), "--regenerate takes no prompt"),
        (("ask", "-c", "--regenerate", "-i", "x.png"), "--regenerate takes no prompt"),
        (("ask", "-c", "--regenerate", "--no-save"), "--regenerate"),
    ],
)
def test_ask_regenerate_usage_errors(cli: CLI, argv: tuple[str, ...], expected: str) -> None:
    assert cli.server is not None
    result = cli.call(*argv)
    assert result.returncode == 2
    assert result.stderr.startswith("megachat: error: ") and expected in result.stderr
    assert messages_sent(cli.server) == []


# -- a tool loop: exported as the API shapes it, imported back ------------------------------------


def seed_tool_loop(cli: CLI) -> str:
    """A real `ask --mcp` run (thinking, two calls in one reply: add and image, then the
    answer), plus a newer sibling of the answer that is not the active one."""
    from tests.cli.test_ask_tools import _ask_tool, _configure, _tool_use

    assert cli.server is not None
    _configure(cli)
    thinking = {"type": "thinking", "thinking": "Add, then draw.", "signature": "sig-1"}
    _ask_tool(
        cli.server,
        thinking,
        _tool_use("toolbox__add", {"a": 1, "b": 2}),
        _tool_use("toolbox__image", {}, "toolu_2"),
    )
    cli.server.enqueue(sse_text_reply("It is 3."))
    asked = cli.run("ask", "--mcp", "toolbox", "--allow", "toolbox.*", "one plus two?")
    assert asked.returncode == 0, asked.stderr
    with Store(cli.data_dir / "megachat.db") as store:
        (summary,) = store.list()
        conv = store.get(summary.id)
        answer = conv.messages[-1]
        conv.branch_reply(answer)
        conv.add_assistant("Three, as a word.", status="complete")
        conv.switch_to(answer.id)
        store.save(conv)
    return summary.id


@pytest.mark.parametrize("flags", [(), ("--all-branches",)])
def test_a_tool_loop_exports_as_sent_and_imports_back(
    cli: CLI, tmp_path: Path, flags: tuple[str, ...]
) -> None:
    conv_id = seed_tool_loop(cli)
    first = export_json(cli, conv_id, *flags)
    assert first["messages"] == messages_sent(cli.server)[1]["messages"] + [
        {"role": "assistant", "content": [{"type": "text", "text": "It is 3."}]}
    ]
    kinds = [[b["type"] for b in m["content"]] for m in first["messages"]]
    assert kinds == [
        ["text"],
        ["thinking", "tool_use", "tool_use"],
        ["tool_result", "tool_result"],
        ["text"],
    ]
    assert first["messages"][2]["content"][1]["content"][0]["type"] == "image"
    path = tmp_path / "export.json"
    path.write_text(json.dumps(first), encoding="utf-8")
    result = cli.call("import", str(path))
    assert result.returncode == 0, result.stderr
    new_id = result.stdout.strip()
    second = export_json(cli, new_id, *flags)
    assert normalized(second) == normalized(first)  # the active path is the one exported
    # and the imported conversation sends, with its tools, exactly what was exported
    cli.server.enqueue(sse_text_reply("You are welcome."))
    again = cli.run("ask", "--conversation", new_id, "--mcp", "toolbox", "thanks")
    assert again.returncode == 0, again.stderr
    sent = messages_sent(cli.server)[-1]["messages"]
    assert sent[:-1] == second["messages"]
    assert sent[-1] == {"role": "user", "content": [{"type": "text", "text": "thanks"}]}


def test_a_tool_loop_in_markdown(cli: CLI) -> None:
    conv_id = seed_tool_loop(cli)
    md = cli.call("export", conv_id).stdout
    assert '*tool call* `toolbox.add`\n\n```json\n{\n  "a": 1,\n  "b": 2\n}\n```' in md
    assert "*tool result* `toolbox.add`\n\n```\n3\n```" in md
    assert "*tool call* `toolbox.image`" in md
    assert "*tool result* `toolbox.image`\n\n*[image: image/png, " in md


def test_an_import_with_a_malformed_tool_block_writes_nothing(cli: CLI, tmp_path: Path) -> None:
    conv_id = seed_tool_loop(cli)
    good = export_json(cli, conv_id)
    rows = message_rows(cli)
    for path_to, value in (
        ((1, 1, "input"), "not an object"),
        ((1, 1, "name"), 7),
        ((2, 0, "tool_use_id"), None),
        ((2, 0, "is_error"), "yes"),
        ((2, 1, "content"), [{"type": "image", "source": {"type": "url"}}]),
    ):
        bad = copy.deepcopy(good)
        message, block, key = path_to
        bad["messages"][message]["content"][block][key] = value
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(bad), encoding="utf-8")
        result = cli.call("import", str(path))
        assert result.returncode == 2, (path_to, result.stdout)
        assert f"messages[{message}].content[{block}]" in result.stderr
    assert message_rows(cli) == rows
