"""The commands over saved conversations: list, export, search, delete, rename."""

from __future__ import annotations

import argparse
from typing import Any

from megachat.cli.errors import EXIT_OK, usage_error
from megachat.cli.output import dumps, for_terminal, inform, one_line, write
from megachat.cli.resources import find_conversation, open_store, resolve_id


def cmd_list(args: argparse.Namespace) -> int:
    store = open_store()
    try:
        rows = store.list(limit=args.limit or None, totals=args.json)
    finally:
        store.close()
    if args.json:
        write(dumps([r.as_dict() for r in rows]) + "\n")
        return EXIT_OK
    if not rows:
        inform("no saved conversations")
        return EXIT_OK
    import time

    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.updated_at))
        write(f"{r.id}  {when}  {r.message_count:>4}  {one_line(r.model, 24):<24}  ")
        write(one_line(r.title or "(untitled)", 60) + "\n")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from megachat.chat.export import to_json, to_markdown

    store = open_store()
    try:
        conv = find_conversation(store, args.id)
    finally:
        store.close()
    if args.format == "json":
        write(dumps(to_json(conv, all_branches=args.all_branches)) + "\n")
    else:
        text = to_markdown(conv, all_branches=args.all_branches)
        write(for_terminal(text if text.endswith("\n") else text + "\n"))
    return EXIT_OK


def cmd_search(args: argparse.Namespace) -> int:
    query = " ".join(args.query)
    store = open_store()
    try:
        try:
            hits = store.search(query)
        except ValueError as exc:
            raise usage_error(f"bad search query: {exc}") from None
    finally:
        store.close()
    if args.json:
        write(dumps([_hit_dict(h) for h in hits]) + "\n")
        return EXIT_OK
    if not hits:
        inform("no matches")
        return EXIT_OK
    for hit in hits:
        d = _hit_dict(hit)
        title = one_line(d["title"] or "(untitled)", 50)
        where = "" if hit.on_active_path else "  (in another version)"
        write(f"{d['conversation_id']}  {title}{where}\n    {one_line(d['snippet'])}\n")
    return EXIT_OK


def _hit_dict(hit: Any) -> dict:
    from megachat.chat.store import iso_time

    return {
        "conversation_id": hit.conversation_id,
        "title": hit.title,
        "snippet": hit.snippet,
        "role": hit.role,
        "message_id": hit.message_id,
        "on_active_path": hit.on_active_path,
        "updated_at": iso_time(hit.updated_at) if hit.updated_at else None,
    }


def cmd_delete(args: argparse.Namespace) -> int:
    store = open_store()
    try:
        conv_id = resolve_id(store, args.id)
        store.delete(conv_id)
    finally:
        store.close()
    inform(f"deleted {conv_id}")
    return EXIT_OK


def cmd_rename(args: argparse.Namespace) -> int:
    title = " ".join(args.title).strip()
    if not title:
        raise usage_error("the title is empty")
    store = open_store()
    try:
        store.rename(resolve_id(store, args.id), title)
    finally:
        store.close()
    return EXIT_OK
