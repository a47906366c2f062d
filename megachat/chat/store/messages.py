"""Messages on disk: the tree (a parent per message), the active path, and deleting a branch.

Each conversation row names its active leaf; the active path is that message and its ancestors.
Each message keeps `last_used`, a per-conversation counter bumped for the whole path whenever a
path becomes active, so "the child last used" under any message is its child with the highest
counter (ties: the newest), exactly as Conversation decides it in memory. message_count on the
conversation row is the length of the active path.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import time

from megachat.chat.conversation import STATUSES, ChatMessage, searchable_text
from megachat.chat.store import attachments
from megachat.chat.store.errors import MessageNotFound, StoreError
from megachat.redact import Secrets

FINAL_STATUSES = ("complete", "interrupted", "cancelled", "error")

_COLUMNS = "id, role, content, status, usage, stop_reason, model, created_at"


def dumps(obj: object) -> str:
    """Compact JSON, non-ASCII kept as is."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def insert(
    conn: sqlite3.Connection,
    secrets: Secrets,
    conv_id: str,
    msg: ChatMessage,
    last_used: int = 0,
) -> None:
    """Insert one message (redacted, images stored once) under msg.parent_id. Raises
    sqlite3.IntegrityError for a missing conversation; StoreError for a parent elsewhere."""
    if msg.parent_id is not None:
        row = conn.execute(
            "SELECT conversation_id FROM messages WHERE id = ?", (msg.parent_id,)
        ).fetchone()
        if row is None or row[0] != conv_id:
            raise StoreError(
                f"cannot store message {msg.id}: its parent {msg.parent_id} is not a message "
                f"of conversation {conv_id}"
            )
    blocks = secrets.redact(msg.content)
    stored, shas = attachments.dehydrate(conn, blocks)
    conn.execute(
        """INSERT INTO messages (id, conversation_id, position, role, content, text, status,
               usage, stop_reason, model, created_at, parent_id, last_used)
           VALUES (?, ?, (SELECT coalesce(max(position), -1) + 1 FROM messages
                          WHERE conversation_id = ?), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            msg.id,
            conv_id,
            conv_id,
            msg.role,
            dumps(stored),
            searchable_text(blocks),
            msg.status,
            None if msg.usage is None else dumps(msg.usage),
            msg.stop_reason,
            msg.model,
            msg.created_at,
            msg.parent_id,
            last_used,
        ),
    )
    attachments.link(conn, msg, shas)
    conn.execute(
        "UPDATE conversations SET updated_at = max(updated_at, ?) WHERE id = ?",
        (msg.created_at, conv_id),
    )


def _ancestry(conn: sqlite3.Connection, conv_id: str, message_id: str) -> list[str]:
    """The ids from the message up to its root (empty when it is not in the conversation)."""
    return [
        r[0]
        for r in conn.execute(
            """WITH RECURSIVE path(id, parent_id, depth) AS (
                   SELECT id, parent_id, 0 FROM messages WHERE id = ? AND conversation_id = ?
                   UNION ALL
                   SELECT m.id, m.parent_id, p.depth + 1 FROM messages m
                   JOIN path p ON m.id = p.parent_id
               ) SELECT id FROM path ORDER BY depth""",
            (message_id, conv_id),
        )
    ]


def _clock(conn: sqlite3.Connection, conv_id: str) -> int:
    row = conn.execute(
        "SELECT coalesce(max(last_used), 0) FROM messages WHERE conversation_id = ?", (conv_id,)
    ).fetchone()
    return int(row[0])


def set_active(conn: sqlite3.Connection, conv_id: str, leaf_id: str | None) -> None:
    """Make root..leaf_id the active path (None: an empty path) and mark it the one last used
    at each of its levels. MessageNotFound when the conversation has no such message."""
    if leaf_id is None:
        conn.execute(
            "UPDATE conversations SET active_leaf_id = NULL, message_count = 0 WHERE id = ?",
            (conv_id,),
        )
        return
    path = _ancestry(conn, conv_id, leaf_id)
    if not path:
        raise MessageNotFound(f"conversation {conv_id!r} has no message with id {leaf_id!r}")
    clock = _clock(conn, conv_id) + 1
    for i in range(0, len(path), 500):
        chunk = path[i : i + 500]
        conn.execute(
            f"UPDATE messages SET last_used = ? WHERE id IN ({','.join('?' * len(chunk))})",
            (clock, *chunk),
        )
    conn.execute(
        "UPDATE conversations SET active_leaf_id = ?, message_count = ? WHERE id = ?",
        (leaf_id, len(path), conv_id),
    )


def append(conn: sqlite3.Connection, secrets: Secrets, conv_id: str, msg: ChatMessage) -> None:
    """Insert a message and make it the end of the active path (as Conversation.add_* does).
    Appending to the active leaf, the common case, touches only the new row."""
    row = conn.execute(
        "SELECT active_leaf_id FROM conversations WHERE id = ?", (conv_id,)
    ).fetchone()
    if row is not None and row[0] == msg.parent_id:
        insert(conn, secrets, conv_id, msg, _clock(conn, conv_id) + 1)
        conn.execute(
            """UPDATE conversations SET active_leaf_id = ?, message_count = message_count + 1
               WHERE id = ?""",
            (msg.id, conv_id),
        )
        return
    insert(conn, secrets, conv_id, msg)
    set_active(conn, conv_id, msg.id)


def _descend(conn: sqlite3.Connection, message_id: str) -> str:
    """The leaf reached from the message down through the child last used (ties: the newest)."""
    current = message_id
    while True:
        row = conn.execute(
            """SELECT id FROM messages WHERE parent_id = ?
               ORDER BY last_used DESC, position DESC LIMIT 1""",
            (current,),
        ).fetchone()
        if row is None:
            return current
        current = row[0]


def delete_branch(conn: sqlite3.Connection, conv_id: str, message_id: str) -> int:
    """Delete the message and everything under it (attachments no longer used, search rows).
    When it was on the active path, the path moves to its previous sibling (else the next,
    else it ends at the parent), as Conversation.delete_branch does. Returns how many went."""
    row = conn.execute(
        """SELECT parent_id, position FROM messages WHERE id = ? AND conversation_id = ?""",
        (message_id, conv_id),
    ).fetchone()
    if row is None:
        raise MessageNotFound(f"conversation {conv_id!r} has no message with id {message_id!r}")
    parent_id, position = row
    doomed = [
        r[0]
        for r in conn.execute(
            """WITH RECURSIVE sub(id) AS (
                   SELECT ?
                   UNION ALL
                   SELECT m.id FROM messages m JOIN sub ON m.parent_id = sub.id
               ) SELECT id FROM sub""",
            (message_id,),
        )
    ]
    leaf = conn.execute(
        "SELECT active_leaf_id FROM conversations WHERE id = ?", (conv_id,)
    ).fetchone()[0]
    on_path = leaf is not None and message_id in _ancestry(conn, conv_id, leaf)
    replacement = None
    if on_path:
        sibling = """SELECT id FROM messages WHERE conversation_id = ? AND parent_id IS ?
                     AND position {} ? ORDER BY position {} LIMIT 1"""
        args = (conv_id, parent_id, position)
        replacement = conn.execute(sibling.format("<", "DESC"), args).fetchone() or (
            conn.execute(sibling.format(">", "ASC"), args).fetchone()
        )
    shas = attachments.used_by(conn, doomed)
    # deepest first: a parent never goes while a child still points at it
    conn.executemany("DELETE FROM messages WHERE id = ?", [(i,) for i in reversed(doomed)])
    attachments.drop_unused(conn, shas)
    if on_path:
        set_active(conn, conv_id, _descend(conn, replacement[0]) if replacement else parent_id)
    conn.execute(
        "UPDATE conversations SET updated_at = max(updated_at, ?) WHERE id = ?",
        (time.time(), conv_id),
    )
    return len(doomed)


def _from_row(r: tuple) -> ChatMessage:
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
        parent_id=r[8],
    )


def load(
    conn: sqlite3.Connection, conv_id: str, *, tree: bool = True
) -> tuple[list[ChatMessage], dict[str, int]]:
    """Every message of the conversation in creation order (parents first, images as base64)
    and each one's last-used counter. `tree=False` reads a file older than schema v5 (read-only,
    never migrated) as the chain it is."""
    if tree:
        sql = f"""SELECT {_COLUMNS}, parent_id, last_used FROM messages
                  WHERE conversation_id = ? ORDER BY position"""
    else:
        sql = f"""SELECT {_COLUMNS}, NULL, 0 FROM messages
                  WHERE conversation_id = ? ORDER BY position"""
    rows = conn.execute(sql, (conv_id,)).fetchall()
    messages = [_from_row(r) for r in rows]
    if not tree:
        for previous, msg in itertools.pairwise(messages):
            msg.parent_id = previous.id
    used = {r[0]: int(r[9]) for r in rows}
    attachments.load_names(conn, conv_id, {m.id: m for m in messages})
    attachments.hydrate(conn, messages)
    return messages, used
