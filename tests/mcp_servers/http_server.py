"""The streamable-HTTP test server on 127.0.0.1.

In-process: ``with serve_in_thread() as url: ...`` (port 0: the socket is bound and listening
before the thread starts, so a client can connect at once, no waiting). As a process:
``python -m tests.mcp_servers.http_server --port N`` (it then also offers ``crash``).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from tests.mcp_servers.toolbox import build_server

PATH = "/mcp"


def _config(with_crash: bool) -> uvicorn.Config:
    app = build_server("http-test", with_crash=with_crash).streamable_http_app(
        streamable_http_path=PATH
    )
    return uvicorn.Config(app, log_level="warning", lifespan="on")


@contextmanager
def serve_in_thread() -> Iterator[str]:
    """Run the server in a thread on an ephemeral port; yields its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(_config(with_crash=False))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}{PATH}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def main() -> None:
    """Serve on the given port (0: any) and print the URL once listening."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    port = parser.parse_args().port
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", port))
    sock.listen(64)
    print(f"http://127.0.0.1:{sock.getsockname()[1]}{PATH}", flush=True)
    asyncio.run(uvicorn.Server(_config(with_crash=True)).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
