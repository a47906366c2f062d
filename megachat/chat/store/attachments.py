"""Attachments (images, PDFs, text documents): stored once by sha256, referenced from the content
blocks of messages.

A message's content is stored with each base64 image or document (and each text document's text,
as UTF-8) replaced by an `attachment` source (its sha256 and media type); reading puts the bytes
back in the block's own shape. The file name an image was attached under is kept per message
(display only), never in the blocks; a document carries its title in its block, as sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import sqlite3
import time
from collections.abc import Iterable

from megachat.chat.conversation import ChatMessage
from megachat.chat.images import data_size, sniff_media_type

_ATTACHED = ("image", "document")  # the block types whose bytes are stored once


def _stored_bytes(block: dict) -> tuple[bytes, str] | None:
    """The bytes and media type an image or document block stores, or None to keep it inline."""
    kind = block.get("type")
    source = block.get("source")
    if kind not in ("image", "document") or not isinstance(source, dict):
        return None
    if source.get("type") == "base64":
        try:
            data = base64.b64decode(source.get("data", ""), validate=True)
        except (binascii.Error, ValueError):
            return None
        fallback = sniff_media_type(data) if kind == "image" else "application/pdf"
        return data, source.get("media_type") or fallback or ""
    if kind == "document" and source.get("type") == "text" and isinstance(source.get("data"), str):
        return source["data"].encode("utf-8"), "text/plain"
    return None


def dehydrate(conn: sqlite3.Connection, content: list[dict]) -> tuple[list[dict], list[str]]:
    """The blocks with images and documents replaced by attachment references (bytes stored
    once), and the sha256 of each attachment referenced."""
    shas: list[str] = []
    out = []
    for block in content:
        stored = _stored_bytes(block)
        if stored is not None:
            data, media_type = stored
            sha = hashlib.sha256(data).hexdigest()
            size = (data_size(data) if block.get("type") == "image" else None) or (None, None)
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
    return out, shas


def link(conn: sqlite3.Connection, msg: ChatMessage, shas: list[str]) -> None:
    """Record which attachments the message uses, with the file name each came from."""
    for sha in shas:
        conn.execute(
            """INSERT INTO message_attachments (message_id, sha256, name) VALUES (?, ?, ?)
               ON CONFLICT (message_id, sha256)
               DO UPDATE SET name = coalesce(excluded.name, name)""",
            (msg.id, sha, msg.image_names.get(sha) or None),
        )


def used_by(conn: sqlite3.Connection, message_ids: Iterable[str]) -> list[str]:
    """The sha256 of every attachment those messages use (to drop the unused ones after)."""
    ids = list(message_ids)
    shas: dict[str, None] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        for (sha,) in conn.execute(
            f"SELECT DISTINCT sha256 FROM message_attachments WHERE message_id IN ({marks})",
            chunk,
        ):
            shas[sha] = None
    return list(shas)


def drop_unused(conn: sqlite3.Connection, shas: Iterable[str]) -> None:
    """Delete those attachments that no message uses any more."""
    for sha in shas:
        conn.execute(
            """DELETE FROM attachments WHERE sha256 = ? AND NOT EXISTS
               (SELECT 1 FROM message_attachments WHERE sha256 = ?)""",
            (sha, sha),
        )


def load_names(conn: sqlite3.Connection, conv_id: str, messages: dict[str, ChatMessage]) -> None:
    """Fill each message's image_names (sha256 -> the file name it was attached under)."""
    for msg_id, sha, name in conn.execute(
        """SELECT ma.message_id, ma.sha256, ma.name FROM message_attachments ma
           JOIN messages m ON m.id = ma.message_id
           WHERE m.conversation_id = ? AND ma.name IS NOT NULL""",
        (conv_id,),
    ):
        if msg_id in messages:
            messages[msg_id].image_names[sha] = name


def _rehydrated(block: dict, data: bytes, media_type: str) -> dict:
    """The block with its bytes back: base64, or text for a text document."""
    if block.get("type") == "document" and media_type == "text/plain":
        text = data.decode("utf-8", errors="replace")
        return {**block, "source": {"type": "text", "media_type": media_type, "data": text}}
    source = {
        "type": "base64",
        "media_type": media_type,
        "data": base64.b64encode(data).decode("ascii"),
    }
    return {**block, "source": source}


def hydrate(conn: sqlite3.Connection, messages: list[ChatMessage]) -> None:
    """Put the attachment bytes back into image and document blocks."""
    wanted: dict[str, None] = {}
    for msg in messages:
        for b in msg.content:
            src = b.get("source") if b.get("type") in _ATTACHED else None
            if isinstance(src, dict) and src.get("type") == "attachment":
                wanted[src["sha256"]] = None
    if not wanted:
        return
    found: dict[str, tuple[bytes, str]] = {}
    keys = list(wanted)
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        marks = ",".join("?" * len(chunk))
        for sha, data, media_type in conn.execute(
            f"SELECT sha256, data, media_type FROM attachments WHERE sha256 IN ({marks})",
            chunk,
        ):
            found[sha] = (data, media_type)
    for msg in messages:
        new_content = []
        for b in msg.content:
            src = b.get("source") if b.get("type") in _ATTACHED else None
            if isinstance(src, dict) and src.get("type") == "attachment":
                hit = found.get(src["sha256"])
                if hit is None:
                    b = {"type": "text", "text": f"[{b.get('type')} missing from the store]"}
                else:
                    b = _rehydrated(b, *hit)
            new_content.append(b)
        msg.content = new_content
