"""A terminal preview of an image file: a real picture where the terminal has a graphics
protocol (through textual-image, see image_graphics), else Pillow pixels as coloured half-blocks.

Each half-block cell shows two pixels: "▀" with the foreground set to the upper pixel and the
background to the lower one, so pixels come out roughly square. Pillow and textual-image are
imported lazily, and decoding, scaling and encoding all run off the event loop, so neither the
app's start-up nor its key handling waits for an image.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar, assert_never

from rich.color import Color as RichColor
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style as RichStyle
from textual import work
from textual.app import ComposeResult
from textual.containers import Container, Vertical
from textual.content import Content
from textual.events import Resize
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from megachat.chat.images import MAX_IMAGE_FILE_BYTES
from megachat.localfiles import FileRefusedError, describe_size, open_user_file
from megachat.sanitize import clean
from megachat.tui.widgets.image_graphics import (
    GraphicPicture,
    Renderer,
    cell_pixels,
    process_renderer,
)

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

__all__ = [
    "IMAGE_EXTENSIONS",
    "HalfBlockImage",
    "ImagePicture",
    "ImagePreview",
    "Picture",
    "PreviewResult",
    "describe_size",
    "display_name",
    "in_daemon_thread",
    "render_picture_data",
    "render_preview",
    "renderer_for",
]

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp"})
# Refuse to decode more than this many pixels for a preview (JPEG can decode at reduced scale).
MAX_PREVIEW_PIXELS = 64_000_000

RGB = tuple[int, int, int]
T = TypeVar("T")


class HalfBlockImage:
    """A Rich renderable of pre-computed half-block lines (built off the event loop)."""

    def __init__(self, lines: list[list[Segment]], width: int) -> None:
        self.lines = lines
        self.width = width

    @classmethod
    def from_pixels(cls, pixels: list[list[RGB]]) -> HalfBlockImage:
        """Pair rows of pixels into lines of "▀" cells, merging runs of the same colours."""
        height = len(pixels)
        width = len(pixels[0]) if pixels else 0
        lines: list[list[Segment]] = []
        for y in range(0, height, 2):
            top_row = pixels[y]
            bottom_row = pixels[y + 1] if y + 1 < height else None
            segments: list[Segment] = []
            run_key: tuple[RGB, RGB | None] | None = None
            run_length = 0
            for x in range(width):
                key = (top_row[x], bottom_row[x] if bottom_row is not None else None)
                if key == run_key:
                    run_length += 1
                    continue
                if run_key is not None:
                    segments.append(_cell_run(run_key, run_length))
                run_key, run_length = key, 1
            if run_key is not None:
                segments.append(_cell_run(run_key, run_length))
            lines.append(segments)
        return cls(lines, width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        newline = Segment.line()
        for line in self.lines:
            yield from line
            yield newline

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(self.width, self.width)


def _cell_run(key: tuple[RGB, RGB | None], length: int) -> Segment:
    top, bottom = key
    style = RichStyle(
        color=RichColor.from_rgb(*top),
        bgcolor=RichColor.from_rgb(*bottom) if bottom is not None else None,
    )
    return Segment("▀" * length, style)


Picture = HalfBlockImage | GraphicPicture


@dataclass(frozen=True)
class PreviewResult:
    """What the preview shows: an info line, an optional picture, and whether it is an image."""

    path: Path
    info: str
    image: Picture | None = None
    is_image: bool = False
    error: bool = False


def display_name(path: Path) -> str:
    """A file name made safe to show: no control characters, one line."""
    name = path.name or str(path)
    return " ".join(clean(name).splitlines()) or "?"


def render_preview(
    path: Path,
    max_width: int,
    max_height: int,
    background: RGB = (0, 0, 0),
    renderer: Renderer = Renderer.HALFBLOCK,
) -> PreviewResult:
    """Decode `path` and fit it into max_width x max_height cells. Blocking: run it in a thread.

    Never raises for a bad file: a missing file, a folder or a non-image becomes a message. Only
    what megachat.chat.images would attach is opened: a FIFO or a device is refused without
    blocking, a file over the image size limit without being read.
    """
    name = display_name(path)
    try:
        handle = open_user_file(path, MAX_IMAGE_FILE_BYTES)
    except FileNotFoundError:
        return PreviewResult(path, f"No such file: {name}", error=True)
    except IsADirectoryError:
        return PreviewResult(path, f"Folder: {name}")
    except FileRefusedError as exc:
        return PreviewResult(path, f"{name}: {exc}", error=True)
    except OSError as exc:
        return PreviewResult(path, f"Cannot read {name}: {clean(exc.strerror or '')}", error=True)
    with handle:
        return _render_open_file(path, handle, max_width, max_height, background, renderer)


def render_picture_data(
    data: bytes, max_width: int, max_height: int, background: RGB, renderer: Renderer
) -> Picture | None:
    """An image already in memory (an attachment, checked when it was loaded) as a picture of at
    most max_width x max_height cells; None when it cannot be drawn. Blocking: run it in a thread.
    """
    from PIL import Image

    if max_width < 1 or max_height < 1:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            return _draw(image, max_width, max_height, background, renderer)
    except (Image.DecompressionBombError, OSError, ValueError, SyntaxError, EOFError):
        return None  # not an image Pillow can decode (UnidentifiedImageError is an OSError)


def _render_open_file(
    path: Path,
    handle: BinaryIO,
    max_width: int,
    max_height: int,
    background: RGB,
    renderer: Renderer,
) -> PreviewResult:
    name = display_name(path)
    size = describe_size(os.fstat(handle.fileno()).st_size)

    from PIL import Image, UnidentifiedImageError  # lazy: only previews need Pillow

    try:
        with Image.open(handle) as image:
            width, height = image.size
            kind = image.format or "image"
            info = f"{name} · {size} · {width}×{height} {kind}"
            if max_width < 1 or max_height < 1:
                return PreviewResult(path, info, is_image=True)
            picture = _draw(image, max_width, max_height, background, renderer)
            if picture is None:
                return PreviewResult(path, f"{info} (too large to preview)", is_image=True)
    except UnidentifiedImageError:
        return PreviewResult(path, f"Not an image: {name} ({size})", error=True)
    except Image.DecompressionBombError:
        return PreviewResult(path, f"{name} · {size} (too large to preview)", is_image=True)
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        reason = " ".join(clean(str(exc)).split())[:120] or type(exc).__name__
        return PreviewResult(path, f"Cannot read {name} as an image: {reason}", error=True)
    return PreviewResult(path, info, picture, is_image=True)


def _draw(
    image: PILImage, max_width: int, max_height: int, background: RGB, renderer: Renderer
) -> Picture | None:
    """`image` fitted into the box for `renderer`; None when it has too many pixels to decode.

    A graphics renderer whose library cannot be loaded draws half-blocks instead."""
    graphics: ModuleType | None = None
    match renderer:
        case Renderer.HALFBLOCK:
            pass
        case Renderer.KITTY | Renderer.SIXEL:
            graphics = _graphics_module()
        case _:
            assert_never(renderer)
    width, height = image.size
    cells = (0, 0)
    if graphics is None:
        target = _fit(width, height, max_width, max_height * 2)
    else:
        cell = cell_pixels()
        cells = graphics.picture_cells(width, height, (max_width, max_height), cell)
        target = (max(1, cells[0] * cell[0]), max(1, cells[1] * cell[1]))
    if image.format == "JPEG":
        image.draft("RGB", target)  # decodes at a reduced scale: no pixel cap needed
    elif width * height > MAX_PREVIEW_PIXELS:
        return None
    frame = _flatten(image, target, background)
    if graphics is None:
        return HalfBlockImage.from_pixels(_rows(frame))
    picture: GraphicPicture = graphics.prepare(frame, renderer, cells)
    return picture


_graphics_failure: str | None = None


def _graphics_module() -> ModuleType | None:
    """textual-image's widgets, loaded on first use; None (and half-blocks) if they cannot be."""
    global _graphics_failure
    if _graphics_failure is not None:
        return None
    try:
        from megachat.tui.widgets import image_graphics_widgets
    # Missing, or a textual-image whose modules are not shaped as this version expects.
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        _graphics_failure = f"{type(exc).__name__}: {exc}"
        logger.warning("image previews fall back to half-blocks: %s", _graphics_failure)
        return None
    return image_graphics_widgets


