"""The one bounded reader for user files and stdin: regular files only, sizes checked first,
never more than limit + 1 bytes read, even from a file that grows after the check."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from megachat.localfiles import (
    FileTooLargeError,
    NotRegularFileError,
    open_user_file,
    read_at_most,
    read_user_file,
)


class CountingStream(io.RawIOBase):
    """An endless stream of zeros that counts what was taken from it (like /dev/zero)."""

    def __init__(self) -> None:
        self.taken = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = len(buffer)
        buffer[:n] = bytes(n)
        self.taken += n
        return n


def test_read_at_most_takes_the_whole_stream_up_to_the_limit() -> None:
    assert read_at_most(io.BytesIO(b""), 10) == b""
    assert read_at_most(io.BytesIO(b"x" * 10), 10) == b"x" * 10
    with pytest.raises(FileTooLargeError) as err:
        read_at_most(io.BytesIO(b"x" * 11), 10)
    assert str(err.value) == "is larger than the 10 B limit"


def test_an_endless_stream_is_read_for_limit_plus_one_bytes_only() -> None:
    endless = CountingStream()
    with pytest.raises(FileTooLargeError):
        read_at_most(io.BufferedReader(endless, buffer_size=1), 3 << 20)
    assert endless.taken == (3 << 20) + 1


def test_a_pipe_is_read_to_its_end() -> None:
    read_end, write_end = os.pipe()
    with open(read_end, "rb") as reader:
        with open(write_end, "wb") as writer:
            writer.write(b"abc" * 1000)
        assert read_at_most(reader, 3000) == b"abc" * 1000


def test_only_regular_files_are_opened(tmp_path: Path) -> None:
    regular = tmp_path / "a.txt"
    regular.write_bytes(b"hello")
    link = tmp_path / "link.txt"
    link.symlink_to(regular)
    assert read_user_file(regular, 5) == b"hello"
    assert read_user_file(link, 5) == b"hello"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero"), Path("/dev/null")):
        with pytest.raises(NotRegularFileError, match=r"^is not a regular file$"):
            read_user_file(path, 5)
    with pytest.raises(IsADirectoryError):
        read_user_file(tmp_path, 5)
    with pytest.raises(FileNotFoundError):
        read_user_file(tmp_path / "missing", 5)
    with pytest.raises(FileTooLargeError, match=r"^is 5 B, larger than the 4 B limit$"):
        read_user_file(regular, 4)


def test_a_file_that_grows_after_the_check_is_still_bounded(tmp_path: Path) -> None:
    path = tmp_path / "growing.log"
    path.write_bytes(b"x" * 100)
    with open_user_file(path, 100) as handle:  # passes the size check at 100 bytes
        with open(path, "ab") as more:
            more.write(b"y" * 10_000)
        with pytest.raises(FileTooLargeError, match=r"^is larger than the 100 B limit$"):
            read_at_most(handle, 100)
