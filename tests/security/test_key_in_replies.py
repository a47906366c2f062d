"""A server that echoes the API key in its reply gets nothing stored (issue 8, item 3).

The reply text, a thinking block and a tool_use input all carry the key, whole or split across
two stream deltas (and across a flush of the partial reply to the store). Afterwards the raw
bytes of megachat.db and its -wal hold no trace of it, the full-text index cannot find it,
`export` and `search` do not show it, and neither does the reply printed by `ask` or the TUI.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import CLI, ROOT, TEST_KEY
from tests.fakeserver import FakeServer, blocks_reply, message_events, sse_text_reply
from tests.faults.conftest import StallServer, read_until, sse_bytes, wait_for

REDACTED = "[redacted]"
TOKEN = TEST_KEY.rsplit("-", 1)[1]  # the key's most distinctive word, for the search index
HALF = TEST_KEY[: len(TEST_KEY) // 2]


def _db(cli: CLI) -> Path:
    return cli.data_dir / "megachat.db"


def _assert_no_key_bytes(db: Path, *, half_too: bool = False) -> int:
    """The key (and with `half_too` its first half) is in none of the store's files."""
    scanned = 0
    for path in [db, Path(f"{db}-wal"), Path(f"{db}-shm")]:
        if path.exists():
            data = path.read_bytes()
            scanned += len(data)
            assert TEST_KEY.encode() not in data, f"the API key is in {path.name}"
            if half_too:
                assert HALF.encode() not in data, f"half of the API key is in {path.name}"
    return scanned


@contextmanager
def _wal_kept(db: Path) -> Iterator[None]:
    """Keep a connection open so that megachat's last close cannot checkpoint the WAL away: every
    page version megachat wrote stays in megachat.db-wal for the scan."""
    conn = sqlite3.connect(db)
    conn.execute("SELECT count(*) FROM messages").fetchone()
    try:
        yield
    finally:
        conn.close()


def _fts_hits(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        query = f'"{TOKEN}"'
        messages = conn.execute(
            "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?", (query,)
        ).fetchone()[0]
        titles = conn.execute(
            "SELECT count(*) FROM conversations_fts WHERE conversations_fts MATCH ?", (query,)
        ).fetchone()[0]
        return int(messages) + int(titles)
    finally:
        conn.close()


def _first_turn(cli: CLI, server: FakeServer) -> str:
    server.enqueue(sse_text_reply("nothing secret here"))
    result = cli.run("ask", "hello")
    assert result.returncode == 0, result.stderr
    return json.loads(cli.run("list", "--json").stdout)[0]["id"]


def _echo_blocks(split: bool) -> list[dict[str, Any]]:
    cut = len(TEST_KEY) // 2
    chunks = (
        ["Your key is ", TEST_KEY[:cut], TEST_KEY[cut:] + ", keep it safe."]
        if split
        else [f"Your key is {TEST_KEY}, keep it safe."]
    )
    return [
        {"type": "thinking", "thinking": f"The header said {TEST_KEY}.", "chunks": 3},
        {"type": "text", "text": "".join(chunks), "chunks": chunks},
        {
            "type": "tool_use",
            "name": "remember",
            "input": {"token": TEST_KEY, "notes": [f"x{TEST_KEY}y"], TEST_KEY: 1},
        },
    ]


@pytest.mark.parametrize("split", [False, True], ids=["whole", "split-across-deltas"])
def test_a_reply_echoing_the_key_is_stored_redacted(
    cli: CLI, fake_server: FakeServer, split: bool
) -> None:
    conv_id = _first_turn(cli, fake_server)
    db = _db(cli)
    fake_server.enqueue(blocks_reply(_echo_blocks(split)))
    with _wal_kept(db):
        result = cli.run("ask", "-c", "what is my key?")
        assert result.returncode == 0, result.stderr
        assert Path(f"{db}-wal").stat().st_size > 0  # the frames megachat wrote are all here
        assert _assert_no_key_bytes(db) > 0
    _assert_no_key_bytes(db)
    assert _fts_hits(db) == 0
    # what `ask` printed
    assert TEST_KEY not in result.stdout
    assert result.stdout.startswith(f"Your key is {REDACTED}, keep it safe.")
    # what is read back: export (both formats) and search
    markdown = cli.run("export", conv_id)
    exported = cli.run("export", conv_id, "--format", "json")
    found = cli.run("search", TOKEN)
    for out in (markdown, exported, found):
        assert out.returncode == 0, out.stderr
        assert TEST_KEY not in out.stdout + out.stderr
    assert "no matches" in found.stderr
    sent_next = json.loads(exported.stdout)["messages"][-1]["content"]
    assert sent_next == [{"type": "text", "text": f"Your key is {REDACTED}, keep it safe."}]
    # every block as stored (the export leaves thinking and tool_use out)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        [(stored,)] = conn.execute(
            "SELECT content FROM messages WHERE role = 'assistant' ORDER BY seq DESC LIMIT 1"
        ).fetchall()
    finally:
        conn.close()
    thinking, text, tool_use = json.loads(stored)
    assert thinking["thinking"] == f"The header said {REDACTED}."
    assert text["text"] == f"Your key is {REDACTED}, keep it safe."
    assert tool_use["input"] == {"token": REDACTED, "notes": [f"x{REDACTED}y"], REDACTED: 1}


