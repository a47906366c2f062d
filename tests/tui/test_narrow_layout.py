"""Narrow terminals: below SIDEBAR_DOCKED_MIN_WIDTH columns the sidebar is out of the layout.

At 60x20 and 40x10 the conversation and the prompt take the whole width from the first frame (no
jump once start-up finishes); ctrl+b shows the sidebar as an overlay on top of the conversation,
which keeps its width underneath, with the focus in it; ctrl+b or Esc hides it and the focus goes
back. At 40x10 a message can be typed, sent and its reply read. Resizing across the line switches
between the two layouts, and a sidebar the user hid at a wide width stays hidden.
"""

from __future__ import annotations

import os
import select
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import TextArea

from megachat.tui.screens.main_sidebar import SIDEBAR_DOCKED_MIN_WIDTH
from megachat.tui.widgets.footer import SteadyFooter
from megachat.tui.widgets.prompt_input import PromptInput
from megachat.tui.widgets.sidebar import Sidebar
from tests.benchmarks.ptyproc import spawn_in_pty, stop
from tests.cli.conftest import ROOT, _base_env
from tests.fakeserver import FakeServer, sse_text_reply
from tests.tui.conftest import TEST_KEY, ready, send, sent_texts, until
from tests.tui.screen_host import screen_text

NARROW_SIZES = [(60, 20), (40, 10)]


def _regions(screen: Any) -> dict[str, Any]:
    return {
        "title": screen.query_one("#title-bar").region,
        "conversation": screen.query_one("#conversation-slot").region,
        "prompt": screen.query_one(PromptInput).region,
        "footer": screen.query_one(SteadyFooter).region,
    }


def _in_sidebar(screen: Any) -> bool:
    focused = screen.focused
    return focused is not None and screen.query_one(Sidebar) in focused.ancestors_with_self


@pytest.mark.parametrize("size", NARROW_SIZES)
async def test_the_first_frame_at_a_narrow_width_has_no_sidebar(make_app, size):
    width, height = size
    app = make_app()
    async with app.run_test(size=size) as pilot:
        main = app.screen
        assert not main.ready.is_set(), "this must be the frame before start-up finished"
        first = _regions(main)
        assert not main.query_one(Sidebar).display
        assert first["conversation"].width == width
        assert first["prompt"].width == width
        assert first["prompt"].bottom <= first["footer"].y <= height - 1  # nothing pushed off
        assert first["conversation"].height > 0
        assert main.query_one(PromptInput).has_focus

        await ready(pilot)

        assert _regions(main) == first  # nothing moved once start-up finished
        assert not main.query_one(Sidebar).display


def first_frame_on_a_pty(env: dict[str, str], cols: int, rows: int) -> list[str]:
    """The lines of the first frame `megachat` draws on a real `cols` x `rows` pty.

    A real terminal's order of events, which Pilot does not have: Textual can draw the first
    frame before the screen's first Resize (and so before its breakpoint classes)."""
    from tests.benchmarks.bench_startup import (
        SYNC_END,
        SYNC_QUERY,
        SYNC_START,
        SYNC_SUPPORTED,
        Screen,
    )

    proc, master = spawn_in_pty(
        [sys.executable, "-m", "megachat"], env, cwd=ROOT, rows=rows, cols=cols
    )
    output = b""
    deadline = time.monotonic() + 60
    try:
        while SYNC_END not in output.partition(SYNC_START)[2]:
            assert time.monotonic() < deadline, f"no frame drawn; output: {output[-400:]!r}"
            if select.select([master], [], [], 0.5)[0]:
                chunk = os.read(master, 65536)
                if SYNC_QUERY in chunk:
                    os.write(master, SYNC_SUPPORTED)  # so frames come whole, as in a modern term
                output += chunk
    finally:
        stop(proc, master)
    before, _, frame = output.partition(SYNC_START)
    screen = Screen()
    screen.feed(before + frame.partition(SYNC_END)[0])
    return ["".join(screen.char((row, col)) for col in range(cols)).rstrip() for row in range(rows)]


def test_a_real_terminal_at_60_columns_draws_no_sidebar_in_its_first_frame(
    tmp_path: Path, fake_server: FakeServer
):
    env = _base_env(tmp_path)
    env.update(
        TERM="xterm-256color",
        COLUMNS="60",
        LINES="20",
        MEGALLM_BASE_URL=fake_server.base_url,
        MEGALLM_API_KEY=TEST_KEY,
    )
    lines = first_frame_on_a_pty(env, 60, 20)
    text = "\n".join(lines)
    assert "Temperature" not in text, text  # no sidebar, so nothing to jump away later...
    assert "Message (Enter to send" in text, text  # ...and the prompt has the whole width


@pytest.mark.parametrize("size", NARROW_SIZES)
async def test_ctrl_b_shows_the_sidebar_over_the_conversation(make_app, size):
    width, _ = size
    app = make_app()
    async with app.run_test(size=size) as pilot:
        main = await ready(pilot)
        sidebar = main.query_one(Sidebar)
        before = _regions(main)
        assert "Temperature" not in screen_text(app)

        await pilot.press("ctrl+b")
        await pilot.pause()

        assert sidebar.display and "Temperature" in screen_text(app)
        region = sidebar.region
        assert region.right == width and region.width == min(34, width)
        assert region.overlaps(before["conversation"])  # on top of it...
        assert _regions(main) == before  # ...which keeps its full width underneath
        assert _in_sidebar(main)

        await pilot.press("ctrl+b")
        await pilot.pause()

        assert not sidebar.display
        assert main.query_one(PromptInput).has_focus

        await pilot.press("ctrl+b", "escape")  # Esc on the model list (closed) hides it too
        await pilot.pause()
        assert not sidebar.display
        assert main.query_one(PromptInput).has_focus


