"""list / export / search / rename / delete / models, and the TUI entry's argument handling."""

from __future__ import annotations

import json
import sqlite3

import pytest

from megachat.chat.conversation import Conversation
from megachat.chat.store import Store
from tests.cli.conftest import CLI
from tests.fakeserver import error_reply, sse_text_reply


def seed(cli: CLI, *titles: str) -> list[str]:
    """Conversations written through the real Store (oldest first); returns their ids."""
    ids = []
    with Store(cli.data_dir / "megachat.db") as store:
        for n, title in enumerate(titles):
            conv = Conversation(model="claude-sonnet-4", created_at=1_700_000_000 + n * 60)
            conv.add_user(f"question about {title}")
            conv.messages[-1].created_at = conv.created_at
            reply = conv.add_assistant(f"answer about {title} and zebras", status="complete")
            reply.created_at = conv.created_at + 1
            conv.updated_at = conv.created_at + 1
            store.create(conv)
            ids.append(conv.id)
    return ids


def test_list_newest_first_and_json_shape(cli: CLI) -> None:
    ids = seed(cli, "apples", "bananas", "cherries")
    result = cli.call("list", "--json")
    assert result.returncode == 0
    rows = json.loads(result.stdout)
    assert [r["id"] for r in rows] == ids[::-1]
    assert set(rows[0]) == {
        "id",
        "title",
        "model",
        "updated_at",
        "message_count",
        "input_tokens",
        "output_tokens",
        "cost_usd",
    }
    assert rows[0]["title"] == "question about cherries"
    assert rows[0]["message_count"] == 2
    assert rows[0]["model"] == "claude-sonnet-4"
    text = cli.call("list").stdout.splitlines()
    assert [line.split()[0] for line in text] == ids[::-1]
    assert "question about cherries" in text[0]
    assert cli.call("list", "-n", "1", "--json").stdout.count('"id"') == 1


def test_list_json_sums_tokens_and_cost_over_every_stored_reply(cli: CLI) -> None:
    from tests.cli.test_usage import seed as seed_spending

    ids = seed_spending(cli.data_dir / "megachat.db")
    rows = {r["id"]: r for r in json.loads(cli.call("list", "--json").stdout)}
    spent = {k: (rows[i]["input_tokens"], rows[i]["output_tokens"]) for k, i in ids.items()}
    # sonnet: both branches (each was paid for); opus: its failed reply has no usage
    assert spent == {
        "sonnet": (2000, 700),
        "proxy": (100, 50),
        "opus": (1200, 3400),
        "empty": (None, None),  # no reply: nothing known
    }
    assert rows[ids["sonnet"]]["cost_usd"] == pytest.approx(0.027)
    assert rows[ids["opus"]]["cost_usd"] == pytest.approx(0.273)
    assert rows[ids["proxy"]]["cost_usd"] is None  # unpriced: unknown, not 0
    assert rows[ids["empty"]]["cost_usd"] is None
    # a page of the list (-n) sums the same way
    first = json.loads(cli.call("list", "-n", "4", "--json").stdout)
    assert {r["id"]: r for r in first} == rows
    assert "cost" not in cli.call("list").stdout  # the text list is unchanged


def test_list_empty(cli: CLI) -> None:
    result = cli.call("list")
    assert result.returncode == 0
    assert result.stdout == ""
    assert cli.call("list", "--json").stdout.strip() == "[]"


def test_list_sanitizes_titles(cli: CLI) -> None:
    (conv_id,) = seed(cli, "x")
    with Store(cli.data_dir / "megachat.db") as store:
        store.rename(conv_id, "evil\x1b]0;owned\x07 title\nsecond line")
    line = cli.call("list").stdout
    assert "\x1b" not in line and "\x07" not in line
    assert "evil" in line and "title second line" in line
    assert len(line.splitlines()) == 1
    assert "\\u001b" in cli.call("list", "--json").stdout  # JSON keeps it, escaped


def test_export_formats(cli: CLI) -> None:
    cli.server.enqueue(sse_text_reply("Paris."))
    cli.call("ask", "-s", "Answer briefly.", "-t", "0.5", "Capital of France?")
    (conv,) = json.loads(cli.call("list", "--json").stdout)
    data = json.loads(cli.call("export", conv["id"], "--format", "json").stdout)
    assert data == {
        "id": conv["id"],
        "title": "Capital of France?",
        "model": "claude-sonnet-4",
        "system": "Answer briefly.",
        "temperature": 0.5,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Capital of France?"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Paris."}]},
        ],
    }
    markdown = cli.call("export", conv["id"], "--format", "markdown").stdout
    assert markdown == cli.call("export", conv["id"]).stdout
    assert markdown.startswith("# Capital of France?")
    assert "## User" in markdown and "## Assistant" in markdown and "Paris." in markdown


def test_export_by_unique_prefix_and_unknown_id(cli: CLI) -> None:
    (conv_id,) = seed(cli, "prefixes")
    assert cli.call("export", conv_id[:8]).returncode == 0
    result = cli.call("export", "zzzzzz")
    assert result.returncode == 2
    assert result.stderr.startswith("megachat: error: no conversation with id")


def test_search_finds_and_ranks(cli: CLI) -> None:
    ids = seed(cli, "apples", "bananas", "cherries")
    result = cli.call("search", "bananas")
    assert result.returncode == 0
    assert result.stdout.split()[0] == ids[1]
    hits = json.loads(cli.call("search", "--json", "zebras").stdout)
    assert {h["conversation_id"] for h in hits} == set(ids)
    assert "[zebras]" in hits[0]["snippet"]
    none = cli.call("search", "nothing-like-this")
    assert none.returncode == 0 and none.stdout == ""
    # FTS syntax characters are just text
    assert cli.call("search", 'a"b OR (').returncode == 0


