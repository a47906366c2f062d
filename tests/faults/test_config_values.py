"""A well-formed config.toml holding bad values (edited by hand): reported, ignored, never fatal.

`ask` writes one `megachat: warning:` line per bad value and answers with the defaults in their
place; the TUI shows each as a notification and keeps its default keys, so Enter still sends.
A file that is not valid TOML is still refused (test_disk_cli.py::test_config_with_a_bad_toml_line).
"""

from __future__ import annotations

from pathlib import Path

from megachat.config import DEFAULT_MODEL, config_path, load_settings
from tests.fakeserver import FakeServer, sse_text_reply
from tests.faults.conftest import Sandbox, assert_clean
from tests.tui.conftest import TEST_KEY, notifications, ready, settle, type_text

SIZE = (120, 40)

BAD_VALUES = (
    'model = ""\n'
    "max_retries = 1000000\n"
    'timeout = "10"\n'
    "\n[rate_limit]\nrequests = 0\n"
    '\n[keymap]\nsend = "notakey!!"\n'
)


def test_ask_warns_about_bad_values_and_uses_the_defaults(mc: Sandbox) -> None:
    mc.write_config(BAD_VALUES)
    mc.server.enqueue(sse_text_reply("Lima."))
    result = mc.run("ask", "Capital of Peru?")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Lima.\n"
    assert_clean(result.stderr)
    where = f"megachat: warning: config file {mc.config_file}"
    assert result.stderr.splitlines() == [
        f"{where}, line 1: 'model' must be a non-empty name without spaces or control characters,"
        f" not the string ''; using the default, '{DEFAULT_MODEL}'",
        f"{where}, line 2: 'max_retries' must be an integer from 0 to 10, not 1000000;"
        " using the default, 2",
        f"{where}, line 3: 'timeout' must be a positive number (at most 3600), not the string"
        " '10'; using the default, 600",
    ]  # the keymap is the TUI's: `ask` neither checks it nor imports Textual for it
    (request,) = mc.server.requests_to()
    assert request.json["model"] == DEFAULT_MODEL
    assert mc.config_file.read_text() == BAD_VALUES  # reported, never rewritten
    got = mc.run("config", "get", "max_retries")
    assert (got.returncode, got.stdout) == (0, "2\n")


async def test_tui_reports_bad_values_and_enter_still_sends(
    tui_dirs: Path, fake_server: FakeServer
) -> None:
    from megachat.tui.app import MegachatApp

    path = config_path()
    path.parent.mkdir(parents=True)
    path.write_text(  # values today's code accepted, and that broke the prompt
        f'api_key = "{TEST_KEY}"\nbase_url = "{fake_server.base_url}"\n'
        'model = ""\nmax_retries = 1000000\n\n[rate_limit]\nrequests = 0\n'
        '\n[keymap]\nsend = "notakey!!"\n'
    )
    settings = load_settings()  # what `megachat` does before the app starts: never fatal
    fake_server.enqueue(sse_text_reply("Sent."))
    app = MegachatApp(settings)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(pilot)
        await type_text(pilot, "hello")
        await pilot.press("enter")  # the bad override is dropped: Enter still sends
        await settle(pilot)
        (request,) = fake_server.requests_to()
        assert request.json["messages"][-1]["content"][0]["text"] == "hello"
        assert request.json["model"] == DEFAULT_MODEL
        shown = notifications(app)
        assert any("'keymap.send'" in n and "'notakey!!' is not a key" in n for n in shown), shown
        assert any("'max_retries' must be an integer from 0 to 10" in n for n in shown), shown
        assert any("'model' must be a non-empty name" in n for n in shown), shown
