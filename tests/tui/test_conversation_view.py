"""The conversation pane on its own: virtual loading, streaming, anchoring, untrusted text.

Each test runs the real widgets in a tiny host App (App.run_test); replies are streamed either by
calling the reply's API directly or end to end from the loopback fake server through the real
MessagesClient and Turn, forwarded the way the main screen forwards them.
"""

from __future__ import annotations

import base64
import hashlib
import random
import struct
import zlib
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widget import Widget

from megachat.api.events import BlockStart, BlockStop, InputJsonDelta, ThinkingDelta
from megachat.chat.conversation import ChatMessage
from megachat.sanitize import clean
from megachat.tui.widgets.conversation_view import ConversationView
from megachat.tui.widgets.message import MessageWidget, ReplyWidget, ThinkingSection, ToolUseSection
from megachat.tui.widgets.stream_markdown import StreamingMarkdown
from tests.fakeserver import FakeServer, fixture_reply, sse_text_reply
from tests.tui.conftest import until
from tests.tui.nasty_strings import NASTY_STRINGS

SAMPLE = """# Release notes

Some paragraph with `inline code`, **bold**, a [link](https://example.com/x) and
<https://auto.example> and List<String> and [bold]not markup[/] [/INST].

1. first item

2. second item
3. third item

- a
- b
  continued

```python
def double(x):
    return x * 2
```

> a quote
lazy continuation

| col a | col b |
|-------|-------|
| 1     | 2     |

---
Setext heading
==============

~~~
second fence
~~~

Final paragraph.
"""


class Host(App[None]):
    """Just the conversation pane."""

    def __init__(self, page_size: int = 30) -> None:
        super().__init__()
        self.page_size = page_size

    def compose(self) -> ComposeResult:
        yield ConversationView(page_size=self.page_size)

    @property
    def view(self) -> ConversationView:
        return self.query_one(ConversationView)


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=[{"type": "text", "text": text}])


def assistant(text: str, **kwargs: Any) -> ChatMessage:
    return ChatMessage(role="assistant", content=[{"type": "text", "text": text}], **kwargs)


def conversation(n: int) -> list[ChatMessage]:
    return [user(f"question {i}") if i % 2 == 0 else assistant(f"answer {i}") for i in range(n)]


def _drawn(widget: Widget) -> str:
    width, height = widget.size
    strips = widget.render_lines(Region(0, 0, width, height))
    return "\n".join(strip.text for strip in strips)


def shown_text(widget: Widget) -> str:
    """What the widget and its visible descendants draw, line by line, in DOM order."""
    parts: list[str] = []
    for node in [widget, *widget.walk_children(with_self=False)]:
        if node.children or not node.size.height:
            continue
        if not all(n.display for n in node.ancestors_with_self if isinstance(n, Widget)):
            continue
        parts.append(_drawn(node))
    return "\n".join(parts)


def squash(text: str) -> str:
    return "".join(text.split())


# ---- loading and paging ----------------------------------------------------------------------


async def test_load_1000_messages_mounts_only_what_fills_the_view() -> None:
    app = Host()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.view
        await view.load(conversation(1000))
        await pilot.pause()
        widgets = view.message_widgets()
        assert 5 <= len(widgets) <= 40
        assert [w.message.content[0]["text"] for w in widgets][-1] == "answer 999"
        assert view.unmounted_count == 1000 - len(widgets)
        assert len(list(app.screen.walk_children())) < 200
        assert view.is_following
        assert view.scroll_y == view.max_scroll_y > 0
        # the scrollbar is true: the unmounted messages take their (estimated) room
        assert view.virtual_size.height > 1000 * 3


