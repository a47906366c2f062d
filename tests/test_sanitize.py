"""megachat.sanitize: terminal control sequences go, invisible format characters are shown,
printable text stays exactly; the clipboard gets what the screen shows."""

from __future__ import annotations

import pytest

from megachat.sanitize import clean, for_clipboard
from tests.tui.nasty_strings import NASTY_STRINGS

ENGLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"


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
        # invisible format characters (Cf) are made visible ...
        ("invoice\u202egpj.exe", "invoice⟨U+202E⟩gpj.exe"),  # RLO: reads as invoiceexe.jpg
        ("\u202a\u202b\u202c\u202d", "⟨U+202A⟩⟨U+202B⟩⟨U+202C⟩⟨U+202D⟩"),  # embeddings, PDF
        ("\u2066\u2067\u2068\u2069", "⟨U+2066⟩⟨U+2067⟩⟨U+2068⟩⟨U+2069⟩"),  # isolates
        ("\u200e\u200f\u061c", "⟨U+200E⟩⟨U+200F⟩⟨U+061C⟩"),  # LRM, RLM, ALM
        ("שלום \u200b zero-width", "שלום ⟨U+200B⟩ zero-width"),
        ("a\u2060b\u2061c\u2064d", "a⟨U+2060⟩b⟨U+2061⟩c⟨U+2064⟩d"),  # word joiner, invisibles
        ("\ufeffBOM", "⟨U+FEFF⟩BOM"),
        ("\u180e\ufff9\U0001d173", "⟨U+180E⟩⟨U+FFF9⟩⟨U+1D173⟩"),
        ("hi\U000e0041\U000e0042", "hi⟨U+E0041⟩⟨U+E0042⟩"),  # tag characters ("ASCII smuggling")
        ("pay\u200dpal", "pay⟨U+200D⟩pal"),  # a joiner between Latin letters only hides
        ("Auf\u200clage", "Auf⟨U+200C⟩lage"),
        (" \u200d ", " ⟨U+200D⟩ "),
        ("👨\u200d\u200d👩", "👨⟨U+200D⟩⟨U+200D⟩👩"),
        ("a\x1b[1m\u202e\x07b", "a⟨U+202E⟩b"),  # escapes go, then the override shows
        # ... except the joiners that writing needs, and what terminals draw as a glyph
        ("👨\u200d👩\u200d👧\u200d👦", "👨\u200d👩\u200d👧\u200d👦"),  # family: one emoji
        ("🏳\ufe0f\u200d🌈 🧑🏽\u200d💻", "🏳\ufe0f\u200d🌈 🧑🏽\u200d💻"),  # after VS16, a skin tone
        ("می\u200cخواهم", "می\u200cخواهم"),  # Persian ZWNJ
        ("क्\u200dष", "क्\u200dष"),  # Devanagari: virama + ZWJ
        (ENGLAND, ENGLAND),  # 🏴 + tags + cancel tag: a subdivision flag
        ("\u200d👩", "\u200d👩"),  # at an edge: a stream's delta may end or start mid-sequence
        ("soft\u00adhyphen \u0600\u0661", "soft\u00adhyphen \u0600\u0661"),  # drawn as glyphs
    ],
)
def test_clean(raw: str, shown: str) -> None:
    assert clean(raw) == shown
    assert clean(shown) == shown  # cleaning twice changes nothing


def test_the_printable_fast_path_misses_nothing() -> None:
    """clean() returns printable text at once; the full path must agree on all of it."""
    printable = "".join(c for c in map(chr, range(0x110000)) if c.isprintable())
    assert clean(printable + "\x00") == printable


@pytest.mark.parametrize(
    ("raw", "copied"),
    [
        ("ls\x1b[201~\ntouch pwned\necho done", "ls\ntouch pwned\necho done"),
        ("x\x9b201~y", "xy"),  # 8-bit CSI
        ("t\x1b]0;title\x07 \u202eevil", "t ⟨U+202E⟩evil"),
        ("crlf\r\nnul\x00 tab\t", "crlf\nnul tab\t"),
        ("bad\ud800", "bad"),  # would not even encode for OSC 52
        ("👨\u200d👩\u200d👧\u200d👦", "👨\u200d👩\u200d👧\u200d👦"),
    ],
)
def test_for_clipboard(raw: str, copied: str) -> None:
    assert for_clipboard(raw) == copied


def test_no_control_character_survives_the_nasty_corpus() -> None:
    for text in NASTY_STRINGS:
        out = clean(text)
        assert not any(ord(c) < 32 and c not in "\t\n" for c in out), repr(text)
        assert not any(0x7F <= ord(c) <= 0x9F for c in out), repr(text)
