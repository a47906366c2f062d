"""The SQLite store: conversations, messages, attachments and a full-text index, in one file.

Durability rules: the user turn is written before the request is sent (append_message), and a
reply is written while it streams, so at most about a second of text is ever at risk::

    msg = conversation.add_assistant(prefill_sent(prefill), model=model)  # status "streaming"
    store.begin_reply(conversation.id, msg)          # row exists from the first byte
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

import base64
import binascii
import contextlib
import hashlib
import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from megachat.chat.conversation import STATUSES, ChatMessage, Conversation, text_of
from megachat.chat.images import data_size, sniff_media_type
from megachat.chat.migrations import (
    READABLE_FROM,
    SCHEMA_VERSION,
    SchemaTooNewError,
    migrate,
    user_version,
)
from megachat.redact import Secrets

DB_NAME = "megachat.db"
BUSY_TIMEOUT_MS = 5000
FINAL_STATUSES = ("complete", "interrupted", "cancelled", "error")
RANK_WINDOW = 5000  # search ranks at most this many (the most recent) matching messages

_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26


class StoreError(Exception):
    """The store cannot do what was asked (locked too long, schema too new, ...)."""


class ConversationNotFound(StoreError):
    """No conversation with that id (or the id prefix is ambiguous)."""


class MessageNotFound(StoreError):
    """The conversation exists but holds no message with that id."""


class ConversationDeleted(StoreError):
    """The conversation was deleted elsewhere (`megachat delete`, another window) while this
    process still held it: nothing more is written to it, so the delete is never undone."""

    def __init__(self, conversation_id: str | None = None) -> None:
        self.conversation_id = conversation_id
        what = f"conversation {conversation_id}" if conversation_id else "the conversation"
        super().__init__(f"{what} was deleted elsewhere")


class ReadOnlyStoreError(StoreError):
    """The database can be read but not written (its directory or file is not writable)."""


class CorruptDatabaseError(StoreError):
    """The database file is not a readable SQLite database. It has been moved aside (never
    overwritten) to `moved_to`; opening the same path again starts a new, empty database."""

    def __init__(self, path: Path, moved_to: Path | None, detail: str) -> None:
        self.path = path
        self.moved_to = moved_to
        if moved_to is not None:
            msg = (
                f"{path} is not a readable megachat database ({detail}); it was moved to "
                f"{moved_to} and a new database will be started"
            )
        else:
            msg = f"{path} is not a readable megachat database ({detail}) and could not be moved"
        super().__init__(msg)


@dataclass(slots=True)
class ConversationSummary:
    """A row of the conversation list (no messages loaded)."""

    id: str
    title: str
    model: str
    updated_at: float
    message_count: int
    created_at: float = 0.0

    def as_dict(self) -> dict:
        """The `megachat list --json` shape; updated_at as ISO 8601 UTC."""
        return {
            "id": self.id,
            "title": self.title,
            "model": self.model,
            "updated_at": iso_time(self.updated_at),
            "message_count": self.message_count,
        }


@dataclass(slots=True)
class SearchHit:
    """The best match in one conversation: a message (message_id set) or the title."""

    conversation_id: str
    title: str
    snippet: str  # matched words between the `mark` strings passed to search()
    rank: float  # bm25: lower is better
    message_id: str | None = None
    role: str | None = None
    updated_at: float = 0.0


def iso_time(ts: float) -> str:
    """Seconds since the epoch as ISO 8601 UTC, e.g. 2026-11-26T14:42:23Z."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fts_query(text: str) -> str:
    """A safe FTS5 query: every word quoted (so punctuation is not syntax), all must match;
    a trailing * keeps prefix search."""
    terms = []
    for word in text.split():
        prefix = word.endswith("*")
        word = word.rstrip("*").replace('"', '""')
        if word:
            terms.append(f'"{word}"' + ("*" if prefix else ""))
    return " ".join(terms)


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return True
    text = str(exc).lower()
    return "file is not a database" in text or "malformed" in text


