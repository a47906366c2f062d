"""The database file: opening (WAL, migrations, read-only, a corrupt file set aside), short
write transactions, and SQLite errors translated into StoreError in one place."""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Self

from megachat.chat.migrations import (
    READABLE_FROM,
    SCHEMA_VERSION,
    SchemaTooNewError,
    migrate,
    user_version,
)
from megachat.chat.store.errors import (
    ConversationDeleted,
    ConversationNotFound,
    CorruptDatabaseError,
    ReadOnlyStoreError,
    StoreError,
)
from megachat.redact import Secrets

BUSY_TIMEOUT_MS = 5000

_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return True
    text = str(exc).lower()
    return "file is not a database" in text or "malformed" in text


def set_aside(path: Path) -> Path | None:
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


class Database:
    """The SQLite connection at `path` (created with its directory when missing; opened
    read-only when it exists but cannot be written), shared between threads under a lock."""

    def __init__(
        self, path: str | os.PathLike[str], *, secrets: Secrets | Iterable[str | None] = ()
    ) -> None:
        self.path = Path(path)
        self.secrets = secrets if isinstance(secrets, Secrets) else Secrets(secrets)
        self._lock = threading.RLock()
        self._read_only: str | None = None  # why it cannot be written
        self._schema: int | None = None
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
                raise CorruptDatabaseError(self.path, set_aside(self.path), str(exc)) from None
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
    def schema_version(self) -> int:
        """The schema version of the file (older than SCHEMA_VERSION only when read-only)."""
        if self._schema is None:
            with self._lock, self._errors():
                self._schema = user_version(self._conn)
        return self._schema

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

    # -- plumbing ---------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Self:
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

    @staticmethod
    def _missing(conn: sqlite3.Connection, conv_id: str) -> StoreError:
        """The error for a conversation that is not there: deleted, or never stored."""
        if conn.execute("SELECT 1 FROM deleted_conversations WHERE id = ?", (conv_id,)).fetchone():
            return ConversationDeleted(conv_id)
        return ConversationNotFound(f"no conversation with id {conv_id!r}")
