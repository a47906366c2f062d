"""Snapshots of the main screen in a dark and a light theme.

Deterministic: a fixed conversation (Markdown, code, a cancelled reply) resumed with -c, the fake
server's fixed model list, no clock anywhere on the screen, the prompt focused with a fixed draft.
Regenerate with `pytest tests/tui/test_main_screen_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from typing import Any

import pytest

from megachat.chat.conversation import ChatMessage, Conversation
from megachat.chat.store import Store
from megachat.config import db_path
from megachat.tui.themes import DARK_THEME, LIGHT_THEME
from tests.tui.conftest import ready, type_text

REPLY = """Here is a small example:

```python
def greet(name: str) -> str:
    return f"Hello, {name}!"
```

- it takes a **name**
- it returns a greeting
"""


def fixed_conversation() -> Conversation:
    conversation = Conversation(
        id="snapshot00001",
        title="Greeting function",
        model="claude-sonnet-4",
        system="You are concise.",
        temperature=0.2,
        max_tokens=2048,
        created_at=1_700_000_000.0,
        updated_at=1_700_000_000.0,
    )
    texts = [
        ("user", "Write a greeting function in Python.", "complete", None),
        ("assistant", REPLY, "complete", {"input_tokens": 21, "output_tokens": 48}),
        ("user", "Now in Rust, please.", "complete", None),
        ("assistant", "Sure: `fn greet(name: &str)", "cancelled", None),
    ]
    for index, (role, text, status, usage) in enumerate(texts):
        conversation.messages.append(
            ChatMessage(
                role=role,
                content=[{"type": "text", "text": text}],
                id=f"snapmsg{index:05d}",
                status=status,
                created_at=1_700_000_000.0 + index,
                usage=usage,
                model="claude-sonnet-4" if role == "assistant" else None,
            )
        )
    return conversation


@pytest.mark.parametrize("theme", [DARK_THEME, LIGHT_THEME])
def test_main_screen_snapshot(theme: str, settings: Any, snap_compare: Any) -> None:
    from megachat.tui.app import MegachatApp

    store = Store(db_path())
    store.create(fixed_conversation())
    store.close()
    settings.theme = theme
    app = MegachatApp(settings, continue_last=True)

    async def run_before(pilot: Any) -> None:
        await ready(pilot)
        await type_text(pilot, "And in Go?")

    assert snap_compare(app, terminal_size=(110, 36), run_before=run_before)
