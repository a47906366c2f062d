"""Asking before a link from a conversation is opened (issue 11, item 4).

A link in a reply is model output: its text can say anything and its target can be anywhere. So
a click (or `o` on a focused message) never opens it directly: `confirm_and_open` shows the
whole target (`OpenLinkScreen`, literal text, wrapped), opens it only on Open, and refuses
outright what is not a web or mail link (megachat.tui.links.refusal). With several links in a
message, `ChooseLinkScreen` lists them first.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option

from megachat.sanitize import clean
from megachat.tui.screens.confirm import DIALOG_CSS, one_line

__all__ = ["ChooseLinkScreen", "OpenLinkScreen", "confirm_and_open"]

_SHOWN_IN_LIST = 200  # characters of a URL in the list; the confirmation shows all of it

_OPEN_CSS = """
OpenLinkScreen > Vertical { width: 80; }
OpenLinkScreen #open-link-scroll {
    height: auto;
    max-height: 12;
    background: $boost;
    padding: 0 1;
}
OpenLinkScreen #open-link-url { width: 1fr; text-overflow: fold; }
"""
_CHOOSE_CSS = """
ChooseLinkScreen > Vertical { width: 80; }
ChooseLinkScreen OptionList { height: auto; max-height: 16; }
"""


async def confirm_and_open(screen: Screen, urls: Sequence[str]) -> None:
    """Let the user pick one of `urls` (if several), refuse it unless web or mail, show it and
    open it with the system opener on Open. Runs in a worker (it waits for the dialogs)."""
    from megachat.tui.links import open_url, refusal

    app = screen.app
    url: str | None = urls[0] if len(urls) == 1 else None
    if len(urls) > 1:
        url = await app.push_screen_wait(ChooseLinkScreen(urls))
    if not url:
        return
    reason = refusal(url)
    if reason is not None:
        screen.notify(one_line(reason), severity="warning", markup=False)
        return
    if not await app.push_screen_wait(OpenLinkScreen(url)):
        return
    problem = await open_url(url)
    if problem is not None:
        screen.notify(one_line(problem), severity="error", markup=False, timeout=10)


class OpenLinkScreen(ModalScreen[bool]):
    """Show a link's whole target and ask; dismisses with True (Open) or False (Cancel, Esc)."""

    DEFAULT_CSS = DIALOG_CSS.format(screen="OpenLinkScreen") + _OPEN_CSS
    BINDINGS = [Binding("escape", "answer(False)", "Cancel", id="open_link.cancel")]

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = Content("Open this link?")
            yield Static(
                Content("It comes from the conversation; the system opener will open:"),
                classes="dialog-text",
            )
            with VerticalScroll(id="open-link-scroll"):
                yield Static(Content(clean(self.url)), id="open-link-url", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="open-link-cancel")
                yield Button("Open", variant="primary", id="open-link-open")

    def on_mount(self) -> None:
        self.query_one("#open-link-open", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "open-link-open")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class ChooseLinkScreen(ModalScreen[str | None]):
    """The links of a message, to pick one; dismisses with its URL, or None (Esc)."""

    DEFAULT_CSS = DIALOG_CSS.format(screen="ChooseLinkScreen") + _CHOOSE_CSS
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="choose_link.cancel")]

    def __init__(self, urls: Sequence[str]) -> None:
        super().__init__()
        self.urls = list(urls)

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = Content("Open which link?")
            yield OptionList(
                *(
                    Option(Content(one_line(url, _SHOWN_IN_LIST)), id=f"link-{i}")
                    for i, url in enumerate(self.urls)
                ),
                id="choose-link-list",
                markup=False,
            )

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.urls[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)
