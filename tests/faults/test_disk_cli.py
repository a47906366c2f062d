"""Disk faults: a read-only data dir, a full data dir, a corrupt database, a bad config line.

A full disk is real: a small tmpfs mounted on the data dir (needs root and mount, as on this CI
machine; skipped otherwise). Read-only is a read-only tmpfs remount (root ignores chmod).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakeserver import message_events, sse_text_reply
from tests.faults.conftest import (
    Sandbox,
    StallServer,
    assert_clean,
    db_rows,
    one_error_line,
    sse_bytes,
)


def _mount(target: Path, options: str) -> bool:
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True
    )
    return done.returncode == 0


@pytest.fixture
def data_mount(mc: Sandbox) -> Iterator[Path]:
    """XDG_DATA_HOME on its own 1 MB tmpfs."""
    target = Path(mc.env["XDG_DATA_HOME"])
    if os.geteuid() != 0 or not _mount(target, "size=1m"):
        pytest.skip("needs root and mount to make a real small/read-only filesystem")
    yield target
    subprocess.run(["umount", "-l", str(target)], capture_output=True)


def _fill(mount: Path, leave: int) -> None:
    """Fill the filesystem, then free `leave` bytes."""
    filler = mount / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError:
        pass
    try:
        while True:
            os.write(fd, b"\0" * 512)
    except OSError:
        pass
    finally:
        os.close(fd)
    os.truncate(filler, max(0, filler.stat().st_size - leave))


def _first_turn(mc: Sandbox) -> str:
    mc.server.enqueue(sse_text_reply("first answer"))
    result = mc.run("ask", "first question")
    assert result.returncode == 0, result.stderr
    return mc.only_conversation()["id"]


# --------------------------------------------------------------------------- read-only


def test_read_only_data_dir(mc: Sandbox, data_mount: Path) -> None:
    """A data dir that cannot be written (a read-only mount; after a clean exit there is no
    -wal/-shm to read through): the history is still listed, searched and exported, and a new
    turn is refused before anything is sent. `--no-save` still answers."""
    conv_id = _first_turn(mc)
    assert not Path(f"{mc.db}-wal").exists()  # the case SQLite cannot open with mode=ro alone
    done = subprocess.run(["mount", "-o", "remount,ro", str(data_mount)], capture_output=True)
    assert done.returncode == 0, done.stderr
    before = len(mc.server.requests_to())
    result = mc.run("ask", "-c", "second question")
    assert result.returncode == 1
    line = one_error_line(result.stderr)
    assert line == (
        f"megachat: error: {mc.db} is read-only (the data directory {mc.data_dir} is not "
        "writable); nothing was sent"
    ), line
    # the turn could not be stored, so it was not sent (nothing the user cannot see is lost)
    assert len(mc.server.requests_to()) == before
    # reading works on a read-only disk: nothing lost
    [listed] = mc.conversations()
    assert (listed["id"], listed["message_count"]) == (conv_id, 2)
    exported = mc.export(conv_id)
    assert [m["role"] for m in exported["messages"]] == ["user", "assistant"]
    assert "first answer" in mc.export_markdown(conv_id)
    found = mc.run("search", "answer")
    assert found.returncode == 0, found.stderr
    assert conv_id in found.stdout and "first answer" in found.stdout.replace("[", "").replace(
        "]", ""
    )
    # writes other than a turn say the same, with the usual exit status
    for command in (("rename", conv_id, "new title"), ("delete", conv_id)):
        refused = mc.run(*command)
        assert refused.returncode == 1
        assert "is read-only (the data directory" in one_error_line(refused.stderr)
    mc.server.enqueue(sse_text_reply("unsaved answer"))
    unsaved = mc.run("ask", "--no-save", "-c", "third question")
    assert unsaved.returncode == 0, unsaved.stderr
    assert unsaved.stdout.strip() == "unsaved answer"
    assert len(mc.export(conv_id)["messages"]) == 2


def test_read_only_data_dir_with_the_wal_of_a_crashed_writer(mc: Sandbox, data_mount: Path) -> None:
    """A writer died (its -wal and -shm are left, holding its last commit), then the disk went
    read-only: the history read back includes that last commit."""
    conv_id = _first_turn(mc)
    crash = (
        "import os, sys\n"
        "from megachat.chat.store import Store\n"
        "store = Store(sys.argv[1])\n"
        "store.rename(sys.argv[2], 'renamed just before the crash')\n"
        "os._exit(0)  # no close: no checkpoint, the WAL stays\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", crash, str(mc.db), conv_id], env=mc.env, capture_output=True
    )
    assert done.returncode == 0, done.stderr
    assert Path(f"{mc.db}-wal").stat().st_size > 0
    done = subprocess.run(["mount", "-o", "remount,ro", str(data_mount)], capture_output=True)
    assert done.returncode == 0, done.stderr
    [listed] = mc.conversations()
    assert (listed["id"], listed["title"]) == (conv_id, "renamed just before the crash")
    assert [m["role"] for m in mc.export(conv_id)["messages"]] == ["user", "assistant"]


def test_read_only_data_dir_before_the_first_run(mc: Sandbox, data_mount: Path) -> None:
    done = subprocess.run(["mount", "-o", "remount,ro", str(data_mount)], capture_output=True)
    assert done.returncode == 0, done.stderr
    result = mc.run("ask", "hello")
    assert result.returncode == 1
    line = one_error_line(result.stderr)
    assert str(mc.db) in line
    # the data dir does not exist yet and cannot be made: say which directory is read-only
    assert line.endswith(
        f"; the data directory {mc.data_dir} cannot be created ({data_mount} is not writable)"
    ), line
    assert mc.server.requests_to() == []


# --------------------------------------------------------------------------- full


def test_full_disk_before_the_turn(mc: Sandbox, data_mount: Path) -> None:
    conv_id = _first_turn(mc)
    _fill(data_mount, 0)
    before = len(mc.server.requests_to())
    result = mc.run("ask", "-c", "no room")
    assert result.returncode == 1
    line = one_error_line(result.stderr)
    assert "full" in line.lower()
    assert len(mc.server.requests_to()) == before  # not stored, so not sent
    (data_mount / "filler").unlink()
    exported = mc.export(conv_id)
    assert [m["role"] for m in exported["messages"]] == ["user", "assistant"]


def test_full_disk_during_a_fast_reply(mc: Sandbox, data_mount: Path) -> None:
    """The user turn fits, the 400 kB reply does not: it is printed whole, the error is clear."""
    _first_turn(mc)
    _fill(data_mount, 200 * 1024)
    text = "".join(f"word{i} " for i in range(40000))
    mc.server.enqueue(sse_text_reply(text, chunks=400))
    result = mc.run("ask", "-c", "a long one")
    assert result.returncode == 1
    line = one_error_line(result.stderr)
    assert "full" in line.lower()
    (data_mount / "filler").unlink()
    rows = db_rows(mc.db)
    assert [(r["role"], r["text"]) for r in rows[:3]] == [
        ("user", "first question"),
        ("assistant", "first answer"),
        ("user", "a long one"),
    ]
    # whatever of the reply was stored is a true prefix of it
    if len(rows) == 4:
        assert text.startswith(rows[3]["text"] or "")


def test_full_disk_while_the_reply_stalls(mc: Sandbox, data_mount: Path) -> None:
    """The 1 s flush timer hits the full disk while the stream is quiet (a 1.5 s pause of the
    server after a 390 kB delta), then the stream goes on."""
    _first_turn(mc)
    _fill(data_mount, 200 * 1024)
    text = "".join(f"word{i} " for i in range(40000))
    events = message_events([{"type": "text", "text": text, "chunks": 2}], ping=False)
    stall = StallServer(sse_bytes(events[:3]), sse_bytes(events[3:]), stall=1.5)
    try:
        result = mc.run("ask", "-c", "stall please", env={"MEGALLM_BASE_URL": stall.base_url})
    finally:
        stall.close()
    assert result.returncode == 1
    assert "full" in one_error_line(result.stderr).lower()
    assert result.stdout.startswith(text[:1000])
    (data_mount / "filler").unlink()
    rows = db_rows(mc.db)
    assert [(r["role"], r["text"]) for r in rows[:3]] == [
        ("user", "first question"),
        ("assistant", "first answer"),
        ("user", "stall please"),
    ]


# --------------------------------------------------------------------------- corrupt


def test_corrupt_database_is_set_aside_never_overwritten(mc: Sandbox) -> None:
    mc.data_dir.mkdir(parents=True)
    garbage = b"this is not SQLite at all\n" * 200
    mc.db.write_bytes(garbage)
    result = mc.run("list")
    assert result.returncode == 1
    line = one_error_line(result.stderr)
    assert "not a readable megachat database" in line and "moved to" in line
    aside = list(mc.data_dir.glob("megachat.db.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == garbage
    # the next run starts afresh and works; the set-aside file is untouched
    mc.server.enqueue(sse_text_reply("fresh start"))
    result = mc.run("ask", "after the damage")
    assert result.returncode == 0, result.stderr
    assert_clean(result.stderr)
    assert mc.only_conversation()["title"] == "after the damage"
    assert aside[0].read_bytes() == garbage


def test_truncated_database_is_set_aside(mc: Sandbox) -> None:
    """A real database cut in half (a crash of the disk, not of megachat)."""
    for i in range(30):
        mc.server.enqueue(sse_text_reply(f"answer {i} " + "x" * 2000))
    for i in range(3):
        assert mc.run("ask", f"question {i}").returncode == 0
    data = mc.db.read_bytes()
    mc.db.write_bytes(data[: len(data) // 2] + b"\xff" * 4096)
    for suffix in ("-wal", "-shm"):
        Path(str(mc.db) + suffix).unlink(missing_ok=True)
    result = mc.run("list", "--json")
    assert_clean(result.stderr)
    if result.returncode != 0:  # detected at open: set aside, clear line
        assert "megachat.db" in one_error_line(result.stderr)
    result = mc.run("ask", "still usable?")
    assert_clean(result.stderr)
    assert result.returncode in (0, 1)
    if result.returncode == 1:
        one_error_line(result.stderr)


# --------------------------------------------------------------------------- config


def test_config_with_a_bad_toml_line(mc: Sandbox) -> None:
    bad = 'model = "claude-sonnet-4"\nmax_retries = 2\ntemperature = = 0.5\n'
    mc.write_config(bad)
    result = mc.run("ask", "hello")
    assert result.returncode == 2
    line = one_error_line(result.stderr)
    assert str(mc.config_file) in line and "line 3" in line
    assert mc.server.requests_to() == []
    # the TUI says the same before it takes over the screen
    result = mc.run()
    assert result.returncode == 2
    assert "line 3" in one_error_line(result.stderr)
    # commands that write the config refuse rather than overwrite it
    result = mc.run("config", "set", "model", "other-model")
    assert result.returncode == 2
    assert "line 3" in one_error_line(result.stderr)
    result = mc.run("key", "set", input="sk-new-key\n")
    assert result.returncode == 2
    one_error_line(result.stderr)
    assert mc.config_file.read_text() == bad
    # commands that do not need the config still work
    listing = mc.run("list", "--json")
    assert listing.returncode == 0, listing.stderr
