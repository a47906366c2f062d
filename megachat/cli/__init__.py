"""Command line entry point: `megachat` (the TUI) and its subcommands.

Startup is kept lean on purpose: the package imports only the standard library at module level.
`ask` never imports Textual; Pillow is imported (by megachat.chat.images) only when images are
given; the TUI is imported inside the one command that runs it.

Every failure ends as one line `megachat: error: ...` on stderr with exit status 1 (API or
network failure, storage failure) or 2 (usage or input error); Ctrl+C exits 130 and SIGTERM
during `ask` exits 143 (see megachat.cli.sigterm).

Modules: parser (arguments and help), ask (+ reply_writer, sigterm), conversations (list, export,
search, delete, rename), usage (tokens and cost), models, presets, config_commands (config,
key), tui_command; shared: errors (exit statuses), output (printing), resources (settings, store,
client).
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Sequence

from megachat.cli.errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_USAGE,
    CLIError,
    Terminated,
    usage_error,
)
from megachat.cli.output import print_error
from megachat.cli.parser import build_parser

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "CLIError",
    "build_parser",
    "main",
]


def main(argv: Sequence[str] | None = None) -> int:
    """Run megachat; returns the exit status (never raises, except SystemExit from --help)."""
    parser = build_parser()
    try:
        gc.disable()  # see below: kept off for the TUI's start-up only
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help / --version
            return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
        if args.command is not None and (args.tui_continue or args.resume is not None):
            raise usage_error(
                f"-c/--continue and --resume before a command open the TUI; "
                f"did you mean `megachat {args.command} -c ...`?"
            )
        if args.command is not None:
            gc.enable()
        # The TUI's start-up makes a few hundred thousand long-lived objects (Textual's modules,
        # the widgets); collecting while they are made cost ~60 ms before the first frame, a
        # third of it one full collection. The app resumes collection (freezing those objects)
        # right after its first frame: megachat.tui.app.resume_gc.
        return int(args.func(args))
    except CLIError as exc:
        print_error(str(exc))
        return exc.status
    except KeyboardInterrupt:
        _flush_quietly()
        return EXIT_INTERRUPTED
    except Terminated:
        _flush_quietly()
        return EXIT_TERMINATED
    except BrokenPipeError:
        # The reader went away (`megachat ask ... | head`): not an error worth a message.
        _silence_stdout()
        return EXIT_FAILURE
    except Exception as exc:
        # Anything else still ends as one line; MEGACHAT_DEBUG=1 shows the traceback instead.
        if os.environ.get("MEGACHAT_DEBUG"):
            raise
        from megachat.chat.store import StoreError

        if isinstance(exc, StoreError):
            print_error(str(exc))
        else:
            print_error(f"unexpected {type(exc).__name__}: {exc} (MEGACHAT_DEBUG=1 shows details)")
        return EXIT_FAILURE
    finally:
        gc.enable()


def _flush_quietly() -> None:
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