def _set_aside(path: Path) -> Path | None:
    """Move a bad database (and its -wal/-shm) to <name>.corrupt-<time>[-n]; never overwrite."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        dest = path.with_name(f"{path.name}.corrupt-{stamp}" + (f"-{n}" if n else ""))
        try:
            os.link(path, dest)  # fails if dest exists: no overwrite, even in a race
        except FileExistsError:
            continue
        except OSError:
            if dest.exists():
                continue
            os.rename(path, dest)
        else:
            os.unlink(path)
        for suffix in ("-wal", "-shm", "-journal"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                with contextlib.suppress(OSError):
                    os.rename(side, dest.with_name(dest.name + suffix))
        return dest
    return None


def _dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


_SURROGATE = re.compile("[\ud800-\udfff]")


def _storable(value: object) -> object:
    """Text SQLite can encode: a lone surrogate (JSON allows `"\\ud800"`) becomes U+FFFD."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return _SURROGATE.sub("\ufffd", value)
    return value


class _Connection(sqlite3.Connection):
    """A connection that never fails on untrusted text: every str parameter is made storable."""

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        if isinstance(parameters, dict):
            parameters = {key: _storable(value) for key, value in parameters.items()}
        else:
            parameters = tuple(_storable(value) for value in parameters)
        return super().execute(sql, parameters)


_READ_ONLY_WORDS = ("readonly", "read-only", "unable to open", "permission denied")


def _with_write_hint(message: str, path: Path, exc: BaseException) -> str:
    """The message, plus which directory (or file) is not writable when that is the cause.

    SQLite only says "attempt to write a readonly database" or "unable to open database file";
    naming the data directory tells the user what to fix. os.access also sees a read-only mount
    (even for root, who ignores permission bits)."""
    import errno

    if isinstance(exc, OSError) and not isinstance(exc, sqlite3.Error):
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            return message
    elif not any(word in str(exc).lower() for word in _READ_ONLY_WORDS):
        return message
    reason = _unwritable(path)
    return f"{message}; {reason}" if reason else message


def _unwritable(path: Path) -> str | None:
    """Why the database at `path` cannot be written (None: nothing says so). The directory must
    be writable too: WAL keeps its -wal and -shm files beside the database. os.access also sees
    a read-only mount (even for root, who ignores permission bits)."""
    data_dir = path.parent
    existing = data_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK):
        if existing == data_dir:
            return f"the data directory {data_dir} is not writable"
        return f"the data directory {data_dir} cannot be created ({existing} is not writable)"
    if path.exists() and not os.access(path, os.W_OK):
        return f"the database file {path} is not writable"
    return None


