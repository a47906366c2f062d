"""Tool blocks on disk: the servers chosen per conversation, the search index of tool names and
results (new rows and rows re-indexed by the v6 migration), and the export of a tool loop."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

import pytest

from megachat.chat.conversation import (
    ChatMessage,
    Conversation,
    enabled_server_names,
    searchable_text,
    text_of,
)
from megachat.chat.export import to_json, to_markdown
from megachat.chat.migrations import SCHEMA_VERSION, migrate
from megachat.chat.store import Store
from megachat.redact import Secrets
from megachat.tools.servers import HttpServer, StdioServer
from tests.chat.conftest import make_image

KEY = "sk-mega-tool-KEY-5d1e0a77c3"
THINKING = {"type": "thinking", "thinking": "I should add.", "signature": "sig-XYZ-123"}
ADD_CALL = {"type": "tool_use", "id": "toolu_1", "name": "toolbox__add", "input": {"a": 1, "b": 2}}


def tool_conversation() -> Conversation:
    """Question, a reply asking for a tool (with thinking), the result, the answer."""
    conv = Conversation(model="m")
    conv.add_user("what is one plus two?")
    conv.messages.append(
        ChatMessage(
            role="assistant",
            content=[THINKING, {"type": "text", "text": "Let me use a tool."}, ADD_CALL],
            stop_reason="tool_use",
        )
    )
    conv.add_tool_results(
        [
            {
                "type": "tool_result",
                "tool_use_id": "toolu_1",
                "content": [{"type": "text", "text": "3"}],
            }
        ]
    )
    conv.add_assistant("It is three.", status="complete")
    return conv


def fts_text(db_path: Path, message_id: str) -> str:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT text FROM messages WHERE id = ?", (message_id,)).fetchone()[0]


# -- the servers switched on per conversation ----------------------------------------------------


def test_tool_servers_round_trip_none_and_empty_are_distinct(store: Store) -> None:
    follow, none, some = (
        Conversation(model="m"),
        Conversation(model="m", tool_servers=[]),
        Conversation(model="m", tool_servers=["toolbox", "web"]),
    )
    for conv in (follow, none, some):
        store.create(conv)
    assert store.get(follow.id).tool_servers is None
    assert store.get(none.id).tool_servers == []
    assert store.get(some.id).tool_servers == ["toolbox", "web"]
    # save() writes the settings of a stored conversation: switching servers persists
    some.tool_servers = None
    follow.tool_servers = ["toolbox"]
    store.save(some)
    store.save(follow)
    assert store.get(some.id).tool_servers is None
    assert store.get(follow.id).tool_servers == ["toolbox"]


def test_tool_servers_must_be_names() -> None:
    with pytest.raises(ValueError):
        Conversation(tool_servers="toolbox")  # type: ignore[arg-type]
    assert Conversation(tool_servers=["a", "b", "a"]).tool_servers == ["a", "b"]


def test_enabled_server_names_is_the_one_rule() -> None:
    servers = [
        StdioServer(name="toolbox", command="x"),
        HttpServer(name="web", url="http://127.0.0.1:1/mcp", enabled=False),
        StdioServer(name="files", command="y"),
    ]
    conv = Conversation()
    assert enabled_server_names(conv, servers) == ["toolbox", "files"]  # None: follow config
    conv.tool_servers = []
    assert enabled_server_names(conv, servers) == []
    conv.tool_servers = ["web", "gone", "toolbox"]  # config order; a name not configured: ignored
    assert enabled_server_names(conv, servers) == ["toolbox", "web"]


# -- the search index -----------------------------------------------------------------------------


def test_searchable_text_holds_tool_names_and_result_text() -> None:
    blocks = [
        {"type": "text", "text": "Looking."},
        ADD_CALL,
        {"type": "tool_use", "id": "t2", "name": "plain", "input": {}},
        {"type": "tool_result", "tool_use_id": "t0", "content": "string result"},
        {
            "type": "tool_result",
            "tool_use_id": "t1",
            "is_error": True,
            "content": [
                {"type": "text", "text": "first part"},
                make_image_block(),
                {"type": "text", "text": "second part"},
            ],
        },
    ]
    assert searchable_text(blocks) == (
        "Looking.\n\ntoolbox__add toolbox.add\n\nplain\n\nstring result"
        "\n\nfirst part\n\nsecond part"
    )
    assert text_of(blocks) == "Looking."  # copy and `ask` keep the text only


def make_image_block(size: tuple[int, int] = (4, 4)) -> dict:
    data = base64.b64encode(make_image("PNG", size)).decode()
    return {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}


def test_search_finds_tool_names_in_either_spelling_and_result_words(
    store: Store, db_path: Path
) -> None:
    conv = tool_conversation()
    conv.messages[2].content[0]["content"][0]["text"] = "3 apples"
    store.create(conv)
    other = Conversation(model="m")
    other.add_user("nothing about tools")
    store.create(other)
    for query in ("toolbox__add", "toolbox.add", "add"):
        assert [h.conversation_id for h in store.search(query)] == [conv.id], query
    (hit,) = store.search("apples")
    assert hit.message_id == conv.messages[2].id and hit.role == "user"
    assert "[apples]" in hit.snippet


def test_a_streamed_reply_and_its_final_content_are_indexed_with_tools(
    store: Store, db_path: Path
) -> None:
    conv = Conversation(model="m")
    conv.add_user("go")
    store.create(conv)
    reply = conv.add_assistant(model="m")
    store.begin_reply(conv.id, reply)
    store.update_reply(reply, content=[{"type": "text", "text": "so far"}, ADD_CALL])
    assert fts_text(db_path, reply.id) == "so far\n\ntoolbox__add toolbox.add"
    store.finish_reply(reply, "complete", content=[ADD_CALL], stop_reason="tool_use")
    assert [h.message_id for h in store.search("toolbox.add")] == [reply.id]


def test_the_api_key_is_redacted_in_the_indexed_tool_result(tmp_path: Path) -> None:
    db = tmp_path / "megachat.db"
    conv = Conversation(model="m")
    conv.add_user("read the variable")
    conv.messages.append(
        ChatMessage(
            role="assistant",
            content=[{"type": "tool_use", "id": "t1", "name": "toolbox__env", "input": {}}],
        )
    )
    conv.add_tool_results(
        [{"type": "tool_result", "tool_use_id": "t1", "content": f"the value is {KEY}"}]
    )
    with Store(db, secrets=Secrets([KEY])) as store:
        store.create(conv)
        assert store.search(KEY.rsplit("-", 1)[1]) == []
        assert [h.conversation_id for h in store.search("value")] == [conv.id]
    assert KEY.encode() not in db.read_bytes()
    assert KEY not in fts_text(db, conv.messages[-1].id)


# -- an older database: tool_servers NULL, tool rows re-indexed -----------------------------------


def _v5_database(path: Path, rows: list[list[dict]]) -> list[str]:
    """A schema-v5 file (what megachat wrote before tools) holding one conversation whose
    messages have these contents; their search text as v5 wrote it (text_of). Returns the ids."""
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=5)
    conn.execute(
        """INSERT INTO conversations (id, title, model, max_tokens, created_at, updated_at)
           VALUES ('conv5', 'old', 'm', 100, 1.0, 1.0)"""
    )
    ids, parent = [], None
    for position, content in enumerate(rows):
        msg_id = f"msg{position}"
        role = "user" if position % 2 == 0 else "assistant"
        conn.execute(
            """INSERT INTO messages (id, conversation_id, position, role, content, text,
                   created_at, parent_id, last_used) VALUES (?, 'conv5', ?, ?, ?, ?, 1.0, ?, 1)""",
            (msg_id, position, role, json.dumps(content), text_of(content), parent),
        )
        ids.append(msg_id)
        parent = msg_id
    conn.execute("UPDATE conversations SET active_leaf_id = ? WHERE id = 'conv5'", (parent,))
    conn.close()
    return ids


def test_an_old_database_migrates_and_its_tool_rows_are_reindexed(tmp_path: Path) -> None:
    db = tmp_path / "megachat.db"
    rows = [
        [{"type": "text", "text": "what is one plus two?"}],
        [
            THINKING,
            {"type": "text", "text": "Using tools."},
            ADD_CALL,
            {"type": "tool_use", "id": "t2", "name": "__odd", "input": {}},
            {"type": "tool_use", "id": "t3", "name": "a___b", "input": {}},
        ],
        [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "three apples"},
            {
                "type": "tool_result",
                "tool_use_id": "t2",
                "is_error": True,
                "content": [
                    {"type": "text", "text": "pears"},
                    make_image_block(),
                    {"type": "text", "text": "plums"},
                ],
            },
            {"type": "tool_result", "tool_use_id": "t3"},
        ],
        [{"type": "text", "text": "It is three."}],
    ]
    ids = _v5_database(db, rows)
    with Store(db) as store:
        assert store.schema_version == SCHEMA_VERSION
        conv = store.get("conv5")
        assert conv.tool_servers is None
        assert [m.content for m in conv.messages] == rows
        for query in ("toolbox.add", "apples", "plums", "a._b"):
            assert [h.conversation_id for h in store.search(query)] == ["conv5"], query
    # the SQL of the migration and searchable_text are one rule
    for msg_id, content in zip(ids, rows, strict=True):
        assert fts_text(db, msg_id) == searchable_text(content)


# -- export ----------------------------------------------------------------------------------------


def test_json_export_carries_the_tool_loop_as_it_is_sent(store: Store) -> None:
    conv = tool_conversation()
    conv.add_user("thanks")
    store.create(conv)
    conv = store.get(conv.id)
    messages = to_json(conv)["messages"]
    assert messages == conv.request_messages(with_tools=True)
    assert messages[1]["content"] == [
        THINKING,
        {"type": "text", "text": "Let me use a tool."},
        ADD_CALL,
    ]
    assert messages[2]["content"][0]["type"] == "tool_result"
    # what the next request with tools sends starts with exactly the export
    sent = conv.build_request(tools=[{"name": "toolbox__add", "input_schema": {}}])["messages"]
    assert sent == messages


def test_a_lone_tool_use_is_left_out_of_the_json_export() -> None:
    """A reply asking for a tool no request offered (no result follows): a request without
    tools leaves it out, and so does the export (replayed alone, the API would reject it)."""
    conv = Conversation(model="m")
    conv.add_user("hi")
    conv.messages.append(
        ChatMessage(role="assistant", content=[{"type": "text", "text": "Hello."}, ADD_CALL])
    )
    assert not conv.uses_tools()
    assert to_json(conv)["messages"][1]["content"] == [{"type": "text", "text": "Hello."}]


def test_markdown_export_shows_calls_and_results() -> None:
    conv = tool_conversation()
    conv.messages.append(
        ChatMessage(
            role="assistant",
            content=[{"type": "tool_use", "id": "toolu_2", "name": "toolbox__fail", "input": {}}],
        )
    )
    conv.add_tool_results(
        [
            {
                "type": "tool_result",
                "tool_use_id": "toolu_2",
                "is_error": True,
                "content": [
                    {"type": "text", "text": "```oops```"},
                    make_image_block((2, 2)),
                ],
            }
        ]
    )
    md = to_markdown(conv)
    assert '*tool call* `toolbox.add`\n\n```json\n{\n  "a": 1,\n  "b": 2\n}\n```\n' in md
    assert "*tool result* `toolbox.add`\n\n```\n3\n```\n" in md
    assert "*tool call* `toolbox.fail`\n\n```json\n{}\n```\n" in md
    assert "*tool result* `toolbox.fail` (error)\n\n````\n```oops```\n````\n" in md
    assert "*[image: image/png, " in md
    assert "[tool_use block]" not in md and "[tool_result block]" not in md
