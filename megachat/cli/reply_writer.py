"""Streamed reply text to stdout: flushed piece by piece, and safe on a terminal.

On a terminal, escape sequences are stripped even when one is split across two deltas: a possibly
unfinished sequence at the end of a piece is held back until the next one. In a pipe or a file the
text is passed through unchanged, so `megachat ask ... > reply.txt` is faithful.
"""

from __future__ import annotations

import re

from megachat.cli.output import write


class ReplyWriter:
    """Writes reply text to stdout as it arrives; `finish()` adds a final newline if missing."""

    _INTRODUCERS = "\x1b\x90\x98\x9b\x9d\x9e\x9f"
    _MAX_HOLD = 4096

    def __init__(self, *, terminal: bool) -> None:
        self.terminal = terminal
        self.pending = ""
        self.last = ""

    def write(self, text: str) -> None:
        if not text:
            return
        if self.terminal:
            text = self._clean_streaming(text)
        if text:
            self.last = text[-1]
            write(text)

    def finish(self) -> None:
        if self.pending:
            from megachat.sanitize import clean

            rest, self.pending = clean(self.pending), ""
            if rest:
                self.last = rest[-1]
                write(rest)
        if self.last and self.last != "\n":
            write("\n")
        self.last = ""

    def _clean_streaming(self, text: str) -> str:
        from megachat.sanitize import clean

        text = self.pending + text
        self.pending = ""
        start = max(text.rfind(ch) for ch in self._INTRODUCERS)
        if start >= 0 and len(text) - start <= self._MAX_HOLD and not _sequence_done(text[start:]):
            text, self.pending = text[:start], text[start:]
        if text.endswith("\r"):  # might be half of CR LF
            text, self.pending = text[:-1], "\r" + self.pending
        return clean(text)


def _sequence_done(tail: str) -> bool:
    """Whether the escape sequence starting tail[0] is complete (or cannot grow into one)."""
    first = tail[0]
    if first == "\x1b":
        if len(tail) == 1:
            return False
        second = tail[1]
        if second == "[":
            return not re.fullmatch(r"\x1b\[[0-?]*[ -/]*", tail)
        if second in "]PX^_":  # a string sequence ends at BEL, ST or (for clean()) a newline
            return any(end in tail[2:] for end in ("\x07", "\x1b\\", "\x9c", "\n"))
        return not re.fullmatch(r"\x1b[ -/]*", tail)
    if first == "\x9b":
        return not re.fullmatch(r"\x9b[0-?]*[ -/]*", tail)
    return any(end in tail[1:] for end in ("\x07", "\x9c", "\n"))
