"""Make untrusted text (model output, titles, file names, errors) safe to show in a terminal.

Textual and most terminals pass ESC and C1 controls straight through, so a reply could retitle
the window, recolour cells or write the clipboard. Everything here is removed before display;
printable text, including `[bold]`-like brackets, is left exactly as it was.

Invisible format characters (Unicode category Cf: bidi overrides and isolates, zero-width
spaces, the BOM, tag characters) cannot harm the terminal, but they change what text appears to
say: U+202E shows `txt.exe` as `exe.txt`, a zero-width space makes two identical-looking words
differ. They are shown as `⟨U+202E⟩`, so the reader sees that something is there. The joiners
that writing needs stay: ZWJ/ZWNJ inside an emoji sequence (👨‍👩‍👧‍👦) or a word of a script
that uses them (Arabic, Persian, Indic), and the tags of a subdivision flag (🏴 England).
"""

from __future__ import annotations

import re
import unicodedata

# ESC-introduced sequences: CSI (ESC [ ... final), OSC/DCS/SOS/PM/APC strings (terminated by BEL
# or ST; an unterminated one ends at the line's end, so it cannot hide the rest of a reply), and
# two-character escapes. Then 8-bit C1 equivalents (CSI 0x9b, OSC 0x9d, ...).
_ESCAPE_SEQUENCE = re.compile(
    r"""
    \x1b\[[0-?]*[ -/]*[@-~]                       # CSI
  | \x1b[\]PX^_][^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?  # OSC, DCS, SOS, PM, APC
  | \x1b[ -/]*[0-~]                               # other ESC sequences (charset, keypad, ...)
  | \x9b[0-?]*[ -/]*[@-~]                         # 8-bit CSI
  | [\x90\x98\x9d\x9e\x9f][^\x07\x1b\x9c\n]*(?:\x07|\x9c)?  # 8-bit DCS, SOS, OSC, PM, APC
    """,
    re.VERBOSE,
)
# Remaining C0 controls except tab and newline, DEL, lone ESC, C1 controls, lone surrogates.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
# Every Cf character except those terminals draw as a glyph: the soft hyphen U+00AD (a hyphen,
# one cell) and the prepended concatenation marks (Arabic number signs U+0600-U+0605, ...).
# A well-formed emoji tag sequence (🏴 + tags + CANCEL TAG) is matched whole and kept.
_FORMAT = re.compile(
    "(?P<flag>\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f)"
    "|[\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f]"
)
_JOINERS = "\u200c\u200d"  # ZWNJ, ZWJ
# What a joiner may sit between: letters of scripts without case (Arabic, Devanagari, ... are
# Lo), marks (a virama, VS16 U+FE0F), symbols (emoji) and modifiers (skin tones). Not Latin,
# Greek or Cyrillic letters (Lu/Ll), where a joiner only serves to make look-alike words.
_JOINING_CATEGORIES = frozenset({"Lo", "Lm", "Mn", "Mc", "Me", "So", "Sk"})


def _joins(text: str, index: int) -> bool:
    """Whether text[index] may take part in a join (the text's edge counts: a stream is cut
    anywhere, so a delta may end or begin in the middle of 👨‍👩‍👧‍👦)."""
    if index < 0 or index >= len(text):
        return True
    return unicodedata.category(text[index]) in _JOINING_CATEGORIES


def _reveal(match: re.Match[str]) -> str:
    char = match.group()
    if match.lastgroup == "flag":
        return char
    if char in _JOINERS:
        text, at = match.string, match.start()
        if _joins(text, at - 1) and _joins(text, at + 1):
            return char
    return f"⟨U+{ord(char):04X}⟩"


def clean(text: str) -> str:
    """Return `text` without terminal control sequences and with invisible format characters made
    visible (`⟨U+202E⟩`); CR LF becomes LF, a lone CR is dropped.

    Runs on every streamed delta: printable text (the usual case) returns at once, and every
    character changed here is one str.isprintable() rejects (controls, surrogates, Cf)."""
    if text.isprintable():
        return text
    text = text.replace("\r\n", "\n")
    text = _ESCAPE_SEQUENCE.sub("", text)
    text = _CONTROL.sub("", text)
    if text.replace("\n", "").replace("\t", "").isprintable():  # no Cf: skip the slower scan
        return text
    return _FORMAT.sub(_reveal, text)


def for_clipboard(text: str) -> str:
    """Text made safe to put on the clipboard: exactly what `clean` shows on screen.

    A paste is typed into whatever the user pastes into: `\\x1b[201~` ends a shell's bracketed
    paste early, so the lines after it run as commands; an OSC or C1 control acts on the terminal
    that receives it. None survive `clean`. Bidi and zero-width characters are given in their
    visible `⟨U+202E⟩` form rather than dropped: the clipboard then holds what the user saw and
    chose to copy, and a hidden trick pasted into an editor or a shell stays visible instead of
    silently changing the text's meaning (Trojan Source). `MegachatApp.copy_to_clipboard` calls
    this for every copy, so no caller can skip it.
    """
    return clean(text)
