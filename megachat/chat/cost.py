"""What a reply cost, and what a draft will cost, from the model table's prices.

Prices are US dollars per million tokens (`capabilities.Prices`); usage is the API's `usage`
object as stored with each reply. The four token counts are billed separately: plain input,
output (thinking included), cache writes and cache reads. A cost is None when it cannot be known
(no usage, or no prices for the model), never a guess: a wrong figure is worse than "?".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from megachat.chat.capabilities import Prices

PER = 1_000_000  # prices are per million tokens

# usage key -> the Prices field that prices it
BILLED = (
    ("input_tokens", "input"),
    ("output_tokens", "output"),
    ("cache_creation_input_tokens", "cache_write"),
    ("cache_read_input_tokens", "cache_read"),
)


def _tokens(usage: Mapping, key: str) -> int | None:
    """A token count from untrusted usage: a missing or null one is 0; anything but a
    non-negative integer is None (unknown)."""
    value = usage.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def reply_cost(usage: Mapping | None, prices: Prices | None) -> float | None:
    """The reply's cost in USD: each kind of token times its price per million. None when the
    usage or the prices are unknown, or the usage holds no token counts at all."""
    if usage is None or prices is None or not isinstance(usage, Mapping):
        return None
    if usage.get("input_tokens") is None and usage.get("output_tokens") is None:
        return None
    total = 0.0
    for key, field in BILLED:
        tokens = _tokens(usage, key)
        if tokens is None:
            return None
        if tokens:
            total += tokens * float(getattr(prices, field))
    return total / PER


def estimate_cost(input_tokens: int | None, prices: Prices | None) -> float | None:
    """What sending a draft of `input_tokens` will cost before any output (the input price;
    the TUI shows it with "≈" unless the count came from count_tokens). None when unknown."""
    if input_tokens is None or prices is None or input_tokens < 0:
        return None
    return input_tokens * float(prices.input) / PER


def format_usd(cost: float | None) -> str:
    """A cost for people: "?" when unknown; cents with 2 decimals, a fraction of a cent (a short
    reply) with 4, anything smaller as "<$0.0001" so a real cost never shows as zero."""
    if cost is None:
        return "?"
    if cost == 0 or cost >= 0.01:
        return f"${cost:,.2f}"
    if cost >= 0.0001:
        return f"${cost:.4f}"
    return "<$0.0001"
