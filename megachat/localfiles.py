"""Reading files and streams the user points us at, with bounds.

A path from the user (an image, a preset, a theme, the config file) may name a FIFO, a device
such as /dev/zero, or a sparse file of gigabytes. Reading it naively hangs the process or grows
its memory until the kernel kills it. So every such read goes through here: the file is opened
without blocking (a FIFO's open would wait for a writer), checked with fstat on the open
descriptor (regular file, size within the limit) and read for at most limit + 1 bytes, because a
file can grow between the check and the read. Streams (stdin) are read in chunks with the same
cap, which also leaves Ctrl+C and SIGTERM a chance to act between chunks.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "MAX_SETTINGS_FILE_BYTES",
    "FileRefusedError",
    "FileTooLargeError",
    "NotRegularFileError",
    "describe_size",
    "open_user_file",
    "read_at_most",
    "read_user_file",
]

CHUNK_BYTES = 1 << 20  # read streams a MiB at a time
# Hand-written TOML settings (config.toml, presets): far below this, so a bigger one is a mistake.
MAX_SETTINGS_FILE_BYTES = 1 << 20


def describe_size(size: int) -> str:
    """Byte counts the way people read them: 812 B, 12.3 KiB, 4.0 MiB."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


class FileRefusedError(OSError):
    """A file refused before it was read. The reason, worded to follow a name, is strerror."""

    def __str__(self) -> str:
        return self.strerror or ""


class NotRegularFileError(FileRefusedError):
    """A FIFO, a device, a socket: reading it could block forever or never end."""

    def __init__(self) -> None:
        super().__init__(errno.EINVAL, "is not a regular file")


class FileTooLargeError(FileRefusedError):
    """More bytes than the reader accepts; `size` is None when only "more than limit" is known."""

    def __init__(self, limit: int, size: int | None = None) -> None:
        self.limit = limit
        self.size = size
        shown = describe_size(limit).replace(".0 ", " ")
        if size is None:
            reason = f"is larger than the {shown} limit"
        else:
            actual = describe_size(size)
            if actual.replace(".0 ", " ") == shown:  # just over: the rounded sizes look equal
                actual = f"{size:,} bytes"
            reason = f"is {actual}, larger than the {shown} limit"
        super().__init__(errno.EFBIG, reason)


def read_at_most(stream: BinaryIO, limit: int) -> bytes:
    """All of `stream` (read in chunks); FileTooLargeError as soon as it passes `limit` bytes."""
    buffer = bytearray()
    while True:
        chunk = stream.read(min(CHUNK_BYTES, limit + 1 - len(buffer)))
        if not chunk:
            return bytes(buffer)
        buffer += chunk
        if len(buffer) > limit:
            raise FileTooLargeError(limit)


def open_user_file(path: str | Path, limit: int) -> BinaryIO:
    """Open a regular file of at most `limit` bytes for binary reading, never blocking.

    Raises FileNotFoundError, PermissionError and the like as open() does, IsADirectoryError for
    a folder, NotRegularFileError for anything else that is not a regular file, and
    FileTooLargeError when the file is already larger than `limit`.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFileError
        if info.st_size > limit:
            raise FileTooLargeError(limit, info.st_size)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_user_file(path: str | Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes (errors as open_user_file)."""
    with open_user_file(path, limit) as handle:
        return read_at_most(handle, limit)
