"""The stdio test server: ``python -m tests.mcp_servers.stdio_server``."""

from __future__ import annotations

import sys

from tests.mcp_servers.toolbox import build_server


def main() -> None:
    """Serve the toolbox over stdin/stdout; a line on stderr shows the client captures it."""
    print("stdio test server starting", file=sys.stderr, flush=True)
    build_server("stdio-test", with_crash=True).run("stdio")


if __name__ == "__main__":
    main()
