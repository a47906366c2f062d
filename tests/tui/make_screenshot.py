"""The README's screenshot: megachat at 60 columns, as a newcomer in a tmux pane sees it.

    python -m tests.tui.make_screenshot docs/screenshot-60.svg

Runs the app headless (Textual's `run_test`) at 60x24 against the loopback fake server, in private
config and data folders, with the 60-column snapshots' fixed conversation resumed (`-c`) and a
draft in the prompt, then writes the screen with `App.save_screenshot`. Nothing depends on the
clock or the machine, so running it again gives the same picture.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path

SIZE = (60, 24)


async def make_screenshot(target: Path) -> Path:
    """Draw the screen into the SVG file `target`; returns its path."""
    from megachat.config import Settings
    from megachat.tui.themes import DARK_THEME
    from tests.fakeserver import FakeServer
    from tests.tui.conftest import TEST_KEY
    from tests.tui.test_main_screen_snapshots import (
        narrow_conversation,
        resume_app,
        show_with_draft,
    )

    with tempfile.TemporaryDirectory() as private, FakeServer() as server:
        os.environ["XDG_CONFIG_HOME"] = str(Path(private, "config"))
        os.environ["XDG_DATA_HOME"] = str(Path(private, "data"))
        settings = Settings(
            api_key=TEST_KEY,
            base_url=server.base_url,
            model="claude-sonnet-4",
            max_tokens=1024,
            rate_limit_requests=0,
            max_retries=0,
        )
        app = resume_app(settings, narrow_conversation(), DARK_THEME)
        async with app.run_test(size=SIZE) as pilot:
            await show_with_draft(pilot)
            saved = app.save_screenshot(target.name, str(target.parent))
    return Path(saved)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", type=Path, help="the SVG file to write")
    args = parser.parse_args(argv)
    target = args.target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    print(asyncio.run(make_screenshot(target)))


if __name__ == "__main__":
    main()
