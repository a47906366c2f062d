"""Fixtures for the security tests: the CLI sandbox and the TUI's Pilot fixtures."""

from __future__ import annotations

from tests.cli.conftest import cli  # noqa: F401  (a megachat sandbox on the fake server)
from tests.tui.conftest import make_app, settings, tui_dirs  # noqa: F401  (fixtures for Pilot)
