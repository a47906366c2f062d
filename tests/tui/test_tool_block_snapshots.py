"""A snapshot of tool calls and results in the conversation (dark theme, 100x30).

Deterministic: a fixed stored conversation resumed with -c (a reply calling three tools, their
results: one plain, one an error, expanded, one an image), the fake server's fixed model list.
Regenerate with `pytest tests/tui/test_tool_block_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from typing import Any

from textual.widgets.collapsible import CollapsibleTitle

from megachat.chat.conversation import ChatMessage, Conversation
from megachat.tui.themes import DARK_THEME
from megachat.tui.widgets.tool_blocks import ToolResultSection
from tests.tui.conftest import ready, settle
from tests.tui.test_main_screen_snapshots import resume_app
from tests.tui.test_tool_blocks import tool_messages


def tool_conversation() -> Conversation:
    messages: list[ChatMessage] = tool_messages()
    for index, message in enumerate(messages):
        message.id = f"toolmsg{index:05d}"
        message.created_at = 1_700_000_000.0 + index
    messages[1].usage = {"input_tokens": 30, "output_tokens": 52}
    return Conversation(
        id="snapshot00002",
        title="Tools",
        model="claude-sonnet-4",
        created_at=1_700_000_000.0,
        updated_at=1_700_000_000.0,
        messages=messages,
    )


async def open_the_error(pilot: Any) -> None:
    main = await ready(pilot)
    error = next(r for r in main.query(ToolResultSection) if r.is_error)
    await pilot.click(error.query_one(CollapsibleTitle))
    await settle(pilot)


def test_tool_blocks_snapshot(settings: Any, snap_compare: Any) -> None:
    app = resume_app(settings, tool_conversation(), DARK_THEME)
    assert snap_compare(app, terminal_size=(100, 30), run_before=open_the_error)