class Store:
    """The conversation database at `path` (created with its directory when missing; opened
    read-only when it exists but cannot be written). `secrets` (API keys) are never written:
    pass the Secrets object itself to share it, so a key added later is redacted too."""

    def __init__(
        self, path: str | os.PathLike[str], *, secrets: Secrets | Iterable[str | None] = ()
    ) -> None:
        self.path = Path(path)
        self.secrets = secrets if isinstance(secrets, Secrets) else Secrets(secrets)
        self._lock = threading.RLock()
        self._read_only: str | None = None  # why it cannot be written
        reason = _unwritable(self.path) if self.path.is_file() else None
        if reason is not None:
            self._conn = self._open_read_only(reason)
            self._read_only = f"{self.path} is read-only ({reason})"
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
                factory=_Connection,
            )
        except (OSError, sqlite3.Error) as exc:
            message = f"{self.path}: cannot open the database ({exc})"
            raise StoreError(_with_write_hint(message, self.path, exc)) from None
        try:
            self._setup(conn)
        except SchemaTooNewError as exc:
            conn.close()
            raise StoreError(f"{self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            conn.close()
            if _is_corruption(exc):
                raise CorruptDatabaseError(self.path, _set_aside(self.path), str(exc)) from None
            raise StoreError(_with_write_hint(f"{self.path}: {exc}", self.path, exc)) from None
        self._conn = conn

    def _open_read_only(self, reason: str) -> sqlite3.Connection:
        """Read the database as it is (never migrated). `mode=ro` needs the WAL index (-shm) to
        exist or be creatable; in a read-only directory that no writer has open there is none,
        and `immutable=1` reads the file alone (nobody can be changing it then)."""
        from urllib.parse import quote

        uri = "file:" + quote(str(self.path.absolute()))
        failure: sqlite3.Error | None = None
        for query in ("mode=ro", "immutable=1"):
            try:
                conn = sqlite3.connect(
                    f"{uri}?{query}",
                    uri=True,
                    timeout=BUSY_TIMEOUT_MS / 1000,
                    isolation_level=None,
                    check_same_thread=False,
                    factory=_Connection,
                )
            except sqlite3.Error as exc:
                failure = exc
                continue
            try:
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                found = user_version(conn)
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.DatabaseError as exc:
                conn.close()
                if _is_corruption(exc):  # it cannot be moved aside: the directory is read-only
                    raise CorruptDatabaseError(self.path, None, str(exc)) from None
                failure = exc
                continue
            if found > SCHEMA_VERSION or found < READABLE_FROM:
                conn.close()
                why = "an older" if found < READABLE_FROM else "a newer"
                raise StoreError(
                    f"{self.path} is read-only ({reason}) and was written by {why} megachat "
                    f"(schema version {found}); it cannot be opened as it is"
                )
            return conn
        raise StoreError(f"{self.path}: cannot open the database ({failure}); {reason}")

    @property
    def read_only(self) -> bool:
        """True when the database can be read but not written."""
        return self._read_only is not None

    def check_writable(self) -> None:
        """ReadOnlyStoreError (saying what is not writable) when writes cannot work; call it
        before doing something that must be stored, such as sending a turn."""
        if self._read_only is not None:
            raise ReadOnlyStoreError(self._read_only)

    @staticmethod
    def _setup(conn: sqlite3.Connection) -> None:
        """Pragmas and migrations. Switching a new file to WAL can fail with "database is
        locked" without waiting (SQLite avoids a lock deadlock there) when several processes
        open it at once, so those steps are retried for up to the busy timeout."""
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        delay = 0.005
        while True:
            try:
                found = user_version(conn)  # the first read: fails here on a non-database
                if found > SCHEMA_VERSION:  # refuse before touching the file (WAL edits it)
                    raise SchemaTooNewError(
                        f"the database has schema version {found}; this megachat knows up to "
                        f"{SCHEMA_VERSION}. Upgrade megachat to open it"
                    )
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                migrate(conn)
                return
            except sqlite3.OperationalError as exc:
                code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
                if code not in (_SQLITE_BUSY, _SQLITE_LOCKED) or time.monotonic() > deadline:
                    raise
            time.sleep(delay)  # back off before trying again (not synchronisation)
            delay = min(delay * 2, 0.1)

    @classmethod
    def open_or_recover(
        cls, path: str | os.PathLike[str]
    ) -> tuple[Store, CorruptDatabaseError | None]:
        """Open the store; if the file is corrupt, set it aside, start fresh and return the error
        too so the caller can tell the user where the old file went."""
        try:
            return cls(path), None
        except CorruptDatabaseError as exc:
            return cls(path), exc

    # -- plumbing ---------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """SQLite failures (locked past the busy timeout, disk full, damage) as StoreError."""
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(_with_write_hint(f"{self.path}: {exc}", self.path, exc)) from exc

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short IMMEDIATE transaction (waits up to the busy timeout for other writers)."""
        self.check_writable()
        with self._lock, self._errors():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _read(self, sql: str, params: Iterable[object] = ()) -> list[tuple]:
        with self._lock, self._errors():
            return self._conn.execute(sql, tuple(params)).fetchall()

    # -- conversations ----------------------------------------------------------------------

    def _upsert_conversation(self, conn: sqlite3.Connection, conv: Conversation) -> None:
        """Insert or update the conversation row; ConversationDeleted if it was deleted."""
        if conn.execute("SELECT 1 FROM deleted_conversations WHERE id = ?", (conv.id,)).fetchone():
            raise ConversationDeleted(conv.id)
        conn.execute(
            """INSERT INTO conversations
                   (id, title, model, system, temperature, max_tokens, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(id) DO UPDATE SET title = excluded.title, model = excluded.model,
                   system = excluded.system, temperature = excluded.temperature,
                   max_tokens = excluded.max_tokens,
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
            ),
        )

    def create(self, conv: Conversation) -> None:
        """Write a new conversation and any messages it already holds."""
        with self._write() as conn:
            self._upsert_conversation(conn, conv)
            for msg in conv.messages:
                self._insert_message(conn, conv.id, msg)

    def create_many(self, convs: Iterable[Conversation]) -> None:
        """create() for many conversations in one transaction (imports, benchmarks)."""
        with self._write() as conn:
            for conv in convs:
                self._upsert_conversation(conn, conv)
                for msg in conv.messages:
                    self._insert_message(conn, conv.id, msg)

    def save(self, conv: Conversation) -> int:
        """Write the conversation's settings and title, and append its messages not yet stored
        (stored ones are left alone). Returns how many messages were added. Before a request,
        this is how the pending user turn gets written."""
        with self._write() as conn:
            self._upsert_conversation(conn, conv)
            stored = {
                row[0]
                for row in conn.execute(
                    "SELECT id FROM messages WHERE conversation_id = ?", (conv.id,)
                )
            }
            added = 0
            for msg in conv.messages:
                if msg.id not in stored:
                    self._insert_message(conn, conv.id, msg)
                    added += 1
            return added

    def exists(self, conv_id: str) -> bool:
        return bool(self._read("SELECT 1 FROM conversations WHERE id = ?", (conv_id,)))

    def get(self, conv_id: str) -> Conversation:
        """The whole conversation with its messages (images back as base64 blocks)."""
        with self._lock, self._errors():
            row = self._conn.execute(
                """SELECT id, title, model, system, temperature, max_tokens, created_at, updated_at
                   FROM conversations WHERE id = ?""",
                (conv_id,),
            ).fetchone()
            if row is None:
                raise ConversationNotFound(f"no conversation with id {conv_id!r}")
            rows = self._conn.execute(
                """SELECT id, role, content, status, usage, stop_reason, model, created_at
                   FROM messages WHERE conversation_id = ? ORDER BY position""",
                (conv_id,),
            ).fetchall()
            try:
                messages = [self._message_from_row(r) for r in rows]
            except (ValueError, TypeError) as exc:
                raise StoreError(
                    f"{self.path}: a message of conversation {conv_id} is unreadable ({exc})"
                ) from None
            by_id = {m.id: m for m in messages}
            for msg_id, sha, name in self._conn.execute(
                """SELECT ma.message_id, ma.sha256, ma.name FROM message_attachments ma
                   JOIN messages m ON m.id = ma.message_id
                   WHERE m.conversation_id = ? AND ma.name IS NOT NULL""",
                (conv_id,),
            ):
                if msg_id in by_id:
                    by_id[msg_id].image_names[sha] = name
            self._hydrate(messages)
        try:
            return Conversation(
                id=row[0],
                title=row[1],
                model=row[2],
                system=row[3],
                temperature=row[4],
                max_tokens=row[5],
                created_at=row[6],
                updated_at=row[7],
                messages=messages,
            )
        except ValueError as exc:  # a row edited by hand outside megachat
            raise StoreError(f"{self.path}: conversation {conv_id} is unreadable ({exc})") from None

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

    def list(self, limit: int | None = None, offset: int = 0) -> list[ConversationSummary]:
        """Conversations, most recently updated first. Never loads messages."""
        rows = self._read(
            """SELECT id, title, model, updated_at, message_count, created_at FROM conversations
               ORDER BY updated_at DESC, seq DESC LIMIT ? OFFSET ?""",
            (-1 if limit is None else int(limit), int(offset)),
        )
        return [ConversationSummary(*r) for r in rows]

    def count(self) -> int:
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
            for sha in shas:
                conn.execute(
                    """DELETE FROM attachments WHERE sha256 = ? AND NOT EXISTS
                       (SELECT 1 FROM message_attachments WHERE sha256 = ?)""",
                    (sha, sha),
                )
            return cur.rowcount > 0

    def delete_messages_from(self, conv_id: str, message_id: str) -> int:
        """Delete a message and every later message of its conversation, in one transaction
        (regenerate, edit-and-resend, retry). The message count, the search index and the images
        no other message uses follow; updated_at becomes now. Returns how many were deleted.
        ConversationNotFound for an unknown conversation, MessageNotFound when the conversation
        has no message with that id."""
        with self._write() as conn:
            if (
                conn.execute("SELECT 1 FROM conversations WHERE id = ?", (conv_id,)).fetchone()
                is None
            ):
                raise self._missing(conn, conv_id)
            row = conn.execute(
                "SELECT position FROM messages WHERE conversation_id = ? AND id = ?",
                (conv_id, message_id),
            ).fetchone()
            if row is None:
                raise MessageNotFound(
                    f"conversation {conv_id!r} has no message with id {message_id!r}"
                )
            shas = [
                r[0]
                for r in conn.execute(
                    """SELECT DISTINCT ma.sha256 FROM message_attachments ma
                       JOIN messages m ON m.id = ma.message_id
                       WHERE m.conversation_id = ? AND m.position >= ?""",
                    (conv_id, row[0]),
                )
            ]
            cur = conn.execute(
                "DELETE FROM messages WHERE conversation_id = ? AND position >= ?",
                (conv_id, row[0]),
            )
            for sha in shas:
                conn.execute(
                    """DELETE FROM attachments WHERE sha256 = ? AND NOT EXISTS
                       (SELECT 1 FROM message_attachments WHERE sha256 = ?)""",
                    (sha, sha),
                )
            conn.execute(
                "UPDATE conversations SET updated_at = max(updated_at, ?) WHERE id = ?",
                (time.time(), conv_id),
            )
            return cur.rowcount

    @staticmethod
    def _missing(conn: sqlite3.Connection, conv_id: str) -> StoreError:
        """The error for a conversation that is not there: deleted, or never stored."""
        if conn.execute("SELECT 1 FROM deleted_conversations WHERE id = ?", (conv_id,)).fetchone():
            return ConversationDeleted(conv_id)
        return ConversationNotFound(f"no conversation with id {conv_id!r}")

    # -- messages ---------------------------------------------------------------------------

    def _dehydrate(self, conn: sqlite3.Connection, content: list[dict]) -> tuple[str, list[str]]:
        """Content JSON with base64 images replaced by attachment references (bytes stored once)."""
        shas: list[str] = []
        out = []
        for block in content:
            source = block.get("source") if block.get("type") == "image" else None
            if isinstance(source, dict) and source.get("type") == "base64":
                try:
                    data = base64.b64decode(source.get("data", ""), validate=True)
                except (binascii.Error, ValueError):
                    out.append(block)
                    continue
                sha = hashlib.sha256(data).hexdigest()
                media_type = source.get("media_type") or sniff_media_type(data) or ""
                size = data_size(data) or (None, None)
                conn.execute(
                    """INSERT OR IGNORE INTO attachments
                           (sha256, data, media_type, size, width, height, created_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?)""",
                    (sha, data, media_type, len(data), size[0], size[1], time.time()),
                )
                shas.append(sha)
                block = {
                    **block,
                    "source": {"type": "attachment", "sha256": sha, "media_type": media_type},
                }
            out.append(block)
        return _dumps(out), shas

    def _insert_message(self, conn: sqlite3.Connection, conv_id: str, msg: ChatMessage) -> None:
        blocks = self.secrets.redact(msg.content)
        content, shas = self._dehydrate(conn, blocks)
        try:
            conn.execute(
                """INSERT INTO messages (id, conversation_id, position, role, content, text,
                       status, usage, stop_reason, model, created_at)
                   VALUES (?, ?, (SELECT coalesce(max(position), -1) + 1 FROM messages
                                  WHERE conversation_id = ?), ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    msg.id,
                    conv_id,
                    conv_id,
                    msg.role,
                    content,
                    text_of(blocks),
                    msg.status,
                    None if msg.usage is None else _dumps(msg.usage),
                    msg.stop_reason,
                    msg.model,
                    msg.created_at,
                ),
            )
        except sqlite3.IntegrityError as exc:
            if "FOREIGN KEY" in str(exc):
                raise self._missing(conn, conv_id) from None
            raise StoreError(f"cannot store message {msg.id}: {exc}") from None
        self._link_attachments(conn, msg, shas)
        conn.execute(
            "UPDATE conversations SET updated_at = max(updated_at, ?) WHERE id = ?",
            (msg.created_at, conv_id),
        )

    @staticmethod
    def _link_attachments(conn: sqlite3.Connection, msg: ChatMessage, shas: list[str]) -> None:
        """Record which attachments the message uses, with the file name each came from."""
        for sha in shas:
            conn.execute(
                """INSERT INTO message_attachments (message_id, sha256, name) VALUES (?, ?, ?)
                   ON CONFLICT (message_id, sha256)
                   DO UPDATE SET name = coalesce(excluded.name, name)""",
                (msg.id, sha, msg.image_names.get(sha) or None),
            )

    def append_message(self, conv_id: str, msg: ChatMessage) -> None:
        """Append one message at the end of a stored conversation (its own short transaction).
        The user turn goes in with this before the request is sent."""
        with self._write() as conn:
            self._insert_message(conn, conv_id, msg)

    def begin_reply(self, conv_id: str, msg: ChatMessage) -> None:
        """Store a reply that is about to stream (msg.status "streaming", content = prefill)."""
        if msg.status not in ("streaming",):
            msg.status = "streaming"
        self.append_message(conv_id, msg)

    def update_reply(
        self, msg: ChatMessage | str, text: str | None = None, *, content: list[dict] | None = None
    ) -> None:
        """Save the reply so far: `text` (everything so far, prefill included) or whole `content`.
        Cheap, but call it at most about once a second. ConversationDeleted when the reply is
        no longer there (its conversation was deleted elsewhere)."""
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
            stored, _ = self._dehydrate(conn, content)
            cur = conn.execute(
                "UPDATE messages SET content = ?, text = ? WHERE id = ?",
                (stored, text_of(content), msg_id),
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
        (default: what the message holds), usage and stop reason. ConversationDeleted when the
        reply is no longer there."""
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
            stored, shas = self._dehydrate(conn, blocks)
            cur = conn.execute(
                """UPDATE messages SET content = ?, text = ?, status = ?, usage = ?,
                       stop_reason = ?, model = ? WHERE id = ?""",
                (
                    stored,
                    text_of(blocks),
                    status,
                    None if msg.usage is None else _dumps(msg.usage),
                    msg.stop_reason,
                    msg.model,
                    msg.id,
                ),
            )
            if cur.rowcount == 0:
                raise ConversationDeleted()
            self._link_attachments(conn, msg, shas)
            conn.execute(
                """UPDATE conversations SET updated_at = max(updated_at, ?)
                   WHERE id = (SELECT conversation_id FROM messages WHERE id = ?)""",
                (now, msg.id),
            )

    def _message_from_row(self, r: tuple) -> ChatMessage:
        status = r[3] if r[3] in STATUSES else "complete"
        if status == "streaming":
            status = "interrupted"  # the writer is gone (or still going): show what arrived
        return ChatMessage(
            id=r[0],
            role=r[1],
            content=json.loads(r[2]),
            status=status,
            usage=None if r[4] is None else json.loads(r[4]),
            stop_reason=r[5],
            model=r[6],
            created_at=r[7],
        )

    def _hydrate(self, messages: list[ChatMessage]) -> None:
        """Put the attachment bytes back into image blocks as base64."""
        wanted: dict[str, None] = {}
        for msg in messages:
            for b in msg.content:
                src = b.get("source") if b.get("type") == "image" else None
                if isinstance(src, dict) and src.get("type") == "attachment":
                    wanted[src["sha256"]] = None
        if not wanted:
            return
        found: dict[str, tuple[bytes, str]] = {}
        keys = list(wanted)
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for sha, data, media_type in self._conn.execute(
                f"SELECT sha256, data, media_type FROM attachments WHERE sha256 IN ({marks})",
                chunk,
            ):
                found[sha] = (data, media_type)
        for msg in messages:
            new_content = []
            for b in msg.content:
                src = b.get("source") if b.get("type") == "image" else None
                if isinstance(src, dict) and src.get("type") == "attachment":
                    hit = found.get(src["sha256"])
                    if hit is None:
                        b = {"type": "text", "text": "[image missing from the store]"}
                    else:
                        b = {
                            **b,
                            "source": {
                                "type": "base64",
                                "media_type": hit[1],
                                "data": base64.b64encode(hit[0]).decode("ascii"),
                            },
                        }
                new_content.append(b)
            msg.content = new_content

    def attachment(self, sha256: str) -> tuple[bytes, str] | None:
        """An attachment's bytes and media type."""
        rows = self._read("SELECT data, media_type FROM attachments WHERE sha256 = ?", (sha256,))
        return (rows[0][0], rows[0][1]) if rows else None

    # -- search -----------------------------------------------------------------------------

    def search(
        self, query: str, *, limit: int = 20, mark: tuple[str, str] = ("[", "]")
    ) -> list[SearchHit]:
        """Ranked full-text search over message text and titles; the best hit per conversation.
        Words are matched whole (add * for a prefix); every word must match.

        Ranking (bm25) costs time per matching message, so for words matching more than
        RANK_WINDOW messages only the most recent RANK_WINDOW matches are ranked: search stays
        fast however big the store grows, and very common words favour recent conversations."""
        match = fts_query(query)
        if not match:
            return []
        with self._lock, self._errors():
            cutoff = self._conn.execute(
                """SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?
                   ORDER BY rowid DESC LIMIT 1 OFFSET ?""",
                (match, RANK_WINDOW - 1),
            ).fetchone()
            msg_rows = self._conn.execute(
                """SELECT m.conversation_id, m.id, m.role, h.snip, h.rank
                   FROM (SELECT rowid, snippet(messages_fts, 0, ?, ?, '…', 12) AS snip, rank
                         FROM messages_fts WHERE messages_fts MATCH ? AND rowid >= ?
                         ORDER BY rank LIMIT ?) h
                   JOIN messages m ON m.seq = h.rowid ORDER BY h.rank""",
                (mark[0], mark[1], match, cutoff[0] if cutoff else 0, max(limit * 5, 50)),
            ).fetchall()
            title_rows = self._conn.execute(
                """SELECT c.id, highlight(conversations_fts, 0, ?, ?), conversations_fts.rank
                   FROM conversations_fts JOIN conversations c ON c.seq = conversations_fts.rowid
                   WHERE conversations_fts MATCH ? ORDER BY conversations_fts.rank LIMIT ?""",
                (mark[0], mark[1], match, limit),
            ).fetchall()
            best: dict[str, tuple] = {}
            for conv_id, snippet_, rank in title_rows:
                best[conv_id] = (rank, snippet_, None, None)
            for conv_id, msg_id, role, snippet_, rank in msg_rows:
                if conv_id not in best or rank < best[conv_id][0]:
                    best[conv_id] = (rank, snippet_, msg_id, role)
            ordered = sorted(best.items(), key=lambda kv: kv[1][0])[:limit]
            if not ordered:
                return []
            marks = ",".join("?" * len(ordered))
            meta = {
                r[0]: (r[1], r[2])
                for r in self._conn.execute(
                    f"SELECT id, title, updated_at FROM conversations WHERE id IN ({marks})",
                    [k for k, _ in ordered],
                )
            }
        return [
            SearchHit(
                conversation_id=conv_id,
                title=meta.get(conv_id, ("", 0.0))[0],
                snippet=snip,
                rank=rank,
                message_id=msg_id,
                role=role,
                updated_at=meta.get(conv_id, ("", 0.0))[1],
            )
            for conv_id, (rank, snip, msg_id, role) in ordered
        ]