def test_a_key_split_across_a_flush_never_reaches_the_store(cli: CLI) -> None:
    """The first half of the key arrives, the partial reply is flushed to the store while the
    stream stalls, then the second half arrives: neither the flush nor stdout has half a key."""
    assert cli.server is not None
    conv_id = _first_turn(cli, cli.server)
    db = _db(cli)
    events = message_events(
        [{"type": "text", "text": "", "chunks": ["Here it is: ", HALF, TEST_KEY[len(HALF) :]]}]
    )
    head, tail = events[:5], events[5:]  # message_start, ping, block start, two deltas
    stall = StallServer(sse_bytes(head), sse_bytes(tail))
    try:
        with _wal_kept(db):
            proc = subprocess.Popen(
                [sys.executable, "-m", "megachat", "ask", "-c", "again?"],
                env={**cli.env, "MEGALLM_BASE_URL": stall.base_url},
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            assert proc.stdout is not None and proc.stderr is not None
            printed = read_until(proc.stdout.fileno(), b"Here it is:")

            def flushed() -> bool:  # the timer's flush of the partial reply (within ~1 s)
                conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
                try:
                    row = conn.execute(
                        "SELECT text FROM messages WHERE role = 'assistant' "
                        "ORDER BY seq DESC LIMIT 1"
                    ).fetchone()
                finally:
                    conn.close()
                return bool(row and row[0].startswith("Here it is:"))

            wait_for(flushed, "the partial reply to be flushed")
            _assert_no_key_bytes(db, half_too=True)
            stall.release()
            printed += proc.stdout.read()
            errors = proc.stderr.read()
            assert proc.wait(timeout=30) == 0, errors
            _assert_no_key_bytes(db, half_too=True)
    finally:
        stall.close()
    assert printed.decode() == f"Here it is: {REDACTED}\n"
    _assert_no_key_bytes(db, half_too=True)
    exported = json.loads(cli.run("export", conv_id, "--format", "json").stdout)
    assert exported["messages"][-1]["content"] == [
        {"type": "text", "text": f"Here it is: {REDACTED}"}
    ]


async def test_tui_reply_echoing_the_key_is_redacted_on_screen_and_in_the_store(
    make_app: Any, fake_server: FakeServer
) -> None:
    from megachat.config import db_path
    from tests.tui.conftest import TEST_KEY as TUI_KEY
    from tests.tui.conftest import ready, settle, type_text

    cut = len(TUI_KEY) // 2
    chunks = ["Echo: ", TUI_KEY[:cut], TUI_KEY[cut:], " end"]
    fake_server.enqueue(sse_text_reply("".join(chunks), chunks=chunks))
    app = make_app()
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        main = await ready(pilot)
        await type_text(pilot, "say my key")
        await pilot.press("enter")
        await settle(pilot)
        reply = main.conversation.messages[-1]
        assert reply.text() == f"Echo: {REDACTED} end"
        assert reply.status == "complete"
        # the store is still open: its -wal holds every page it wrote
        for path in db_path().parent.iterdir():
            assert TUI_KEY.encode() not in path.read_bytes(), path.name
        assert app.is_running


# --------------------------------------------------------------------------- the one rule


def test_redact_replaces_every_string_of_a_json_value() -> None:
    from megachat.redact import Secrets, redact

    value = {"a": [f"x{TEST_KEY}", 3, None], TEST_KEY: {"b": TEST_KEY}}
    assert redact(value, [TEST_KEY, None, ""]) == {
        "a": [f"x{REDACTED}", 3, None],
        REDACTED: {"b": REDACTED},
    }
    assert redact("abc", ["ab"]) == "abc"  # too short to be a key: never redacted
    assert repr(Secrets([TEST_KEY])) == "<Secrets: 1 hidden>"


def test_stream_redactor_catches_a_key_split_anywhere() -> None:
    from megachat.redact import Secrets, StreamRedactor

    text = f"one {TEST_KEY} two {TEST_KEY}"
    for size in (1, 2, 3, 7, len(TEST_KEY) - 1, len(TEST_KEY) + 1):
        out = StreamRedactor(Secrets([TEST_KEY]))
        pieces = [out.feed(text[i : i + size]) for i in range(0, len(text), size)]
        shown = "".join(pieces) + out.flush()
        assert shown == f"one {REDACTED} two {REDACTED}"
        assert all(HALF not in p for p in pieces)
    # a false alarm (the start of the key, then something else) is shown in full at the end
    out = StreamRedactor(Secrets([TEST_KEY]))
    assert out.feed("call sk-me") == "call "
    assert out.feed("ga") == ""
    assert out.flush() == "sk-mega"
    assert Secrets([TEST_KEY]).unfinished("no key here") == 0
