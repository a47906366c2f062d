"""How a command fails: the exit statuses and the exceptions that carry them up to main()."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1  # API or network failure after retries, storage failure
EXIT_USAGE = 2  # usage or input error; nothing was sent
EXIT_INTERRUPTED = 130  # Ctrl+C (128 + SIGINT)
EXIT_TERMINATED = 143  # SIGTERM during `ask` (128 + SIGTERM)


class CLIError(Exception):
    """A failure to report as one line on stderr with the given exit status."""

    def __init__(self, message: str, status: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.status = status


def usage_error(message: str) -> CLIError:
    """A usage or input error (exit 2)."""
    return CLIError(message, EXIT_USAGE)


class Terminated(BaseException):
    """SIGTERM arrived: stop quietly with exit 143.

    A BaseException, like KeyboardInterrupt, so that no `except Exception` on the way swallows it.
    """
