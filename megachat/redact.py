"""Keep the API key out of everything megachat writes: error lines, the store, exports, stdout.

A hostile or buggy server can echo the key back, in an error body or in the reply itself. Every
place that writes text it did not write itself passes it through `redact` first; this module is
the one rule for what counts as a secret and what replaces it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 4  # shorter "secrets" would redact ordinary words

T = TypeVar("T")


def _usable(secrets: Iterable[str | None]) -> list[str]:
    """The secrets worth looking for: stripped, long enough, longest first (so a key that
    contains another is replaced whole)."""
    found = {s.strip() for s in secrets if isinstance(s, str)}
    return sorted((s for s in found if len(s) >= MIN_SECRET_LENGTH), key=len, reverse=True)


def redact(value: T, secrets: Iterable[str | None]) -> T:
    """`value` with every secret replaced by [redacted] in every string of it (a str, or the
    keys and values of JSON-like dicts and lists, e.g. content blocks). Other values as given."""
    wanted = _usable(secrets)
    if not wanted:
        return value
    return _redact(value, wanted)  # type: ignore[return-value]


def _redact(value: object, secrets: Iterable[str]) -> object:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {_redact(k, secrets): _redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, secrets) for v in value]
    return value


def _unfinished(text: str, secrets: Iterable[str]) -> int:
    longest = 0
    for secret in secrets:
        i = text.find(secret[0], max(0, len(text) - len(secret) + 1))
        while i != -1:
            if secret.startswith(text[i:]):
                longest = max(longest, len(text) - i)
                break  # the earliest match is the longest for this secret
            i = text.find(secret[0], i + 1)
    return longest


class Secrets:
    """The secret values one component must never write (API keys), kept out of its repr.

    Shared by reference: adding a key (a new one entered in the TUI) reaches every holder."""

    __slots__ = ("_values",)

    def __init__(self, values: Iterable[str | None] = ()) -> None:
        self._values: tuple[str, ...] = ()  # usable ones, longest first
        for value in values:
            self.add(value)

    def add(self, value: str | None) -> None:
        """Remember `value` (ignored when empty or too short to be a key)."""
        if isinstance(value, str):
            self._values = tuple(_usable([*self._values, value]))

    def redact(self, value: T) -> T:
        """`value` with these secrets replaced (see `redact`)."""
        return _redact(value, self._values) if self._values else value  # type: ignore[return-value]

    def unfinished(self, text: str) -> int:
        """See `unfinished_secret`."""
        return _unfinished(text, self._values) if self._values else 0

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"<Secrets: {len(self._values)} hidden>"


class StreamRedactor:
    """Redacts text that arrives in pieces: a secret split across two pieces is still caught,
    because the tail that could begin a secret is held back until the next piece (or `flush`)."""

    __slots__ = ("_pending", "_secrets")

    def __init__(self, secrets: Secrets) -> None:
        self._secrets = secrets
        self._pending = ""

    def feed(self, text: str) -> str:
        """The part of everything fed so far that is safe to show now."""
        if not self._secrets:
            return text
        text = self._secrets.redact(self._pending + text)
        keep = self._secrets.unfinished(text)
        if keep:
            self._pending = text[-keep:]
            return text[:-keep]
        self._pending = ""
        return text

    def flush(self) -> str:
        """What is still held back: the stream ended, so it was not a secret."""
        rest, self._pending = self._pending, ""
        return rest
