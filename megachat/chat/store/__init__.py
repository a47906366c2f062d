"""The SQLite store: conversations (message trees), attachments and a full-text index, in one file.

`Store` is the one facade; the modules beside this one hold its parts: `connection` (opening,
WAL, migrations, read-only, corrupt files set aside), `errors`, `messages` (the tree and the
active path), `attachments` (images stored once) and `search` (FTS5).

Branches: every message has a parent (`ChatMessage.parent_id`); regenerate, edit and retry add
siblings and nothing is deleted but by `delete_branch`. The conversation row remembers its active
path; appending a message (append_message, begin_reply) makes it the end of that path, and
`set_active` persists a switch. `get` returns the whole tree with `messages` = the active path.

Durability rules: the user turn is written before the request is sent (append_message), and a
reply is written while it streams, so at most about a second of text is ever at risk::

    msg = conversation.add_assistant(prefill_sent(prefill), model=model)  # status "streaming"
    store.begin_reply(conversation.id, msg)          # row exists from the first byte, under
                                                     # msg.parent_id, now the active leaf
    store.update_reply(msg, text_so_far)             # call at most about once a second
    store.finish_reply(msg, "complete", content=merge_prefill(prefill, final.content),
                       usage=final.usage, stop_reason=final.stop_reason)

finish_reply's status is one of complete / interrupted / cancelled / error. A reply left
"streaming" (the process died) reads back as "interrupted" with the text that arrived.

Concurrency: WAL, a 5 s busy timeout and short IMMEDIATE transactions let several processes (the
TUI and `megachat ask`) append to one database at once. A Store may be shared between threads.
A conversation deleted by one process stays deleted: another one still writing to it gets
ConversationDeleted instead of bringing it back.

The API key never reaches the file: every text written (content blocks, titles, the search index)
passes through `secrets` (megachat.redact), which the opener fills from the configuration.

A database megachat cannot write (a read-only data directory or file) opens read-only: reading
works, every write raises ReadOnlyStoreError, naming what is not writable.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from megachat.chat.conversation import ChatMessage, Conversation, searchable_text
from megachat.chat.store import attachments, messages
from megachat.chat.store.connection import BUSY_TIMEOUT_MS, Database
from megachat.chat.store.errors import (
    ConversationDeleted,
    ConversationNotFound,
    CorruptDatabaseError,
    MessageNotFound,
    ReadOnlyStoreError,
    StoreError,
)
from megachat.chat.store.messages import (
    FINAL_STATUSES,
    ConversationTotals,
    Spending,
    UsageGroup,
)
from megachat.chat.store.search import SearchHit, fts_query
from megachat.chat.store.search import search as _search

__all__ = [
    "BUSY_TIMEOUT_MS",
    "FINAL_STATUSES",
    "ConversationDeleted",
    "ConversationNotFound",
    "ConversationSummary",
    "ConversationTotals",
    "CorruptDatabaseError",
    "MessageNotFound",
    "ReadOnlyStoreError",
    "SearchHit",
    "Spending",
    "Store",
    "StoreError",
    "fts_query",
    "iso_time",
]


@dataclass(slots=True)
class ConversationSummary:
    """A row of the conversation list (no messages loaded)."""

    id: str
    title: str
    model: str
    updated_at: float
    message_count: int  # the messages on the active path
    created_at: float = 0.0
    # its stored replies' tokens and cost, all branches (list(totals=True); None: unknown)
    totals: ConversationTotals | None = None

    def as_dict(self) -> dict:
        """The `megachat list --json` shape; updated_at as ISO 8601 UTC; tokens and cost null
        when no reply's usage is known, cost null too when a reply is unpriced."""
        spent = self.totals
        return {
            "id": self.id,
            "title": self.title,
            "model": self.model,
            "updated_at": iso_time(self.updated_at),
            "message_count": self.message_count,
            "input_tokens": spent.input_tokens if spent else None,
            "output_tokens": spent.output_tokens if spent else None,
            "cost_usd": spent.cost_usd if spent else None,
        }


