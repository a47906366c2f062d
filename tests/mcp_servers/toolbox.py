"""The tools every test server offers, on one MCPServer shared by the stdio and HTTP servers."""

from __future__ import annotations

import base64
import os
import sys

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.utilities.types import Image

# A 1x1 red PNG: the smallest real image a tool can return.
TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
BIG_TEXT_CHARS = 1_100_000  # a little over 1 MB, so the client's 1 MB cut shows
CRASH_STDERR = "toolbox: about to crash on purpose"


def build_server(name: str, *, with_crash: bool) -> MCPServer:
    """The test tools; ``crash`` only where the server runs in its own process."""
    server = MCPServer(name)

    @server.tool()
    def add(a: int, b: int) -> str:
        """Add two integers."""
        return str(a + b)

    @server.tool()
    def image() -> Image:
        """A tiny PNG."""
        return Image(data=TINY_PNG, format="png")

    @server.tool()
    async def sleep(seconds: float) -> str:
        """Sleep, then say so: lets a test outlast the client's timeout."""
        await anyio.sleep(seconds)
        return f"slept {seconds}"

    @server.tool()
    def fail() -> str:
        """Always raises (a ToolError: the SDK hides other exceptions' messages)."""
        raise ToolError("the fail tool failed on purpose")

    @server.tool()
    def big() -> str:
        """Over a megabyte of text."""
        return "x" * BIG_TEXT_CHARS

    @server.tool()
    def env(name: str) -> str:
        """One variable of this server's environment, or "(unset)"."""
        return os.environ.get(name, "(unset)")

    if with_crash:

        @server.tool()
        def crash() -> str:
            """Exit the process in the middle of the call."""
            print(CRASH_STDERR, file=sys.stderr, flush=True)
            os._exit(3)

    return server
