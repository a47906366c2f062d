"""The main screen's links and type-through (a mixin of MainScreen): a click on a link in a reply
or `o` on a focused message shows the URL and asks before the system opener gets it
(screens/open_link.py, megachat/tui/links.py); a character typed on a focused message that is
none of its keys goes to the prompt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work

from megachat.tui.widgets.prompt_input import PromptInput

if TYPE_CHECKING:  # the message widgets load after the first frame
    from megachat.tui.screens.main import MainScreen
    from megachat.tui.widgets.message import MessageWidget
    from megachat.tui.widgets.stream_markdown import StreamingMarkdown

    _Base = MainScreen
else:
    _Base = object


class LinkActions(_Base):
    """Opening links, and text typed on a focused message."""

    def on_streaming_markdown_link_clicked(self, event: StreamingMarkdown.LinkClicked) -> None:
        """A click on a link in a reply: show it and ask (screens/open_link.py)."""
        event.stop()
        self._open_link((event.url,))

    def on_message_widget_open_link(self, event: MessageWidget.OpenLink) -> None:
        """`o` on a focused message: pick one of its links, then as a click."""
        event.stop()
        self._open_link(event.urls)

    def on_message_widget_typed_away(self, event: MessageWidget.TypedAway) -> None:
        """Text typed on a focused message goes where text is typed."""
        event.stop()
        prompt = self.query_one(PromptInput)
        prompt.focus()
        prompt.insert(event.character)

    @work(group="open-link", exclusive=True, exit_on_error=False)
    async def _open_link(self, urls: tuple[str, ...]) -> None:
        from megachat.tui.screens.open_link import confirm_and_open

        await confirm_and_open(self, urls)
