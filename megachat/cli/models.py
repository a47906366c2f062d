"""`megachat models`: the models the API offers, as a table or JSON."""

from __future__ import annotations

import argparse
from typing import Any

from megachat.cli.errors import EXIT_OK, CLIError
from megachat.cli.output import dumps, one_line, write
from megachat.cli.resources import make_client, read_settings, run_async


def cmd_models(args: argparse.Namespace) -> int:
    client = make_client(read_settings())

    async def fetch() -> list[Any]:
        async with client:
            return await client.list_models()

    from megachat.api import APIError

    try:
        models = run_async(fetch())
    except APIError as exc:
        raise CLIError(str(exc)) from None
    if args.json:
        data = [
            {
                "id": m.id,
                "display_name": m.display_name,
                "context_window": m.context_window,
                "max_output_tokens": m.max_output_tokens,
            }
            for m in models
        ]
        write(dumps(data) + "\n")
        return EXIT_OK
    for m in models:
        window = f"{m.context_window:,}" if m.context_window else "-"
        write(f"{one_line(m.id, 40):<40}  {window:>9}  {one_line(m.display_name or '')}\n")
    return EXIT_OK
