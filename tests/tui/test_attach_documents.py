"""PDFs and text files in the TUI: the picker previews and attaches them, the strip names them
with their pages and size, a pasted path is offered, the message goes out with the documents
and the conversation shows a line for each."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.widgets import Static

from megachat.chat.documents import PreparedDocument
from megachat.sanitize import clean
from megachat.tui.screens.image_picker import ImagePickerScreen, ImageTree
from megachat.tui.widgets.attachments import AttachmentsStrip
from megachat.tui.widgets.prompt_input import PromptInput
from tests.chat.test_documents import make_pdf
from tests.fakeserver import FakeServer, sse_text_reply
from tests.tui.conftest import notifications, ready, settle, type_text, until
from tests.tui.screen_host import ScreenHost, screen_text, wait_until

SIZE = (120, 40)
NOTES = "first line [bold]not markup[/]\nsecond line\n" + "".join(
    f"line {i:02d}: {'x' * 50}\n" for i in range(40)
)  # about 2.5 KB, past what the preview shows


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """docs/ with a 12-page PDF, a text file, a Latin-1 file, and a hidden file."""
    monkeypatch.chdir(tmp_path)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "paper.pdf").write_bytes(make_pdf(12))
    (docs / "notes.md").write_text(NOTES, encoding="utf-8")
    (docs / "latin.txt").write_bytes("café".encode("latin-1"))
    (docs / ".hidden.txt").write_text("x")
    return docs


def picker(app: Any) -> ImagePickerScreen:
    screen = app.screen
    assert isinstance(screen, ImagePickerScreen)
    return screen


async def highlight(pilot: Any, name: str) -> None:
    tree = picker(pilot.app).query_one(ImageTree)
    await wait_until(pilot, lambda: bool(tree.root.children))
    for _ in range(len(tree.root.children) + 2):
        node = tree.cursor_node
        if node is not None and node.data is not None and node.data.path.name == name:
            return
        await pilot.press("down")
    raise AssertionError(f"{name} not reachable in the tree")


def document_pane(app: Any) -> Static:
    return picker(app).query_one("#picker-document", Static)


async def test_the_picker_lists_every_file_and_previews_documents(files: Path) -> None:
    app = ScreenHost(lambda: ImagePickerScreen(Path("docs")))
    async with app.run_test(size=SIZE) as pilot:
        tree = picker(app).query_one(ImageTree)
        await wait_until(pilot, lambda: bool(tree.root.children))
        assert [str(n.label) for n in tree.root.children] == ["latin.txt", "notes.md", "paper.pdf"]
        assert "Attach a file" in screen_text(app)

        await highlight(pilot, "paper.pdf")
        await wait_until(pilot, lambda: "12 pages" in screen_text(app))
        assert picker(app).has_class("-document")
        assert document_pane(app).display

        await pilot.press("up")  # notes.md: its first lines, markup shown as typed
        await wait_until(pilot, lambda: "second line" in screen_text(app))
        text = screen_text(app)
        assert "text: notes.md" in text and "first line [bold]not markup[/]" in text

        await pilot.press("up")  # latin.txt: the reason it cannot be attached
        await wait_until(pilot, lambda: "not UTF-8 text" in screen_text(app))
        assert document_pane(app).has_class("-error")

        await highlight(pilot, "paper.pdf")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.dismissed)
    assert app.result == files / "paper.pdf"


async def test_documents_go_out_with_the_message_and_show_in_the_strip_and_conversation(
    make_app: Any, files: Path, fake_server: FakeServer
) -> None:
    fake_server.enqueue(sse_text_reply("Both read."))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        main.attach_path(files / "paper.pdf")
        await settle(pilot)
        main.attach_path(files / "notes.md")
        await settle(pilot)
        strip = main.query_one(AttachmentsStrip)
        assert [type(i) for i in strip.images] == [PreparedDocument, PreparedDocument]
        pdf_size = len(make_pdf(12)) / 1000
        strip_text = screen_text(app)
        assert f"[PDF: paper.pdf, 12 pages, {pdf_size:.0f} KB]" in strip_text
        assert f"[text: notes.md, {len(NOTES.encode()) / 1000:.0f} KB]" in strip_text

        main.attach_path(files / "latin.txt")  # refused with one line, nothing added
        await settle(pilot)
        assert len(strip.images) == 2
        assert any("latin.txt: not UTF-8 text" in n for n in notifications(app))

        await type_text(pilot, "Summarise")
        await pilot.press("enter")
        await settle(pilot)
        await until(pilot, lambda: "Both read." in screen_text(app))
        assert strip.images == []
        conversation_text = screen_text(app)
        assert f"[PDF: paper.pdf, 12 pages, {pdf_size:.0f} KB]" in conversation_text
        assert "[text: notes.md, " in conversation_text

    (request,) = fake_server.requests_to("/v1/messages")
    content = request.json["messages"][-1]["content"]
    assert [b["type"] for b in content] == ["document", "document", "text"]
    assert content[0]["source"]["data"] == base64.b64encode(make_pdf(12)).decode("ascii")
    assert content[0]["title"] == "paper.pdf"
    assert content[1]["source"] == {"type": "text", "media_type": "text/plain", "data": NOTES}


async def test_a_pasted_pdf_path_is_offered(make_app: Any, files: Path) -> None:
    from megachat.tui.screens.confirm import ConfirmScreen

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        prompt = main.query_one(PromptInput)
        prompt.post_message(events.Paste(str(files / "paper.pdf")))
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Attach the file paper.pdf?" in clean(screen_text(app))
        await pilot.press("y")
        await settle(pilot)
        (item,) = main.query_one(AttachmentsStrip).images
        assert isinstance(item, PreparedDocument) and item.pages == 12
