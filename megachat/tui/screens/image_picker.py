"""Pick a file to attach (an image, a PDF, a text file): a folder tree, an editable path with
completion, a preview (a real picture where the terminal has a graphics protocol, else
half-blocks: see image_graphics; a PDF's page count or a text file's first lines).

Result: the chosen file as an absolute Path, or None when cancelled. The picker only checks that
it is an existing regular file; whether the API accepts it is decided by megachat.chat.documents
when the app attaches it, so there is exactly one place that judges files. The tree shows every
file that is not hidden: the kind comes from the content, so no name is filtered out.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from rich.text import Text, TextType
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, DirectoryTree, Input, Static, Tree
from textual.widgets.directory_tree import DirEntry
from textual.widgets.tree import TreeNode

from megachat.sanitize import clean
from megachat.tui.widgets.image_graphics import Renderer
from megachat.tui.widgets.image_preview import ImagePreview, display_name
from megachat.tui.widgets.path_input import PathInput

__all__ = ["ImagePickerScreen", "ImageTree", "display_path"]


def display_path(path: Path, cwd: Path | None = None) -> str:
    """A short way to write `path`: relative to the working folder, else "~/...", else absolute."""
    cwd = cwd or Path.cwd()
    path = path if path.is_absolute() else cwd / path
    try:
        relative = path.relative_to(cwd)
        return "." if str(relative) == "." else str(relative)
    except ValueError:
        pass
    try:
        return str(Path("~") / path.relative_to(Path.home()))
    except (ValueError, RuntimeError):
        return str(path)


class ImageTree(DirectoryTree):
    """A DirectoryTree of folders and files, hidden entries left out."""

    def __init__(self, path: str | Path, *, id: str | None = None) -> None:
        super().__init__(path, id=id)

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        for path in paths:
            if not path.name.startswith("."):
                yield path

    def reset_node(
        self, node: TreeNode[DirEntry], label: TextType, data: DirEntry | None = None
    ) -> ImageTree:
        if node is self.root and data is not None:
            label = display_path(data.path)
        super().reset_node(node, label, data)
        return self

    def process_label(self, label: TextType) -> Text:
        # File names are untrusted: no control sequences, one line.
        plain = label.plain if isinstance(label, Text) else label
        return Text(" ".join(clean(plain).splitlines()) or "?")


class ImagePickerScreen(ModalScreen[Path | None]):
    """Choose a file to attach; dismisses with its absolute Path, or None on Esc.

    `renderer` None: previews draw as this process's terminal can (see image_graphics)."""

    CSS_PATH = "image_picker.tcss"
    # Small terminals (image_picker.tcss): no preview pane below 60 columns, the box takes the
    # whole screen below 20 rows, so the tree and the path field stay in sight at 40x10.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (60, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (20, "-tall")]
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="image_picker.cancel"),
        Binding("ctrl+l", "focus_path", "Edit path", id="image_picker.focus_path"),
    ]

    def __init__(self, start_dir: Path, *, renderer: Renderer | None = None) -> None:
        super().__init__()
        self.renderer = renderer
        start = Path(os.path.expanduser(start_dir))
        if not start.is_dir():
            start = Path.cwd()
        self.start_dir = start
        # Displayed strings whose real path differs (names with control characters are shown
        # cleaned, so the typed-back text maps to the real file here).
        self._exact_paths: dict[str, Path] = {}

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            with Horizontal(id="picker-body"):
                yield ImageTree(self.start_dir, id="picker-tree")
                yield ImagePreview(renderer=self.renderer, id="picker-preview")
                yield Static(Content(""), id="picker-document", markup=False)
            yield PathInput(
                self._show(self.start_dir, folder=True),
                placeholder="Path to a file",
                id="picker-path",
            )
            with Horizontal(id="picker-footer"):
                yield Static(
                    Content("↑↓ browse · Enter attach · → complete · Esc cancel"),
                    id="picker-message",
                )
                yield Button("Attach", variant="primary", id="picker-attach", compact=True)
                yield Button("Cancel", id="picker-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#picker", Vertical).border_title = Content("Attach a file")
        self.query_one(ImageTree).focus()

    # -- the tree -----------------------------------------------------------------------------

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[DirEntry]) -> None:
        event.stop()
        entry = event.node.data
        if entry is None:
            return
        path = entry.path
        is_folder = event.node.allow_expand
        self._preview(self._absolute(path), is_file=not is_folder)
        path_input = self.query_one(PathInput)
        path_input.value = self._show(path, folder=is_folder)
        path_input.cursor_position = len(path_input.value)

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        self._attach_file(event.path)

    # -- the path input -----------------------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "picker-path":
            return
        event.stop()
        path = self._parse(event.value)
        if path is not None and path.is_file():
            self._preview(path, is_file=True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "picker-path":
            return
        event.stop()
        self._submit_path()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "picker-attach":
            self._submit_path()
        elif event.button.id == "picker-cancel":
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_focus_path(self) -> None:
        self.query_one(PathInput).focus()

    def _submit_path(self) -> None:
        value = self.query_one(PathInput).value
        path = self._parse(value)
        if path is None:
            self._say("Type the path of a file", error=True)
            return
        if path.is_dir():
            self.query_one(ImageTree).path = path
            path_input = self.query_one(PathInput)
            path_input.value = self._show(path, folder=True)
            path_input.cursor_position = len(path_input.value)
            return
        self._attach_file(path)

    def _attach_file(self, path: Path) -> None:
        path = self._absolute(path)
        if not path.is_file():
            problem = "Not a regular file" if path.exists() else "No such file"
            self._say(f"{problem}: {display_name(path)}", error=True)
            return
        self.dismiss(path)

    # -- the preview --------------------------------------------------------------------------

    def _preview(self, path: Path, *, is_file: bool) -> None:
        """An image's picture (ImagePreview), or a document's summary over it."""
        self.query_one(ImagePreview).show(path)
        if is_file:
            self._summarise(path)
        else:
            self._show_document(path, None)

    def on_image_preview_loaded(self, event: ImagePreview.Loaded) -> None:
        """A picture was drawn: the file is an image, whatever the summary's worker says yet."""
        if event.result.is_image and event.result.path == event.preview.path:
            self._show_document(event.result.path, None)

    @work(exclusive=True, group="document-preview", thread=True, exit_on_error=False)
    def _summarise(self, path: Path) -> None:
        from megachat.chat.documents import AttachmentError, document_preview

        try:
            summary, error = document_preview(path), False
        except AttachmentError as exc:
            summary, error = str(exc).removeprefix(f"{path}: "), True
        self.app.call_from_thread(self._show_document, path, summary, error=error)

    def _show_document(self, path: Path, summary: str | None, *, error: bool = False) -> None:
        """Show `summary` in place of the picture (None: the picture, for an image or a folder)."""
        if summary is not None and self.query_one(ImagePreview).path != path:
            return  # the highlight moved on while the file was read
        pane = self.query_one("#picker-document", Static)
        pane.set_class(error, "-error")
        text = f"{display_name(path)}: {summary}" if error else summary
        pane.update(Content(clean(text or "")))
        self.set_class(summary is not None, "-document")

    # -- helpers ------------------------------------------------------------------------------

    def _say(self, text: str, *, error: bool = False) -> None:
        message = self.query_one("#picker-message", Static)
        message.set_class(error, "-error")
        message.update(Content(text))

    def _show(self, path: Path, *, folder: bool = False) -> str:
        """The text for the path input; remembers the real path when cleaning changed it."""
        shown = display_path(path)
        safe = " ".join(clean(shown).splitlines())
        if folder and not safe.endswith("/"):
            safe += "/"
        key = safe.rstrip("/")
        if key != shown.rstrip("/"):
            self._exact_paths[key] = self._absolute(path)
        else:
            self._exact_paths.pop(key, None)  # a real file of that name wins over a look-alike
        return safe

    def _parse(self, value: str) -> Path | None:
        value = value.strip()
        if not value:
            return None
        exact = self._exact_paths.get(value.rstrip("/"))
        if exact is not None:
            return exact
        return self._absolute(Path(os.path.expanduser(value)))

    @staticmethod
    def _absolute(path: Path) -> Path:
        return path if path.is_absolute() else Path.cwd() / path
