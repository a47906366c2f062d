"""Files attached to a message: images, PDFs and UTF-8 text, told apart by their content.

The kind comes from the bytes, never the name: an image by its magic bytes (megachat.chat.images),
a PDF by its `%PDF-` header, and anything else that decodes as UTF-8 without NUL bytes is text.
The API's limits are checked here, before anything is sent, so a refusal is one line naming the
file instead of a 400 after the upload. Only a regular file is read, and only as many bytes as
its kind allows (localfiles), so a FIFO or a huge file is refused before it is read.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import BinaryIO, Literal, assert_never

from megachat.chat.images import (
    MAX_IMAGE_FILE_BYTES,
    ImageError,
    PreparedImage,
    image_block,
    prepare_image_bytes,
    sniff_media_type,
)
from megachat.localfiles import FileRefusedError, FileTooLargeError, open_user_file, read_at_most

__all__ = [
    "MAX_PDF_BYTES",
    "MAX_PDF_PAGES",
    "MAX_TEXT_BYTES",
    "Attachment",
    "AttachmentError",
    "PreparedDocument",
    "attachment_block",
    "describe_document",
    "describe_document_block",
    "document_block",
    "document_from_block",
    "document_preview",
    "load_attachment",
    "pdf_page_count",
    "prepare_document_bytes",
]

# A PDF goes as base64 inside one JSON body, and the API takes at most 32 MB per request
# (megachat.api.limits.MAX_REQUEST_BYTES, not imported: it would load httpx): a PDF whose base64
# would not fit alone can never be sent.
MAX_PDF_BYTES = 32_000_000 * 3 // 4  # 24,000,000 bytes -> 32,000,000 characters of base64
MAX_PDF_PAGES = 100  # per request, on the API's classic limits (reference/protocol.md §10)
# 1 MiB of text is about 260,000 tokens (4 characters each), more than a 200k-token context window
# holds: a larger file cannot be sent whole to most models, and a mistaken path (a log, a dump)
# is refused at once instead of being stored and sent.
MAX_TEXT_BYTES = 1 << 20
# Enough to see a file's kind: the longest magic we test (WebP) is 12 bytes.
_HEAD_BYTES = 16

DocumentKind = Literal["pdf", "text"]


class AttachmentError(ImageError):
    """A file that cannot be attached; the message names the file. (An ImageError, so callers
    that already catch a bad image catch a bad document too.)"""


@dataclass(frozen=True)
class PreparedDocument:
    """A PDF or a text file ready to send: its bytes (UTF-8 for text), kind and title."""

    name: str
    kind: DocumentKind
    data: bytes
    sha256: str
    pages: int | None = None  # PDFs: the pages counted (None: could not be counted cheaply)
    note: str | None = None

    @property
    def title(self) -> str:
        """The file name without its folders: what the model sees as the document's title."""
        return PurePath(self.name).name or self.name

    def __repr__(self) -> str:  # keep the bytes out of logs and tracebacks
        return f"PreparedDocument(name={self.name!r}, kind={self.kind!r}, size={len(self.data)})"


Attachment = PreparedImage | PreparedDocument


def document_block(doc: PreparedDocument) -> dict:
    """The Messages API content block for a document, titled with its file name."""
    match doc.kind:
        case "pdf":
            source = {
                "type": "base64",
                "media_type": "application/pdf",
                "data": base64.b64encode(doc.data).decode("ascii"),
            }
        case "text":
            source = {"type": "text", "media_type": "text/plain", "data": doc.data.decode("utf-8")}
        case _:
            assert_never(doc.kind)
    return {"type": "document", "source": source, "title": doc.title}


def attachment_block(item: Attachment) -> dict:
    """The content block for any attachment."""
    match item:
        case PreparedImage():
            return image_block(item)
        case PreparedDocument():
            return document_block(item)
        case _:
            assert_never(item)


