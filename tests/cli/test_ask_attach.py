"""`megachat ask -a PATH`: images, PDFs and text files, their kind read from the content; a file
the API would refuse is exit 2 with one line, and nothing is sent."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.chat.test_documents import TEXT, make_pdf
from tests.cli.conftest import CLI, png_bytes
from tests.cli.conftest import messages_sent as requests_sent
from tests.fakeserver import FakeServer, sse_text_reply


def messages_sent(server: FakeServer | None) -> list[dict]:
    """The bodies sent, without prompt-cache breakpoints (not what these tests are about)."""
    assert server is not None
    bodies = requests_sent(server)
    for body in bodies:
        for message in body["messages"]:
            for block in message["content"]:
                block.pop("cache_control", None)
    return bodies


def _files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "paper.pdf": make_pdf(3),
        "notes.md": TEXT.encode(),
        "pic.png": png_bytes(),
        "long.pdf": make_pdf(101),
        "locked.pdf": make_pdf(1, encrypted=True),
        "latin.txt": "café".encode("latin-1"),
        "nul.txt": b"a\x00b",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return {name: tmp_path / name for name in files}


def test_ask_attaches_a_pdf_a_text_file_and_an_image(cli: CLI, tmp_path: Path) -> None:
    files = _files(tmp_path)
    cli.server.enqueue(sse_text_reply("Read."))
    result = cli.run(
        "ask", "-a", str(files["paper.pdf"]), "--attach", str(files["notes.md"]),
        "-i", str(files["pic.png"]), "Summarise",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (body,) = messages_sent(cli.server)
    content = body["messages"][-1]["content"]
    assert content[0] == {
        "type": "document",
        "source": {
            "type": "base64",
            "media_type": "application/pdf",
            "data": base64.b64encode(make_pdf(3)).decode("ascii"),
        },
        "title": "paper.pdf",
    }
    assert content[1] == {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": TEXT},
        "title": "notes.md",
    }
    assert content[2]["type"] == "image"
    assert content[3] == {"type": "text", "text": "Summarise"}


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("long.pdf", "a PDF of 101 pages; the API takes at most 100 per request"),
        ("locked.pdf", "an encrypted PDF"),
        ("latin.txt", "not UTF-8 text"),
        ("nul.txt", "a binary file"),
    ],
)
def test_a_file_the_api_would_refuse_is_exit_2_and_nothing_is_sent(
    cli: CLI, tmp_path: Path, name: str, words: str
) -> None:
    files = _files(tmp_path)
    result = cli.run("ask", "-a", str(files[name]), "Read it")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert name in line and words in line and "nothing was sent" in line
    assert messages_sent(cli.server) == []


def test_the_export_and_the_next_request_carry_the_whole_documents(
    cli: CLI, tmp_path: Path
) -> None:
    files = _files(tmp_path)
    cli.server.enqueue(sse_text_reply("Read."), sse_text_reply("Again."))
    first = cli.run("ask", "-a", str(files["paper.pdf"]), "-a", str(files["notes.md"]), "Read")
    assert first.returncode == 0, first.stderr
    (conv,) = json.loads(cli.call("list", "--json").stdout)
    exported = json.loads(cli.call("export", conv["id"], "--format", "json").stdout)["messages"]
    sent_first = messages_sent(cli.server)[0]["messages"]
    assert exported[0] == sent_first[0]  # stored once, rebuilt whole from the store
    markdown = cli.call("export", conv["id"]).stdout
    assert "*[PDF: paper.pdf, 3 pages, " in markdown and "*[text: notes.md, " in markdown
    assert cli.run("ask", "-c", "And now?").returncode == 0
    assert messages_sent(cli.server)[1]["messages"][:-1] == exported


def test_a_model_without_documents_refuses_in_one_line(cli: CLI, tmp_path: Path) -> None:
    files = _files(tmp_path)
    # The shipped table says Claude 3 Haiku takes no documents (capabilities, data/models.toml).
    result = cli.run("ask", "-m", "claude-3-haiku-20240307", "-a", str(files["notes.md"]), "Hi")
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "claude-3-haiku-20240307 does not take documents" in line
    assert messages_sent(cli.server) == []
