"""Full-text search (SQLite FTS5) over the text of every message, in every branch, and over
titles. A message's indexed text is conversation.searchable_text: its text, the tools it calls
and the text of tool results, so snippets may show a tool's name or output. A hit names its
conversation and its message, so opening it can make that message's branch the active one."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

RANK_WINDOW = 5000  # search ranks at most this many (the most recent) matching messages


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
    on_active_path: bool = True  # False: the message is in a version not shown (opening shows it)


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


def search(
    conn: sqlite3.Connection,
    query: str,
    *,
    limit: int = 20,
    mark: tuple[str, str] = ("[", "]"),
    tree: bool = True,
) -> list[SearchHit]:
    """Ranked full-text search over message text and titles; the best hit per conversation.
    Words are matched whole (add * for a prefix); every word must match.

    Ranking (bm25) costs time per matching message, so for words matching more than
    RANK_WINDOW messages only the most recent RANK_WINDOW matches are ranked: search stays
    fast however big the store grows, and very common words favour recent conversations."""
    match = fts_query(query)
    if not match:
        return []
    cutoff = conn.execute(
        """SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?
           ORDER BY rowid DESC LIMIT 1 OFFSET ?""",
        (match, RANK_WINDOW - 1),
    ).fetchone()
    msg_rows = conn.execute(
        """SELECT m.conversation_id, m.id, m.role, h.snip, h.rank
           FROM (SELECT rowid, snippet(messages_fts, 0, ?, ?, '…', 12) AS snip, rank
                 FROM messages_fts WHERE messages_fts MATCH ? AND rowid >= ?
                 ORDER BY rank LIMIT ?) h
           JOIN messages m ON m.seq = h.rowid ORDER BY h.rank""",
        (mark[0], mark[1], match, cutoff[0] if cutoff else 0, max(limit * 5, 50)),
    ).fetchall()
    title_rows = conn.execute(
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
        for r in conn.execute(
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
            on_active_path=msg_id is None or not tree or _on_active_path(conn, conv_id, msg_id),
        )
        for conv_id, (rank, snip, msg_id, role) in ordered
    ]


def _on_active_path(conn: sqlite3.Connection, conv_id: str, msg_id: str) -> bool:
    """Whether `msg_id` is an ancestor-or-self of the conversation's active leaf (no leaf
    recorded: the path is the one last used, so the hit is taken as shown)."""
    row = conn.execute(
        """WITH RECURSIVE path(id, parent_id) AS (
               SELECT id, parent_id FROM messages
               WHERE id = (SELECT active_leaf_id FROM conversations WHERE id = ?)
               UNION ALL
               SELECT m.id, m.parent_id FROM messages m JOIN path p ON m.id = p.parent_id)
           SELECT EXISTS (SELECT 1 FROM path WHERE id = ?),
                  (SELECT active_leaf_id IS NULL FROM conversations WHERE id = ?)""",
        (conv_id, msg_id, conv_id),
    ).fetchone()
    return bool(row[0] or row[1])
