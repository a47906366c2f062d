"""The strip of attachments (images, PDFs, text files) waiting to go out with the next message.

Each pending image shows its file name, size and dimensions; a document its kind, name, pages
and size ("[PDF: report.pdf, 12 pages, 1.2 MB]"). The strip is focusable: left/right
pick one, delete/backspace removes it. It hides itself while empty. File names are untrusted
(a file may be called `[bold].png`), so they are sanitized and shown as `Content`, never markup.

In a terminal with a graphics protocol (see image_graphics) the image under the cursor is also
shown as a thumbnail at the strip's left, drawn in a thread; as half-blocks, a thumbnail would be
a few coloured cells, so there the strip stays a list of lines.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from textual import work
from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from megachat.sanitize import clean
from megachat.tui.keymap import ATTACHMENT_KEYS, bindings

if TYPE_CHECKING:  # at run time both load with the first thumbnail: start-up needs neither
    from megachat.tui.widgets.image_graphics import Renderer
    from megachat.tui.widgets.image_preview import ImagePicture, Picture

# The thumbnail's box in cells: about 100x80 pixels in most terminals.
THUMBNAIL_WIDTH, THUMBNAIL_HEIGHT = 10, 4


def human_size(size: int) -> str:
    """1536 -> '1.5 KB'; decimal-free bytes below 1 KB."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def describe_attachment(item: Any) -> str:
    """One line for a pending image or document."""
    from megachat.chat.documents import PreparedDocument, describe_document

    if isinstance(item, PreparedDocument):
        name = clean(item.title)
        if len(name) > 60:
            name = name[:59] + "…"
        return f"[{describe_document(item.kind, name, len(item.data), item.pages)}]"
    return describe_image(item)


def describe_image(image: Any) -> str:
    """One line: name, size sent, dimensions, and whether it was downscaled."""
    name = clean(PurePath(str(getattr(image, "name", "image"))).name or "image")
    if len(name) > 60:
        name = name[:59] + "…"
    data = getattr(image, "data", b"") or b""
    parts = [name, human_size(len(data))]
    width, height = getattr(image, "width", None), getattr(image, "height", None)
    if width and height:
        parts.append(f"{width}×{height}")
    if getattr(image, "resized", False):
        parts.append("resized")
    return " · ".join(parts)


class AttachmentsStrip(Widget, can_focus=True):
    """Pending attachments; posts `Changed` whenever the list changes."""

    BINDINGS = [
        *bindings(ATTACHMENT_KEYS),
        Binding("left", "move(-1)", "Previous", show=False, id="attachments.previous"),
        Binding("right", "move(1)", "Next", show=False, id="attachments.next"),
    ]

    DEFAULT_CSS = """
    AttachmentsStrip {
        height: auto;
        max-height: 4;
        padding: 0 1;
        display: none;
    }
    AttachmentsStrip.-has-items {
        display: block;
    }
    """

    cursor: reactive[int] = reactive(0)

    class Changed(Message):
        """The pending images changed."""

        def __init__(self, strip: AttachmentsStrip) -> None:
            super().__init__()
            self.strip = strip

        @property
        def control(self) -> AttachmentsStrip:
            return self.strip

    def __init__(self, *, renderer: Renderer | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self._images: list[Any] = []
        self._renderer = renderer
        # Mounted with the first thumbnail: a strip with a child is sized by its children.
        self._thumbnail: ImagePicture | None = None
        self.thumbnail: Picture | None = None  # what the thumbnail shows (None: nothing yet)

    @property
    def renderer(self) -> Renderer:
        """How thumbnails are drawn: given, else the process's, decided with the first one."""
        from megachat.tui.widgets.image_preview import renderer_for

        self._renderer = renderer_for(self, self._renderer)
        return self._renderer

    @renderer.setter
    def renderer(self, renderer: Renderer) -> None:
        self._renderer = renderer

    @property
    def images(self) -> list[Any]:
        """The pending images (a copy)."""
        return list(self._images)

    def add(self, image: Any) -> None:
        self._images.append(image)
        self.cursor = len(self._images) - 1
        self._changed()

    def set_images(self, images: list[Any]) -> None:
        self._images = list(images)
        self.cursor = max(0, len(self._images) - 1)
        self._changed()

    def clear(self) -> None:
        self.set_images([])

    def action_remove(self) -> None:
        if not self._images:
            return
        index = min(self.cursor, len(self._images) - 1)
        del self._images[index]
        self.cursor = max(0, min(index, len(self._images) - 1))
        self._changed()
        if not self._images:
            self.screen.focus_next()

    def action_move(self, step: int) -> None:
        if self._images:
            self.cursor = (self.cursor + step) % len(self._images)

    def watch_cursor(self) -> None:
        self.refresh()
        self._show_thumbnail()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def _changed(self) -> None:
        self.set_class(bool(self._images), "-has-items")
        self.refresh(layout=True)
        self._show_thumbnail()
        self.post_message(self.Changed(self))

    def _current(self) -> Any | None:
        return self._images[min(self.cursor, len(self._images) - 1)] if self._images else None

    def _show_thumbnail(self) -> None:
        from megachat.chat.documents import PreparedDocument

        image = self._current()
        if isinstance(image, PreparedDocument):
            image = None  # a document: no picture to draw
        if image is None:
            if self._thumbnail is not None:
                self.thumbnail = None
                self._thumbnail.show(None)
            return
        from megachat.tui.widgets.image_graphics import Renderer

        if self.renderer is Renderer.HALFBLOCK:
            return
        if self._thumbnail is None:
            from megachat.tui.widgets.image_preview import ImagePicture

            self._thumbnail = ImagePicture(id="attachment-thumbnail")
            self._thumbnail.styles.width = THUMBNAIL_WIDTH
            self._thumbnail.styles.height = THUMBNAIL_HEIGHT
            self.mount(self._thumbnail)
        self._load_thumbnail(image)

    @work(exclusive=True, group="attachment-thumbnail", exit_on_error=False)
    async def _load_thumbnail(self, image: Any) -> None:
        from megachat.tui.widgets.image_preview import in_daemon_thread, render_picture_data

        data = bytes(getattr(image, "data", b"") or b"")
        background = self.background_colors[1].rgb
        box = (THUMBNAIL_WIDTH, THUMBNAIL_HEIGHT)
        picture = await in_daemon_thread(render_picture_data, data, *box, background, self.renderer)
        if self._thumbnail is None or self._current() is not image:
            return  # the cursor moved on, or the image was removed, while it was drawn
        self.thumbnail = picture
        self._thumbnail.show(picture)

    def render(self) -> Content:
        if not self._images:
            return Content("")
        # The lines are the strip's own content; the thumbnail, a child, is drawn over their
        # indent (and, being the only child, sets the strip's height).
        indent = Content(" " * (THUMBNAIL_WIDTH + 1) if self._thumbnail is not None else "")
        lines = []
        for index, image in enumerate(self._images):
            line = Content(f"📎 {describe_attachment(image)}")
            if self.has_focus and index == self.cursor:
                line = line.stylize("reverse")
            lines.append(indent + line)
        hint = Content(" (del removes)" if self.has_focus else "").stylize("dim")
        return Content("\n").join(lines) + hint
