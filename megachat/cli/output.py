"""Printing for every command: stdout that never breaks on encoding, one-line stderr messages.

Untrusted text (titles, model output, error messages) reaches the terminal only through
`for_terminal`, `one_line` or `dumps`, which strip or escape control sequences.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from megachat.redact import Secrets

_SECRETS = Secrets()  # API keys seen this run: redacted from errors and from what is stored


def remember_secret(secret: str) -> None:
    """Never print or store this value (an API key loaded from the config file)."""
    _SECRETS.add(secret)


def known_secrets() -> Secrets:
    """Every API key this run knows of: those remembered, and MEGALLM_API_KEY."""
    _SECRETS.add(os.environ.get("MEGALLM_API_KEY"))
    return _SECRETS


def write(text: str) -> None:
    """Write to stdout and flush; characters the encoding lacks are replaced, not fatal."""
    out = sys.stdout
    try:
        out.write(text)
    except UnicodeEncodeError:
        out.buffer.write(text.encode(out.encoding or "utf-8", errors="replace"))
    out.flush()


def inform(message: str) -> None:
    """One `megachat: ...` line on stderr (notes, warnings, waits); stdout stays clean."""
    sys.stderr.write(f"megachat: {message}\n")
    sys.stderr.flush()


def print_error(message: str) -> None:
    """The one `megachat: error: ...` line: API keys redacted, controls stripped, one line."""
    from megachat.sanitize import clean

    message = known_secrets().redact(message)
    text = " ".join(clean(message).split())  # one line, whatever the message held
    try:
        sys.stderr.write(f"megachat: error: {text}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def dumps(value: Any) -> str:
    """JSON for humans and scripts: UTF-8 kept, but C1 controls and lone surrogates escaped.

    json.dumps already escapes C0 controls (so ESC becomes \\u001b); C1 controls would reach the
    terminal raw with ensure_ascii=False, so they are escaped too (still the same JSON value).
    """
    text = json.dumps(value, ensure_ascii=False, indent=2)
    return "".join(
        f"\\u{ord(ch):04x}" if 0x7F <= ord(ch) <= 0x9F or 0xD800 <= ord(ch) <= 0xDFFF else ch
        for ch in text
    )


def for_terminal(text: str) -> str:
    """Untrusted text for stdout: cleaned on a terminal, faithful in a pipe."""
    if sys.stdout.isatty():
        from megachat.sanitize import clean

        return clean(text)
    return text


def one_line(text: str, width: int | None = None) -> str:
    """Untrusted text as one clean line, cut to `width` characters with an ellipsis."""
    from megachat.sanitize import clean

    line = " ".join(clean(text).split())
    if width is not None and len(line) > width:
        line = line[: max(0, width - 1)] + "…"
    return line
