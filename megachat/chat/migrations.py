"""Schema versions of the store, applied in order; the version lives in PRAGMA user_version.

MIGRATIONS[i] takes a database from version i to version i + 1. Never edit a released migration:
add a new one. Each is a list of single SQL statements, run in one IMMEDIATE transaction together
with the user_version bump, so a crash or a second process never sees half a schema.
"""

from __future__ import annotations

import sqlite3

# v1: conversations, messages (content blocks as JSON + plain text), attachments stored once by
# sha256 and linked to the messages that use them. Integer primary keys (stable under VACUUM) give
# the full-text index rowids; the public ids are the short text ids.
V1 = [
    """CREATE TABLE conversations (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        title TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL DEFAULT '',
        system TEXT NOT NULL DEFAULT '',
        temperature REAL,
        max_tokens INTEGER NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    )""",
    "CREATE INDEX conversations_updated ON conversations(updated_at, seq)",
    """CREATE TABLE messages (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
        content TEXT NOT NULL,
        text TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'complete',
        usage TEXT,
        stop_reason TEXT,
        model TEXT,
        created_at REAL NOT NULL,
        UNIQUE (conversation_id, position)
    )""",
    """CREATE TABLE attachments (
        sha256 TEXT PRIMARY KEY,
        data BLOB NOT NULL,
        media_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        width INTEGER,
        height INTEGER,
        created_at REAL NOT NULL
    )""",
    """CREATE TABLE message_attachments (
        message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        sha256 TEXT NOT NULL REFERENCES attachments(sha256),
        PRIMARY KEY (message_id, sha256)
    ) WITHOUT ROWID""",
    "CREATE INDEX message_attachments_sha256 ON message_attachments(sha256)",
]

# v2: message_count kept on the conversation (listing never touches messages) and FTS5 indexes
# over message text and titles, external-content tables kept in step by triggers.
V2 = [
    "ALTER TABLE conversations ADD COLUMN message_count INTEGER NOT NULL DEFAULT 0",
    """UPDATE conversations SET message_count =
        (SELECT count(*) FROM messages m WHERE m.conversation_id = conversations.id)""",
    """CREATE TRIGGER messages_count_ai AFTER INSERT ON messages BEGIN
        UPDATE conversations SET message_count = message_count + 1
        WHERE id = new.conversation_id;
    END""",
    """CREATE TRIGGER messages_count_ad AFTER DELETE ON messages BEGIN
        UPDATE conversations SET message_count = message_count - 1
        WHERE id = old.conversation_id;
    END""",
    """CREATE VIRTUAL TABLE messages_fts USING fts5(
        text, content='messages', content_rowid='seq', tokenize='unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, text) VALUES (new.seq, new.text);
    END""",
    """CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.seq, old.text);
    END""",
    """CREATE TRIGGER messages_fts_au AFTER UPDATE OF text ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.seq, old.text);
        INSERT INTO messages_fts(rowid, text) VALUES (new.seq, new.text);
    END""",
    "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')",
    """CREATE VIRTUAL TABLE conversations_fts USING fts5(
        title, content='conversations', content_rowid='seq',
        tokenize='unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER conversations_fts_ai AFTER INSERT ON conversations BEGIN
        INSERT INTO conversations_fts(rowid, title) VALUES (new.seq, new.title);
    END""",
    """CREATE TRIGGER conversations_fts_ad AFTER DELETE ON conversations BEGIN
        INSERT INTO conversations_fts(conversations_fts, rowid, title)
        VALUES ('delete', old.seq, old.title);
    END""",
    """CREATE TRIGGER conversations_fts_au AFTER UPDATE OF title ON conversations BEGIN
        INSERT INTO conversations_fts(conversations_fts, rowid, title)
        VALUES ('delete', old.seq, old.title);
        INSERT INTO conversations_fts(rowid, title) VALUES (new.seq, new.title);
    END""",
    "INSERT INTO conversations_fts(conversations_fts) VALUES ('rebuild')",
]

# v3: the file name an image was attached under, per message (for display only: it is never part
# of the content blocks, so it is never sent to the API nor exported as JSON).
V3 = [
    "ALTER TABLE message_attachments ADD COLUMN name TEXT",
]

# v4: the ids of deleted conversations. A process still holding a deleted conversation (a TUI or
# `megachat ask` streaming into it while `megachat delete` ran) must not bring it back by saving.
V4 = [
    """CREATE TABLE deleted_conversations (
        id TEXT PRIMARY KEY,
        deleted_at REAL NOT NULL
    ) WITHOUT ROWID""",
]