async def test_esc_in_the_overlay_hides_it_and_the_focus_goes_back(make_app, fake_server):
    from megachat.tui.widgets.message import MessageWidget

    fake_server.enqueue(sse_text_reply("A reply to focus."))
    app = make_app()
    async with app.run_test(size=(60, 20)) as pilot:
        main = await ready(pilot)
        await send(pilot, "Hello")
        reply = list(main.query(MessageWidget))[-1]
        reply.focus()
        await pilot.pause()

        await pilot.press("ctrl+b")
        await pilot.pause()
        assert _in_sidebar(main)
        await pilot.press("tab")  # from the model to the temperature: still in the overlay
        await pilot.pause()
        assert _in_sidebar(main)

        await pilot.press("escape")
        await pilot.pause()

        assert not main.query_one(Sidebar).display
        assert reply.has_focus  # back where it was, not just the prompt
        assert not main.busy


async def test_the_system_prompt_key_opens_the_overlay(make_app):
    app = make_app()
    async with app.run_test(size=(60, 20)) as pilot:
        main = await ready(pilot)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert main.query_one(Sidebar).display
        assert main.query_one("#system", TextArea).has_focus
        await pilot.press("escape")
        await pilot.pause()
        assert not main.query_one(Sidebar).display
        assert main.query_one(PromptInput).has_focus


async def test_at_40x10_a_message_is_sent_and_its_reply_shows(make_app, fake_server):
    from megachat.tui.widgets.message import MessageWidget

    fake_server.enqueue(sse_text_reply("Small but fine."))
    app = make_app()
    async with app.run_test(size=(40, 10)) as pilot:
        main = await ready(pilot)
        await send(pilot, "Hi there")

        assert sent_texts(fake_server) == ["Hi there"]
        await until(pilot, lambda: "Small but fine." in screen_text(app))
        reply = list(main.query(MessageWidget))[-1]
        assert reply.region.overlaps(main.query_one("#conversation-slot").region)
        prompt = main.query_one(PromptInput)
        assert prompt.has_focus and prompt.text == ""
        assert prompt.region.bottom <= main.query_one(SteadyFooter).region.y


async def test_at_40x10_the_image_picker_shows_its_tree_and_path_field(make_app, tmp_path):
    """The picker drops its preview pane and takes the whole screen, so the folder tree and the
    path field (and the buttons) are all in sight: a path can be typed and attached."""
    from textual.widgets import Button

    from megachat.tui.screens.image_picker import ImagePickerScreen
    from megachat.tui.widgets.image_preview import ImagePreview
    from megachat.tui.widgets.path_input import PathInput

    app = make_app()
    async with app.run_test(size=(40, 10)) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, ImagePickerScreen))
        await pilot.pause()
        picker = app.screen
        screen = picker.region
        assert not picker.query_one(ImagePreview).display
        tree = picker.query_one("#picker-tree").region
        assert tree.height >= 3 and screen.contains_region(tree)
        for widget in (picker.query_one(PathInput), *picker.query(Button)):
            assert screen.contains_region(widget.region), widget


async def test_resizing_switches_between_beside_and_overlay(make_app):
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        main = await ready(pilot)
        sidebar = main.query_one(Sidebar)
        assert sidebar.display and sidebar.region.width == 34
        assert main.query_one(PromptInput).region.right <= sidebar.region.x

        await pilot.resize_terminal(60, 30)
        await until(pilot, lambda: not sidebar.display)
        assert main.query_one(PromptInput).region.width == 60
        assert main.query_one(PromptInput).has_focus

        await pilot.resize_terminal(120, 30)
        await until(pilot, lambda: sidebar.display)
        assert main.query_one(PromptInput).region.right <= sidebar.region.x == 120 - 34


async def test_a_sidebar_hidden_at_a_wide_width_stays_hidden(make_app):
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        main = await ready(pilot)
        sidebar = main.query_one(Sidebar)
        await pilot.press("ctrl+b")  # wide: hide it beside the chat
        await until(pilot, lambda: not sidebar.display)
        assert main.query_one(PromptInput).region.width == 120

        await pilot.resize_terminal(60, 30)
        await pilot.pause()
        await pilot.press("ctrl+b")  # narrow: the overlay still opens
        await until(pilot, lambda: sidebar.display)
        await pilot.resize_terminal(120, 30)  # widening closes it: hidden, as the user chose
        await until(pilot, lambda: not sidebar.display)
        assert main.query_one(PromptInput).has_focus


async def test_narrowing_with_the_focus_in_the_sidebar_keeps_it_in_sight(make_app):
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        main = await ready(pilot)
        await pilot.press("ctrl+s")
        await pilot.pause()
        system = main.query_one("#system", TextArea)
        assert system.has_focus

        await pilot.resize_terminal(60, 30)
        await until(pilot, lambda: main.has_class("-narrow"))
        await pilot.pause()

        assert main.query_one(Sidebar).display  # now the overlay, still where the user types
        assert system.has_focus
        assert main.query_one(PromptInput).region.width == 60


@pytest.mark.parametrize(
    ("width", "beside"),
    [(SIDEBAR_DOCKED_MIN_WIDTH, True), (SIDEBAR_DOCKED_MIN_WIDTH - 1, False)],
)
async def test_the_line(make_app, width, beside):
    app = make_app()
    async with app.run_test(size=(width, 24)):
        assert app.screen.query_one(Sidebar).display is beside
