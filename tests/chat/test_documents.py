"""PDFs and text files as documents: told apart by content, checked against the API's limits
before anything is sent, stored once by sha256, sent as the official SDK sends them.

The PDFs are written here (make_pdf): small, valid (a correct xref table), with as many pages as
a test needs; nothing is downloaded.
"""

from __future__ import annotations

import base64
import os
import sqlite3
from pathlib import Path

import anthropic
import pytest
from anthropic.types import Base64PDFSourceParam, DocumentBlockParam, PlainTextSourceParam

from megachat.api import MessagesClient
from megachat.chat.conversation import Conversation
from megachat.chat.documents import (
    MAX_PDF_BYTES,
    MAX_TEXT_BYTES,
    AttachmentError,
    PreparedDocument,
    attachment_block,
    describe_document_block,
    document_block,
    load_attachment,
    pdf_page_count,
)
from megachat.chat.images import PreparedImage
from megachat.chat.store import Store
from tests.api.helpers import KEY
from tests.chat.conftest import make_image
from tests.fakeserver import FakeServer

TEXT = "# Notes\n\nprint('héllo, 世界')\n"


def make_pdf(pages: int, *, encrypted: bool = False) -> bytes:
    """A minimal valid PDF of `pages` empty pages (catalog, page tree, pages, xref, trailer)."""
    kids = " ".join(f"{3 + i} 0 R" for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        *[b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>"] * pages,
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    encrypt = b" /Encrypt << /Filter /Standard /V 1 /R 2 >>" if encrypted else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\n" % (len(objects) + 1, encrypt)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# -- the kind comes from the content ---------------------------------------------------------------


def test_a_pdf_becomes_a_base64_document_titled_with_its_file_name(tmp_path: Path) -> None:
    data = make_pdf(1)
    doc = load_attachment(write(tmp_path / "report.pdf", data))
    assert isinstance(doc, PreparedDocument)
    assert (doc.kind, doc.pages) == ("pdf", 1)
    assert document_block(doc) == {
        "type": "document",
        "source": {
            "type": "base64",
            "media_type": "application/pdf",
            "data": base64.b64encode(data).decode("ascii"),
        },
        "title": "report.pdf",  # the file name only: its folders are nobody's business
    }


def test_a_utf8_text_file_becomes_a_plain_text_document(tmp_path: Path) -> None:
    doc = load_attachment(write(tmp_path / "notes.md", TEXT.encode()))
    assert document_block(doc) == {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": TEXT},
        "title": "notes.md",
    }


def test_the_name_never_decides_the_kind(tmp_path: Path) -> None:
    pdf = load_attachment(write(tmp_path / "looks-like.txt", make_pdf(2)))
    text = load_attachment(write(tmp_path / "looks-like.pdf", b"just text\n"))
    image = load_attachment(write(tmp_path / "looks-like.md", make_image("PNG", (8, 8))))
    assert isinstance(pdf, PreparedDocument) and pdf.kind == "pdf"
    assert isinstance(text, PreparedDocument) and text.kind == "text"
    assert isinstance(image, PreparedImage) and image.media_type == "image/png"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ("café".encode("latin-1"), "not UTF-8 text"),
        (b"text\x00with a NUL", "a binary file"),
        (b"", "empty file"),
        (b" \n\n", "an empty text file"),
    ],
    ids=["latin-1", "nul-bytes", "empty", "blank"],
)
def test_what_is_not_utf8_text_is_refused_in_one_line(
    tmp_path: Path, data: bytes, words: str
) -> None:
    path = write(tmp_path / "file.txt", data)
    with pytest.raises(AttachmentError) as caught:
        load_attachment(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and words in message and "\n" not in message


# -- the API's limits, before anything is sent -----------------------------------------------------


def test_page_count_counts_page_objects_not_the_page_tree() -> None:
    assert pdf_page_count(make_pdf(1)) == 1
    assert pdf_page_count(make_pdf(101)) == 101
    # Objects packed in compressed object streams hide the pages: the tree's /Count says it.
    packed = b"%PDF-1.5\n1 0 obj\n<< /Type /Pages /Kids [] /Count 7 >>\nendobj\n"
    assert pdf_page_count(packed) == 7
    assert pdf_page_count(b"%PDF-1.7\nnothing to see") is None


def test_a_pdf_over_100_pages_is_refused(tmp_path: Path) -> None:
    assert load_attachment(write(tmp_path / "ok.pdf", make_pdf(100))).pages == 100
    with pytest.raises(AttachmentError, match=r"big\.pdf: a PDF of 101 pages; .* at most 100"):
        load_attachment(write(tmp_path / "big.pdf", make_pdf(101)))


def test_an_encrypted_pdf_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AttachmentError, match=r"locked\.pdf: an encrypted PDF"):
        load_attachment(write(tmp_path / "locked.pdf", make_pdf(1, encrypted=True)))


@pytest.mark.parametrize(
    ("head", "limit", "words"),
    [(b"%PDF-1.4\n", MAX_PDF_BYTES, "a PDF of 25.0 MB"), (b"hello", MAX_TEXT_BYTES, "text file")],
    ids=["pdf", "text"],
)
def test_too_large_a_document_is_refused_by_its_size_before_it_is_read(
    tmp_path: Path, head: bytes, limit: int, words: str
) -> None:
    path = tmp_path / "huge"
    with path.open("wb") as handle:  # sparse: the size is real, the disk is not used
        handle.write(head)
        handle.truncate(25_000_000 if limit == MAX_PDF_BYTES else limit + 1)
    with pytest.raises(AttachmentError, match=words) as caught:
        load_attachment(path)
    assert "larger than the" in str(caught.value)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(AttachmentError, match="is not a regular file"):
        load_attachment(fifo)