def document_from_block(block: Mapping[str, object]) -> PreparedDocument | None:
    """The attachment a stored document block was made from (to edit its message); None when
    it cannot be rebuilt."""
    source = block.get("source")
    if block.get("type") != "document" or not isinstance(source, Mapping):
        return None
    title = str(block.get("title") or "document")
    data = source.get("data")
    if not isinstance(data, str):
        return None
    raw = data.encode("utf-8") if source.get("type") == "text" else _decoded(data)
    if raw is None:
        return None
    try:
        return prepare_document_bytes(raw, title)
    except AttachmentError:
        return None


def describe_document(kind: str, name: str, size: int, pages: int | None = None) -> str:
    """One line people read: "PDF: report.pdf, 12 pages, 1.2 MB" / "text: notes.md, 3 KB"."""
    if kind == "pdf":
        counted = "? pages" if pages is None else f"{pages} page{'' if pages == 1 else 's'}"
        return f"PDF: {name}, {counted}, {_size(size)}"
    return f"text: {name}, {_size(size)}"


def describe_document_block(block: Mapping[str, object]) -> str:
    """The line a conversation shows for a document block: its kind, title, pages and size."""
    source = block.get("source")
    source = source if isinstance(source, Mapping) else {}
    title = str(block.get("title") or "untitled")
    data = source.get("data")
    if source.get("type") == "text" and isinstance(data, str):
        return describe_document("text", title, len(data.encode("utf-8", errors="replace")))
    if source.get("type") == "base64" and isinstance(data, str):
        raw = _decoded(data)
        if raw is not None:
            return describe_document("pdf", title, len(raw), pdf_page_count(raw))
    return f"document: {title}"


@functools.lru_cache(maxsize=8)  # a conversation redrawn shows the same few PDFs again
def _decoded(data: str) -> bytes | None:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


def _size(size: int) -> str:
    if size < 1000:
        return f"{size} B"
    if size < 1_000_000:
        return f"{size / 1000:.0f} KB"
    return f"{size / 1_000_000:.1f} MB"


# -- PDFs ------------------------------------------------------------------------------------------

# A page object's dictionary says `/Type /Page`; the page tree's nodes say `/Type /Pages`, which the
# look-ahead leaves out (as it does `/PageLabel` and the like).
_PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z0-9])")
_PAGES_COUNT = re.compile(rb"/Type\s*/Pages(?![A-Za-z0-9])[^>]{0,200}?/Count\s+(\d+)")
_COUNT_PAGES = re.compile(rb"/Count\s+(\d+)[^<>]{0,200}?/Type\s*/Pages(?![A-Za-z0-9])")
_ENCRYPT = re.compile(rb"/Encrypt(?![A-Za-z0-9])")


def pdf_page_count(data: bytes) -> int | None:
    """The pages of a PDF, from a scan of its bytes (no parsing, no decompression).

    Counts the page objects (`/Type /Page`). A PDF that packs its objects into compressed object
    streams shows none in plain bytes; then the page tree's root says how many there are (the
    largest `/Count` of a `/Type /Pages` node). None when neither is visible: the API then judges.
    """
    pages = len(_PAGE.findall(data))
    if pages:
        return pages
    counts = [int(m.group(1)) for m in _PAGES_COUNT.finditer(data)]
    counts += [int(m.group(1)) for m in _COUNT_PAGES.finditer(data)]
    return max(counts) if counts else None


def _check_pdf(data: bytes, name: str) -> int | None:
    if _ENCRYPT.search(data):
        raise AttachmentError(f"{name}: an encrypted PDF, which the API refuses; decrypt it first")
    pages = pdf_page_count(data)
    if pages is not None and pages > MAX_PDF_PAGES:
        raise AttachmentError(
            f"{name}: a PDF of {pages} pages; the API takes at most {MAX_PDF_PAGES} per request"
        )
    return pages


# -- any file --------------------------------------------------------------------------------------