async def test_scrolling_home_mounts_the_oldest_messages_and_unmounts_the_newest() -> None:
    app = Host()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.view
        await view.load(conversation(100))
        await pilot.pause()
        view.scroll_home(animate=False, immediate=True)
        await until(
            pilot,
            lambda: view.message_widgets()[0].message.content[0]["text"] == "question 0",
        )
        await until(pilot, lambda: view.message_widgets()[0].region.y == view.content_region.y)
        assert not view.is_following
        texts = [w.message.content[0]["text"] for w in view.message_widgets()]
        assert texts == [m.content[0]["text"] for m in conversation(100)][: len(texts)]
        assert len(texts) < 100


async def test_short_conversation_is_mounted_whole() -> None:
    app = Host(page_size=3)
    async with app.run_test(size=(100, 40)) as pilot:
        view = app.view
        await view.load(conversation(8))
        await until(pilot, lambda: view.unmounted_count == 0)
        assert len(view.message_widgets()) == 8


# ---- rendering --------------------------------------------------------------------------------


async def test_user_and_assistant_turns_are_told_apart_and_markdown_has_no_html() -> None:
    app = Host()
    async with app.run_test(size=(100, 60)) as pilot:
        view = app.view
        await view.load([user("**not bold** [bold]x[/]"), assistant(SAMPLE, model="m-1")])
        await pilot.pause()
        mine, reply = view.message_widgets()
        assert mine.has_class("-user") and reply.has_class("-assistant")
        assert shown_text(mine.query_one(".message-header")).strip() == "You"
        assert "Assistant · m-1" in shown_text(reply.query_one(".message-header"))
        assert mine.styles.border_left[1] != reply.styles.border_left[1]
        user_text = shown_text(mine)
        assert "**not bold** [bold]x[/]" in user_text  # user text is shown as typed
        text = shown_text(reply)
        assert "List<String>" in text  # HTML is off: tags stay literal
        assert "[bold]not markup[/] [/INST]" in text
        assert "link (https://example.com/x)" in text  # links shown, not opened on click
        assert "https://auto.example (" not in text  # an autolink is printed once
        assert "def double(x):" in text and "second fence" in text
        # code is highlighted: the fence carries colours the paragraph does not
        body = reply.query_one(StreamingMarkdown)
        styles = {
            seg.style.color.name if seg.style and seg.style.color else None
            for y in range(body.size.height)
            for seg in body.render_line(y)
            if "double" in seg.text
        }
        assert styles - {None}


async def test_thinking_tool_use_and_images_are_shown() -> None:
    png = _png(3, 2)
    message = ChatMessage(
        role="assistant",
        content=[
            {"type": "thinking", "thinking": "secret [b]plan[/b]", "signature": "s"},
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}},
        ],
    )
    picture = ChatMessage(
        role="user",
        content=[
            {"type": "text", "text": "look"},
            {
                "type": "image",
                "source": {
                    "type": "base64",
                    "media_type": "image/png",
                    "data": base64.b64encode(png).decode(),
                },
            },
        ],
        image_names={hashlib.sha256(png).hexdigest(): "[bold]cat.png"},
    )
    app = Host()
    async with app.run_test(size=(100, 40)) as pilot:
        view = app.view
        await view.load([picture, message])
        await pilot.pause()
        thinking = view.query_one(ThinkingSection)
        assert thinking.collapsed
        assert "secret" not in shown_text(view.message_widgets()[1])
        thinking.collapsed = False
        await pilot.pause()
        assert "secret [b]plan[/b]" in shown_text(thinking)
        tool = view.query_one(ToolUseSection)
        tool_text = shown_text(tool)
        assert "get_weather" in tool_text
        assert '"city": "Paris"' in tool_text
        image_line = shown_text(view.message_widgets()[0])
        assert f"[image: [bold]cat.png 3x2, {len(png)} B]" in image_line


async def test_messages_are_focusable_and_expose_text_and_code() -> None:
    app = Host()
    async with app.run_test(size=(100, 40)) as pilot:
        view = app.view
        await view.load([user("hi"), assistant(SAMPLE)])
        await pilot.pause()
        reply = view.message_widgets()[1]
        reply.focus()
        await pilot.pause()
        assert app.focused is reply
        assert reply.plain_text() == SAMPLE
        assert reply.code_blocks() == ["def double(x):\n    return x * 2\n", "second fence\n"]


