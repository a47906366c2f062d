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
from dataclasses import dataclass
from typing import Literal

from megachat.chat.conversation import STATUSES, ChatMessage, searchable_text
from megachat.chat.migrations import user_version
from megachat.chat.store import attachments
from megachat.chat.store.errors import MessageNotFound, StoreError
from megachat.redact import Secrets

FINAL_STATUSES = ("complete", "interrupted", "cancelled", "error")

_COLUMNS = "id, role, content, status, usage, stop_reason, model, created_at"
COST_FROM = 7  # the schema version that added messages.cost_usd


def _cost_column(conn: sqlite3.Connection) -> str:
    """messages.cost_usd, or NULL in an older file opened read-only (never migrated)."""
    return "cost_usd" if user_version(conn) >= COST_FROM else "NULL"


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
               usage, stop_reason, model, created_at, parent_id, last_used, cost_usd)
           VALUES (?, ?, (SELECT coalesce(max(position), -1) + 1 FROM messages
                          WHERE conversation_id = ?), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
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
            msg.cost_usd,
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
        cost_usd=r[10],
    )


def load(
    conn: sqlite3.Connection, conv_id: str, *, tree: bool = True
) -> tuple[list[ChatMessage], dict[str, int]]:
    """Every message of the conversation in creation order (parents first, images as base64)
    and each one's last-used counter. `tree=False` reads a file older than schema v5 (read-only,
    never migrated) as the chain it is."""
    cost = _cost_column(conn)
    if tree:
        sql = f"""SELECT {_COLUMNS}, parent_id, last_used, {cost} FROM messages
                  WHERE conversation_id = ? ORDER BY position"""
    else:
        sql = f"""SELECT {_COLUMNS}, NULL, 0, {cost} FROM messages
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


# -- what the replies used and cost ---------------------------------------------------------
# Every stored reply that has a usage counts, on every branch (each was paid for); a reply with
# no usage (failed before the API answered) used nothing known. Aggregates read only the usage
# and cost_usd columns, never content, so `list --json` stays fast.

_REPLIES = "{m}role = 'assistant' AND {m}usage IS NOT NULL AND json_valid({m}usage)"
_SUMS = """count(*),
    sum(coalesce(json_extract({m}usage, '$.input_tokens'), 0)),
    sum(coalesce(json_extract({m}usage, '$.output_tokens'), 0)),
    sum(coalesce(json_extract({m}usage, '$.cache_creation_input_tokens'), 0)),
    sum(coalesce(json_extract({m}usage, '$.cache_read_input_tokens'), 0)),
    total({cost}), count({cost})"""


def _sums(conn: sqlite3.Connection, m: str = "") -> tuple[str, str]:
    """The aggregate columns (see Spending.from_sums) and the reply filter, for messages
    aliased as `m` ("m." or "")."""
    cost = _cost_column(conn)
    cost = cost if cost == "NULL" else m + cost
    return _SUMS.format(m=m, cost=cost), _REPLIES.format(m=m)


@dataclass(frozen=True, slots=True)
class Spending:
    """Tokens and cost of a set of replies. cost_usd sums the priced ones (None: none was);
    `unpriced` replies (no prices for the model, or stored before prices) are not in it."""

    replies: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: float | None = None
    unpriced: int = 0

    @classmethod
    def from_sums(cls, row: tuple) -> Spending:
        """From a row of _SUMS: count, four token sums, cost total, priced count."""
        replies, inp, out, write, read, cost, priced = row
        return cls(
            int(replies),
            int(inp or 0),
            int(out or 0),
            int(write or 0),
            int(read or 0),
            float(cost) if priced else None,
            int(replies) - int(priced),
        )

    def __add__(self, other: Spending) -> Spending:
        costs = [c for c in (self.cost_usd, other.cost_usd) if c is not None]
        return Spending(
            self.replies + other.replies,
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            sum(costs) if costs else None,
            self.unpriced + other.unpriced,
        )

    def as_dict(self) -> dict:
        return {
            "replies": self.replies,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cost_usd": self.cost_usd,
            "unpriced_replies": self.unpriced,
        }


@dataclass(frozen=True, slots=True)
class ConversationTotals:
    """What a conversation's stored replies used, for `list --json`: input and output tokens,
    and the cost, None when one of them is unpriced (a partial sum would look exact)."""

    input_tokens: int
    output_tokens: int
    cost_usd: float | None


def totals_by_conversation(
    conn: sqlite3.Connection, conv_ids: list[str] | None = None
) -> dict[str, ConversationTotals]:
    """Each conversation's totals over its stored replies (every conversation when conv_ids is
    None); one without a reply that has usage is absent. Two usage fields only: this runs
    over every reply for a full list."""
    cost = _cost_column(conn)
    sql = f"""SELECT conversation_id,
                  sum(coalesce(json_extract(usage, '$.input_tokens'), 0)),
                  sum(coalesce(json_extract(usage, '$.output_tokens'), 0)),
                  CASE WHEN count({cost}) = count(*) THEN total({cost}) END
              FROM messages WHERE {_REPLIES.format(m="")} {{}} GROUP BY conversation_id"""
    if conv_ids is None:
        rows = conn.execute(sql.format("")).fetchall()
    else:
        rows = []
        for i in range(0, len(conv_ids), 500):
            chunk = conv_ids[i : i + 500]
            where = f"AND conversation_id IN ({','.join('?' * len(chunk))})"
            rows += conn.execute(sql.format(where), chunk).fetchall()
    return {r[0]: ConversationTotals(int(r[1] or 0), int(r[2] or 0), r[3]) for r in rows}


UsageGroup = Literal["model", "day"]

_GROUP_KEYS: dict[UsageGroup, str] = {
    # the model that answered, else the conversation's
    "model": "coalesce(nullif(m.model, ''), nullif(c.model, ''), '?')",
    "day": "date(m.created_at, 'unixepoch')",  # UTC
}


def spending_by(
    conn: sqlite3.Connection, group: UsageGroup, since: float | None = None
) -> list[tuple[str, Spending]]:
    """Spending of every stored reply created at or after `since` (seconds since the epoch),
    grouped by model (sorted by name) or by UTC day (oldest first)."""
    sums, where = _sums(conn, "m.")
    rows = conn.execute(
        f"""SELECT {_GROUP_KEYS[group]} AS k, {sums}
            FROM messages m JOIN conversations c ON c.id = m.conversation_id
            WHERE {where} AND m.created_at >= ?
            GROUP BY k ORDER BY k""",
        (float("-inf") if since is None else since,),
    ).fetchall()
    return [(r[0], Spending.from_sums(r[1:])) for r in rows]
