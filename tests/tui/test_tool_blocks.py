"""Tool calls and results in the conversation view: collapsible blocks (issue 12, item 3).

A stored conversation with calls and results is written to the store the app uses and opened
with -c; the blocks are read as drawn (render_lines), expanded and collapsed with a click and with
Enter, copied with `c`. The streaming path runs from the fake server through the real Turn into
the pane, as the main screen wires it. Height estimates are compared with the heights measured.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets.collapsible import CollapsibleTitle

from megachat.chat.conversation import ChatMessage, Conversation
from megachat.chat.store import Store
from megachat.config import db_path
from megachat.tui.widgets.conversation_view import ConversationView
from megachat.tui.widgets.message import MessageWidget, ReplyWidget
from megachat.tui.widgets.message_heights import estimate_height
from megachat.tui.widgets.prompt_input import PromptInput
from megachat.tui.widgets.tool_blocks import ToolResultSection, ToolUseSection
from tests.fakeserver import FakeServer, blocks_reply
from tests.tui.conftest import ready, settle, until
from tests.tui.test_conversation_view import _png

SIZE = (100, 30)
PNG = _png(3, 2)
IMAGE_SIZE = len(PNG)
BIG = "".join(f"line {i:06d} of the tool's output\n" for i in range(40_000))[:1_048_576]
HOSTILE = "[bold]x[/] \x1b[31mred\x1b[0m \u202eevil"


def _tool_use(name: str, tool_input: dict, tool_id: str) -> dict:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}


def _result(tool_id: str, content: Any, *, is_error: bool = False) -> dict:
    block = {"type": "tool_result", "tool_use_id": tool_id, "content": content}
    if is_error:
        block["is_error"] = True
    return block


def _image() -> dict:
    data = base64.b64encode(PNG).decode()
    return {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}


def tool_messages(result_text: str = "5") -> list[ChatMessage]:
    """A question, a reply calling three tools, their results (one an error, one an image)."""
    return [
        ChatMessage(role="user", content=[{"type": "text", "text": "Add 2 and 3, then draw."}]),
        ChatMessage(
            role="assistant",
            model="claude-sonnet-4",
            content=[
                {"type": "text", "text": "Let me use the tools."},
                _tool_use("toolbox__add", {"a": 2, "b": 3}, "toolu_add"),
                _tool_use("toolbox__fail", {"why": "test"}, "toolu_fail"),
                _tool_use("toolbox__image", {}, "toolu_image"),
            ],
        ),
        ChatMessage(
            role="user",
            content=[
                _result("toolu_add", [{"type": "text", "text": result_text}]),
                _result("toolu_fail", "the tool raised: boom", is_error=True),
                _result("toolu_image", [_image()]),
            ],
        ),
        ChatMessage(
            role="assistant", model="claude-sonnet-4", content=[{"type": "text", "text": "Five."}]
        ),
    ]


def stored_app(settings: Any, messages: list[ChatMessage]) -> Any:
    """The app as `megachat -c` opens it, `messages` its most recent conversation."""
    from megachat.tui.app import MegachatApp

    conversation = Conversation(
        id="toolconv00001",
        title="Tools",
        model="claude-sonnet-4",
        created_at=1_700_000_000.0,
        updated_at=1_700_000_000.0,
        messages=messages,
    )
    store = Store(db_path())
    store.create(conversation)
    store.close()
    return MegachatApp(settings, continue_last=True)


def shown_text(widget: Widget) -> str:
    """What the widget and its visible descendants draw (padding included), line by line."""
    parts: list[str] = []
    for node in [widget, *widget.walk_children(with_self=False)]:
        if node.children or not node.outer_size.height:
            continue
        if not all(n.display for n in node.ancestors_with_self if isinstance(n, Widget)):
            continue
        width, height = node.outer_size
        strips = node.render_lines(Region(0, 0, width, height))
        parts.extend(strip.text.rstrip() for strip in strips)
    return "\n".join(parts)


def body_lines(body: Widget) -> list[str]:
    """The lines of a padded block body (`padding: 0 1`) as drawn, the padding taken off."""
    return [line[1:] for line in shown_text(body).split("\n")]


def view_of(main: Any) -> ConversationView:
    return main.query_one(ConversationView)


def results_widget(main: Any) -> MessageWidget:
    (widget,) = [w for w in view_of(main).message_widgets() if w.has_class("-tool-results")]
    return widget


def header(widget: MessageWidget) -> str:
    return str(widget.query_one(".message-header").render())


def titles(widget: MessageWidget) -> list[str]:
    """The title lines of the tool blocks of a message, as drawn."""
    return [shown_text(title).strip() for title in widget.query(CollapsibleTitle)]


# ---- a stored conversation ----------------------------------------------------------------------


async def test_calls_and_results_are_collapsed_blocks_with_one_line_titles(settings):
    app = stored_app(settings, tool_messages())
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        call_message, results = view_of(main).message_widgets()[1:3]
        assert titles(call_message) == [
            '▶ ⚙ toolbox.add  {"a": 2, "b": 3}',
            '▶ ⚙ toolbox.fail  {"why": "test"}',
            "▶ ⚙ toolbox.image  {}",
        ]
        assert all(block.collapsed for block in call_message.query(ToolUseSection))
        assert '"a": 2,\n' not in shown_text(call_message)  # the pretty JSON is folded away

        assert header(results) == "Tool results"
        assert results.has_class("-tool-results") and not header(call_message).startswith("You")
        assert titles(results) == [
            "▶ ↳ toolbox.add → 5",
            "▶ ✖ toolbox.fail failed: the tool raised: boom",
            f"▶ ↳ toolbox.image → [image: image 3x2, {IMAGE_SIZE} B]",
        ]
        error = results.query(ToolResultSection)[1]
        assert error.is_error and error.has_class("-error")
        assert header(view_of(main).message_widgets()[0]) == "You"


async def test_a_click_and_enter_on_the_title_expand_and_collapse(settings):
    app = stored_app(settings, tool_messages())
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        call = view_of(main).message_widgets()[1].query(ToolUseSection)[0]
        await pilot.click(call.query_one(CollapsibleTitle))
        await settle(pilot)
        assert not call.collapsed
        assert ["{", '  "a": 2,', '  "b": 3', "}"] in [body_lines(call.query_one(".tool-input"))]
        await pilot.click(call.query_one(CollapsibleTitle))
        await settle(pilot)
        assert call.collapsed and '  "a": 2,' not in shown_text(call)

        image = results_widget(main).query(ToolResultSection)[2]
        title = image.query_one(CollapsibleTitle)
        title.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert not image.collapsed
        assert f"[image: image 3x2, {IMAGE_SIZE} B]" in shown_text(image.query_one(".image-line"))
        await pilot.press("enter")
        await settle(pilot)
        assert image.collapsed
        # the message's keys work from a block's title too
        await pilot.press("c")
        assert app.clipboard == results_widget(main).plain_text()
        assert app.focused is title
        # and what is typed there that is no key of the message goes on to the prompt
        await pilot.press("h", "i")
        await settle(pilot)
        assert main.query_one(PromptInput).text == "hi"


async def test_a_huge_result_is_shown_truncated_and_copied_whole(settings):
    app = stored_app(settings, tool_messages(BIG))
    async with app.run_test(size=SIZE) as pilot:
        main = await ready(pilot)
        results = results_widget(main)
        big = results.query(ToolResultSection)[0]
        assert (
            titles(results)[0]
            == "▶ ↳ toolbox.add → line 000000 of the tool's output line 000001 of…"
        )
        big.collapsed = False
        await settle(pilot)
        body = shown_text(big.query_one(".tool-output"))
        assert "line 000039 of the tool's output" in body
        assert "line 000040" not in body
        assert " ".join(body.split()).endswith(
            "… 1,048,576 characters in all; the whole result is stored (c copies it)"
        )
        assert big.query_one(".tool-output").size.height <= 40 + 2  # and the note, wrapped

        results.focus()
        await pilot.press("c")
        copied = app.clipboard
        assert copied == results.plain_text()
        assert copied.startswith("tool_result toolbox.add:\nline 000000 of the tool's output\n")
        assert BIG.rstrip("\n") in copied  # whole
        assert "tool_result toolbox.fail (error):\nthe tool raised: boom" in copied
        assert copied.endswith(f"tool_result toolbox.image:\n[image: image 3x2, {IMAGE_SIZE} B]")


async def test_hostile_names_arguments_and_results_appear_literally(settings):
    messages = [
        ChatMessage(role="user", content=[{"type": "text", "text": "go"}]),
        ChatMessage(
            role="assistant",
            content=[_tool_use(f"evil__{HOSTILE}", {HOSTILE: HOSTILE}, "toolu_evil")],
        ),
        ChatMessage(
            role="user",
            content=[
                _result("toolu_evil", [{"type": "text", "text": HOSTILE}]),
                _result("toolu_unknown", HOSTILE, is_error=True),
            ],
        ),
    ]
    shown = "[bold]x[/] red ⟨U+202E⟩evil"
    app = stored_app(settings, messages)
    async with app.run_test(size=(140, 30)) as pilot:
        main = await ready(pilot)
        call_message, results = view_of(main).message_widgets()[1:3]
        for block in [*call_message.query(ToolUseSection), *results.query(ToolResultSection)]:
            block.collapsed = False
        await settle(pilot)
        drawn = shown_text(call_message) + shown_text(results)
        assert "\x1b" not in drawn and "\u202e" not in drawn
        # JSON writes the escape character as \u001b: shown as such, never sent to the terminal
        as_json = shown.replace(" red ", " \\u001b[31mred\\u001b[0m ")
        (call_title,) = titles(call_message)
        assert call_title.startswith(f'▼ ⚙ evil.{shown}  {{"{as_json[:20]}')
        call_message.focus()
        await pilot.press("c")
        assert app.clipboard.startswith(f"tool_use evil.{shown}:\n{{\n")
        body = " ".join(shown_text(call_message.query_one(".tool-input")).split())
        assert body == f'{{ "{as_json}": "{as_json}" }}'
        # the second result answers no call of the turn before: its tool_use_id stands in
        assert titles(results) == [
            f"▼ ↳ evil.{shown} → {shown}",
            f"▼ ✖ toolu_unknown failed: {shown}",
        ]
        assert shown in shown_text(results.query_one(".tool-output"))
        results.focus()
        await pilot.press("c")
        assert "\x1b" not in app.clipboard and shown in app.clipboard


# ---- heights ------------------------------------------------------------------------------------


class Host(App[None]):
    def compose(self) -> ComposeResult:
        yield ConversationView(page_size=10)

    @property
    def view(self) -> ConversationView:
        return self.query_one(ConversationView)


async def test_collapsed_blocks_are_estimated_at_their_height() -> None:
    long_name = "server_with_a_long_name__" + "tool_with_a_long_name_" * 3
    messages = tool_messages(BIG)
    messages[1].content.append(_tool_use(long_name, {"text": "word " * 40}, "toolu_long"))
    messages[2].content.append(_result("toolu_long", "one " * 40))
    for width in (100, 50):
        app = Host()
        async with app.run_test(size=(width, 60)) as pilot:
            view = app.view
            await view.load(messages)
            await settle(pilot)
            inner = view.scrollable_content_region.width
            widgets = view.message_widgets()
            assert len(widgets) == len(messages)
            for index, widget in enumerate(widgets):
                measured = widget.outer_size.height + widget.styles.margin.bottom
                assert estimate_height(messages[index], inner) == measured, (width, index)


async def test_opening_a_huge_result_is_fast() -> None:
    """The pane opens a conversation with a 1 MB result without drawing it (it took 1.7 s in
    process when the result was one unbounded line; now ~0.1 s). Bounded by work, not time: the
    widgets hold only the head of the result."""
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        view = app.view
        started = time.perf_counter()
        await view.load(tool_messages(BIG))
        await settle(pilot)
        elapsed = time.perf_counter() - started
        big = view.query(ToolResultSection)[0]
        drawn = big.query_one(".tool-output").render()
        assert len(str(drawn)) < 3_000
        assert view.virtual_size.height < 100
        print(f"open with a 1 MB result: {elapsed:.3f} s")


# ---- streaming ----------------------------------------------------------------------------------


async def test_a_streamed_tool_call_shows_its_partial_input_then_ends_as_stored(
    fake_server: FakeServer,
) -> None:
    from megachat.api import MessagesClient
    from megachat.api.events import InputJsonDelta
    from megachat.chat.turn import ReplyEvent, ReplyFinished, ReplyStarted, ReplyText, Turn

    tool_input = {"path": "/tmp/[bold]notes[/].txt", "text": "hello " * 10}
    fake_server.enqueue(
        blocks_reply(
            [
                {"type": "text", "text": "Writing it."},
                _tool_use("files__write", tool_input, "toolu_w"),
            ],
            stop_reason="tool_use",
        )
    )
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        view = app.view
        conversation = Conversation(model="claude-sonnet-4")
        conversation.add_user("write my notes")
        await view.load(conversation.messages)
        reply: ReplyWidget | None = None
        partial_seen = ""
        async with MessagesClient(api_key="sk-test", base_url=fake_server.base_url) as client:
            async for event in Turn(conversation, client, None).events():
                if isinstance(event, ReplyStarted):
                    reply = view.begin_reply(event.message)
                elif isinstance(event, ReplyText):
                    assert reply is not None
                    reply.append_text(None, event.text)
                elif isinstance(event, ReplyEvent):
                    assert reply is not None
                    reply.apply_event(event.event)
                    if isinstance(event.event, InputJsonDelta) and not partial_seen:
                        await until(pilot, lambda r=reply: bool(r.query(ToolUseSection)))
                        section = reply.query_one(ToolUseSection)
                        assert not section.collapsed  # open while the arguments arrive
                        partial_seen = shown_text(section.query_one(".tool-input"))
                elif isinstance(event, ReplyFinished):
                    assert reply is not None
                    await reply.finish(event.message)
        await pilot.pause()
        assert partial_seen.strip().startswith('{"path"')
        assert reply is not None
        section = reply.query_one(ToolUseSection)
        assert section.collapsed
        stored = MessageWidget(conversation.messages[-1])
        await view.mount(stored)
        await pilot.pause()
        assert (
            titles(reply)
            == titles(stored)
            == ['▶ ⚙ files.write  {"path": "/tmp/[bold]notes[/].txt", "text": "he…']
        )
        assert shown_text(reply).replace("…", "") == shown_text(stored).replace("…", "")
