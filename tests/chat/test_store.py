"""The SQLite store, on real files: CRUD, search, streaming persistence, migration, corruption,
and two processes appending at once."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from megachat.chat.conversation import ChatMessage, Conversation, merge_prefill
from megachat.chat.images import load_image
from megachat.chat.migrations import SCHEMA_VERSION
from megachat.chat.store import (
    ConversationDeleted,
    ConversationNotFound,
    CorruptDatabaseError,
    Store,
    StoreError,
    fts_query,
)
from tests.chat.conftest import make_image

REPO = Path(__file__).resolve().parents[2]


def attachment(db_path: Path, sha256: str) -> tuple[bytes, str] | None:
    """An attachment's bytes and media type, read from the file itself."""
    conn = sqlite3.connect(db_path)
    try:
        row = conn.execute(
            "SELECT data, media_type FROM attachments WHERE sha256 = ?", (sha256,)
        ).fetchone()
    finally:
        conn.close()
    return (row[0], row[1]) if row else None


def new_conv(first: str = "hello", **kw) -> Conversation:
    conv = Conversation(model=kw.pop("model", "model-a"), **kw)
    conv.add_user(first)
    return conv


def test_pragmas_and_schema(store: Store, db_path: Path) -> None:
    assert db_path.exists()
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"conversations", "messages", "attachments", "messages_fts"} <= tables
    conn.close()


def test_create_get_roundtrip(store: Store, db_path: Path) -> None:
    conv = new_conv("What is WAL?", system="Be terse.", temperature=0.2, max_tokens=321)
    reply = conv.add_assistant("Write-ahead logging.", model="model-a", status="complete")
    reply.usage = {"input_tokens": 5, "output_tokens": 3}
    reply.stop_reason = "end_turn"
    store.create(conv)
    with Store(db_path) as other:  # a second connection, as another process would
        got = other.get(conv.id)
    assert got.title == "What is WAL?"
    assert (got.model, got.system, got.temperature, got.max_tokens) == (
        "model-a",
        "Be terse.",
        0.2,
        321,
    )
    assert [m.role for m in got.messages] == ["user", "assistant"]
    assert got.messages[1].usage == {"input_tokens": 5, "output_tokens": 3}
    assert got.messages[1].stop_reason == "end_turn"
    assert got.messages[1].status == "complete"
    assert [m.id for m in got.messages] == [m.id for m in conv.messages]
    assert got.build_request() == conv.build_request()


def test_get_missing_raises(store: Store) -> None:
    with pytest.raises(ConversationNotFound):
        store.get("nope")
    with pytest.raises(ConversationNotFound):
        store.append_message("nope", ChatMessage("user", [{"type": "text", "text": "x"}]))


def test_list_newest_first_with_counts(store: Store) -> None:
    a, b = new_conv("first"), new_conv("second")
    store.create(a)
    store.create(b)
    b.add_user("more")
    store.save(b)
    a.add_user("latest")
    store.save(a)
    rows = store.list()
    assert [r.id for r in rows] == [a.id, b.id]
    assert [r.message_count for r in rows] == [2, 2]
    assert rows[0].as_dict().keys() == {
        "id",
        "title",
        "model",
        "updated_at",
        "message_count",
        "input_tokens",
        "output_tokens",
        "cost_usd",
    }
    assert rows[0].as_dict()["updated_at"].endswith("Z")
    assert store.latest_id() == a.id
    assert [r.id for r in store.list(limit=1)] == [a.id]
    assert [r.id for r in store.list(limit=1, offset=1)] == [b.id]


def test_list_never_reads_messages(store: Store, db_path: Path) -> None:
    conv = new_conv("hello")
    store.create(conv)
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE messages SET content = 'not json'")  # break every message
    conn.commit()
    conn.close()
    assert [r.title for r in store.list()] == ["hello"]
    with pytest.raises(StoreError, match="unreadable"):
        store.get(conv.id)


def test_latest_id_empty(store: Store) -> None:
    assert store.latest_id() is None
    assert store.list() == []


def test_rename_and_delete(store: Store) -> None:
    conv = new_conv("original title")
    store.create(conv)
    store.rename(conv.id, "New name")
    assert store.get(conv.id).title == "New name"
    [title_hit] = store.search("new")
    assert (title_hit.conversation_id, title_hit.message_id) == (conv.id, None)
    assert title_hit.snippet == "[New] name"
    assert store.search("original")[0].message_id == conv.messages[0].id  # text, not title
    with pytest.raises(ConversationNotFound):
        store.rename("missing", "x")
    assert store.delete(conv.id) is True
    assert store.delete(conv.id) is False
    assert store.list() == []
    assert store.search("hello") == []
    with pytest.raises(ConversationNotFound):
        store.get(conv.id)


