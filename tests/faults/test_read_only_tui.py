"""The TUI on a read-only data dir: the history is shown, sending is refused with a notification
and the draft is given back; nothing is sent. The data dir is a real tmpfs remounted read-only
(root ignores chmod; skipped without root and mount)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from megachat.chat.conversation import Conversation
from megachat.chat.store import Store
from megachat.config import db_path
from tests.fakeserver import FakeServer
from tests.faults.test_disk_cli import _mount
from tests.tui.conftest import ready, settle, type_text


@pytest.fixture
def read_only_history(tui_dirs: Path) -> Iterator[Conversation]:
    """One stored conversation in a data dir that then becomes a read-only mount."""
    target = tui_dirs / "data"
    if os.geteuid() != 0 or not _mount(target, "size=1m"):
        pytest.skip("needs root and mount to make a real read-only filesystem")
    try:
        conv = Conversation(model="claude-sonnet-4", max_tokens=1024)
        conv.add_user("what did we say?")
        conv.add_assistant("that the disk would go read-only", status="complete")
        with Store(db_path()) as store:
            store.create(conv)
        done = subprocess.run(["mount", "-o", "remount,ro", str(target)], capture_output=True)
        assert done.returncode == 0, done.stderr
        yield conv
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


async def test_tui_shows_read_only_history_and_refuses_to_send(
    make_app: Any, fake_server: FakeServer, read_only_history: Conversation
) -> None:
    app = make_app(continue_last=True)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        main = await ready(pilot)
        assert main.conversation.id == read_only_history.id
        assert [m.text() for m in main.conversation.messages] == [
            "what did we say?",
            "that the disk would go read-only",
        ]
        assert not any("Start-up problem" in str(n.message) for n in app._notifications)
        await type_text(pilot, "one more thing")
        await pilot.press("enter")
        await settle(pilot)
        expected = (
            f"Not sent: {db_path()} is read-only (the data directory {db_path().parent} is not "
            "writable)"
        )
        assert any(str(n.message) == expected for n in app._notifications), [
            str(n.message) for n in app._notifications
        ]
        assert main.query_one("#prompt").text == "one more thing"  # the draft is given back
        assert len(main.conversation.messages) == 2
        assert fake_server.requests_to() == []
        assert app.is_running
