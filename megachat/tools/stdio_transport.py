"""Our stdio transport for the `mcp` SDK: the SDK's own passes on more of our environment.

``mcp.client.stdio.stdio_client`` always merges HOME, LOGNAME, PATH, SHELL, TERM and USER into
the server's environment and sends its stderr to a file; we need exactly the server's ``env``
plus PATH and HOME, a bounded tail of stderr to show when it fails, and a cap on one message
(the SDK reads a stdout line without limit). Only imported by ``client.py``, lazily.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

import anyio
import anyio.abc
import mcp_types
from anyio.streams.buffered import BufferedByteReceiveStream
from mcp.client._transport import TransportStreams
from mcp.shared.message import SessionMessage

STDERR_TAIL_BYTES = 4096
# One JSON-RPC message from a server. An image the Messages API takes is at most 5 MB, 6.7 MB in
# base64, so 8 MB lets every usable result through while one call cannot eat memory unboundedly.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
EXIT_GRACE_SECONDS = 2.0  # after stdin closes, before SIGTERM to the process group
KILL_GRACE_SECONDS = 2.0  # after SIGTERM, before SIGKILL
STDERR_SETTLE_SECONDS = 1.0  # how long a failure waits for the last stderr bytes to arrive


@dataclass
class ProcessWatch:
    """What we know about the server process, kept for error reports after it is gone."""

    stderr_tail: bytearray = field(default_factory=bytearray)
    stderr_done: anyio.Event = field(default_factory=anyio.Event)
    returncode: int | None = None
    transport_error: str | None = None  # e.g. an oversized message; set before closing

    def add_stderr(self, chunk: bytes) -> None:
        self.stderr_tail += chunk
        del self.stderr_tail[:-STDERR_TAIL_BYTES]

    async def settle(self) -> None:
        """Wait (bounded) for stderr to end so a failure report has the server's last words."""
        with anyio.move_on_after(STDERR_SETTLE_SECONDS):
            await self.stderr_done.wait()

    def stderr_text(self) -> str:
        return self.stderr_tail.decode("utf-8", errors="replace")


@asynccontextmanager
async def stdio_transport(
    command: str,
    args: list[str],
    env: dict[str, str],
    cwd: str | None,
    watch: ProcessWatch,
) -> AsyncIterator[TransportStreams]:
    """Start the server and bridge its pipes to the SDK's streams; always stops the process.

    Raises OSError when the command cannot be started (missing, not executable, bad cwd).
    """
    try:
        process = await anyio.open_process(
            [command, *args],
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, so a kill reaches its children too
        )
    except OSError:
        watch.stderr_done.set()  # there is no stderr to wait for
        raise
    read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)

    async def read_stdout() -> None:
        assert process.stdout is not None
        lines = BufferedByteReceiveStream(process.stdout)
        async with read_writer:
            try:
                while True:
                    line = await lines.receive_until(b"\n", MAX_MESSAGE_BYTES)
                    if not line.strip():
                        continue
                    await read_writer.send(_parse(line))
            except anyio.DelimiterNotFound:
                watch.transport_error = (
                    f"the server sent a message over {MAX_MESSAGE_BYTES // (1024 * 1024)} MB"
                )
            except (anyio.EndOfStream, anyio.IncompleteRead):
                pass
            except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
                pass

    async def read_stderr() -> None:
        assert process.stderr is not None
        try:
            async for chunk in process.stderr:
                watch.add_stderr(chunk)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            pass
        finally:
            watch.stderr_done.set()

    async def write_stdin() -> None:
        assert process.stdin is not None
        try:
            async with write_reader:
                async for message in write_reader:
                    data = message.message.model_dump_json(by_alias=True, exclude_unset=True)
                    await process.stdin.send((data + "\n").encode())
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            await read_writer.aclose()  # the session sees the connection end, not a hang

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(read_stdout)
        tasks.start_soon(read_stderr)
        tasks.start_soon(write_stdin)
        try:
            yield read_stream, write_stream
        finally:
            with anyio.CancelScope(shield=True):
                await _stop(process)
                watch.returncode = process.returncode
                for stream in (read_stream, write_stream):
                    await stream.aclose()
            tasks.cancel_scope.cancel()


def _parse(line: bytes) -> SessionMessage | Exception:
    try:
        return SessionMessage(mcp_types.jsonrpc_message_adapter.validate_json(line, by_name=False))
    except ValueError as error:  # the session reports it; the connection carries on
        return error


async def _stop(process: anyio.abc.Process) -> None:
    """Close stdin, give the server a moment to exit, then stop its whole process group."""
    assert process.stdin is not None
    with suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
        await process.stdin.aclose()
    with anyio.move_on_after(EXIT_GRACE_SECONDS):
        await process.wait()
    if process.returncode is None and sys.platform != "win32":
        from mcp.os.posix.utilities import terminate_posix_process_tree

        await terminate_posix_process_tree(process, KILL_GRACE_SECONDS)
    elif process.returncode is None:
        process.kill()
    with anyio.move_on_after(KILL_GRACE_SECONDS):
        await process.wait()