def test_rename_and_delete(cli: CLI) -> None:
    first, second = seed(cli, "one", "two")
    assert cli.call("rename", first, "A", "new", "title").returncode == 0
    rows = {r["id"]: r for r in json.loads(cli.call("list", "--json").stdout)}
    assert rows[first]["title"] == "A new title"
    assert cli.call("delete", second).returncode == 0
    rows = json.loads(cli.call("list", "--json").stdout)
    assert [r["id"] for r in rows] == [first]
    for argv in (("delete", second), ("rename", second, "x")):
        result = cli.call(*argv)
        assert result.returncode == 2
        assert "no conversation" in result.stderr


def test_corrupt_database_is_a_clear_error_and_set_aside(cli: CLI) -> None:
    db = cli.data_dir / "megachat.db"
    db.parent.mkdir(parents=True, exist_ok=True)  # the sandbox made it
    garbage = b"this is not sqlite" * 100
    db.write_bytes(garbage)
    result = cli.call("list")
    assert result.returncode == 1
    assert result.stderr.startswith("megachat: error: ")
    assert "not a readable megachat database" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    moved = [p for p in cli.data_dir.iterdir() if p.name != "megachat.db"]
    assert any(p.read_bytes() == garbage for p in moved if p.is_file())
    # the next run starts a fresh database
    assert cli.call("list", "--json").stdout.strip() == "[]"
    sqlite3.connect(db).close()


def test_models(cli: CLI) -> None:
    result = cli.call("models")
    assert result.returncode == 0, result.stderr
    assert "claude-sonnet-4" in result.stdout and "Claude Opus 4.1" in result.stdout
    data = json.loads(cli.call("models", "--json").stdout)
    assert data[0] == {
        "id": "claude-sonnet-4",
        "display_name": "Claude Sonnet 4",
        "context_window": 200000,
        "max_output_tokens": 64000,
    }
    request = cli.server.requests_to("/v1/models")[0]
    assert request.headers["anthropic-version"] == "2023-06-01"


def test_models_failure_and_missing_key(cli: CLI) -> None:
    cli.server.enqueue(error_reply(401, "authentication_error", "bad key", path="/v1/models"))
    result = cli.call("models")
    assert result.returncode == 1
    assert "authentication_error (HTTP 401)" in result.stderr
    result = cli.run("models", env={"MEGALLM_API_KEY": ""})
    assert result.returncode == 2


def test_presets_listing(cli: CLI, capsys: pytest.CaptureFixture[str]) -> None:
    result = cli.call("presets", "--json")
    names = {p["name"] for p in json.loads(result.stdout)}
    assert {"translate", "summarize", "extract-json"} <= names


# -- tool calls and results are searchable -------------------------------------------------------


def test_search_finds_tool_names_and_tool_results(cli: CLI) -> None:
    """Real `ask --mcp` runs against the stdio test server; only the tool blocks mention the
    words searched for."""
    from tests.cli.conftest import TEST_KEY
    from tests.cli.test_ask_tools import _ask_tool, _configure, _tool_use, _toolbox
    from tests.fakeserver import text_reply

    server = cli.server
    assert server is not None
    _configure(cli, {"toolbox": _toolbox(env={"LEAK": TEST_KEY})})
    _ask_tool(server, _tool_use("toolbox__add", {"a": 1, "b": 2}))
    server.enqueue(text_reply("3"))
    assert (
        cli.run("ask", "--mcp", "toolbox", "--allow", "toolbox.*", "one plus two?").returncode == 0
    )
    _ask_tool(server, _tool_use("toolbox__env", {"name": "NOT_SET_ANYWHERE"}, "toolu_2"))
    server.enqueue(text_reply("nothing"))
    assert cli.run("ask", "--mcp", "toolbox", "--allow", "toolbox.*", "look it up").returncode == 0
    _ask_tool(server, _tool_use("toolbox__env", {"name": "LEAK"}, "toolu_3"))
    server.enqueue(text_reply("done"))
    assert cli.run("ask", "--mcp", "toolbox", "--allow", "toolbox.*", "the leak?").returncode == 0
    listed = {c["title"]: c["id"] for c in json.loads(cli.call("list", "--json").stdout)}

    for query in ("add", "toolbox__add", "toolbox.add"):
        (hit,) = json.loads(cli.call("search", "--json", query).stdout)
        assert hit["conversation_id"] == listed["one plus two?"], query
    (hit,) = json.loads(cli.call("search", "--json", "unset").stdout)  # the env tool's answer
    assert hit["conversation_id"] == listed["look it up"]
    assert "[unset]" in hit["snippet"]
    # a tool result holding the API key is indexed redacted
    token = TEST_KEY.rsplit("-", 1)[1]
    found = cli.call("search", token)
    assert found.stdout == "" and TEST_KEY not in found.stderr
    (hit,) = json.loads(cli.call("search", "--json", "redacted").stdout)
    assert hit["conversation_id"] == listed["the leak?"]
    with sqlite3.connect(cli.data_dir / "megachat.db") as db:
        leaked = db.execute("SELECT 1 FROM messages WHERE text LIKE ?", (f"%{token}%",))
        assert leaked.fetchall() == []
