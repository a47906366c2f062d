"""Command line entry point: `megachat` (the TUI) and its subcommands."""

from __future__ import annotations

import argparse
import sys

from megachat import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="megachat",
        description="A terminal chat client for the MegaLLM Messages API.",
    )
    parser.add_argument("--version", action="version", version=f"megachat {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