def _fit(width: int, height: int, box_width: int, box_height: int) -> tuple[int, int]:
    """The largest size with the image's aspect ratio inside the box (at least 1x1)."""
    scale = min(box_width / max(width, 1), box_height / max(height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _flatten(image: PILImage, target: tuple[int, int], background: RGB) -> PILImage:
    """`image` resized to `target` and laid on `background`: an RGB image, no transparency."""
    from PIL import Image

    frame = image.convert("RGBA")
    if frame.size != target:
        upscale = target[0] > frame.size[0]
        resample = Image.Resampling.NEAREST if upscale else Image.Resampling.BOX
        frame = frame.resize(target, resample)
    flat = Image.new("RGBA", frame.size, (*background, 255))
    flat.alpha_composite(frame)
    return flat.convert("RGB")


def _rows(rgb: PILImage) -> list[list[RGB]]:
    width, height = rgb.size
    raw = rgb.tobytes()
    values: list[RGB] = list(zip(raw[0::3], raw[1::3], raw[2::3], strict=True))
    return [values[row * width : (row + 1) * width] for row in range(height)]


async def in_daemon_thread(func: Callable[..., T], *args: Any) -> T:
    """Run func(*args) in a daemon thread and await its result.

    Unlike asyncio.to_thread, whose executor threads are joined when the app exits, a preview
    still stuck in a read (a hung network file system) cannot keep the process alive after quit:
    nothing a preview does needs to finish.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(outcome: Callable[[], None]) -> None:
        if not future.done():  # cancelled when the user moved on or the app quit
            outcome()

    def run() -> None:
        try:
            result = func(*args)
        except BaseException as exc:
            outcome = partial(future.set_exception, exc)
        else:
            outcome = partial(future.set_result, result)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            loop.call_soon_threadsafe(deliver, outcome)

    threading.Thread(target=run, name="megachat-image-preview", daemon=True).start()
    return await future


def renderer_for(widget: Widget, chosen: Renderer | None) -> Renderer:
    """`chosen`, else the process's renderer; half-blocks for a headless app (tests), which has
    no terminal to draw on."""
    if chosen is not None:
        return chosen
    return Renderer.HALFBLOCK if widget.app.is_headless else process_renderer()


class ImagePicture(Widget):
    """Shows a Picture: half-blocks in a Static, or textual-image's widget for its renderer."""

    DEFAULT_CSS = """
    ImagePicture {
        height: 1fr;
        width: 1fr;
    }
    ImagePicture > .picture-halfblocks {
        height: 1fr;
        width: 1fr;
        content-align: center middle;
    }
    ImagePicture > .picture-graphics {
        height: 1fr;
        width: 1fr;
        align: center middle;
        display: none;
    }
    ImagePicture > .picture-graphics > * {
        width: auto;
        height: auto;
    }
    ImagePicture.-graphics > .picture-halfblocks {
        display: none;
    }
    ImagePicture.-graphics > .picture-graphics {
        display: block;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.picture: Picture | None = None
        self._halfblocks = Static(classes="picture-halfblocks")
        self._graphics = Container(classes="picture-graphics")

    def compose(self) -> ComposeResult:
        yield self._halfblocks
        yield self._graphics

    def show(self, picture: Picture | None) -> None:
        """Draw `picture` (None: nothing). A graphics picture needs the widget attached."""
        self.picture = picture
        match picture:
            case None:
                self._show_halfblocks("")
            case HalfBlockImage():
                self._show_halfblocks(picture)
            case GraphicPicture():
                self._show_graphic(picture)
            case _:
                assert_never(picture)

    def _show_halfblocks(self, image: HalfBlockImage | str) -> None:
        self._halfblocks.update(image)
        self.remove_class("-graphics")
        if self._graphics.is_attached:
            self._graphics.remove_children()  # a kitty picture frees its terminal memory

    def _show_graphic(self, picture: GraphicPicture) -> None:
        if not self._graphics.is_attached:  # the screen is closing: nothing to draw on
            return
        # Imported by the thread that prepared `picture`: here it is only a lookup.
        from megachat.tui.widgets import image_graphics_widgets as graphics

        current = self._graphics.children[0] if self._graphics.children else None
        if not graphics.show_in(current, picture):
            self._graphics.remove_children()
            self._graphics.mount(graphics.new_widget(picture))
        self._halfblocks.update("")
        self.add_class("-graphics")


class ImagePreview(Vertical):
    """Shows a picture of the file given to `show(path)`, with its name, size and dimensions.

    `renderer` None: the process's (image_graphics.process_renderer), chosen at the first preview.
    """

    DEFAULT_CSS = """
    ImagePreview {
        height: 1fr;
        width: 1fr;
    }
    ImagePreview #preview-info {
        height: auto;
        max-height: 3;
        width: 1fr;
        color: $text-muted;
        text-align: center;
    }
    ImagePreview.-error #preview-info {
        color: $text-error;
    }
    """

    def __init__(
        self,
        *,
        renderer: Renderer | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.path: Path | None = None
        self.result: PreviewResult | None = None
        self._renderer = renderer
        # Held, not queried: a preview may land while the picker is being closed, when its
        # children are already gone from the DOM; updating a detached Static is harmless.
        self._picture = ImagePicture(id="preview-picture")
        self._info = Static(Content("No file selected"), id="preview-info")

    @property
    def renderer(self) -> Renderer:
        """How pictures are drawn (decided at the first preview, then kept)."""
        self._renderer = renderer_for(self, self._renderer)
        return self._renderer

    def compose(self) -> ComposeResult:
        yield self._picture
        yield self._info

    def show(self, path: Path | None) -> None:
        """Preview `path` (None clears); decoding happens in a worker, newest request wins."""
        if path == self.path and self.result is not None:
            return
        self.path = path
        if path is None:
            self.result = None
            self._set(Content("No file selected"), None, error=False)
            return
        self._load(path)

    def on_resize(self, event: Resize) -> None:
        if self.path is not None:
            self._load(self.path)

    @work(exclusive=True, group="image-preview")
    async def _load(self, path: Path) -> None:
        size = self._picture.content_size
        background = self.background_colors[1].rgb
        result = await in_daemon_thread(
            render_preview, path, size.width, size.height, background, self.renderer
        )
        if path != self.path:
            return
        self.result = result
        self._set(Content(result.info), result.image, error=result.error)
        self.post_message(self.Loaded(self, result))

    def _set(self, info: Content, image: Picture | None, *, error: bool) -> None:
        self.set_class(error, "-error")
        self._info.update(info)
        self._picture.show(image)

    class Loaded(Message):
        """A preview finished loading (tests and the picker can wait for it)."""

        def __init__(self, preview: ImagePreview, result: PreviewResult) -> None:
            super().__init__()
            self.preview = preview
            self.result = result