# ---- streaming --------------------------------------------------------------------------------


async def _stream(pilot: Any, reply: ReplyWidget, text: str, seed: int = 0) -> None:
    rnd = random.Random(seed)
    reply.apply_event(BlockStart(0, {"type": "text", "text": ""}))
    i = 0
    while i < len(text):
        n = rnd.randint(1, 9)
        reply.append_text(0, text[i : i + n])
        i += n
        if rnd.random() < 0.3:
            await pilot.pause()
    reply.apply_event(BlockStop(0))


async def test_streamed_reply_renders_exactly_like_the_stored_message() -> None:
    app = Host()
    async with app.run_test(size=(90, 50)) as pilot:
        view = app.view
        await view.load([user("notes please")])
        for seed in range(3):
            reply = view.begin_reply(ChatMessage(role="assistant", status="streaming"))
            await _stream(pilot, reply, SAMPLE, seed)
            final = assistant(SAMPLE)
            await reply.finish(final)
            await pilot.pause()
            streamed = reply.query_one(StreamingMarkdown)
            assert not streamed.streaming
            assert streamed.text == SAMPLE
            stored = MessageWidget(final)
            await view.mount(stored)
            await pilot.pause()
            loaded = stored.query_one(StreamingMarkdown)
            assert [b.source for b in streamed.blocks] == [b.source for b in loaded.blocks]
            assert streamed.rendered_lines(80) == loaded.rendered_lines(80)
            assert shown_text(streamed) == shown_text(loaded)
            assert reply.flush_count <= 200


async def test_stream_from_the_fake_server_through_turn(fake_server: FakeServer) -> None:
    """End to end: fake server -> MessagesClient -> Turn -> reply widget, wired as in main.py."""
    from megachat.api import MessagesClient
    from megachat.chat.conversation import Conversation
    from megachat.chat.turn import ReplyEvent, ReplyFinished, ReplyStarted, ReplyText, Turn

    fake_server.enqueue(sse_text_reply(SAMPLE, chunks=400))
    fake_server.enqueue(fixture_reply("03_text_then_tool_use_docs.sse"))
    fake_server.enqueue(fixture_reply("06_thinking_signature_text_full.sse"))
    app = Host()
    async with app.run_test(size=(100, 50)) as pilot:
        view = app.view
        conv = Conversation(model="claude-sonnet-4")
        async with MessagesClient(api_key="sk-test", base_url=fake_server.base_url) as client:
            for prompt in ("notes", "weather", "think"):
                conv.add_user(prompt)
                await view.add_message(conv.messages[-1])
                reply = None
                async for event in Turn(conv, client, None).events():
                    if isinstance(event, ReplyStarted):
                        reply = view.begin_reply(event.message)
                    elif isinstance(event, ReplyText):
                        reply.append_text(None, event.text)
                    elif isinstance(event, ReplyEvent):
                        reply.apply_event(event.event)
                    elif isinstance(event, ReplyFinished):
                        await reply.finish(event.message)
                await pilot.pause()
                final = conv.messages[-1]
                assert final.status == "complete"
                stored = MessageWidget(final)
                await view.mount(stored)
                await pilot.pause()
                assert shown_text(reply).replace("…", "") == shown_text(stored)
        replies = [w for w in view.message_widgets() if isinstance(w, ReplyWidget)]
        assert replies[0].query_one(StreamingMarkdown).text == SAMPLE
        tool = replies[1].query_one(ToolUseSection)
        assert tool.tool_name == "get_weather"
        assert '"location"' in tool.input_text
        thinking = replies[2].query_one(ThinkingSection)
        assert thinking.collapsed and thinking.text


