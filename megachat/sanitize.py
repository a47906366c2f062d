"""Make untrusted text (model output, titles, file names, errors) safe to show in a terminal.

Textual and most terminals pass ESC and C1 controls straight through, so a reply could retitle
the window, recolour cells or write the clipboard. Everything here is removed before display;
printable text, including `[bold]`-like brackets, is left exactly as it was.
"""

from __future__ import annotations

import re

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


def clean(text: str) -> str:
    """Return `text` without terminal control sequences; CR LF becomes LF, a lone CR is dropped."""
    if text.isprintable():
        return text
    text = text.replace("\r\n", "\n")
    text = _ESCAPE_SEQUENCE.sub("", text)
    return _CONTROL.sub("", text)
