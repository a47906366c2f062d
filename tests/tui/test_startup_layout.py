"""Start-up without a jump: the first frame already has the final layout.

The sidebar (with its inputs) and the footer's row are composed with the first frame; the footer's
keys, the view, the store and the session come right after it (`MainScreen._start`) and fill in
place. So the
regions of the prompt, the sidebar, the conversation area, the title and the footer are the same
at the first frame as once start-up has finished, and the sidebar shows the new chat's settings
from the start (so loading the conversation changes nothing on screen).

The "first frame" is the layout `run_test` hands over: laid out, with start-up not yet done
(asserted, so the comparison means what it says).
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import Input, Select, Static, TextArea
from textual.widgets._footer import FooterKey

from megachat.tui.widgets.footer import SteadyFooter
from megachat.tui.widgets.prompt_input import PromptInput
from megachat.tui.widgets.sidebar import Sidebar
from tests.tui.conftest import ready

SIZE = (120, 40)


def _layout(screen: Any) -> dict[str, Any]:
    return {
        "title": screen.query_one("#title-bar").region,
        "conversation": screen.query_one("#conversation-slot").region,
        "prompt": screen.query_one(PromptInput).region,
        "sidebar": screen.query_one(Sidebar).region,
        "footer": screen.query_one(SteadyFooter).region,
    }


def _sidebar_shows(screen: Any) -> dict[str, Any]:
    sidebar = screen.query_one(Sidebar)
    return {
        "model": sidebar.query_one("#model", Select).value,
        "temperature": sidebar.query_one("#temperature", Input).value,
        "max_tokens": sidebar.query_one("#max-tokens", Input).value,
        "system": sidebar.query_one("#system", TextArea).text,
        "figures": str(sidebar.query_one("#figures", Static).content),
    }


@pytest.mark.parametrize(
    ("temperature", "system"), [(None, ""), (0.3, "Answer in [bold]French[/]")]
)
async def test_the_first_frame_has_the_final_layout(make_app, settings, temperature, system):
    settings.temperature = temperature
    settings.system_prompt = system
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = app.screen
        assert not main.ready.is_set(), "this must be the frame before start-up finished"
        first_layout = _layout(main)
        assert first_layout["prompt"].width > 0 and first_layout["sidebar"].width > 0
        assert main.query_one(PromptInput).has_focus

        await ready(pilot)

        assert main.view is not None and main.session is not None  # start-up did finish
        assert _layout(main) == first_layout
        assert _sidebar_shows(main) == {
            "model": settings.model,
            "temperature": "" if temperature is None else f"{temperature:g}",
            "max_tokens": str(settings.max_tokens),
            "system": system,  # literally
            "figures": "Draft ≈ 0 tokens",
        }
        assert main.query_one(PromptInput).has_focus


async def test_the_sidebar_sits_right_of_the_prompt_at_its_final_width(make_app):
    app = make_app()
    async with app.run_test(size=SIZE):
        main = app.screen
        prompt, sidebar = main.query_one(PromptInput).region, main.query_one(Sidebar).region
        assert sidebar.width == 34
        assert prompt.right <= sidebar.x
        assert sidebar.right == SIZE[0]


async def test_the_system_prompt_key_during_start_up_focuses_it(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = app.screen
        assert not main.ready.is_set()
        await pilot.press("ctrl+s")
        await ready(pilot)
        assert main.query_one("#system", TextArea).has_focus


async def test_a_sidebar_shows_its_settings_from_the_start(make_app):
    """Any other use of the sidebar: its inputs show the settings it was given."""
    from textual.app import App

    class Host(App):
        def compose(self):
            yield Sidebar("claude-sonnet-4", temperature=0.5, max_tokens=99, system="be [b]")

    async with Host().run_test(size=SIZE) as pilot:
        await pilot.pause()
        shown = _sidebar_shows(pilot.app.screen)
        assert shown == {
            "model": "claude-sonnet-4",
            "temperature": "0.5",
            "max_tokens": "99",
            "system": "be [b]",
            "figures": "Draft ≈ 0 tokens",
        }


async def test_the_footer_fills_in_place_and_a_click_on_a_key_presses_it(make_app):
    from megachat.tui.screens import HelpScreen

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = app.screen
        footer = main.query_one(SteadyFooter)
        first = footer.region
        await ready(pilot)
        keys = {key.description: key for key in footer.query(FooterKey)}
        assert "Send" in keys and "Help" in keys  # the prompt's keys
        assert footer.region == first
        await pilot.click(keys["Help"])
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
