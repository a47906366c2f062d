"""How previews draw pictures: a terminal graphics protocol where there is one, else half-blocks.

Real images need the kitty graphics protocol (kitty, Ghostty: textual-image places images with
the protocol's Unicode placeholders, which WezTerm and iTerm2 do not draw) or sixel (WezTerm,
iTerm2, foot, mlterm, Konsole). Everywhere else, and inside tmux or screen (which drop graphics
escapes unless told to pass them through), previews stay coloured half-blocks.

The choice comes from the environment only, never from asking the terminal: an answer would have
to be read from stdin, where Textual's input thread is already reading, so the answer would be
taken for keys (or a key for the answer). MEGACHAT_IMAGE_PREVIEW = kitty | sixel | halfblock
overrides the guess; it is an environment variable, not a config key, because it belongs to the
terminal (the same user may run kitty and a plain xterm), like TERM itself.

textual-image probes the terminal when its packages are imported (`textual_image.renderable`
sends a DA1 and a kitty query and waits 0.1 s for each; `textual_image.widget` asks for the cell
size), which is only safe before Textual owns the terminal. `import_textual_image_quietly`
registers those two packages without running their `__init__` and gives textual-image the cell
size from the tty's ioctl, so the modules megachat uses load at any time, with no terminal I/O.
Nothing here imports textual-image or Pillow: start-up does not pay for them.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

__all__ = [
    "ENV_IMAGE_PREVIEW",
    "GraphicPicture",
    "Renderer",
    "cell_pixels",
    "choose_renderer",
    "import_textual_image_quietly",
    "process_renderer",
]

ENV_IMAGE_PREVIEW = "MEGACHAT_IMAGE_PREVIEW"
# A cell's size in pixels when the tty does not say (textual-image's default too: a VT340's).
DEFAULT_CELL_PIXELS = (10, 20)
# textual-image's packages whose __init__ talks to the terminal.
_PROBING_PACKAGES = ("textual_image.renderable", "textual_image.widget")
# TERM names (before any "-suffix") of terminals that draw sixel.
_SIXEL_TERMS = frozenset({"foot", "mlterm", "contour", "wezterm"})
_KONSOLE_SIXEL_VERSION = 220400  # Konsole 22.04 added sixel


class Renderer(StrEnum):
    """How a picture reaches the screen."""

    KITTY = "kitty"  # kitty graphics protocol, placed by Unicode placeholders
    SIXEL = "sixel"
    HALFBLOCK = "halfblock"  # "▀" cells, two pixels each: works in every colour terminal


def choose_renderer(environ: Mapping[str, str], *, stdout_is_tty: bool) -> Renderer:
    """The renderer for a terminal described by `environ` (TERM, TERM_PROGRAM, ...).

    textual-image writes kitty images to stdout, so graphics are only guessed when stdout is the
    terminal; MEGACHAT_IMAGE_PREVIEW, when it names a renderer, wins over every guess."""
    wanted = environ.get(ENV_IMAGE_PREVIEW, "").strip().lower()
    if wanted in {renderer.value for renderer in Renderer}:
        return Renderer(wanted)
    if not stdout_is_tty:
        return Renderer.HALFBLOCK
    term = environ.get("TERM", "").lower()
    program = environ.get("TERM_PROGRAM", "").lower()
    if environ.get("TMUX") or environ.get("STY") or term.startswith(("screen", "tmux")):
        return Renderer.HALFBLOCK
    if program == "ghostty" or term in ("xterm-kitty", "xterm-ghostty"):
        return Renderer.KITTY
    if program in ("wezterm", "iterm.app") or term.split("-", 1)[0] in _SIXEL_TERMS:
        return Renderer.SIXEL
    konsole = environ.get("KONSOLE_VERSION", "")
    if konsole.isdigit() and int(konsole) >= _KONSOLE_SIXEL_VERSION:
        return Renderer.SIXEL
    if "KITTY_WINDOW_ID" in environ and not program:  # kitty with TERM changed (say, for ssh)
        return Renderer.KITTY
    return Renderer.HALFBLOCK


@cache
def process_renderer() -> Renderer:
    """This process's renderer, chosen once (the environment of a running app does not change)."""
    stdout = sys.__stdout__
    return choose_renderer(os.environ, stdout_is_tty=stdout is not None and stdout.isatty())


@cache
def cell_pixels() -> tuple[int, int]:
    """(width, height) of a terminal cell in pixels: from the tty's ioctl, which asks nothing of
    the terminal itself, else TEXTUAL_CELL_WIDTH/HEIGHT (textual-serve's), else a VT340's."""
    try:
        import fcntl
        import struct
        import termios

        assert sys.__stdout__ is not None
        packed = fcntl.ioctl(sys.__stdout__.fileno(), termios.TIOCGWINSZ, b"\0" * 8)
        rows, columns, width, height = struct.unpack("HHHH", packed)
        if rows and columns and width >= columns and height >= rows:
            return width // columns, height // rows
    except (ImportError, AssertionError, OSError, ValueError):
        pass
    width_text = os.environ.get("TEXTUAL_CELL_WIDTH", "")
    height_text = os.environ.get("TEXTUAL_CELL_HEIGHT", "")
    if width_text.isdigit() and height_text.isdigit() and int(width_text) and int(height_text):
        return int(width_text), int(height_text)
    return DEFAULT_CELL_PIXELS


_import_lock = threading.Lock()


def import_textual_image_quietly() -> None:
    """Make textual-image's modules importable without its terminal probes (see the docstring).

    Idempotent and thread-safe; raises ImportError when textual-image is missing. A package some
    other code imported first, probes and all, is left as it is."""
    with _import_lock:
        for package in _PROBING_PACKAGES:
            if package in sys.modules:
                continue
            spec = importlib.util.find_spec(package)
            if spec is None or spec.submodule_search_locations is None:
                raise ImportError(f"{package} is not a package")
            # The package's modules resolve through its __path__; its __init__ never runs.
            sys.modules[package] = importlib.util.module_from_spec(spec)
        from textual_image import _terminal

        if not hasattr(_terminal.get_cell_size, "_result"):  # textual-image's own cache
            _terminal.get_cell_size._result = _terminal.CellSize(*cell_pixels())  # type: ignore[attr-defined]


@dataclass(frozen=True, eq=False)
class GraphicPicture:
    """A picture for a graphics renderer: scaled, flattened (and sixel-encoded) off the loop.

    `cells` is the size textual-image will give it, so the widget scales nothing on the event
    loop; `sixels` is the encoded picture for SIXEL (encoding is the slow part, ~0.1 s)."""

    renderer: Literal[Renderer.KITTY, Renderer.SIXEL]
    image: PILImage
    cells: tuple[int, int]
    sixels: str | None = None
