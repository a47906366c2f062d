"""textual-image's widgets as previews use them: fed pictures prepared off the event loop, and
showing a line instead of raising when the terminal write or the encoding fails.

Importing this module loads textual-image (through `import_textual_image_quietly`: no terminal
probes) and Pillow. Only the preview thread imports it first, when it prepares the first graphics
picture; start-up never does.
"""

from __future__ import annotations

from typing import assert_never

from PIL import Image as PILImage
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from textual.app import ComposeResult
from textual.app import RenderResult as TextualRenderResult
from textual.geometry import Region
from textual.strip import Strip

from megachat.sanitize import clean
from megachat.tui.widgets.image_graphics import (
    GraphicPicture,
    Renderer,
    import_textual_image_quietly,
)

import_textual_image_quietly()

# textual-image's building blocks, taken from their modules (its package namespaces, which choose
# a renderer by probing the terminal, are skipped).
from textual_image._geometry import ImageSize  # noqa: E402
from textual_image._sixel import BackgroundColor, SixelOptions, image_to_sixels  # noqa: E402
from textual_image._terminal import CellSize, TerminalError  # noqa: E402
from textual_image.renderable.tgp import Image as TGPRenderable  # noqa: E402
from textual_image.widget._base import Image as BaseImage  # noqa: E402
from textual_image.widget.sixel import Image as SixelImage  # noqa: E402
from textual_image.widget.sixel import _ImageSixelImpl  # noqa: E402

__all__ = ["KittyPicture", "SixelPicture", "picture_cells", "prepare", "show_in"]

# What drawing a picture can raise: no tty left, a write error, a picture textual-image refuses.
DRAW_ERRORS = (TerminalError, OSError, ValueError)


def picture_cells(
    width: int, height: int, box: tuple[int, int], cell: tuple[int, int]
) -> tuple[int, int]:
    """The cells textual-image gives a width x height picture in a box of cells (ratio kept)."""
    return ImageSize(width, height, "auto", "auto").get_cell_size(box[0], box[1], CellSize(*cell))


def prepare(frame: PILImage.Image, renderer: Renderer, cells: tuple[int, int]) -> GraphicPicture:
    """The picture for `renderer`, `frame` already at its final pixel size. Blocking (a thread)."""
    match renderer:
        case Renderer.KITTY:
            return GraphicPicture(Renderer.KITTY, frame, cells)
        case Renderer.SIXEL:
            return GraphicPicture(Renderer.SIXEL, frame, cells, image_to_sixels(frame))
        case Renderer.HALFBLOCK:
            raise ValueError("half-blocks are not a graphics renderer")
        case _:
            assert_never(renderer)


def show_in(current: KittyPicture | SixelPicture | None, picture: GraphicPicture) -> bool:
    """Show `picture` in the widget already there; False when it needs a widget of another kind."""
    match current:
        case KittyPicture() if picture.renderer is Renderer.KITTY:
            current.show(picture)
            return True
        case SixelPicture() if picture.renderer is Renderer.SIXEL:
            current.show(picture)
            return True
        case _:
            return False


def new_widget(picture: GraphicPicture) -> KittyPicture | SixelPicture:
    """A widget of the kind `picture` is drawn with."""
    match picture.renderer:
        case Renderer.KITTY:
            return KittyPicture(picture)
        case Renderer.SIXEL:
            return SixelPicture(picture)
        case _:
            assert_never(picture.renderer)


def _reason(exc: BaseException) -> str:
    text = " ".join(clean(str(exc)).split())[:80] or type(exc).__name__
    return f"(picture not shown: {text})"


class _Guarded:
    """A renderable drawn as a one-line reason when drawing it fails, not as a traceback."""

    def __init__(self, inner: TGPRenderable) -> None:
        self.inner = inner

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        try:
            segments = list(self.inner.__rich_console__(console, options))
        except DRAW_ERRORS as exc:
            segments = [Segment(_reason(exc)[: options.max_width])]
        yield from segments

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return self.inner.__rich_measure__(console, options)


class KittyPicture(BaseImage, Renderable=TGPRenderable):
    """A kitty-protocol picture: the image is sent once per render, cells carry placeholders."""

    def __init__(self, picture: GraphicPicture) -> None:
        super().__init__(picture.image)

    def show(self, picture: GraphicPicture) -> None:
        self.image = picture.image

    def render(self) -> TextualRenderResult:
        rendered = super().render()
        if isinstance(rendered, TGPRenderable):
            return _Guarded(rendered)
        return rendered

    def on_unmount(self) -> None:
        self.image = None  # textual-image deletes the image from the terminal's memory


class _PreEncodedSixels(_ImageSixelImpl):
    """textual-image's sixel drawing, using the sixels encoded in the preview thread when the
    picture is drawn whole (a partly hidden one is encoded here, as textual-image does)."""

    def __init__(self, image: PILImage.Image | None, sixels: str | None) -> None:
        super().__init__(image)
        self._sixels = sixels

    def _image_to_sixels(
        self,
        image: PILImage.Image,
        sixel_options: SixelOptions | None = None,
        background: BackgroundColor | None = None,
    ) -> str:
        prepared = self.image
        whole = isinstance(prepared, PILImage.Image) and image.size == prepared.size
        if self._sixels is not None and sixel_options is None and whole:
            return self._sixels
        return super()._image_to_sixels(image, sixel_options, background)

    def render_lines(self, crop: Region) -> list[Strip]:
        try:
            return super().render_lines(crop)
        except DRAW_ERRORS:
            return [Strip.blank(crop.width)] * crop.height


class SixelPicture(SixelImage, Renderable=SixelImage._Renderable):
    """A sixel picture (textual-image's widget), with its sixels encoded before it is shown."""

    def __init__(self, picture: GraphicPicture) -> None:
        self._sixels = picture.sixels
        super().__init__(picture.image)

    def show(self, picture: GraphicPicture) -> None:
        self._sixels = picture.sixels
        self.image = picture.image  # recomposes: a new _PreEncodedSixels with these sixels

    def compose(self) -> ComposeResult:
        yield _PreEncodedSixels(self.image, self._sixels)