def test_resolve_id_prefix(store: Store) -> None:
    conv = new_conv()
    store.create(conv)
    assert store.resolve_id(conv.id) == conv.id
    assert store.resolve_id(conv.id[:-2]) == conv.id
    with pytest.raises(ConversationNotFound):
        store.resolve_id("zzzz")


def test_images_stored_once_by_sha256(store: Store, db_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "pic.webp"
    data = make_image("PNG", (20, 20))
    path.write_bytes(data)
    img = load_image(path)
    a = Conversation(model="m")
    a.add_user("first look", [img])
    a.add_user("again", [img])
    b = Conversation(model="m")
    b.add_user("same picture", [img])
    store.create(a)
    store.create(b)
    conn = sqlite3.connect(db_path)
    rows = conn.execute(
        "SELECT sha256, media_type, size, width, height FROM attachments"
    ).fetchall()
    assert rows == [(img.sha256, "image/png", len(data), 20, 20)]
    stored = conn.execute("SELECT content FROM messages").fetchall()
    assert all(data.hex() not in r[0] and "base64" not in r[0] for r in stored)
    conn.close()
    assert store.get(a.id).build_request() == a.build_request()  # bytes come back exactly
    assert attachment(db_path, img.sha256) == (data, "image/png")
    store.delete(a.id)
    assert attachment(db_path, img.sha256) is not None  # still used by b
    store.delete(b.id)
    assert attachment(db_path, img.sha256) is None


def test_user_turn_written_before_request_and_save_is_incremental(store: Store) -> None:
    conv = new_conv("one")
    assert store.save(conv) == 1
    assert store.save(conv) == 0
    conv.add_user("two")
    assert store.save(conv) == 1
    assert store.get(conv.id).messages[-1].text() == "two"


def test_streaming_reply_persists_and_reopens_interrupted(store: Store, db_path: Path) -> None:
    conv = new_conv("tell me a story")
    store.save(conv)
    msg = conv.add_assistant("Once", model="model-a")
    store.begin_reply(conv.id, msg)
    store.update_reply(msg, "Once upon a time")
    # the process "dies" here: a fresh store reads what arrived
    with Store(db_path) as reopened:
        got = reopened.get(conv.id).messages[-1]
    assert got.text() == "Once upon a time"
    assert got.status == "interrupted"
    assert got.id == msg.id
    assert store.search("upon")[0].message_id == msg.id


def test_finish_reply_statuses(store: Store, db_path: Path) -> None:
    conv = new_conv("json please")
    store.save(conv)
    msg = conv.add_assistant("{")
    store.begin_reply(conv.id, msg)
    final = merge_prefill("{", [{"type": "text", "text": '"ok": true}'}])
    store.finish_reply(
        msg, "complete", content=final, usage={"output_tokens": 4}, stop_reason="end_turn"
    )
    got = Store(db_path).get(conv.id).messages[-1]
    assert got.content == [{"type": "text", "text": '{"ok": true}'}]
    assert (got.status, got.usage, got.stop_reason) == (
        "complete",
        {"output_tokens": 4},
        "end_turn",
    )

    msg2 = conv.add_assistant()
    store.begin_reply(conv.id, msg2)
    store.update_reply(msg2, "partial")
    store.finish_reply(msg2, "cancelled")
    got = Store(db_path).get(conv.id).messages[-1]
    assert (got.text(), got.status) == ("partial", "cancelled")
    with pytest.raises(ValueError):
        store.finish_reply(msg2, "streaming")


def test_fts_ranking_and_snippet(store: Store) -> None:
    strong = Conversation(model="m")
    strong.add_user("Tell me about sourdough.")
    strong.add_assistant(
        "Sourdough bread rises with a sourdough starter; sourdough tastes tangy.",
        status="complete",
    )
    weak = Conversation(model="m")
    weak.add_user(
        "Bread recipes for a long text about many things: flour, water, salt, "
        "ovens, timing, shaping, scoring and finally one sourdough mention."
    )
    other = new_conv("nothing related here")
    store.create(weak)
    store.create(strong)
    store.create(other)
    hits = store.search("sourdough")
    assert [h.conversation_id for h in hits] == [strong.id, weak.id]
    assert hits[0].rank <= hits[1].rank
    assert "[sourdough]" in hits[0].snippet.lower()
    assert hits[0].title == "Tell me about sourdough."
    # accents and case folded; punctuation is not query syntax
    assert store.search("SOURDOUGH") and store.search('sourdough"') and store.search("-(") == []
    assert store.search("sourd*")[0].conversation_id in (strong.id, weak.id)
    assert store.search("café") == []
    cafe = new_conv("Un café au lait")
    store.create(cafe)
    assert store.search("cafe")[0].conversation_id == cafe.id
    # custom markers for a UI that highlights without markup
    assert "\x01" in store.search("lait", mark=("\x01", "\x02"))[0].snippet


def test_fts_query_quoting() -> None:
    assert fts_query('foo "bar" baz*') == '"foo" """bar""" "baz"*'
    assert fts_query("   ") == ""


def test_migration_from_v1(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path)
    # the v1 schema as released: no message_count, no full-text index
    conn.executescript(
        """
        CREATE TABLE conversations (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
            title TEXT NOT NULL DEFAULT '', model TEXT NOT NULL DEFAULT '',
            system TEXT NOT NULL DEFAULT '', temperature REAL, max_tokens INTEGER NOT NULL,
            created_at REAL NOT NULL, updated_at REAL NOT NULL);
        CREATE INDEX conversations_updated ON conversations(updated_at, seq);
        CREATE TABLE messages (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            position INTEGER NOT NULL, role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
            content TEXT NOT NULL, text TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'complete', usage TEXT, stop_reason TEXT, model TEXT,
            created_at REAL NOT NULL, UNIQUE (conversation_id, position));
        CREATE TABLE attachments (sha256 TEXT PRIMARY KEY, data BLOB NOT NULL,
            media_type TEXT NOT NULL, size INTEGER NOT NULL, width INTEGER, height INTEGER,
            created_at REAL NOT NULL);
        CREATE TABLE message_attachments (
            message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            sha256 TEXT NOT NULL REFERENCES attachments(sha256),
            PRIMARY KEY (message_id, sha256)) WITHOUT ROWID;
        INSERT INTO conversations VALUES (1, 'c1', 'Old chat', 'old-model', '', NULL, 1024, 1, 2);
        INSERT INTO messages VALUES (1, 'm1', 'c1', 0, 'user',
            '[{"type":"text","text":"remember the zebra"}]', 'remember the zebra',
            'complete', NULL, NULL, NULL, 1);
        INSERT INTO messages VALUES (2, 'm2', 'c1', 1, 'assistant',
            '[{"type":"text","text":"noted"}]', 'noted', 'complete', NULL, NULL, 'old-model', 2);
        PRAGMA user_version = 1;
        """
    )
    conn.close()
    with Store(db_path) as store:
        assert (
            sqlite3.connect(db_path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        )
        [summary] = store.list()
        assert (summary.id, summary.title, summary.message_count) == ("c1", "Old chat", 2)
        assert store.search("zebra")[0].message_id == "m1"
        assert store.search("old")[0].conversation_id == "c1"
        conv = store.get("c1")
        conv.add_user("and the giraffe")
        store.save(conv)
        assert store.list()[0].message_count == 3
        assert store.search("giraffe")[0].conversation_id == "c1"


def test_newer_schema_is_refused_untouched(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = db_path.read_bytes()
    with pytest.raises(StoreError, match=r"version 99"):
        Store(db_path)
    assert db_path.read_bytes() == before


def test_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot open"):
        Store(tmp_path / "file" / "megachat.db")  # parent is a file
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreError) as err:
        Store(tmp_path / "dir.db")
    assert not isinstance(err.value, CorruptDatabaseError)
    assert (tmp_path / "dir.db").is_dir()


def test_corrupt_file_is_set_aside_never_overwritten(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    garbage = b"this is not a database, it is my precious notes\n" * 200
    db_path.write_bytes(garbage)
    with pytest.raises(CorruptDatabaseError) as err:
        Store(db_path)
    moved = err.value.moved_to
    assert moved is not None and moved.read_bytes() == garbage
    assert moved.name.startswith("megachat.db.corrupt-")
    assert str(db_path) in str(err.value) and str(moved) in str(err.value)
    assert not db_path.exists()
    # a second corrupt file in the same second does not overwrite the first one set aside
    db_path.write_bytes(b"garbage two" * 100)
    with pytest.raises(CorruptDatabaseError) as second:
        Store(db_path)
    error = second.value
    store = Store(db_path)  # opening again starts a new database
    assert error.moved_to is not None and error.moved_to != moved
    assert error.moved_to.read_bytes() == b"garbage two" * 100
    assert moved.read_bytes() == garbage
    conv = new_conv("fresh start")
    store.create(conv)
    assert store.list()[0].id == conv.id
    store.close()


def test_damaged_database_is_set_aside(db_path: Path) -> None:
    with Store(db_path) as store:
        store.create(new_conv("soon damaged"))
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(db_path.read_bytes())
    data[100:4096] = bytes(range(256)) * 15 + bytes(range(156))  # the schema page
    db_path.write_bytes(bytes(data))
    with pytest.raises(CorruptDatabaseError, match="malformed") as err:
        Store(db_path)
    assert err.value.moved_to is not None and err.value.moved_to.read_bytes() == bytes(data)


APPENDER = """
import sys
from megachat.chat.store import Store
db, conv_id, tag, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
store = Store(db)
conv = store.get(conv_id)  # both hold the same path: each goes on in a branch of its own
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.readline()  # the parent releases both processes at once
for i in range(n):
    store.append_message(conv_id, conv.add_user(f"{tag} {i}"))
    if i % 10 == 0:
        msg = conv.add_assistant()
        store.begin_reply(conv_id, msg)
        store.update_reply(msg, f"{tag} reply {i}")
        store.finish_reply(msg, "complete")
store.close()
print("done")
"""


def test_two_processes_append_at_once(store: Store, db_path: Path) -> None:
    conv = new_conv("shared")
    store.create(conv)
    n = 150
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", APPENDER, str(db_path), conv.id, tag, str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for tag in ("alpha", "beta")
    ]
    for p in procs:
        assert p.stdout.readline() == "ready\n"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out.strip() == "done"
    got = store.get(conv.id)
    replies = n // 10
    everything = got.all_messages()
    assert len(everything) == 1 + 2 * (n + replies)  # nothing lost
    assert len(got.messages) == 1 + n + replies  # the branch written last is the active one
    assert store.list()[0].message_count == len(got.messages)
    first = got.messages[0]
    assert [len(got.children(first.id)), len(got.children(None))] == [2, 1]
    for tag in ("alpha", "beta"):
        mine = [m.text() for m in everything if m.role == "user" and m.text().startswith(tag)]
        assert mine == [f"{tag} {i}" for i in range(n)]  # each process's turns in order
        got.switch_to(next(m.id for m in everything if m.text() == f"{tag} 0"))
        assert [m.text() for m in got.messages if m.role == "user"][1:] == mine  # a chain
    positions = (
        sqlite3.connect(db_path)
        .execute(
            "SELECT position FROM messages WHERE conversation_id = ? ORDER BY position", (conv.id,)
        )
        .fetchall()
    )
    assert [p[0] for p in positions] == list(range(len(everything)))
    assert all(m.status == "complete" for m in everything)


OPENER = """
import sys
from megachat.chat.conversation import Conversation
from megachat.chat.store import Store
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.readline()
store = Store(sys.argv[1])  # both processes create and migrate the new file at once
conv = Conversation(model="m")
conv.add_user(sys.argv[2])
store.create(conv)
store.close()
print("done")
"""


def test_two_processes_create_a_new_database_at_once(db_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, str(db_path), f"hello from {tag}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for tag in ("alpha", "beta", "gamma")
    ]
    for p in procs:
        assert p.stdout.readline() == "ready\n"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    with Store(db_path) as store:
        titles = sorted(r.title for r in store.list())
    assert titles == ["hello from alpha", "hello from beta", "hello from gamma"]


def test_very_common_words_rank_only_recent_matches(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import megachat.chat.store.search as store_module

    old = new_conv("apple apple apple apple", title="old")  # the most relevant, but oldest
    store.create(old)
    recent = []
    for i in range(3):
        conv = new_conv(f"an apple and many other words in message number {i}", title=f"c{i}")
        store.create(conv)
        recent.append(conv.id)
    assert store.search("apple")[0].conversation_id == old.id
    monkeypatch.setattr(store_module, "RANK_WINDOW", 2)
    assert sorted(h.conversation_id for h in store.search("apple")) == sorted(recent[-2:])


def test_lone_surrogates_from_model_output_are_stored_not_fatal(tmp_path):
    from megachat.chat.conversation import Conversation
    from megachat.chat.store import Store

    store = Store(tmp_path / "s.db")
    conv = Conversation(model="m")
    conv.add_user("title \ud800 here")
    store.save(conv)
    store.rename(conv.id, "bad \udfff title")
    loaded = store.get(conv.id)
    assert loaded.title == "bad \ufffd title"
    assert loaded.messages[0].text() == "title \ufffd here"


# -- branches: the tree, the active path, deleting a branch -----------------------------------


def _path(store: Store, conv_id: str) -> list[str]:
    return [m.id for m in store.get(conv_id).messages]


def _agree(store: Store, conv: Conversation) -> None:
    """The stored conversation and the one in memory: same tree, same path, same last-used."""
    got = store.get(conv.id)
    assert [m.id for m in got.messages] == [m.id for m in conv.messages]
    assert [(m.id, m.parent_id) for m in got.all_messages()] == [
        (m.id, m.parent_id) for m in conv.all_messages()
    ]
    summary = next(s for s in store.list() if s.id == conv.id)
    assert summary.message_count == len(conv.messages)
    for msg in conv.all_messages():  # switching anywhere goes down the same way in both
        got.switch_to(msg.id)
        mine = Conversation()
        mine.load_tree(conv.all_messages(), conv.active_leaf_id, conv.used())
        mine.switch_to(msg.id)
        assert [m.id for m in got.messages] == [m.id for m in mine.messages]


def test_replies_and_edits_are_stored_as_siblings(store: Store, db_path: Path) -> None:
    conv = new_conv("question")
    store.save(conv)
    first = conv.add_assistant(model="model-a")
    store.begin_reply(conv.id, first)
    store.finish_reply(first, "complete", content=[{"type": "text", "text": "one"}])
    conv.branch_reply(first)  # regenerate
    second = conv.add_assistant(model="model-a")
    store.begin_reply(conv.id, second)
    store.finish_reply(second, "complete", content=[{"type": "text", "text": "two"}])
    follow = conv.add_user("follow-up")
    store.append_message(conv.id, follow)
    edited = conv.branch_user(follow, "follow-up, edited")  # edit and resend
    store.append_message(conv.id, edited)
    _agree(store, conv)
    got = store.get(conv.id)
    assert [m.text() for m in got.messages] == ["question", "two", "follow-up, edited"]
    assert [m.text() for m in got.siblings(got.messages[1])] == ["one", "two"]
    assert [m.text() for m in got.siblings(got.messages[2])] == ["follow-up", "follow-up, edited"]
    assert len(got.all_messages()) == 5  # nothing was deleted
    conn = sqlite3.connect(db_path)
    parents = dict(conn.execute("SELECT id, parent_id FROM messages").fetchall())
    conn.close()
    assert parents == {m.id: m.parent_id for m in conv.all_messages()}


def test_set_active_persists_a_switch_and_the_leaf_last_used(store: Store, db_path: Path) -> None:
    conv = new_conv("q")
    a1 = conv.add_assistant("a1", status="complete")
    f1 = conv.add_user("under a1")
    conv.branch_reply(a1)
    a2 = conv.add_assistant("a2", status="complete")
    store.create(conv)
    assert _path(store, conv.id) == [conv.messages[0].id, a2.id]
    conv.switch_to(a1.id)
    store.set_active(conv.id, conv.active_leaf_id)
    with Store(db_path) as other:  # as another process would read it
        assert [m.id for m in other.get(conv.id).messages] == [conv.messages[0].id, a1.id, f1.id]
        assert other.list()[0].message_count == 3
    conv.switch_to(a2.id)
    store.set_active(conv.id, a2.id)
    got = store.get(conv.id)
    got.switch_to(a1.id)  # under a1, down to the leaf last used there
    assert got.active_leaf_id == f1.id
    _agree(store, conv)


def test_set_active_and_delete_branch_refuse_unknown_ids(store: Store) -> None:
    from megachat.chat.store import MessageNotFound

    a, b = new_conv("one"), new_conv("two")
    store.create(a)
    store.create(b)
    for call in (store.set_active, store.delete_branch):
        with pytest.raises(ConversationNotFound):
            call("nope", a.messages[0].id)
        with pytest.raises(MessageNotFound, match="no message with id"):
            call(a.id, "missing")
        with pytest.raises(MessageNotFound):  # a message of another conversation
            call(a.id, b.messages[0].id)
    assert len(store.get(a.id).messages) == 1 and len(store.get(b.id).messages) == 1
    stray = ChatMessage("user", [{"type": "text", "text": "x"}], parent_id=b.messages[0].id)
    with pytest.raises(StoreError, match="not a message of conversation"):
        store.append_message(a.id, stray)


def test_delete_branch_removes_the_subtree_its_search_rows_and_images(
    store: Store, db_path: Path, tmp_path: Path
) -> None:
    own, shared = tmp_path / "own.png", tmp_path / "shared.png"
    own.write_bytes(make_image("PNG", (12, 10)))
    shared.write_bytes(make_image("PNG", (14, 10)))
    own_img, shared_img = load_image(own), load_image(shared)
    a = Conversation(model="m", created_at=1_000.0)
    q = a.add_user("alpha question")
    first = a.add_assistant("bravo answer", status="complete")
    a.branch_reply(first)
    second = a.add_assistant("golf answer", status="complete")
    a.add_user("charlie pictures", [own_img, shared_img])
    a.add_assistant("delta description", status="complete")
    b = Conversation(model="m")
    b.add_user("charlie elsewhere", [shared_img])
    b.add_assistant("echo reply", status="complete")
    store.create(a)
    store.create(b)
    before = {s.id: s for s in store.list()}
    assert before[a.id].message_count == 4

    assert store.delete_branch(a.id, second.id) == 3
    removed = a.delete_branch(second.id)
    assert len(removed) == 3

    _agree(store, a)
    assert _path(store, a.id) == [q.id, first.id]  # the previous sibling
    after = {s.id: s for s in store.list()}
    assert after[a.id].message_count == 2
    assert after[a.id].updated_at > before[a.id].updated_at
    assert store.search("delta") == [] and store.search("golf") == []
    assert [h.conversation_id for h in store.search("charlie")] == [b.id]
    assert store.search("bravo")[0].conversation_id == a.id
    assert attachment(db_path, own_img.sha256) is None  # no other message used it
    assert attachment(db_path, shared_img.sha256) is not None  # b still does
    assert after[b.id].message_count == 2  # the other conversation is untouched
    assert _path(store, b.id) == [m.id for m in b.messages]
    conn = sqlite3.connect(db_path)
    links = conn.execute("SELECT message_id FROM message_attachments").fetchall()
    conn.close()
    assert links == [(b.messages[0].id,)]
    # going on after the delete, search finds the new text
    store.append_message(a.id, a.add_user("foxtrot follow-up"))
    _agree(store, a)
    assert store.search("foxtrot")[0].conversation_id == a.id
    # the first message: the conversation stays, empty
    assert store.delete_branch(a.id, q.id) == 3
    a.delete_branch(q.id)
    assert store.get(a.id).all_messages() == [] and a.all_messages() == []
    assert {s.id: s for s in store.list()}[a.id].message_count == 0


def test_delete_branch_moves_the_path_as_the_conversation_does(store: Store) -> None:
    conv = new_conv("q")
    replies = []
    for text in ("r1", "r2", "r3"):
        if replies:
            conv.branch_reply(replies[-1])
        replies.append(conv.add_assistant(text, status="complete"))
        conv.add_user(f"under {text}")
    store.create(conv)
    conv.switch_to(replies[0].id)
    store.set_active(conv.id, conv.active_leaf_id)
    # off the path: the path stays
    assert store.delete_branch(conv.id, replies[1].id) == 2
    conv.delete_branch(replies[1].id)
    _agree(store, conv)
    # on the path with no previous sibling: the next one, down to its leaf
    assert store.delete_branch(conv.id, replies[0].id) == 2
    conv.delete_branch(replies[0].id)
    _agree(store, conv)
    assert [m.text() for m in store.get(conv.id).messages] == ["q", "r3", "under r3"]
    # the last sibling: the path ends at the parent
    store.delete_branch(conv.id, replies[2].id)
    conv.delete_branch(replies[2].id)
    _agree(store, conv)
    assert [m.text() for m in store.get(conv.id).messages] == ["q"]


def test_search_finds_every_branch_and_a_hit_opens_its_branch(store: Store) -> None:
    conv = new_conv("tell me about kestrels")
    old = conv.add_assistant("kestrels hover while hunting", status="complete")
    conv.branch_reply(old)
    conv.add_assistant("falcons are fast", status="complete")
    store.create(conv)
    assert old.id not in _path(store, conv.id)
    (hit,) = store.search("hover")
    assert (hit.conversation_id, hit.message_id) == (conv.id, old.id)
    opened = store.get(hit.conversation_id)
    opened.switch_to(hit.message_id)
    store.set_active(opened.id, opened.active_leaf_id)
    assert _path(store, conv.id) == [conv.messages[0].id, old.id]
    assert [m.text() for m in store.get(conv.id).messages][-1] == "kestrels hover while hunting"


def test_a_tree_made_in_memory_is_created_whole(store: Store) -> None:
    """What an import does: a conversation with branches written in one go."""
    conv = new_conv("q")
    a1 = conv.add_assistant("a1", status="complete")
    conv.add_user("f1")
    conv.branch_reply(a1)
    conv.add_assistant("a2", status="complete")
    conv.switch_to(a1.id)
    store.create(conv)
    _agree(store, conv)
    assert store.save(conv) == 0


# -- the migration from the released schema (v4): every conversation becomes a chain ----------

V4_FIXTURE = REPO / "tests" / "fixtures" / "megachat-v4.db"
# what tests/fixtures/megachat-v4.db holds, written by megachat before branches (schema v4)
V4_CHATS = {
    "1fixture00conv1": [
        ("user", "complete", "What is the capital of France?"),
        ("assistant", "complete", "Paris."),
        ("user", "complete", "And what colour is this?"),
        ("assistant", "complete", "Red."),
    ],
    "1fixture00conv2": [
        ("user", "complete", "Count to ten, slowly."),
        ("assistant", "interrupted", "one, two, three,"),  # the writer died while streaming
    ],
    "1fixture00conv3": [
        ("user", "complete", "Give me JSON for a cat."),
        ("assistant", "error", ""),
        ("user", "complete", "Try again please."),
        ("assistant", "cancelled", '{"na'),
        ("user", "complete", "Once more."),
        ("assistant", "complete", '{"name": "Tom"}'),
    ],
    "1fixture00conv5": [],
}


def _check_v4_chats(store: Store) -> None:
    for conv_id, expected in V4_CHATS.items():
        conv = store.get(conv_id)
        assert [(m.role, m.status, m.text()) for m in conv.messages] == expected
        assert conv.all_messages() == conv.messages  # one chain, nothing else
        parents = [None, *(m.id for m in conv.messages)][: len(conv.messages)]
        assert [m.parent_id for m in conv.messages] == parents

    summaries = {s.id: s for s in store.list()}
    assert {k: s.message_count for k, s in summaries.items()} == {
        k: len(v) for k, v in V4_CHATS.items()
    }
    assert summaries["1fixture00conv1"].title == "France and a red square"
    france = store.get("1fixture00conv1")
    assert (france.system, france.temperature, france.max_tokens) == ("Be brief.", 0.3, 1024)
    assert france.messages[0].usage is None and france.messages[1].usage == {
        "input_tokens": 12,
        "output_tokens": 3,
    }
    picture = france.messages[2]
    (block,) = picture.images()
    assert block["source"]["media_type"] == "image/png"
    assert picture.image_name(block) == "red.png"
    assert [h.conversation_id for h in store.search("colour")] == ["1fixture00conv1"]


def test_a_database_of_the_released_version_migrates_to_chains(tmp_path: Path) -> None:
    import shutil

    db = tmp_path / "megachat.db"
    shutil.copyfile(V4_FIXTURE, db)
    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 4
    raw.close()
    with Store(db) as store:
        _check_v4_chats(store)
        with pytest.raises(ConversationDeleted):  # the tombstone survived
            store.save(Conversation(id="1fixture00conv4", model="m"))
        # and the migrated conversations go on as trees
        conv = store.get("1fixture00conv2")
        conv.branch_reply(conv.messages[-1])
        retry = conv.add_assistant(model="claude-haiku-4-5")
        store.begin_reply(conv.id, retry)
        store.finish_reply(retry, "complete", content=[{"type": "text", "text": "one to ten"}])
        _agree(store, conv)
        assert store.list()[0].message_count == 2
    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    raw.close()


def test_a_read_only_database_of_the_released_version_reads_as_chains(tmp_path: Path) -> None:
    """Read-only files are never migrated: the store reads the v4 schema as it is."""
    import shutil

    from tests.faults.test_disk_cli import _mount

    target = tmp_path / "ro"
    if os.geteuid() != 0 or not _mount(target, "size=1m"):
        pytest.skip("needs root and mount to make a real read-only filesystem")
    try:
        shutil.copyfile(V4_FIXTURE, target / "megachat.db")
        done = subprocess.run(["mount", "-o", "remount,ro", str(target)], capture_output=True)
        assert done.returncode == 0, done.stderr
        with Store(target / "megachat.db") as store:
            assert store.read_only
            _check_v4_chats(store)
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


# -- image file names: shown, stored, never sent ----------------------------------------------


def test_image_names_survive_a_reload_but_are_never_sent_or_exported(
    store: Store, db_path: Path, tmp_path: Path
) -> None:
    import json

    from megachat.chat.export import to_json_text, to_markdown

    path = tmp_path / "secret-holiday-kitten.png"
    path.write_bytes(make_image("PNG", (16, 12)))
    img = load_image(path)
    conv = Conversation(model="m")
    msg = conv.add_user("look", [img])
    assert msg.image_name(msg.images()[0]) == "secret-holiday-kitten.png"  # no directories
    store.create(conv)

    got = store.get(conv.id)
    block = got.messages[0].images()[0]
    assert got.messages[0].image_name(block) == "secret-holiday-kitten.png"
    assert set(block) == {"type", "source"}  # the block itself stays the API shape
    for body in (got.build_request(), conv.build_request(stream=False)):
        assert "kitten" not in json.dumps(body)
    assert "kitten" not in to_json_text(got)
    assert "kitten" not in to_json_text(conv)
    assert "secret-holiday-kitten.png" in to_markdown(got)  # the document for reading says it
    conn = sqlite3.connect(db_path)
    contents = [r[0] for r in conn.execute("SELECT content FROM messages")]
    conn.close()
    assert not any("kitten" in c for c in contents)
    assert got.build_request() == conv.build_request()


def test_export_json_command_leaves_image_names_out(tmp_path: Path) -> None:
    from tests.cli.conftest import _base_env

    env = _base_env(tmp_path)
    path = tmp_path / "kitten-on-sofa.png"
    path.write_bytes(make_image("PNG", (16, 12)))
    with Store(tmp_path / "data" / "megachat" / "megachat.db") as s:
        conv = Conversation(model="m")
        conv.add_user("look", [load_image(path)])
        s.create(conv)
    result = subprocess.run(
        [sys.executable, "-m", "megachat", "export", conv.id, "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert '"type": "image"' in result.stdout
    assert "kitten" not in result.stdout


def test_a_delete_from_another_process_is_never_undone(store: Store, db_path: Path) -> None:
    """The writer (a TUI or `ask` streaming) holds the conversation while another connection
    deletes it: every later write says ConversationDeleted and none brings it back."""
    conv = new_conv("tell me a long story")
    store.save(conv)
    reply = conv.add_assistant(model="model-a")
    store.begin_reply(conv.id, reply)
    store.update_reply(reply, "Once upon")
    with Store(db_path) as other:
        assert other.delete(conv.id) is True
    with pytest.raises(ConversationDeleted):
        store.update_reply(reply, "Once upon a time")
    with pytest.raises(ConversationDeleted):
        store.finish_reply(reply, "complete")
    with pytest.raises(ConversationDeleted) as raised:
        store.save(conv)  # what the TUI does with the settings after a turn
    assert raised.value.conversation_id == conv.id
    assert str(raised.value) == f"conversation {conv.id} was deleted elsewhere"
    with pytest.raises(ConversationDeleted):
        store.append_message(conv.id, conv.add_user("and then?"))
    with pytest.raises(ConversationDeleted):
        store.create(conv)
    with pytest.raises(ConversationDeleted):
        store.delete_branch(conv.id, reply.id)
    with pytest.raises(ConversationDeleted):
        store.set_active(conv.id, reply.id)
    assert isinstance(ConversationDeleted(), StoreError)
    assert not issubclass(ConversationDeleted, ConversationNotFound)
    with Store(db_path) as reader:
        assert reader.list() == [] and not reader.exists(conv.id)
        assert reader.search("upon") == []
    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    finally:
        raw.close()
    # a conversation never stored is still simply created
    fresh = new_conv("a new one")
    store.save(fresh)
    assert [c.id for c in store.list()] == [fresh.id]


def test_the_api_key_is_never_written(db_path: Path) -> None:
    """Whatever carries it (a title, a system prompt, a user turn, a streamed reply in any block
    type), the store writes [redacted] in its place: the table, the index and the file bytes."""
    key = "sk-mega-unit-SECRET-0123456789"
    store = Store(db_path, secrets=[key, None])
    assert key not in repr(store) and key not in repr(store.secrets)
    conv = new_conv(f"my key is {key}", system=f"use {key}")
    store.save(conv)
    reply = conv.add_assistant(model="model-a")
    store.begin_reply(conv.id, reply)
    store.update_reply(reply, f"echo {key[:9]}")  # half of it: the Turn holds such a tail back
    store.update_reply(reply, content=[{"type": "thinking", "thinking": key}])
    store.finish_reply(
        reply,
        "complete",
        content=[
            {"type": "text", "text": f"echo {key}"},
            {"type": "tool_use", "id": "t1", "name": "n", "input": {"k": [key]}},
        ],
    )
    store.rename(conv.id, f"about {key}")
    got = store.get(conv.id)
    assert got.title == "about [redacted]" and got.system == "use [redacted]"
    assert got.messages[0].text() == "my key is [redacted]"
    assert got.messages[1].content == [
        {"type": "text", "text": "echo [redacted]"},
        {"type": "tool_use", "id": "t1", "name": "n", "input": {"k": ["[redacted]"]}},
    ]
    assert store.search("SECRET") == []
    store.close()
    for path in db_path.parent.iterdir():
        assert key.encode() not in path.read_bytes(), path.name


def test_deleting_a_long_chain_does_not_recurse(store: Store) -> None:
    """A branch longer than 1000 messages (SQLite's trigger depth) goes in one delete, as does
    its conversation."""
    chain = [
        ChatMessage("user" if i % 2 == 0 else "assistant", [{"type": "text", "text": f"m{i}"}])
        for i in range(1100)
    ]
    a = Conversation(model="m", messages=chain[:1050])
    store.create(a)
    assert store.list()[0].message_count == 1050
    assert store.delete_branch(a.id, chain[1].id) == 1049
    assert [m.text() for m in store.get(a.id).messages] == ["m0"]
    b = Conversation(model="m", messages=chain[1050:])
    store.create(b)
    assert store.delete(a.id) and store.delete(b.id) and store.list() == []
