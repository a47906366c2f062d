"""Opening a link from a reply with the system opener (issue 11, item 4).

Model output is untrusted, so the screen asks first (screens/open_link.py) and only web and mail
links are opened at all (`refusal`). The opener is the desktop's own: `xdg-open` on Linux and
the BSDs, `open` on macOS, `os.startfile` on Windows. It is started detached (no terminal: stdin,
stdout and stderr on /dev/null, a session of its own) from a thread, so it can never draw into
the terminal the TUI owns, and the event loop never waits for it to start.

Not `webbrowser` (nor `App.open_url`, which uses it): with no desktop it falls back to console
browsers (lynx, w3m, links, www-browser) run in the foreground on our own terminal, on top of
the TUI, and it can run `$BROWSER` through a shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import threading
from urllib.parse import urlsplit

__all__ = ["OPENED_SCHEMES", "open_url", "opener_name", "refusal"]

OPENED_SCHEMES = ("http", "https", "mailto")


def refusal(url: str) -> str | None:
    """Why `url` is not opened (one line naming its scheme), or None for a web or mail link.

    file:, javascript:, data: and custom schemes (which start other programs) are refused."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "Not opened: this link is not a valid URL."
    scheme = parts.scheme.lower()
    if scheme not in OPENED_SCHEMES:
        named = f"{scheme}:" if scheme else "without a scheme"
        allowed = ", ".join(OPENED_SCHEMES)
        return f"Not opened: links {named} are not opened (only {allowed})."
    if scheme != "mailto" and not parts.netloc:
        return f"Not opened: this {scheme}: link names no host."
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        return "Not opened: the link holds spaces or control characters."
    return None


def opener_name(platform: str = sys.platform) -> str:
    """The system opener of `platform` (as `sys.platform` names it)."""
    if platform == "win32":
        return "os.startfile"
    if platform == "darwin":
        return "open"
    return "xdg-open"  # Linux and the BSDs (freedesktop.org)


async def open_url(url: str) -> str | None:
    """Hand `url` to the system opener; None when it took it, else one line saying why not.

    Returns when the opener ends (it normally hands the URL to the desktop and exits at once);
    an opener that stays (a browser run in its foreground) is left to run, and this waits on.
    Callers run it in a worker; cancelling it stops the waiting, never the opener.
    """
    name = opener_name()
    if name == "os.startfile":
        try:
            await asyncio.to_thread(os.startfile, url)  # type: ignore[attr-defined]
        except OSError as exc:
            return f"Could not open the link: {exc.strerror or exc}"
        return None
    path = shutil.which(name)
    if path is None:
        return f"Could not open the link: no {name} on this system."
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[int] = loop.create_future()
    try:
        process = await asyncio.to_thread(_start_detached, [path, url])
    except OSError as exc:
        return f"Could not open the link: {name}: {exc.strerror or exc}"
    _watch(process, loop, exited)
    code = await exited
    return f"Could not open the link: {name} failed (exit status {code})." if code else None


def _start_detached(argv: list[str]) -> subprocess.Popen[bytes]:
    """Start `argv` with no terminal: nothing in, nothing out, a new session (no controlling
    terminal, no signals from ours)."""
    return subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )


def _watch(
    process: subprocess.Popen[bytes],
    loop: asyncio.AbstractEventLoop,
    exited: asyncio.Future[int],
) -> None:
    """Wait for the opener in a daemon thread (quitting never waits for an opener still
    running, as the executor's threads would) and give its exit status to `exited`."""

    def wait() -> None:
        code = process.wait()
        with contextlib.suppress(RuntimeError):  # the app has quit: nobody is waiting
            loop.call_soon_threadsafe(_settle, exited, code)

    threading.Thread(target=wait, name="link-opener", daemon=True).start()


def _settle(exited: asyncio.Future[int], code: int) -> None:
    if not exited.done():
        exited.set_result(code)