# v5: branches. Each message has a parent (NULL: a first message); a conversation remembers its
# active path by its last message (active_leaf_id), and each message when it was last on the
# active path (last_used, a per-conversation counter), so switching to a message can go down to
# the leaf last used under it. Every existing conversation becomes a chain in its stored order,
# the active path ending at its last message: nothing is lost. message_count now counts the
# active path, kept by the store (the triggers counted every message). parent_id has no ON
# DELETE CASCADE: a cascade nests one level per message (deleting a 1,000-message conversation
# took over a second); the store deletes a branch deepest first instead.
V5 = [
    "ALTER TABLE messages ADD COLUMN parent_id TEXT REFERENCES messages(id)",
    "ALTER TABLE messages ADD COLUMN last_used INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE conversations ADD COLUMN active_leaf_id TEXT",
    """UPDATE messages SET last_used = 1, parent_id = (
        SELECT p.id FROM messages p
        WHERE p.conversation_id = messages.conversation_id AND p.position < messages.position
        ORDER BY p.position DESC LIMIT 1
    )""",
    """UPDATE conversations SET active_leaf_id = (
        SELECT m.id FROM messages m WHERE m.conversation_id = conversations.id
        ORDER BY m.position DESC LIMIT 1
    )""",
    "CREATE INDEX messages_parent ON messages(parent_id)",
    "DROP TRIGGER messages_count_ai",
    "DROP TRIGGER messages_count_ad",
]

# v6: tools. The MCP servers switched on per conversation (a JSON array of names; NULL: follow
# the config). The search text of a message now holds tool names and the text of tool results
# (conversation.searchable_text); messages stored before with tool blocks are re-indexed here by
# the same rule, written in SQL: text blocks, then "SERVER__TOOL SERVER.TOOL" per tool_use, then
# the text of each tool_result (a string, or its text blocks), joined by blank lines. Only rows
# whose content holds a tool block are touched (the messages_fts_au trigger updates the index).
_BLANK_LINE = "char(10) || char(10)"
_TOOL_LABEL = """CASE WHEN instr(n, '__') > 1 AND instr(n, '__') + 1 < length(n)
    THEN n || ' ' || substr(n, 1, instr(n, '__') - 1) || '.' || substr(n, instr(n, '__') + 2)
    ELSE n END"""
V6 = [
    "ALTER TABLE conversations ADD COLUMN tool_servers TEXT",
    f"""UPDATE messages SET text = coalesce((
        SELECT group_concat(part, {_BLANK_LINE}) FROM (
            SELECT CASE json_extract(b.value, '$.type')
                WHEN 'text' THEN json_extract(b.value, '$.text')
                WHEN 'tool_use' THEN (
                    SELECT {_TOOL_LABEL} FROM (SELECT json_extract(b.value, '$.name') AS n))
                WHEN 'tool_result' THEN CASE json_type(b.value, '$.content')
                    WHEN 'text' THEN json_extract(b.value, '$.content')
                    WHEN 'array' THEN (
                        SELECT group_concat(json_extract(c.value, '$.text'), {_BLANK_LINE})
                        FROM json_each(b.value, '$.content') c
                        WHERE json_extract(c.value, '$.type') = 'text')
                    END
                END AS part
            FROM json_each(messages.content) b ORDER BY b.key)
        WHERE part IS NOT NULL AND part != ''), '')
    WHERE json_valid(content)
        AND (content LIKE '%"tool_use"%' OR content LIKE '%"tool_result"%')""",
]

# v7: the wider Messages API. A conversation's request options beyond temperature and max_tokens
# (thinking, effort, stop_sequences, top_p, top_k) as one JSON object, NULL: none set; each
# reply's cost in US dollars, priced from the model table when it was stored (NULL: unknown),
# and an index covering what the spending sums read.
V7 = [
    "ALTER TABLE conversations ADD COLUMN request_options TEXT",
    "ALTER TABLE messages ADD COLUMN cost_usd REAL",
    # `list --json` and `usage` sum tokens and costs per conversation without reading content
    """CREATE INDEX messages_spending ON messages(conversation_id, cost_usd, usage)
        WHERE role = 'assistant' AND usage IS NOT NULL""",
]

MIGRATIONS: list[list[str]] = [V1, V2, V3, V4, V5, V6, V7]
SCHEMA_VERSION = len(MIGRATIONS)
# A database that cannot be written is never migrated; reading it works from this version on
# (the store reads a file older than v5 as chains).
READABLE_FROM = 3


class SchemaTooNewError(Exception):
    """The database was written by a newer megachat; it is left untouched."""


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the database up to `target`; returns the version found before. The connection must
    be in autocommit mode (isolation_level=None). Safe when several processes open at once."""
    if user_version(conn) == target:
        return target
    conn.execute("BEGIN IMMEDIATE")  # re-read under the write lock: another process may have won
    try:
        found = user_version(conn)
        if found > SCHEMA_VERSION:
            raise SchemaTooNewError(
                f"the database has schema version {found}; this megachat knows up to "
                f"{SCHEMA_VERSION}. Upgrade megachat to open it"
            )
        for version in range(found, target):
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
        if target > found:
            conn.execute(f"PRAGMA user_version = {int(target)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found
