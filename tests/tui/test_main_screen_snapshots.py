"""Snapshots of the main screen in a dark and a light theme, wide (110x36) and narrow (60x20).

Deterministic: a fixed conversation (Markdown, code, a cancelled reply) resumed with -c, the fake
server's fixed model list, no clock anywhere on the screen, the prompt focused with a fixed draft.
At 60 columns the sidebar is hidden (an overlay on ctrl+b, snapshotted open too) and the reply
has a link, inline math, an inline image and a code block: the README screenshot shows the same
(tests/tui/make_screenshot.py).
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

NARROW_REPLY = r"""Euler's identity: $e^{i\pi} + 1 = 0$. See [docs](https://example.com/docs).

before ![diagram](https://example.com/d.png) after

```python
import cmath
print(cmath.exp(1j * cmath.pi) + 1)
```
"""

DRAFT = "And in Go?"


def _conversation(title: str, texts: list[tuple[str, str, str, dict | None]]) -> Conversation:
    conversation = Conversation(
        id="snapshot00001",
        title=title,
        model="claude-sonnet-4",
        system="You are concise.",
        temperature=0.2,
        max_tokens=2048,
        created_at=1_700_000_000.0,
        updated_at=1_700_000_000.0,
    )
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


def fixed_conversation() -> Conversation:
    return _conversation(
        "Greeting function",
        [
            ("user", "Write a greeting function in Python.", "complete", None),
            ("assistant", REPLY, "complete", {"input_tokens": 21, "output_tokens": 48}),
            ("user", "Now in Rust, please.", "complete", None),
            ("assistant", "Sure: `fn greet(name: &str)", "cancelled", None),
        ],
    )


def narrow_conversation() -> Conversation:
    """The 60-column snapshots' and the README screenshot's conversation: one short exchange."""
    return _conversation(
        "Euler's identity",
        [
            ("user", "Euler's identity, with a link and a check?", "complete", None),
            ("assistant", NARROW_REPLY, "complete", {"input_tokens": 18, "output_tokens": 64}),
        ],
    )


def resume_app(settings: Any, conversation: Conversation, theme: str) -> Any:
    """The app as `megachat -c` opens it with `conversation` the most recent one stored."""
    from megachat.tui.app import MegachatApp

    store = Store(db_path())
    store.create(conversation)
    store.close()
    settings.theme = theme
    return MegachatApp(settings, continue_last=True)


async def show_with_draft(pilot: Any) -> None:
    await ready(pilot)
    await type_text(pilot, DRAFT)


@pytest.mark.parametrize("theme", [DARK_THEME, LIGHT_THEME])
def test_main_screen_snapshot(theme: str, settings: Any, snap_compare: Any) -> None:
    app = resume_app(settings, fixed_conversation(), theme)
    assert snap_compare(app, terminal_size=(110, 36), run_before=show_with_draft)


@pytest.mark.parametrize("theme", [DARK_THEME, LIGHT_THEME])
def test_main_screen_snapshot_at_60_columns(theme: str, settings: Any, snap_compare: Any) -> None:
    app = resume_app(settings, narrow_conversation(), theme)
    assert snap_compare(app, terminal_size=(60, 20), run_before=show_with_draft)


def test_main_screen_snapshot_at_60_columns_with_the_sidebar_open(
    settings: Any, snap_compare: Any
) -> None:
    app = resume_app(settings, narrow_conversation(), DARK_THEME)

    async def run_before(pilot: Any) -> None:
        await show_with_draft(pilot)
        await pilot.press("ctrl+b")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(60, 20), run_before=run_before)