def _server_names(stored: str | None) -> list[str] | None:
    """The tool_servers column: a JSON array of names; NULL, or anything else (a row edited by
    hand), is None: follow the config."""
    if stored is None:
        return None
    try:
        names = json.loads(stored)
    except ValueError:
        return None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return None
    return names


def _options_json(options: dict) -> str | None:
    """The request_options column: a JSON object of the options set (Conversation
    .request_options, redacted: stop sequences are text), NULL when none is."""
    return messages.dumps(options) if options else None


def _request_options(stored: str | None) -> dict:
    """The request_options column as Conversation keyword arguments: only the known keys; NULL
    or something that is not a JSON object (a row edited by hand) is none set. Values are
    checked by Conversation itself (out of range: the conversation is reported unreadable)."""
    if stored is None:
        return {}
    try:
        options = json.loads(stored)
    except ValueError:
        return {}
    if not isinstance(options, dict):
        return {}
    known = ("thinking", "effort", "stop_sequences", "top_p", "top_k")
    return {name: options[name] for name in known if name in options}


def iso_time(ts: float) -> str:
    """Seconds since the epoch as ISO 8601 UTC, e.g. 2026-11-26T14:42:23Z."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store(Database):
    """The conversation database at `path` (created with its directory when missing; opened
    read-only when it exists but cannot be written). `secrets` (API keys) are never written:
    pass the Secrets object itself to share it, so a key added later is redacted too."""

    # -- conversations ----------------------------------------------------------------------

    def _upsert_conversation(self, conn: sqlite3.Connection, conv: Conversation) -> None:
        """Insert or update the conversation row; ConversationDeleted if it was deleted."""
        if conn.execute("SELECT 1 FROM deleted_conversations WHERE id = ?", (conv.id,)).fetchone():
            raise ConversationDeleted(conv.id)
        conn.execute(
            """INSERT INTO conversations
                   (id, title, model, system, temperature, max_tokens, created_at, updated_at,
                    tool_servers, request_options)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(id) DO UPDATE SET title = excluded.title, model = excluded.model,
                   system = excluded.system, temperature = excluded.temperature,
                   max_tokens = excluded.max_tokens, tool_servers = excluded.tool_servers,
                   request_options = excluded.request_options,
                   updated_at = max(conversations.updated_at, excluded.updated_at)""",
            (
                conv.id,
                self.secrets.redact(conv.title),
                conv.model,
                self.secrets.redact(conv.system),
                conv.temperature,
                conv.max_tokens,
                conv.created_at,
                conv.updated_at,
                None if conv.tool_servers is None else messages.dumps(conv.tool_servers),
                _options_json(self.secrets.redact(conv.request_options())),
            ),
        )

    def _insert(self, conn: sqlite3.Connection, conv_id: str, msg: ChatMessage, used: int) -> None:
        """messages.insert, a vanished conversation reported as such."""
        try:
            messages.insert(conn, self.secrets, conv_id, msg, used)
        except sqlite3.IntegrityError as exc:
            if "FOREIGN KEY" in str(exc):
                raise self._missing(conn, conv_id) from None
            raise StoreError(f"cannot store message {msg.id}: {exc}") from None

    def _write_tree(self, conn: sqlite3.Connection, conv: Conversation) -> int:
        """Insert the conversation's messages not stored yet (every branch, parents first) and
        persist its active path when it changed. Returns how many messages were added."""
        stored = {
            r[0]
            for r in conn.execute("SELECT id FROM messages WHERE conversation_id = ?", (conv.id,))
        }
        used = conv.used()
        added = 0
        for msg in conv.all_messages():
            if msg.id not in stored:
                self._insert(conn, conv.id, msg, used.get(msg.id, 0))
                added += 1
        leaf = conv.active_leaf_id
        row = conn.execute(
            "SELECT active_leaf_id FROM conversations WHERE id = ?", (conv.id,)
        ).fetchone()
        if added or row is None or row[0] != leaf:
            messages.set_active(conn, conv.id, leaf)
        return added

    def create(self, conv: Conversation) -> None:
        """Write a new conversation and any messages it already holds (every branch)."""
        with self._write() as conn:
            self._upsert_conversation(conn, conv)
            self._write_tree(conn, conv)

    def create_many(self, convs: Iterable[Conversation]) -> None:
        """create() for many conversations in one transaction (imports, benchmarks)."""
        with self._write() as conn:
            for conv in convs:
                self._upsert_conversation(conn, conv)
                self._write_tree(conn, conv)

    def save(self, conv: Conversation) -> int:
        """Write the conversation's settings and title, append its messages not yet stored
        (stored ones are left alone) and persist its active path. Returns how many messages
        were added. Before a request, this is how the pending user turn gets written."""
        with self._write() as conn:
            self._upsert_conversation(conn, conv)
            return self._write_tree(conn, conv)

    def exists(self, conv_id: str) -> bool:
        """Whether a conversation with exactly that id is stored."""
        return bool(self._read("SELECT 1 FROM conversations WHERE id = ?", (conv_id,)))

    def get(self, conv_id: str) -> Conversation:
        """The whole conversation: every branch, `messages` = the active path (images back as
        base64 blocks)."""
        tree = self.schema_version >= 5
        tools = self.schema_version >= 6  # older files (read-only, never migrated): None
        options = self.schema_version >= 7
        with self._lock, self._errors():
            row = self._conn.execute(
                f"""SELECT id, title, model, system, temperature, max_tokens, created_at,
                        updated_at, {"active_leaf_id" if tree else "NULL"},
                        {"tool_servers" if tools else "NULL"},
                        {"request_options" if options else "NULL"}
                    FROM conversations WHERE id = ?""",
                (conv_id,),
            ).fetchone()
            if row is None:
                raise ConversationNotFound(f"no conversation with id {conv_id!r}")
            try:
                msgs, used = messages.load(self._conn, conv_id, tree=tree)
            except (ValueError, TypeError) as exc:
                raise StoreError(
                    f"{self.path}: a message of conversation {conv_id} is unreadable ({exc})"
                ) from None
        try:
            conv = Conversation(
                id=row[0],
                title=row[1],
                model=row[2],
                system=row[3],
                temperature=row[4],
                max_tokens=row[5],
                created_at=row[6],
                updated_at=row[7],
                tool_servers=_server_names(row[9]),
                **_request_options(row[10]),
            )
            conv.load_tree(msgs, row[8] if tree else (msgs[-1].id if msgs else None), used)
        except ValueError as exc:  # a row edited by hand outside megachat
            raise StoreError(f"{self.path}: conversation {conv_id} is unreadable ({exc})") from None
        return conv

    def resolve_id(self, id_or_prefix: str) -> str:
        """The full id for an id or a unique prefix of one; ConversationNotFound otherwise."""
        if self.exists(id_or_prefix):
            return id_or_prefix
        like = id_or_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._read(
            "SELECT id FROM conversations WHERE id LIKE ? ESCAPE '\\' LIMIT 2", (like + "%",)
        )
        if len(rows) == 1 and id_or_prefix:
            return rows[0][0]
        if len(rows) > 1:
            raise ConversationNotFound(f"id prefix {id_or_prefix!r} matches several conversations")
        raise ConversationNotFound(f"no conversation with id {id_or_prefix!r}")

    def list(
        self, limit: int | None = None, offset: int = 0, *, totals: bool = False
    ) -> list[ConversationSummary]:
        """Conversations, most recently updated first; message_count counts the active path.
        Never loads messages; `totals` adds each one's tokens and cost (usage columns only)."""
        with self._lock, self._errors():
            rows = self._conn.execute(
                """SELECT id, title, model, updated_at, message_count, created_at
                   FROM conversations ORDER BY updated_at DESC, seq DESC LIMIT ? OFFSET ?""",
                (-1 if limit is None else int(limit), int(offset)),
            ).fetchall()
            summaries = [ConversationSummary(*r) for r in rows]
            if totals:
                ids = None if limit is None and not offset else [s.id for s in summaries]
                found = messages.totals_by_conversation(self._conn, ids)
                for summary in summaries:
                    summary.totals = found.get(summary.id)
        return summaries

    def spending_by(
        self, group: UsageGroup, since: float | None = None
    ) -> list[tuple[str, Spending]]:
        """Tokens and cost of every stored reply (all branches) created at or after `since`
        (epoch seconds), by model or by UTC day (`megachat usage`)."""
        with self._lock, self._errors():
            return messages.spending_by(self._conn, group, since)

    def count(self) -> int:
        """How many conversations are stored."""
        return int(self._read("SELECT count(*) FROM conversations")[0][0])

    def latest_id(self) -> str | None:
        """The most recently updated conversation, for --continue."""
        rows = self._read("SELECT id FROM conversations ORDER BY updated_at DESC, seq DESC LIMIT 1")
        return rows[0][0] if rows else None

    def rename(self, conv_id: str, title: str) -> None:
        """Set the title (it no longer follows the first message)."""
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE conversations SET title = ? WHERE id = ?",
                (self.secrets.redact(title), conv_id),
            )
            if cur.rowcount == 0:
                raise ConversationNotFound(f"no conversation with id {conv_id!r}")

    def delete(self, conv_id: str) -> bool:
        """Delete a conversation, its messages and the images no other message uses. Its id is
        remembered, so a process still holding it cannot bring it back (ConversationDeleted)."""
        with self._write() as conn:
            shas = [
                r[0]
                for r in conn.execute(
                    """SELECT DISTINCT ma.sha256 FROM message_attachments ma
                       JOIN messages m ON m.id = ma.message_id WHERE m.conversation_id = ?""",
                    (conv_id,),
                )
            ]
            cur = conn.execute("DELETE FROM conversations WHERE id = ?", (conv_id,))
            if cur.rowcount:
                conn.execute(
                    "INSERT OR REPLACE INTO deleted_conversations (id, deleted_at) VALUES (?, ?)",
                    (conv_id, time.time()),
                )
            attachments.drop_unused(conn, shas)
            return cur.rowcount > 0

    # -- branches ---------------------------------------------------------------------------

    def _check_conversation(self, conn: sqlite3.Connection, conv_id: str) -> None:
        if conn.execute("SELECT 1 FROM conversations WHERE id = ?", (conv_id,)).fetchone() is None:
            raise self._missing(conn, conv_id)

    def set_active(self, conv_id: str, leaf_id: str | None) -> None:
        """Persist the active path root..leaf_id (None: no message yet), as after
        Conversation.switch_to; it becomes the path last used at each of its levels.
        ConversationNotFound / ConversationDeleted / MessageNotFound."""
        with self._write() as conn:
            self._check_conversation(conn, conv_id)
            messages.set_active(conn, conv_id, leaf_id)

    def delete_branch(self, conv_id: str, message_id: str) -> int:
        """Delete a message and everything under it, in one transaction: its attachments no
        other message uses and its search rows go too. When it was on the active path, the path
        moves as Conversation.delete_branch moves it (previous sibling, else next, else the
        parent). Returns how many messages were deleted. ConversationNotFound /
        ConversationDeleted for the conversation, MessageNotFound for the message."""
        with self._write() as conn:
            self._check_conversation(conn, conv_id)
            return messages.delete_branch(conn, conv_id, message_id)

    # -- messages ---------------------------------------------------------------------------

    def append_message(self, conv_id: str, msg: ChatMessage) -> None:
        """Store one message under msg.parent_id, as the new end of the active path (its own
        short transaction). The user turn goes in with this before the request is sent."""
        with self._write() as conn:
            self._check_conversation(conn, conv_id)
            try:
                messages.append(conn, self.secrets, conv_id, msg)
            except sqlite3.IntegrityError as exc:
                if "FOREIGN KEY" in str(exc):
                    raise self._missing(conn, conv_id) from None
                raise StoreError(f"cannot store message {msg.id}: {exc}") from None

    def begin_reply(self, conv_id: str, msg: ChatMessage) -> None:
        """Store a reply that is about to stream (msg.status "streaming", content = prefill),
        under msg.parent_id, as the new end of the active path."""
        msg.status = "streaming"
        self.append_message(conv_id, msg)

    def update_reply(
        self, msg: ChatMessage | str, text: str | None = None, *, content: list[dict] | None = None
    ) -> None:
        """Save the reply so far: `text` (everything so far, prefill included) or whole `content`.
        Cheap, but call it at most about once a second. ConversationDeleted when the reply is
        no longer there (its conversation, or its branch, was deleted)."""
        if isinstance(msg, ChatMessage):
            if content is not None:
                msg.content = [dict(b) for b in content]
            elif text is not None:
                msg.set_text(text)
            content, msg_id = msg.content, msg.id
        else:
            msg_id = msg
            if content is None:
                content = [{"type": "text", "text": text}] if text else []
        content = self.secrets.redact(content)
        with self._write() as conn:
            stored, _ = attachments.dehydrate(conn, content)
            cur = conn.execute(
                "UPDATE messages SET content = ?, text = ? WHERE id = ?",
                (messages.dumps(stored), searchable_text(content), msg_id),
            )
            if cur.rowcount == 0:
                raise ConversationDeleted()

    def finish_reply(
        self,
        msg: ChatMessage,
        status: str = "complete",
        *,
        content: list[dict] | None = None,
        usage: dict | None = None,
        stop_reason: str | None = None,
        model: str | None = None,
    ) -> None:
        """Mark the reply complete / interrupted / cancelled / error, with its final content
        (default: what the message holds), usage and stop reason, and msg.cost_usd.
        ConversationDeleted when the reply is no longer there."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"status must be one of {', '.join(FINAL_STATUSES)}, not {status!r}")
        if content is not None:
            msg.content = [dict(b) for b in content]
        msg.status = status  # type: ignore[assignment]
        if usage is not None:
            msg.usage = dict(usage)
        if stop_reason is not None:
            msg.stop_reason = stop_reason
        if model is not None:
            msg.model = model
        now = time.time()
        blocks = self.secrets.redact(msg.content)
        with self._write() as conn:
            stored, shas = attachments.dehydrate(conn, blocks)
            cur = conn.execute(
                """UPDATE messages SET content = ?, text = ?, status = ?, usage = ?,
                       stop_reason = ?, model = ?, cost_usd = ? WHERE id = ?""",
                (
                    messages.dumps(stored),
                    searchable_text(blocks),
                    status,
                    None if msg.usage is None else messages.dumps(msg.usage),
                    msg.stop_reason,
                    msg.model,
                    msg.cost_usd,
                    msg.id,
                ),
            )
            if cur.rowcount == 0:
                raise ConversationDeleted()
            attachments.link(conn, msg, shas)
            conn.execute(
                """UPDATE conversations SET updated_at = max(updated_at, ?)
                   WHERE id = (SELECT conversation_id FROM messages WHERE id = ?)""",
                (now, msg.id),
            )

    # -- search -----------------------------------------------------------------------------

    def search(
        self, query: str, *, limit: int = 20, mark: tuple[str, str] = ("[", "]")
    ) -> list[SearchHit]:
        """Ranked full-text search over the text of every message in every branch, and titles;
        the best hit per conversation. A hit's message_id may be off the active path: open it
        with `conversation.switch_to(hit.message_id)` then `set_active(...)`. Words match whole
        (add * for a prefix); every word must match."""
        tree = self.schema_version >= 5  # an older file opened read-only holds chains
        with self._lock, self._errors():
            return _search(self._conn, query, limit=limit, mark=mark, tree=tree)
