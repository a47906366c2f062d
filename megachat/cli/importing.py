"""`megachat import FILE`: save what `export --format json` wrote as a new conversation.

The file is read with a bound, validated whole (megachat.chat.importing) and only then written,
in one transaction: a malformed file changes nothing.
"""

from __future__ import annotations

import argparse

from megachat.cli.errors import EXIT_OK, CLIError, usage_error
from megachat.cli.output import write
from megachat.cli.resources import open_store, read_settings

# An export holds every image as base64 (twice with --all-branches: in `messages` and `tree`),
# so it may be large; past this it is no export of a conversation anyone could send.
MAX_IMPORT_MIB = 256
MAX_IMPORT_BYTES = MAX_IMPORT_MIB << 20


def cmd_import(args: argparse.Namespace) -> int:
    """Validate the export fully, store it as a new conversation, print the new id."""
    name = "stdin" if args.file == "-" else args.file
    data = _read(args.file, name)
    from megachat.chat.importing import ImportFormatError, build_conversation, parse_export

    try:
        conv = build_conversation(parse_export(data))
    except ImportFormatError as exc:
        raise usage_error(f"{name}: {exc}") from None
    try:  # only to learn a key kept in config.toml, so that it is never stored
        read_settings(report=False)
    except CLIError:
        pass
    store = open_store()
    try:
        store.create(conv)
    finally:
        store.close()
    write(conv.id + "\n")
    return EXIT_OK


def _read(path: str, name: str) -> bytes:
    """The file's bytes (or stdin's), at most MAX_IMPORT_BYTES; a usage error otherwise."""
    from megachat.localfiles import read_at_most, read_user_file

    try:
        if path == "-":
            import sys

            return read_at_most(sys.stdin.buffer, MAX_IMPORT_BYTES)
        return read_user_file(path, MAX_IMPORT_BYTES)
    except OSError as exc:
        raise usage_error(f"{name}: {exc.strerror or exc}") from None
