"""Export: Markdown to read, JSON shaped as CONTRACT.md says."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from megachat.chat.conversation import ChatMessage, Conversation
from megachat.chat.export import to_json, to_json_text, to_markdown
from megachat.chat.images import load_image
from megachat.chat.store import Store
from tests.chat.conftest import make_image


def sample(tmp_path: Path) -> Conversation:
    path = tmp_path / "chart.dat"
    data = make_image("PNG", (30, 20))
    path.write_bytes(data)
    conv = Conversation(model="model-a", system="Be kind.", temperature=0.5)
    conv.add_user("What does this chart show?", [load_image(path)])
    conv.add_assistant("A rising line.  ", status="complete")
    conv.add_user("Thanks")
    conv.messages.append(ChatMessage("assistant", [], status="error"))
    return conv


def test_json_export_is_what_would_be_sent_next(tmp_path: Path, store: Store) -> None:
    conv = sample(tmp_path)
    store.create(conv)
    exported = to_json(store.get(conv.id))
    assert list(exported) == ["id", "title", "model", "system", "temperature", "messages"]
    assert exported["id"] == conv.id
    assert exported["title"] == "What does this chart show?"
    assert (exported["model"], exported["system"], exported["temperature"]) == (
        "model-a",
        "Be kind.",
        0.5,
    )
    assert exported["messages"] == conv.build_request()["messages"]
    image = exported["messages"][0]["content"][0]
    assert image["type"] == "image" and image["source"]["type"] == "base64"
    assert base64.b64decode(image["source"]["data"]) == (tmp_path / "chart.dat").read_bytes()
    assert [m["role"] for m in exported["messages"]] == ["user", "assistant", "user"]
    assert json.loads(to_json_text(conv)) == to_json(conv)


def test_json_export_of_unset_temperature_is_null() -> None:
    conv = Conversation(model="m")
    conv.add_user("hi")
    assert to_json(conv)["temperature"] is None
    assert to_json(conv)["system"] == ""


def test_markdown_export(tmp_path: Path) -> None:
    conv = sample(tmp_path)
    conv.add_assistant("```python\nprint(1)\n```", status="interrupted")
    conv.system = "Use ``` fences"
    md = to_markdown(conv)
    assert md.startswith("# What does this chart show?\n")
    assert "- model: `model-a`" in md
    assert "## User" in md and "## Assistant" in md
    assert "*[image: chart.dat, image/png, " in md and "30x20]*" in md
    assert "A rising line." in md
    assert "## Assistant (interrupted)" in md
    assert "````\nUse ``` fences\n````" in md  # a longer fence than any inside
    assert "base64" not in md


def test_markdown_image_name_is_literal(tmp_path: Path) -> None:
    path = tmp_path / "*bold* [link](x) `code`.png"
    path.write_bytes(make_image("PNG", (8, 8)))
    conv = Conversation(model="m")
    conv.add_user("see", [load_image(path)])
    md = to_markdown(conv)
    assert r"*[image: \*bold\* \[link\]\(x\) \`code\`.png, image/png, " in md
    assert "bold" not in json.dumps(to_json(conv))


def test_all_branches_markdown_with_an_empty_active_path_shows_every_branch() -> None:
    """An edit of the first message begun (the path ends before it): nothing is lost."""
    conv = Conversation(model="m")
    first = conv.add_user("First question")
    conv.add_assistant("First answer", status="complete")
    conv.branch_reply(first)  # the active path is now empty
    assert conv.messages == []
    text = to_markdown(conv, all_branches=True)
    assert "First question" in text and "First answer" in text