async def test_partial_tool_json_and_thinking_stream_then_finish() -> None:
    app = Host()
    async with app.run_test(size=(100, 40)) as pilot:
        view = app.view
        reply = view.begin_reply(ChatMessage(role="assistant", status="streaming"))
        reply.apply_event(BlockStart(0, {"type": "thinking", "thinking": ""}))
        reply.apply_event(ThinkingDelta(0, "hmm \x1b[31m[/]"))
        reply.apply_event(BlockStop(0))
        reply.apply_event(BlockStart(1, {"type": "tool_use", "id": "t", "name": "f", "input": {}}))
        reply.apply_event(InputJsonDelta(1, '{"a": [1, '))
        await until(pilot, lambda: bool(reply.query(ToolUseSection)))
        assert reply.query_one(ToolUseSection).input_text == '{"a": [1, '
        reply.apply_event(InputJsonDelta(1, "2]}"))
        final = ChatMessage(
            role="assistant",
            content=[
                {"type": "thinking", "thinking": "hmm \x1b[31m[/]"},
                {"type": "tool_use", "id": "t", "name": "f", "input": {"a": [1, 2]}},
            ],
        )
        await reply.finish(final)
        await pilot.pause()
        assert reply.query_one(ThinkingSection).text == "hmm [/]"
        assert reply.query_one(ToolUseSection).input_text == '{\n  "a": [\n    1,\n    2\n  ]\n}'


@pytest.mark.parametrize("status", ["interrupted", "cancelled", "error"])
async def test_unfinished_replies_keep_their_text_and_say_so(status: str) -> None:
    app = Host()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.view
        reply = view.begin_reply(ChatMessage(role="assistant", status="streaming"))
        reply.append_text(None, "partial answer")
        final = assistant("partial answer", status=status)
        await reply.finish(final)
        await pilot.pause()
        text = shown_text(reply)
        assert "partial answer" in text
        assert status in text
        assert reply.has_class(f"-status-{status}")
        # the same badge when the message is loaded later
        await view.load([final])
        await pilot.pause()
        assert status in shown_text(view.message_widgets()[0])


async def test_view_follows_the_bottom_only_until_the_user_scrolls_up() -> None:
    app = Host()
    async with app.run_test(size=(100, 20)) as pilot:
        view = app.view
        await view.load(conversation(40))
        await pilot.pause()
        reply = view.begin_reply(ChatMessage(role="assistant", status="streaming"))
        reply.append_text(None, "line\n\n" * 20)
        await until(pilot, lambda: bool(reply.query(StreamingMarkdown)))
        await pilot.pause()
        assert view.is_following
        assert view.scroll_y == view.max_scroll_y
        view.scroll_page_up(animate=False)  # what PageUp / the mouse wheel do
        await pilot.pause()
        assert not view.is_following
        held = view.scroll_y
        reply.append_text(None, "more\n\n" * 30)
        await until(pilot, lambda: view.max_scroll_y > held + 30)
        await pilot.pause()
        assert view.scroll_y == held  # not dragged down while reading
        view.scroll_end(animate=False, immediate=True)  # back at the bottom: follows again
        await pilot.pause()
        assert view.is_following
        reply.append_text(None, "end\n\n" * 10)
        await reply.finish(assistant(("line\n\n" * 20) + ("more\n\n" * 30) + ("end\n\n" * 10)))
        await pilot.pause()
        assert view.scroll_y == view.max_scroll_y


# ---- untrusted text ---------------------------------------------------------------------------

LITERAL_MARKERS = ["[bold]", "[/]", "[/INST]", "[link=x]", "[@click=app.quit]", "[v2]", "$variable"]


