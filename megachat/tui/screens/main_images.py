"""The main screen's attachments (images, PDFs, text files): the picker, a pasted or typed
path, loading (a mixin).

Files are loaded in a thread (Pillow may resize an image; a PDF's pages are counted) and land in
the AttachmentsStrip; they go out with the next message the screen sends.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work

from megachat.sanitize import clean
from megachat.tui.widgets.attachments import AttachmentsStrip
from megachat.tui.widgets.prompt_input import PromptInput, attachable_path_from_text

if TYPE_CHECKING:
    from textual.worker import Worker

    from megachat.tui.screens.main import MainScreen

    _Base = MainScreen
else:
    _Base = object


class ImageActions(_Base):
    """Attach images, PDFs and text files to the next message."""

    _offered_paths: set[str]

    def offer_path_in(self, text: str) -> None:
        """The prompt holds only the path of a file to attach (typed or dropped): offer it."""
        if "/" in text or "\\" in text:
            path = attachable_path_from_text(text)
            if path is not None and str(path) not in self._offered_paths:
                self._offered_paths.add(str(path))
                self._offer_attach(path, text, clear_prompt=True)

    def offer_pasted_path(self, path: Path, text: str) -> None:
        """A bracketed paste of a file's path: offer to attach it, else paste it as text."""
        self._offered_paths.add(str(path))
        self._offer_attach(path, text, clear_prompt=False)

    @work(group="offer", exit_on_error=False)
    async def _offer_attach(self, path: Path, text: str, *, clear_prompt: bool) -> None:
        from megachat.tui.screens import ConfirmScreen

        question = f"Attach the file {clean(path.name)}?"
        attach = await self.app.push_screen_wait(ConfirmScreen(question))
        prompt = self.query_one(PromptInput)
        if attach:
            if clear_prompt and prompt.text.strip() == text.strip():
                prompt.clear()
            self.attach_path(path)
        elif not clear_prompt:
            prompt.insert(text)
        prompt.focus()

    def action_attach(self) -> None:
        """Open the file picker."""
        self._pick_image()

    @work(group="picker", exit_on_error=False)
    async def _pick_image(self) -> None:
        from megachat.tui.screens import ImagePickerScreen

        path = await self.app.push_screen_wait(ImagePickerScreen(Path.cwd()))
        if path is not None:
            self.attach_path(Path(path))
        self.query_one(PromptInput).focus()

    def attach_path(self, path: Path) -> Worker:
        """Load and attach a file (in a thread: Pillow may resize an image)."""
        return self._load_image(path)

    @work(group="images", thread=True, exit_on_error=False)
    def _load_image(self, path: Path) -> None:
        from megachat.chat.documents import load_attachment
        from megachat.chat.images import ImageError

        try:
            image = load_attachment(path, many=len(self.query_one(AttachmentsStrip).images) > 0)
        except ImageError as exc:  # documents.AttachmentError is one too
            self.app.call_from_thread(self.mc_app.notify_error, str(exc))
            return
        self.app.call_from_thread(self._image_loaded, image)

    def _image_loaded(self, image: Any) -> None:
        self.query_one(AttachmentsStrip).add(image)
        note = getattr(image, "note", None)
        if note:
            self.notify(clean(str(note)), markup=False)

    def action_remove_attachments(self) -> None:
        self.query_one(AttachmentsStrip).clear()
