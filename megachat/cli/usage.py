"""`megachat usage`: what the stored replies used and cost, by model and by day.

Every stored reply with a usage counts, on every branch (each was paid for). A reply stored
without a price (a model with no prices, or one stored before megachat priced replies) counts
its tokens but not a cost: it is reported as unpriced, never guessed.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from megachat.cli.errors import EXIT_OK, usage_error
from megachat.cli.output import dumps, one_line, write
from megachat.cli.resources import open_store

if TYPE_CHECKING:
    from megachat.chat.store import Spending

TOKEN_COLUMNS = ("replies", "input", "output", "cache write", "cache read")


def since_date(text: str) -> float:
    """--since YYYY-MM-DD: the start of that day (UTC) in epoch seconds; a usage error else."""
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise usage_error(
            f"--since must be a date YYYY-MM-DD, not {one_line(text, 40)!r}"
        ) from None
    return day.timestamp()


def cmd_usage(args: argparse.Namespace) -> int:
    from megachat.chat.store import Spending

    since = None if args.since is None else since_date(args.since)
    store = open_store()
    try:
        by_model = store.spending_by("model", since)
        by_day = store.spending_by("day", since)
    finally:
        store.close()
    total = sum((s for _, s in by_model), Spending())
    if args.json:
        write(
            dumps(
                {
                    "by_model": [{"model": k, **s.as_dict()} for k, s in by_model],
                    "by_day": [{"day": k, **s.as_dict()} for k, s in by_day],
                    "total": total.as_dict(),
                }
            )
            + "\n"
        )
        return EXIT_OK
    write(_table("model", by_model, total) + "\n" + _table("day (UTC)", by_day, total))
    if total.unpriced:
        write(
            f"{total.unpriced} of {total.replies} replies unpriced (no prices for their model, "
            "or stored before megachat priced replies): their cost is not in the totals\n"
        )
    return EXIT_OK


def _cost(spent: Spending) -> str:
    from megachat.chat.cost import format_usd

    text = format_usd(spent.cost_usd)
    return text + "+?" if spent.unpriced and spent.cost_usd is not None else text


def _table(heading: str, rows: list[tuple[str, Spending]], total: Spending) -> str:
    """A small aligned table: the key, token counts right-aligned, the cost ("?" unknown,
    "+?" when some of the row's replies are unpriced), and a total line."""
    lines = [[heading, *TOKEN_COLUMNS, "cost"]]
    for key, spent in [*rows, ("total", total)]:
        lines.append(
            [
                one_line(key, 40),
                *(
                    f"{n:,}"
                    for n in (
                        spent.replies,
                        spent.input_tokens,
                        spent.output_tokens,
                        spent.cache_write_tokens,
                        spent.cache_read_tokens,
                    )
                ),
                _cost(spent),
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = []
    for line in lines:
        cells = [line[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True)
        ]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out) + "\n"
