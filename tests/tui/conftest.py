"""Shared TUI fixtures: private config/data dirs, settings aimed at the fake server, the app.

Every test gets its own XDG_CONFIG_HOME / XDG_DATA_HOME (so config.toml, the store and user
themes are private to it) and settings pointing at the loopback fake server. Synchronisation is
on app state only: `ready()` waits for the main screen's start-up, `settle()` for all workers,
`until()` for a condition (a bounded number of rounds, then it asserts). Helpers shared by the
TUI tests (`notifications`, `stored`, `send`, `sent_texts`) live here too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from megachat.config import Settings
from tests.fakeserver import FakeServer

TEST_KEY = "sk-test-key-0123456789"


@pytest.fixture
def tui_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Private XDG dirs; the environment cannot leak a real key or base URL in."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("MEGALLM_API_KEY", raising=False)
    monkeypatch.delenv("MEGALLM_BASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def settings(tui_dirs: Path, fake_server: FakeServer) -> Settings:
    """Settings for the fake server: a key, a fixed model, no client-side rate limit."""
    return Settings(
        api_key=TEST_KEY,
        base_url=fake_server.base_url,
        model="claude-sonnet-4",
        max_tokens=1024,
        theme="megachat-dark",
        rate_limit_requests=0,
        max_retries=0,
        prompt_cache=False,  # request bodies as the tests write them (tests of caching turn it on)
    )


@pytest.fixture
def make_app(settings: Settings) -> Callable[..., Any]:
    """Build a MegachatApp over `settings` (keyword arguments go to the app)."""
    from megachat.tui.app import MegachatApp

    def make(**kwargs: Any) -> MegachatApp:
        return MegachatApp(settings, **kwargs)

    return make


async def ready(pilot: Any) -> Any:
    """Wait until the main screen finished starting (view mounted, conversation shown)."""
    from megachat.tui.screens.main import MainScreen

    app = pilot.app
    main = next(s for s in app.screen_stack if isinstance(s, MainScreen))
    await main.ready.wait()
    await settle(pilot)
    return main


async def settle(pilot: Any) -> None:
    """Wait for every worker to finish, then for the screen to process what they posted."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def until(
    pilot: Any,
    condition: Callable[[], bool],
    rounds: int = 200,
    step: Callable[[], Awaitable[Any]] | None = None,
) -> None:
    """Let the app work until `condition` holds (bounded rounds; no sleeping), else fail.

    Each round is `step()` (a key press, say) or, by default, one `pilot.pause()`."""
    for _ in range(rounds):
        if condition():
            return
        await (step() if step is not None else pilot.pause())
    assert condition()


def notifications(app: Any) -> list[str]:
    """The text of every notification the app has shown (and not yet dismissed)."""
    return [str(n.message) for n in app._notifications]


def stored(conversation_id: str) -> Any:
    """The conversation as saved in the store (read through a store of its own)."""
    from megachat.chat.store import Store
    from megachat.config import db_path

    store = Store(db_path())
    try:
        return store.get(conversation_id)
    finally:
        store.close()


async def send(pilot: Any, text: str) -> None:
    """Type `text` into the prompt, press Enter and wait for the turn to finish."""
    await type_text(pilot, text)
    await pilot.press("enter")
    await settle(pilot)


def sent_texts(fake_server: Any) -> list[str]:
    """The text of the last user message of every request the server got, in order."""
    texts = []
    for request in fake_server.requests_to():
        content = request.json["messages"][-1]["content"]
        texts.append("".join(b["text"] for b in content if b["type"] == "text"))
    return texts


async def type_text(pilot: Any, text: str) -> None:
    """Put `text` in the prompt as a user would (a paste), newlines included."""
    from megachat.tui.widgets.prompt_input import PromptInput

    prompt = pilot.app.screen.query_one(PromptInput)
    prompt.insert(text)
    await pilot.pause()
