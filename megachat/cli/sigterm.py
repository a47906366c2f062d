"""SIGTERM during `megachat ask` behaves like Ctrl+C: the partial reply is stored as cancelled.

Python's default for SIGTERM is to die at once, so a streaming reply would be left in the store as
"streaming" (shown later as interrupted). Instead, while `ask` runs:

- inside the event loop, SIGTERM cancels the task running the turn, exactly as asyncio.run does for
  SIGINT, so chat.turn.Turn stores the text so far as "cancelled"; main() then exits 143;
- before or after the loop (reading stdin, loading images), it raises Terminated on the spot, as
  SIGINT raises KeyboardInterrupt.
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from megachat.cli.errors import Terminated

if TYPE_CHECKING:
    import asyncio
    from types import FrameType

T = TypeVar("T")


class SigtermAsCtrlC:
    """Context manager installing the SIGTERM handler; `guard(coro)` runs the turn under it."""

    def __init__(self) -> None:
        self.received = False
        self._task: asyncio.Task[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> SigtermAsCtrlC:
        try:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
            self._installed = True
        except ValueError:  # not the main thread (an embedding caller): leave signals alone
            pass
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            previous = self._previous if self._previous is not None else signal.SIG_DFL
            signal.signal(signal.SIGTERM, previous)
            self._installed = False

    async def guard(self, coro: Awaitable[T]) -> T:
        """Await coro; SIGTERM meanwhile cancels it and Terminated is raised once it has unwound."""
        import asyncio

        self._task = asyncio.current_task()
        self._loop = asyncio.get_running_loop()
        try:
            result = await coro
        except asyncio.CancelledError:
            if self.received:
                raise Terminated from None
            raise
        finally:
            self._task = self._loop = None
        if self.received:  # arrived as the reply completed: still honour it
            raise Terminated
        return result

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = True
        task, loop = self._task, self._loop
        if task is None or loop is None:
            raise Terminated
        if not task.done():
            task.cancel()
            loop.call_soon_threadsafe(lambda: None)  # wake the loop if it is blocked in select()
