"""Best-effort parsing of an incomplete JSON document, like ``jiter.from_json(partial_mode=True)``.

The SDK re-parses a tool's input after every ``input_json_delta`` this way: containers are kept as
far as they go, while an incomplete trailing scalar (string, number, literal) or key is dropped:
``{"location": "P`` -> ``{}``, ``{"a": [1, 2`` -> ``{"a": [1, 2]}``.
"""

from __future__ import annotations

import json
import re
from typing import Any

_decoder = json.JSONDecoder()
_scanstring = json.decoder.scanstring  # type: ignore[attr-defined]
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_NUMBER_CHARS = re.compile(r"[-+0-9.eE]*")
_WS = re.compile(r"[ \t\n\r]*")
_STRING_END = re.compile(r'(?:[^"\\]|\\.)*"', re.DOTALL)
_LITERALS = {"t": ("true", True), "f": ("false", False), "n": ("null", None)}


class _Incomplete(Exception):
    """An incomplete scalar at the end of the input: drop it."""


def parse_partial_json(text: str) -> Any:
    """Parse ``text``; complete prefixes of containers survive. Raises ValueError when invalid."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    parser = _Parser(text)
    try:
        value, _ = parser.value(0)
    except _Incomplete:
        raise ValueError("incomplete JSON value") from None
    return value


class _Parser:
    __slots__ = ("end", "s")

    def __init__(self, s: str) -> None:
        self.s = s
        self.end = len(s)

    def ws(self, i: int) -> int:
        return _WS.match(self.s, i).end()  # type: ignore[union-attr]

    def value(self, i: int) -> tuple[Any, int | None]:
        """Return (value, next index) or (partial container, None) when input ran out inside it."""
        s = self.s
        i = self.ws(i)
        if i >= self.end:
            raise _Incomplete
        c = s[i]
        if c == "{" or c == "[":
            try:
                return _decoder.raw_decode(s, i)
            except ValueError:
                return self.obj(i) if c == "{" else self.arr(i)
        if c == '"':
            return self.string(i)
        if c == "-" or "0" <= c <= "9":
            return self.number(i)
        lit = _LITERALS.get(c)
        if lit is not None:
            word, val = lit
            if s.startswith(word, i):
                return val, i + len(word)
            if word.startswith(s[i:]):
                raise _Incomplete
        raise ValueError(f"invalid JSON at {i}")

    def string(self, i: int) -> tuple[str, int]:
        try:
            return _scanstring(self.s, i + 1, True)
        except ValueError:
            if _STRING_END.match(self.s, i + 1) is None:
                raise _Incomplete from None
            raise

    def number(self, i: int) -> tuple[Any, int]:
        m = _NUMBER.match(self.s, i)
        token_end = _NUMBER_CHARS.match(self.s, i).end()  # type: ignore[union-attr]
        if m is None or m.end() != token_end:
            if token_end >= self.end:
                raise _Incomplete
            raise ValueError(f"invalid number at {i}")
        return json.loads(m.group()), m.end()

    def obj(self, i: int) -> tuple[dict, int | None]:
        s, out = self.s, {}
        i = self.ws(i + 1)
        if i >= self.end:
            return out, None
        if s[i] == "}":
            return out, i + 1
        while True:
            if s[i] != '"':
                raise ValueError(f"expected a key at {i}")
            try:
                key, i = self.string(i)
            except _Incomplete:
                return out, None
            i = self.ws(i)
            if i >= self.end:
                return out, None
            if s[i] != ":":
                raise ValueError(f"expected ':' at {i}")
            try:
                val, nxt = self.value(i + 1)
            except _Incomplete:
                return out, None
            out[key] = val
            if nxt is None:
                return out, None
            i = self.ws(nxt)
            if i >= self.end:
                return out, None
            if s[i] == "}":
                return out, i + 1
            if s[i] != ",":
                raise ValueError(f"expected ',' or '}}' at {i}")
            i = self.ws(i + 1)
            if i >= self.end:
                return out, None

    def arr(self, i: int) -> tuple[list, int | None]:
        s, out = self.s, []
        i = self.ws(i + 1)
        if i >= self.end:
            return out, None
        if s[i] == "]":
            return out, i + 1
        while True:
            try:
                val, nxt = self.value(i)
            except _Incomplete:
                return out, None
            out.append(val)
            if nxt is None:
                return out, None
            i = self.ws(nxt)
            if i >= self.end:
                return out, None
            if s[i] == "]":
                return out, i + 1
            if s[i] != ",":
                raise ValueError(f"expected ',' or ']' at {i}")
            i = self.ws(i + 1)
            if i >= self.end:
                return out, None
