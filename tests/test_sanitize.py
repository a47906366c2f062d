"""megachat.sanitize.clean: terminal control sequences go, printable text stays exactly."""

from __future__ import annotations

import pytest

from megachat.sanitize import clean
from tests.tui.nasty_strings import NASTY_STRINGS


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a\x1b[31mred\x1b[0m", "ared"),  # SGR
        ("x\x1b]2;pwned\x07y", "xy"),  # OSC 2 (window title), BEL-terminated
        ("q\x1b]52;c;Zm9v\x1b\\z", "qz"),  # OSC 52 (clipboard), ST-terminated
        ("\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", "link"),  # OSC 8 hyperlink
        ("\x9b31mz", "z"),  # 8-bit CSI
        ("a\x1b]2;never terminated\nnext line", "a\nnext line"),  # unterminated: ends at the line
        ("[bold]hi[/] [/INST] [link=x]", "[bold]hi[/] [/INST] [link=x]"),  # markup stays literal
        ("a\r\nb\rc", "a\nbc"),
        ("bad\ud800x", "badx"),  # lone surrogate
        ("tab\tnewline\n", "tab\tnewline\n"),
        ("end\x1b", "end"),
        ("שלום \u200b zero-width", "שלום \u200b zero-width"),
    ],
)
def test_clean(raw: str, shown: str) -> None:
    assert clean(raw) == shown


def test_no_control_character_survives_the_nasty_corpus() -> None:
    for text in NASTY_STRINGS:
        out = clean(text)
        assert not any(ord(c) < 32 and c not in "\t\n" for c in out), repr(text)
        assert not any(0x7F <= ord(c) <= 0x9F for c in out), repr(text)
