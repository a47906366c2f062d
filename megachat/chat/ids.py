"""Short, unique, time-sortable identifiers for conversations and messages.

An id is 14 characters of lower-case Crockford base32: 9 for the time in milliseconds (good until
the year 3084) and 5 random ones. Ids made later sort after earlier ones as plain strings, so the
store can order by id, and ids made by one process in the same millisecond still increase.
"""

from __future__ import annotations

import os
import threading
import time

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32; ASCII order == value order
TIME_CHARS = 9
RANDOM_CHARS = 5
ID_LENGTH = TIME_CHARS + RANDOM_CHARS
_RANDOM_LIMIT = 32**RANDOM_CHARS

_lock = threading.Lock()
_last = (0, 0)  # (milliseconds, random part) of the previous id made in this process


def _random_half() -> int:
    """A random value in the lower half of the random range (os.urandom: no `random` import)."""
    return int.from_bytes(os.urandom(4), "big") % (_RANDOM_LIMIT // 2)


def _encode(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, digit = divmod(value, 32)
        chars.append(ALPHABET[digit])
    return "".join(reversed(chars))


def new_id() -> str:
    """A new id, strictly greater than every id this process made before."""
    global _last
    with _lock:
        ms = time.time_ns() // 1_000_000
        last_ms, last_rand = _last
        if ms <= last_ms:
            # Same millisecond (or the clock went back): keep the order by counting up.
            ms, rand = last_ms, last_rand + 1
            if rand >= _RANDOM_LIMIT:
                ms, rand = ms + 1, _random_half()
        else:
            # Leave head room above so the counting-up case rarely overflows.
            rand = _random_half()
        _last = (ms, rand)
    return _encode(ms, TIME_CHARS) + _encode(rand, RANDOM_CHARS)


def id_time(id_: str) -> float:
    """The creation time (seconds since the epoch) encoded in an id."""
    value = 0
    for ch in id_[:TIME_CHARS]:
        value = value * 32 + ALPHABET.index(ch)
    return value / 1000.0
