"""Snapshots of the image picker and the conversations screen in a dark and a light theme.

Deterministic by construction: fixed file names and pixels in a temporary folder entered as the
working directory (so only relative paths show), fixed conversation ids and times, UTC.
Regenerate with `pytest tests/tui/test_screens_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from megachat.chat.store import Store
from megachat.tui.screens.conversations import ConversationsScreen
from megachat.tui.screens.image_picker import ImagePickerScreen, ImageTree
from megachat.tui.themes import DARK_THEME, LIGHT_THEME
from megachat.tui.widgets.image_preview import ImagePreview
from tests.tui.screen_host import ScreenHost, wait_until
from tests.tui.test_screens_conversations import SAMPLE, conversation
from tests.tui.test_screens_picker import make_pictures

THEMES = [DARK_THEME, LIGHT_THEME]
SIZE = (100, 30)


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("theme", THEMES)
def test_image_picker_snapshot(
    theme: str, snap_compare: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    make_pictures(tmp_path)
    app = ScreenHost(lambda: ImagePickerScreen(Path("pics")), theme=theme)

    async def show_flag(pilot: Any) -> None:
        tree = app.screen.query_one(ImageTree)
        await wait_until(pilot, lambda: len(tree.root.children) == 5)
        await pilot.press("down", "down", "down")  # root, sub, fake.jpg, flag.png
        preview = app.screen.query_one(ImagePreview)
        await wait_until(
            pilot,
            lambda: preview.result is not None and preview.result.path.name == "flag.png",
        )
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=show_flag)


@pytest.mark.parametrize("theme", THEMES)
def test_conversations_snapshot(theme: str, snap_compare: Any, tmp_path: Path, utc: None) -> None:
    store = Store(tmp_path / "megachat.db")
    for index, (title, text) in enumerate(SAMPLE):
        store.create(conversation(index, title, text))
    store.create(conversation(len(SAMPLE), "Markup [bold]stays[/] literal", "x"))
    app = ScreenHost(lambda: ConversationsScreen(store, current_id="conv00000001"), theme=theme)

    async def search(pilot: Any) -> None:
        screen = app.screen
        assert isinstance(screen, ConversationsScreen)
        await wait_until(pilot, screen.loaded.is_set)
        await pilot.pause()

    try:
        assert snap_compare(app, terminal_size=SIZE, run_before=search)
    finally:
        store.close()


@pytest.mark.parametrize("theme", THEMES)
def test_conversations_search_snapshot(
    theme: str, snap_compare: Any, tmp_path: Path, utc: None
) -> None:
    store = Store(tmp_path / "megachat.db")
    for index, (title, text) in enumerate(SAMPLE):
        store.create(conversation(index, title, text))
    app = ScreenHost(lambda: ConversationsScreen(store), theme=theme)

    async def search(pilot: Any) -> None:
        screen = app.screen
        assert isinstance(screen, ConversationsScreen)
        await wait_until(pilot, screen.loaded.is_set)
        await pilot.press("ctrl+f", *"lisbon")
        await wait_until(pilot, lambda: screen.loaded.is_set() and screen.query_text == "lisbon")
        await pilot.pause()

    try:
        assert snap_compare(app, terminal_size=SIZE, run_before=search)
    finally:
        store.close()