def test_the_conversation_line_names_kind_title_pages_and_size(tmp_path: Path) -> None:
    pdf = load_attachment(write(tmp_path / "a.pdf", make_pdf(12)))
    text = load_attachment(write(tmp_path / "n.txt", b"x" * 3000))
    assert describe_document_block(document_block(pdf)) == (
        f"PDF: a.pdf, 12 pages, {len(pdf.data) / 1000:.0f} KB"
    )
    assert describe_document_block(document_block(text)) == "text: n.txt, 3 KB"


# -- stored once, sent whole -----------------------------------------------------------------------


def test_documents_are_stored_once_by_sha256_and_come_back_whole(
    store: Store, db_path: Path, tmp_path: Path
) -> None:
    pdf = load_attachment(write(tmp_path / "paper.pdf", make_pdf(3)))
    text = load_attachment(write(tmp_path / "notes.md", TEXT.encode()))
    a = Conversation(model="m")
    a.add_user("read these", [pdf, text])
    a.add_user("again", [pdf])
    b = Conversation(model="m")
    b.add_user("the same text", [text])
    store.create(a)
    store.create(b)
    conn = sqlite3.connect(db_path)
    rows = sorted(conn.execute("SELECT sha256, media_type, size FROM attachments").fetchall())
    stored = [r[0] for r in conn.execute("SELECT content FROM messages")]
    conn.close()
    assert rows == sorted(
        [
            (pdf.sha256, "application/pdf", len(pdf.data)),
            (text.sha256, "text/plain", len(text.data)),
        ]
    )
    assert all("base64" not in s and "print(" not in s for s in stored)  # bytes kept once
    assert store.get(a.id).build_request() == a.build_request()  # the whole blocks come back
    assert store.get(b.id).build_request() == b.build_request()
    store.delete(a.id)
    store.delete(b.id)
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT count(*) FROM attachments").fetchone() == (0,)
    conn.close()


async def test_the_request_equals_what_the_sdk_sends_for_the_same_documents(
    fake_server: FakeServer, tmp_path: Path
) -> None:
    pdf_data, text_data = make_pdf(2), TEXT.encode()
    conv = Conversation(model="claude-sonnet-4-5", max_tokens=64, temperature=None)
    conv.add_user(
        "Summarise both",
        [
            load_attachment(write(tmp_path / "paper.pdf", pdf_data)),
            load_attachment(write(tmp_path / "notes.md", text_data)),
        ],
    )
    documents: list[DocumentBlockParam] = [
        DocumentBlockParam(
            type="document",
            source=Base64PDFSourceParam(
                type="base64",
                media_type="application/pdf",
                data=base64.b64encode(pdf_data).decode("ascii"),
            ),
            title="paper.pdf",
        ),
        DocumentBlockParam(
            type="document",
            source=PlainTextSourceParam(type="text", media_type="text/plain", data=TEXT),
            title="notes.md",
        ),
    ]
    sdk = anthropic.AsyncAnthropic(base_url=fake_server.base_url, api_key=KEY)
    ours = MessagesClient(api_key=KEY, base_url=fake_server.base_url)
    try:
        async with sdk.messages.stream(
            model="claude-sonnet-4-5",
            max_tokens=64,
            messages=[
                {
                    "role": "user",
                    "content": [*documents, {"type": "text", "text": "Summarise both"}],
                }
            ],
        ) as stream:
            await stream.get_final_message()
        await ours.stream(conv.build_request()).get_final_message()
    finally:
        await sdk.close()
        await ours.aclose()
    assert fake_server.requests[1].json == fake_server.requests[0].json


def test_an_export_with_documents_imports_back_and_a_forged_source_is_refused(
    tmp_path: Path,
) -> None:
    from megachat.chat.export import to_json
    from megachat.chat.importing import ImportFormatError, from_export, request_of

    conv = Conversation(model="m")
    conv.add_user(
        "read",
        [
            load_attachment(write(tmp_path / "paper.pdf", make_pdf(2))),
            load_attachment(write(tmp_path / "notes.md", TEXT.encode())),
        ],
    )
    exported = to_json(conv)
    assert request_of(from_export(exported).messages) == exported["messages"]
    forged = {"type": "attachment", "sha256": "0" * 64, "media_type": "application/pdf"}
    exported["messages"][0]["content"][0]["source"] = forged
    with pytest.raises(ImportFormatError, match="expected a base64 PDF or a text document"):
        from_export(exported)


async def test_editing_a_message_gives_its_documents_back_in_order(
    store: Store, client: MessagesClient, fake_server: FakeServer, tmp_path: Path
) -> None:
    from megachat.chat.session import ChatSession
    from tests.fakeserver import sse_text_reply

    session = ChatSession(store, lambda: client, new_conversation=lambda: Conversation(model="m"))
    files = [
        load_attachment(write(tmp_path / "notes.md", TEXT.encode())),
        load_attachment(write(tmp_path / "pic.png", make_image("PNG", (8, 8)))),
        load_attachment(write(tmp_path / "paper.pdf", make_pdf(2))),
    ]
    fake_server.enqueue(sse_text_reply("Read."))
    await session.send("read these", files)
    draft = session.begin_edit()
    assert draft.text == "read these"
    assert [attachment_block(item) for item in draft.images] == [
        attachment_block(item) for item in files
    ]
