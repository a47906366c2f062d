"""Saved conversations: newest first, full-text search, rename, delete (confirmed), new chat, open.

Result: the id of the conversation to open, `NEW_CHAT` for a new one, or None when closed.
When it was opened from a search hit, `chosen_message_id` names the message that matched, so
the opener can make that message's branch the active one (a hit may be in any branch).
The app also learns of renames and deletions as they happen (`Renamed` / `Deleted` messages
bubble to it), e.g. to retitle or replace the conversation it has open.

Titles, snippets and model names are untrusted. They are cleaned and go into `Content` (never
markup), in an `OptionList`, which renders only the visible lines, so thousands of chats are fine.
All store calls run in threads (the Store is thread-safe), so a slow disk never blocks keys.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from megachat.sanitize import clean
from megachat.tui.screens.confirm import ConfirmScreen, TextPromptScreen, one_line

if TYPE_CHECKING:
    from megachat.chat.store import ConversationSummary, SearchHit, Store

__all__ = ["NEW_CHAT", "ConversationsScreen", "format_time", "highlight_snippet"]

NEW_CHAT = ":new"
"""Result meaning "start a new conversation" (a colon never occurs in conversation ids)."""

SEARCH_LIMIT = 50
TITLE_LIMIT = 120
SNIPPET_LIMIT = 240
# Private-use characters mark matches in store snippets; they are found and turned into styles.
MARK_OPEN = "\ue000"
MARK_CLOSE = "\ue001"

T = TypeVar("T")


def format_time(timestamp: float) -> str:
    """A local date and time, fixed width: 2026-11-26 14:42."""
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))
    except (OverflowError, OSError, ValueError):
        return "????-??-?? ??:??"


def highlight_snippet(snippet: str, style: str = "bold $accent") -> Content:
    """Turn a store snippet with MARK_OPEN/MARK_CLOSE around matches into styled Content."""
    text = " ".join(clean(snippet).split())
    parts: list[str | tuple[str, str]] = []
    inside = False
    length = 0
    for piece in _split_marks(text):
        if piece == MARK_OPEN:
            inside = True
        elif piece == MARK_CLOSE:
            inside = False
        elif piece:
            if length >= SNIPPET_LIMIT:
                break
            piece = piece[: SNIPPET_LIMIT - length]
            length += len(piece)
            parts.append((piece, style) if inside else piece)
    return Content.assemble(*parts)


def _split_marks(text: str) -> list[str]:
    pieces: list[str] = []
    start = 0
    for index, char in enumerate(text):
        if char in (MARK_OPEN, MARK_CLOSE):
            pieces.append(text[start:index])
            pieces.append(char)
            start = index + 1
    pieces.append(text[start:])
    return pieces


def _title(title: str) -> str:
    return one_line(title, TITLE_LIMIT) or "Untitled"


class ConversationsScreen(ModalScreen[str | None]):
    """Browse, search and manage saved conversations; dismiss with the one to open."""

    CSS_PATH = "conversations.tcss"
    BINDINGS = [
        Binding("escape", "close", "Close", id="conversations.close"),
        Binding("down", "focus_list", "List", show=False, id="conversations.focus_list"),
        Binding("ctrl+n", "new_chat", "New chat", id="conversations.new"),
        Binding("f2", "rename", "Rename", id="conversations.rename"),
        Binding("ctrl+r", "rename", "Rename", show=False, id="conversations.rename_alt"),
        Binding("delete", "delete", "Delete", id="conversations.delete"),
        Binding("ctrl+d", "delete", "Delete", show=False, id="conversations.delete_alt"),
        Binding("ctrl+f", "focus_search", "Search", id="conversations.search"),
        Binding("slash", "focus_search", "Search", show=False, id="conversations.search_alt"),
    ]

    class Renamed(Message):
        """A conversation was renamed in the store."""

        def __init__(self, conversation_id: str, title: str) -> None:
            super().__init__()
            self.conversation_id = conversation_id
            self.title = title

    class Deleted(Message):
        """A conversation was deleted from the store."""

        def __init__(self, conversation_id: str) -> None:
            super().__init__()
            self.conversation_id = conversation_id

    class Loaded(Message):
        """The list (or a search's results) is on screen; tests wait for this."""

        def __init__(self, count: int, query: str) -> None:
            super().__init__()
            self.count = count
            self.query = query

    def __init__(
        self,
        store: Store,
        *,
        current_id: str | None = None,
        title: str = "Conversations",
        allow_new: bool = True,
    ) -> None:
        super().__init__()
        self.store = store
        self.current_id = current_id
        self.screen_title = title
        self.allow_new = allow_new
        self.titles: dict[str, str] = {}
        self.query_text = ""
        self.deleted_ids: set[str] = set()
        self.renamed: dict[str, str] = {}
        self.loaded = asyncio.Event()
        # conversation id -> the message its search hit shows (while search results are shown)
        self.hit_messages: dict[str, str] = {}
        self.chosen_message_id: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="conversations"):
            yield Input(placeholder="Search all messages and titles", id="conversations-search")
            yield OptionList(id="conversations-list", markup=False)
            yield Static(Content("Loading…"), id="conversations-status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#conversations", Vertical).border_title = Content(
            one_line(self.screen_title, 60)
        )
        self.query_one(OptionList).focus()
        self.refresh_list()

    # -- loading --------------------------------------------------------------------------------

    def refresh_list(self) -> None:
        """Reload from the store: the full list, or the current search's hits."""
        self.loaded.clear()
        self._load(self.query_text)

    @work(exclusive=True, group="conversations-load")
    async def _load(self, query: str) -> None:
        try:
            hit_messages: dict[str, str] = {}
            if query:
                hits = await asyncio.to_thread(self._search_store, query)
                options = [self._hit_option(hit) for hit in hits]
                hit_messages = {h.conversation_id: h.message_id for h in hits if h.message_id}
            else:
                summaries = await asyncio.to_thread(self.store.list)
                options = [self._summary_option(summary) for summary in summaries]
        except Exception as exc:  # StoreError and sqlite trouble: say so, keep the screen
            self._status(f"Could not read the conversations: {one_line(str(exc), 200)}", True)
            self.loaded.set()
            return
        if query != self.query_text:
            return
        self.hit_messages = hit_messages
        self._show_options(options, query)

    def _search_store(self, query: str) -> list[SearchHit]:
        return self.store.search(query, limit=SEARCH_LIMIT, mark=(MARK_OPEN, MARK_CLOSE))

    def _show_options(self, options: list[Option], query: str) -> None:
        option_list = self.query_one(OptionList)
        previous = option_list.highlighted_option
        previous_id = previous.id if previous is not None else self.current_id
        option_list.set_options(options)
        if options:
            index = 0
            if previous_id is not None:
                index = next((i for i, o in enumerate(options) if o.id == previous_id), 0)
            option_list.highlighted = index
        count = len(options)
        if query:
            shown = one_line(query, 60)
            self._status(
                f"{count} conversation{'s' if count != 1 else ''} match “{shown}”"
                if count
                else f"Nothing matches “{shown}”"
            )
        else:
            self._status(
                f"{count} saved conversation{'s' if count != 1 else ''}"
                if count
                else "No saved conversations yet: ctrl+n starts one"
            )
        self.loaded.set()
        self.post_message(self.Loaded(count, query))

    def _summary_option(self, summary: ConversationSummary) -> Option:
        title = _title(summary.title)
        self.titles[summary.id] = summary.title
        count = summary.message_count
        meta = [format_time(summary.updated_at)]
        if summary.model:
            meta.append(one_line(summary.model, 60))
        meta.append(f"{count} message{'s' if count != 1 else ''}")
        return Option(self._prompt(summary.id, title, Content(" · ".join(meta))), id=summary.id)

    def _hit_option(self, hit: SearchHit) -> Option:
        title = _title(hit.title)
        self.titles[hit.conversation_id] = hit.title
        lead = format_time(hit.updated_at) + " · "
        if hit.message_id is None:
            lead += "title: "
        elif hit.role == "user":
            lead += "you: "
        elif hit.role == "assistant":
            lead += "assistant: "
        detail = Content(lead) + highlight_snippet(hit.snippet)
        return Option(self._prompt(hit.conversation_id, title, detail), id=hit.conversation_id)

    def _prompt(self, conversation_id: str, title: str, detail: Content) -> Content:
        marker = "● " if conversation_id == self.current_id else "  "
        return Content.assemble(
            (marker, "$accent"),
            (title, "bold"),
            "\n  ",
            detail.stylize_before("dim"),
        )

    def _status(self, text: str, error: bool = False) -> None:
        status = self.query_one("#conversations-status", Static)
        status.set_class(error, "-error")
        status.update(Content(text))

    # -- input ----------------------------------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "conversations-search":
            return
        event.stop()
        query = event.value.strip()
        if query == self.query_text:
            return
        self.query_text = query
        self.refresh_list()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "conversations-search":
            return
        event.stop()
        self.action_open()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self._choose(event.option.id)

    def _choose(self, conversation_id: str) -> None:
        """Dismiss with the conversation; from a search hit, remember the message it matched."""
        self.chosen_message_id = self.hit_messages.get(conversation_id)
        self.dismiss(conversation_id)

    # -- actions --------------------------------------------------------------------------------

    def _highlighted_id(self) -> str | None:
        option = self.query_one(OptionList).highlighted_option
        return option.id if option is not None else None

    def action_close(self) -> None:
        search = self.query_one("#conversations-search", Input)
        if search.value:
            search.value = ""
            self.query_one(OptionList).focus()
            return
        self.dismiss(None)

    def action_open(self) -> None:
        conversation_id = self._highlighted_id()
        if conversation_id is not None:
            self._choose(conversation_id)

    def action_new_chat(self) -> None:
        if self.allow_new:
            self.dismiss(NEW_CHAT)

    def action_focus_list(self) -> None:
        self.query_one(OptionList).focus()

    def action_focus_search(self) -> None:
        self.query_one("#conversations-search", Input).focus()

    def action_rename(self) -> None:
        conversation_id = self._highlighted_id()
        if conversation_id is None:
            return

        def done(title: str | None) -> None:
            if title is not None and title != self.titles.get(conversation_id):
                self._rename(conversation_id, title)

        self.app.push_screen(
            TextPromptScreen(
                "New title:",
                value=self.titles.get(conversation_id, ""),
                title="Rename conversation",
                confirm_label="Rename",
            ),
            done,
        )

    def action_delete(self) -> None:
        conversation_id = self._highlighted_id()
        if conversation_id is None:
            return
        title = _title(self.titles.get(conversation_id, ""))

        def done(confirmed: bool | None) -> None:
            if confirmed:
                self._delete(conversation_id)

        self.app.push_screen(
            ConfirmScreen(
                f"Delete “{title}” and all its messages? This cannot be undone.",
                title="Delete conversation",
                confirm_label="Delete",
                cancel_label="Keep",
                destructive=True,
            ),
            done,
        )

    @work(group="conversations-write")
    async def _rename(self, conversation_id: str, title: str) -> None:
        if not await self._store_call(self.store.rename, conversation_id, title):
            return
        self.titles[conversation_id] = title
        self.renamed[conversation_id] = title
        self.post_message(self.Renamed(conversation_id, title))
        self.refresh_list()

    @work(group="conversations-write")
    async def _delete(self, conversation_id: str) -> None:
        if not await self._store_call(self.store.delete, conversation_id):
            return
        self.deleted_ids.add(conversation_id)
        self.titles.pop(conversation_id, None)
        self.post_message(self.Deleted(conversation_id))
        option_list = self.query_one(OptionList)
        try:
            index = option_list.get_option_index(conversation_id)
        except Exception:
            index = None
        if index is not None:
            option_list.remove_option_at_index(index)
            if option_list.option_count:
                option_list.highlighted = min(index, option_list.option_count - 1)
        self.refresh_list()

    async def _store_call(self, method: Callable[..., Any], *args: Any) -> bool:
        try:
            await asyncio.to_thread(method, *args)
        except Exception as exc:  # StoreError, ConversationNotFound, sqlite trouble
            message = one_line(str(exc), 300)
            self._status(message, error=True)
            self.notify(message, title="Store error", severity="error", markup=False)
            return False
        return True