async def test_nasty_strings_render_literally_everywhere_in_the_pane() -> None:
    assert len(NASTY_STRINGS) >= 30
    messages: list[ChatMessage] = []
    for s in NASTY_STRINGS:
        messages += [user(s), assistant(s, model=s[:40])]
    app = Host(page_size=len(messages))
    async with app.run_test(size=(120, 50)) as pilot:
        view = app.view
        await view.load(messages)
        await pilot.pause()
        widgets = view.message_widgets()
        assert len(widgets) == len(messages)
        for s, mine, reply in zip(NASTY_STRINGS, widgets[::2], widgets[1::2], strict=True):
            safe = clean(s)
            for widget in (mine, reply):
                text = shown_text(widget)
                assert "\x1b" not in text and "\x9b" not in text and "\x07" not in text
            assert squash(safe) in squash(shown_text(mine))  # user text: exactly as typed
            reply_text = shown_text(reply)
            for marker in LITERAL_MARKERS:
                if marker in safe:
                    assert marker in reply_text, (s, marker)
            assert reply.plain_text() == safe
        # streamed: all of them as one reply, a few characters per delta
        await view.load([])
        reply = view.begin_reply(ChatMessage(role="assistant", status="streaming"))
        blob = "\n\n".join(NASTY_STRINGS)
        rnd = random.Random(7)
        i = 0
        while i < len(blob):
            n = rnd.randint(1, 5)
            reply.append_text(None, blob[i : i + n])
            i += n
            if rnd.random() < 0.005:
                await pilot.pause()
        await reply.finish(assistant(blob))
        await pilot.pause()
        streamed = reply.query_one(StreamingMarkdown)
        assert streamed.text == clean(blob)
        stored = MessageWidget(assistant(blob))
        await view.mount(stored)
        await pilot.pause()
        assert streamed.rendered_lines(100) == stored.query_one(StreamingMarkdown).rendered_lines(
            100
        )
        view.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        screenshot = app.export_screenshot()
        assert "\x1b" not in screenshot and "\x07" not in screenshot
        assert "[/INST]" in screenshot or "[/INST]" in shown_text(streamed)


async def test_nasty_strings_in_thinking_tool_calls_model_names_and_image_names() -> None:
    messages: list[ChatMessage] = []
    for s in NASTY_STRINGS:
        messages.append(
            ChatMessage(
                role="user",
                content=[{"type": "image", "source": {"type": "base64", "data": ""}}],
                image_names={hashlib.sha256(b"").hexdigest(): s},
            )
        )
        messages.append(
            ChatMessage(
                role="assistant",
                model=s,
                status="error",
                content=[
                    {"type": "thinking", "thinking": s},
                    {"type": "tool_use", "id": "t", "name": s, "input": {s: [s]}},
                ],
            )
        )
    app = Host(page_size=len(messages))
    async with app.run_test(size=(120, 50)) as pilot:
        view = app.view
        await view.load(messages)
        await pilot.pause()
        for section in view.query(ThinkingSection):
            section.collapsed = False
        await pilot.pause()
        widgets = view.message_widgets()
        for s, picture, reply in zip(NASTY_STRINGS, widgets[::2], widgets[1::2], strict=True):
            safe = clean(s)
            for widget in (picture, reply):
                text = shown_text(widget)
                assert "\x1b" not in text and "\x9b" not in text and "\x07" not in text
            name = s or "image"  # an empty name falls back to a word
            assert squash(f"[image: {clean(name)}]") in squash(shown_text(picture))
            thinking = reply.query_one(ThinkingSection)
            assert squash(safe) in squash(shown_text(thinking))
            tool = reply.query_one(ToolUseSection)
            assert tool.tool_name == (safe if s else "tool")
            assert squash(tool.tool_name) in squash(shown_text(tool))
            for marker in LITERAL_MARKERS:
                if marker in safe:
                    assert marker in shown_text(reply), (s, marker)


async def test_theme_switch_rerenders_code_without_losing_text() -> None:
    app = Host()
    async with app.run_test(size=(100, 40)) as pilot:
        view = app.view
        await view.load([assistant(SAMPLE)])
        await pilot.pause()
        before = shown_text(view.message_widgets()[0])
        app.theme = "textual-light"
        await pilot.pause()
        after = shown_text(view.message_widgets()[0])
        assert squash(before) == squash(after)


def _png(width: int, height: int) -> bytes:
    """A valid PNG of the given size (stdlib only)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