def prepare_document_bytes(data: bytes, name: str) -> PreparedDocument:
    """A PDF or UTF-8 text from its bytes (name is the file's, for the title and messages)."""
    if data.startswith(b"%PDF-"):
        if len(data) > MAX_PDF_BYTES:
            raise AttachmentError(f"{name}: {_too_big('PDF', len(data), MAX_PDF_BYTES)}")
        pages = _check_pdf(data, name)
        return PreparedDocument(name, "pdf", data, hashlib.sha256(data).hexdigest(), pages)
    if b"\x00" in data:
        raise AttachmentError(f"{name}: a binary file, not an image, a PDF or UTF-8 text")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AttachmentError(
            f"{name}: not UTF-8 text (byte {exc.start}), nor an image or a PDF; "
            "convert it to UTF-8 to attach it"
        ) from None
    if len(data) > MAX_TEXT_BYTES:
        raise AttachmentError(f"{name}: {_too_big('text file', len(data), MAX_TEXT_BYTES)}")
    if not data.strip():
        raise AttachmentError(f"{name}: an empty text file")
    return PreparedDocument(name, "text", data, hashlib.sha256(data).hexdigest())


def _too_big(what: str, size: int | None, limit: int) -> str:
    shown = "more than" if size is None else f"{_size(size)},"
    return f"a {what} of {shown} larger than the {_size(limit)} megachat sends"


def load_attachment(path: str | Path, *, many: bool = False) -> Attachment:
    """Read a file and make it sendable as an image, a PDF or text; AttachmentError (naming the
    file) when it cannot be. `many`: the request holds more than 20 images (images.load_images).

    The file is opened once (regular file, size checked before reading); its first bytes say its
    kind, and the rest is read only up to that kind's limit."""
    name = str(path)
    try:
        with open_user_file(path, MAX_IMAGE_FILE_BYTES) as handle:
            head = handle.read(_HEAD_BYTES)
            if sniff_media_type(head) is not None:
                kind, limit = "image", MAX_IMAGE_FILE_BYTES
            elif head.startswith(b"%PDF-"):
                kind, limit = "PDF", MAX_PDF_BYTES
            else:
                kind, limit = "text file", MAX_TEXT_BYTES
            data = head + _read_rest(handle, limit - len(head), kind, limit, name)
    except FileNotFoundError:
        raise AttachmentError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise AttachmentError(f"{name}: is a directory, not a file") from None
    except FileRefusedError as exc:  # a FIFO, a device, too large: refused before reading
        raise AttachmentError(f"{name}: {exc}") from None
    except OSError as exc:
        raise AttachmentError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if not data:
        raise AttachmentError(f"{name}: empty file")
    if kind == "image":
        return prepare_image_bytes(data, name, many=many)
    return prepare_document_bytes(data, name)


def document_preview(path: str | Path, *, max_lines: int = 20) -> str | None:
    """What a file picker shows for a file that is not an image: a PDF's line (pages, size) or
    the first lines of a text file; None for an image (the picture is its preview).
    AttachmentError, as load_attachment, when the file cannot be attached."""
    try:
        with open_user_file(path, MAX_IMAGE_FILE_BYTES) as handle:
            head = handle.read(_HEAD_BYTES)
    except OSError:
        head = b""  # load_attachment words the reason
    if sniff_media_type(head) is not None:
        return None
    item = load_attachment(path)
    match item:
        case PreparedImage():
            return None
        case PreparedDocument(kind="pdf"):
            return describe_document("pdf", item.title, len(item.data), item.pages)
        case PreparedDocument():
            lines = item.data.decode("utf-8").splitlines()
            shown = "\n".join(lines[:max_lines])
            more = f"\n… {len(lines) - max_lines:,} more lines" if len(lines) > max_lines else ""
            return f"{describe_document('text', item.title, len(item.data))}\n\n{shown}{more}"
        case _:
            assert_never(item)


def _read_rest(handle: BinaryIO, budget: int, kind: str, limit: int, name: str) -> bytes:
    """The rest of the file, its size checked against the kind's limit before it is read (and
    the read capped, as the file may grow meanwhile)."""
    size = os.fstat(handle.fileno()).st_size
    if size > limit:
        raise AttachmentError(f"{name}: {_too_big(kind, size, limit)}")
    try:
        return read_at_most(handle, max(0, budget))
    except FileTooLargeError:
        raise AttachmentError(f"{name}: {_too_big(kind, None, limit)}") from None
