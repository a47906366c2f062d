"""The main screen: a view over megachat.chat.session.ChatSession.

It composes the conversation, the prompt, the attachments strip and the settings sidebar; maps
keys to session calls (send, regenerate, edit, retry, cancel, open, new) and the session's typed
outcomes and stream events to widget updates. The chat rules (what is stored when, what a failed
turn keeps, branches) are the session's. The draft stays safe: Enter takes it out of the prompt
at once (keys typed right after Enter are kept) and a draft that was not sent comes back in
front of them.

Start-up: the first frame has the final layout (the prompt focused, the sidebar showing a new
chat's settings); the conversation view, the store and httpx come right after it (`_start`) and
fill in place, so nothing moves and the prompt is usable at once.

Narrow terminals: below `SIDEBAR_DOCKED_MIN_WIDTH` columns the sidebar is an overlay that ctrl+b
opens (main_sidebar.py).
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, assert_never

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Static, TextArea

from megachat.sanitize import clean
from megachat.tui.keymap import MAIN_KEYS, bindings
from megachat.tui.screens.main_branches import BranchActions
from megachat.tui.screens.main_commands import MainCommands
from megachat.tui.screens.main_continue import ContinueActions
from megachat.tui.screens.main_conversations import ConversationActions
from megachat.tui.screens.main_images import ImageActions
from megachat.tui.screens.main_links import LinkActions
from megachat.tui.screens.main_scrolling import ScrollActions
from megachat.tui.screens.main_settings import SettingsActions
from megachat.tui.screens.main_sidebar import SIDEBAR_DOCKED_MIN_WIDTH, SidebarActions
from megachat.tui.screens.main_tools import ToolActions
from megachat.tui.widgets.attachments import AttachmentsStrip
from megachat.tui.widgets.footer import SteadyFooter
from megachat.tui.widgets.prompt_input import PromptInput
from megachat.tui.widgets.sidebar import Sidebar
from megachat.tui.widgets.status_line import StatusLine

if TYPE_CHECKING:
    from textual.timer import Timer
    from textual.worker import Worker

    from megachat.chat.conversation import ChatMessage, Conversation
    from megachat.chat.outcomes import Draft, Outcome
    from megachat.chat.session import ChatSession, EventSink
    from megachat.chat.turn import TurnEvent
    from megachat.tui.app import MegachatApp
    from megachat.tui.widgets.conversation_view import ConversationView
    from megachat.tui.widgets.message import ReplyWidget

Operation = Callable[["EventSink"], Awaitable["Outcome"]]

# What `_start` needs that the first frame does not.
_START_MODULES = (
    "megachat.chat.session",
    "megachat.chat.store",
    "megachat.tui.widgets.conversation_view",
)


def _import_modules(names: Iterable[str]) -> None:
    for name in names:
        importlib.import_module(name)


def _prepare_requests() -> None:
    from megachat.api.client import prepare_tls

    prepare_tls()


class MainScreen(
    BranchActions,
    ContinueActions,
    ConversationActions,
    ScrollActions,
    SidebarActions,
    LinkActions,
    SettingsActions,
    ImageActions,
    ToolActions,
    MainCommands,
    Screen,
):
    """The chat."""

    # Not CSS_PATH: Textual never loads the CSS_PATH of the screen `get_default_screen` returns
    # (only pushed screens' paths are read), so main.tcss would be silently ignored.
    DEFAULT_CSS = Path(__file__).with_name("main.tcss").read_text(encoding="utf-8")
    BINDINGS = bindings(MAIN_KEYS)
    AUTO_FOCUS = "#prompt"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (SIDEBAR_DOCKED_MIN_WIDTH, "-wide")]

    def __init__(
        self,
        *,
        conversation_id: str | None = None,
        continue_last: bool = False,
        pick: bool = False,
    ) -> None:
        super().__init__()
        self._start_id = conversation_id
        self._start_continue = continue_last
        self._start_pick = pick
        self.session: ChatSession | None = None
        self.view: ConversationView | None = None
        self.ready = asyncio.Event()
        self.turn_worker: Worker | None = None
        self.last_error: str | None = None
        self._reply: ReplyWidget | None = None
        self._last_usage: dict | None = None
        self._code_index: dict[int, int] = {}
        self._history_tokens = 0
        self._models: list[Any] = []
        self._offered_paths: set[str] = set()
        self._save_timer: Timer | None = None

    @property
    def mc_app(self) -> MegachatApp:
        return self.app  # type: ignore[return-value]

    @property
    def conversation(self) -> Conversation | None:
        """The open conversation (the session's); None until start-up made the session."""
        return self.session.conversation if self.session is not None else None

    # -- layout and start-up ------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        self._set_width_class()
        yield Static(Content("New chat"), id="title-bar", markup=False)
        with Horizontal(id="body"):
            with Vertical(id="chat"):
                yield Vertical(id="conversation-slot")
                yield StatusLine(id="status")
                yield AttachmentsStrip(id="attachments")
                yield PromptInput(id="prompt")
            yield self._sidebar()
        yield SteadyFooter()

    def _sidebar(self) -> Sidebar:
        """The sidebar, whole, in the first frame: a new chat's settings, as start-up then loads
        them (so nothing moves or fills in)."""
        settings = self.mc_app.settings
        servers = settings.mcp_servers
        if servers:
            from megachat.tui.screens.main_tools import initial_rows
        return Sidebar(
            settings.model,
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            system=settings.system_prompt or "",
            tool_servers=initial_rows(servers) if servers else (),
            id="sidebar",
        )

    def on_mount(self) -> None:
        self.set_focus(self.query_one(PromptInput))  # now: the first frame shows its keys
        self.call_after_refresh(self._start)

    @work(group="startup", exit_on_error=False)
    async def _start(self) -> None:
        """After the first frame: the view, the session and its conversation, filled in place
        (nothing moves). Modules are imported off the event loop, so typed text is drawn
        meanwhile."""
        from megachat.tui.app import resume_gc

        resume_gc()  # paused by the CLI until the first frame
        await asyncio.to_thread(_import_modules, _START_MODULES)
        from megachat.chat.session import ChatSession
        from megachat.chat.store import StoreError
        from megachat.tui.widgets.conversation_view import ConversationView
        from megachat.tui.widgets.stream_markdown import warm_up

        try:
            self.view = ConversationView(id="conversation")
            self.view.branches = self.branch_position  # `‹ n/m ›` in the headers
            await self.query_one("#conversation-slot").mount(self.view)
            try:
                store = self.mc_app.store
            except StoreError as exc:  # a damaged file was set aside: the next open is fresh
                self.mc_app.notify_error(f"Start-up problem: {exc}")
                store = self.mc_app.store
            self.session = ChatSession(
                store, self.mc_app.client, new_conversation=self._new_conversation
            )
            self.session.on_path_change = self.show_active_path
            settings = self.mc_app.settings
            self.session.model_overrides = settings.models  # what each model takes, priced
            self.session.prompt_cache = settings.prompt_cache
            await self._open_initial()
        finally:
            self.ready.set()
        # Import the HTTP client (httpx), load the CA certificates and build the Markdown
        # machinery off the event loop while the user starts typing: no reply waits for them.
        await asyncio.to_thread(_prepare_requests)
        dark = self.app.current_theme.dark
        self.run_worker(lambda: warm_up(dark), thread=True, group="warm-up", exit_on_error=False)
        if not self.mc_app.has_api_key:
            if not await self._ask_key(None):
                self.notify(
                    "No API key yet: you will be asked again when you send.",
                    severity="warning",
                    markup=False,
                )
            self.query_one(PromptInput).focus()
        self.load_models()

    async def show_conversation(self, conversation: Conversation) -> None:
        """Make `conversation` the open one (as given) and show it."""
        assert self.session is not None
        self.session.new(conversation)
        await self.refresh_conversation()

    async def refresh_conversation(self, *, at: str | None = None) -> None:
        """Show the session's conversation: its active path (at its end, or with the message
        `at` at the top: a search hit), settings, title and figures."""
        conversation = self.conversation
        assert conversation is not None
        self.last_error = None
        self._take_last_usage()
        self.reset_code_index()
        if self.view is not None:
            await self.view.load(conversation.messages, at=at)
        self.query_one(Sidebar).load(conversation)
        self.update_model_limits()
        self._update_title()
        self._recount_history()
        self.sync_tools()

    def _take_last_usage(self) -> None:
        """The figures show the usage of the last reply on the active path that reported one."""
        conversation = self.conversation
        messages = conversation.messages if conversation is not None else []
        self._last_usage = next((m.usage for m in reversed(messages) if m.usage), None)

    def _update_title(self) -> None:
        conversation = self.conversation
        title = " ".join(clean(conversation.title if conversation else "").split())
        self.query_one("#title-bar", Static).update(Content(title or "New chat"))

    # -- the prompt -----------------------------------------------------------------------------

    @on(TextArea.Changed, "#prompt")
    def _prompt_changed(self, event: TextArea.Changed) -> None:
        self._update_figures()
        self.offer_path_in(event.text_area.text)

    @on(PromptInput.ImagePathPasted)
    def _path_pasted(self, event: PromptInput.ImagePathPasted) -> None:
        self.offer_pasted_path(event.path, event.text)

    @on(AttachmentsStrip.Changed)
    def _attachments_changed(self) -> None:
        self._update_figures()

    @on(PromptInput.Submitted)
    def _submitted(self, event: PromptInput.Submitted) -> None:
        event.stop()
        self.send(event.text)

    @on(PromptInput.Held)
    def _enter_held(self, event: PromptInput.Held) -> None:
        event.stop()
        if self.busy:
            self.notify(
                "A reply is still coming (Esc cancels it); Enter adds a newline until then.",
                markup=False,
            )

    def send(self, text: str) -> None:
        """Send `text` (taken out of the prompt at Enter) and the pending images as a new user
        turn; when it cannot be sent now, the text goes back to the prompt."""
        if not self.ready.is_set() or self.session is None:
            self._send_when_ready(text)  # typed before start-up finished: not lost
            return
        strip = self.query_one(AttachmentsStrip)
        images = strip.images
        if self._refuse_while_busy() or (not text.strip() and not images):
            self._give_back(text)
            return
        try:
            self._apply_sidebar()
        except ValueError as exc:
            self.mc_app.notify_error(str(exc))
            self._give_back(text)
            return
        strip.clear()  # taken with the text; given back with it if the turn is not sent
        session = self.session
        self._start_turn(
            lambda on_event: session.send(text, images, prefill=self._prefill(), on_event=on_event),
            text=text,
            images=images,
        )

    @work(group="deferred-send", exclusive=True, exit_on_error=False)
    async def _send_when_ready(self, text: str) -> None:
        await self.ready.wait()
        if self.session is not None:
            self.send(text)
        else:
            self._give_back(text)

    def _give_back(self, text: str, images: list[Any] | None = None) -> None:
        """A draft taken at Enter was not sent: its text goes back in front of anything typed
        since, its images in front of any attached since; Enter sends again unless busy."""
        prompt = self.query_one(PromptInput)
        prompt.give_back(text)
        if images:
            strip = self.query_one(AttachmentsStrip)
            strip.set_images([*images, *strip.images])
        prompt.held = self.busy

    def _prefill(self) -> str:
        return self.query_one(Sidebar).prefill

    @property
    def busy(self) -> bool:
        """A turn is under way (asking for a key included)."""
        worker = self.turn_worker
        return worker is not None and not worker.is_finished

    def _refuse_while_busy(self) -> bool:
        """True (and the user told why) when a reply is still streaming."""
        if self.busy:
            self.notify("A reply is still coming (Esc cancels it).", markup=False)
        return self.busy

    # -- the turn -------------------------------------------------------------------------------

    def _start_turn(
        self, operation: Operation, *, text: str | None = None, images: list[Any] | None = None
    ) -> None:
        """Start a turn; until it ends, Enter in the prompt adds a newline (see PromptInput)."""
        self.query_one(PromptInput).held = True
        self.turn_worker = self._run_turn(operation, text, images or [])

    @work(group="turn", exclusive=True, exit_on_error=False)
    async def _run_turn(self, operation: Operation, text: str | None, images: list[Any]) -> None:
        """Run one session turn and show its outcome. A draft that did not become a user turn
        (no key, refused, not stored) goes back to the prompt, in one place (`finally`)."""
        from megachat.chat.outcomes import KEY_REFUSED, Failed

        assert self.session is not None
        status = self.query_one(StatusLine)
        unsent = (text, images) if text is not None else None
        try:
            if not self.mc_app.has_api_key and not await self._ask_key(None):
                self.notify("Not sent: no API key.", severity="warning", markup=False)
                return
            self.last_error = None
            await self.tools_ready()
            status.show("Waiting for the reply… (Esc cancels)")
            outcome = await operation(self._on_event)
            while isinstance(outcome, Failed) and outcome.key_refused:
                await self._finish_reply(outcome.message)
                if not await self._ask_key(KEY_REFUSED):
                    break
                status.show("Retrying with the new key…")
                outcome = await self.session.retry(prefill=self._prefill(), on_event=self._on_event)
            unsent = await self._show_outcome(outcome)
            await self._show_path_if_changed()
        finally:
            status.clear()
            self._after_turn()
            if unsent is not None:
                self._give_back(*unsent)
            self.query_one(PromptInput).held = False

    async def _on_event(self, event: TurnEvent) -> None:
        """A stream event of the turn, shown."""
        from megachat.chat.outcomes import skipped_warning
        from megachat.chat.prompt_cache import CacheDropped
        from megachat.chat.tool_events import ToolCallFinished, ToolCallStarted, ToolLoopStopped
        from megachat.chat.turn import ReplyEvent, ReplyFinished, ReplyStarted, ReplyText, Waiting

        match event:
            case ReplyStarted(message=message):
                self.query_one(StatusLine).show("Replying… (Esc cancels)")
                if self.view is not None:
                    self._reply = self.view.begin_reply(message)
            case ReplyText(text=text):
                if self._reply is not None:
                    self._reply.append_text(None, text)
            case ReplyEvent(event=raw):
                if self._reply is not None:
                    self._reply.apply_event(raw)
            case Waiting(notice=notice):
                self.query_one(StatusLine).show(notice.describe(), warning=True)
            case CacheDropped():
                self.query_one(StatusLine).show(event.describe(), warning=True)
                self.notify(event.describe(), severity="warning", markup=False)
            case ReplyFinished(message=message, skipped_events=skipped):
                await self._finish_reply(message)
                self._last_usage = message.usage or self._last_usage
                warning = skipped_warning(skipped)
                if warning:
                    self.notify(warning, severity="warning", markup=False)
            case ToolCallStarted(call=call):
                self.query_one(StatusLine).show(f"Running {call.label}… (Esc cancels)")
            case ToolCallFinished(call=call, summary=summary, is_error=is_error):
                self.query_one(StatusLine).show(f"{call.label}: {summary}", warning=is_error)
            case ToolLoopStopped(reason=reason, message=text):
                if reason != "end_turn":
                    self.notify(text, severity="warning", markup=False)
            case _:
                assert_never(event)

    async def _finish_reply(self, message: ChatMessage | None) -> None:
        reply, self._reply = self._reply, None
        if reply is not None:
            await reply.finish(message)

    async def _show_outcome(self, outcome: Outcome) -> tuple[str, list[Any]] | None:
        """Say how the turn ended; returns a draft to give back to the prompt, if any."""
        from megachat.chat.outcomes import (
            Cancelled,
            Failed,
            Finished,
            NothingToDo,
            NotSent,
            SessionBusy,
            word_failure,
        )

        if isinstance(outcome, Cancelled | Failed):
            await self._finish_reply(outcome.message)
        match outcome:
            case Finished():
                pass
            case Cancelled() if self._ends_in_tool_results():
                self.notify(
                    'Cancelled: the tool calls left open were answered "cancelled by the user".',
                    markup=False,
                )
            case Cancelled():
                self.notify("Reply cancelled; the partial text is kept.", markup=False)
            case Failed() if outcome.key_refused:
                self.last_error = word_failure(outcome, face="tui").text
            case Failed() if outcome.deleted:
                self.last_error = None
                text = word_failure(outcome, face="tui").text
                self.notify(text, severity="warning", markup=False, timeout=10)
            case Failed():
                wording = word_failure(outcome, face="tui")
                self.last_error = wording.text
                title = f"Request failed ({wording.hint})" if wording.hint else "Request failed"
                self.mc_app.notify_error(wording.text, title=title)
            case NotSent(error=NothingToDo() | SessionBusy() as error):
                self.notify(str(error), markup=False)
            case NotSent(error=error):
                self.mc_app.notify_error(f"Not sent: {error}")
            case _:
                assert_never(outcome)
        if isinstance(outcome, NotSent) and outcome.draft is not None:
            return outcome.draft.text, list(outcome.draft.images)
        return None

    async def _show_path_if_changed(self) -> None:
        """The turn ended with messages the view has not shown: tool results (a cancel or a
        failure answers the calls left open, after the last reply)."""
        conversation, view = self.conversation, self.view
        if conversation is None or view is None:
            return
        shown = [message.id for message in view.messages]
        if shown != [message.id for message in conversation.messages]:
            await self.show_active_path()

    def _after_turn(self) -> None:
        self._recount_history()
        self._update_title()
        self._save_settings()
        self.sync_tools()  # a server switched on or off during the turn

    async def _ask_key(self, message: str | None) -> str | None:
        """Ask for an API key (`message` says why); a key given is used from now on."""
        from megachat.tui.screens import ApiKeyScreen

        key = await self.app.push_screen_wait(ApiKeyScreen(message))
        if key:
            await self.mc_app.set_api_key(key)
        return key or None

    # -- turn actions ---------------------------------------------------------------------------

    def action_cancel(self) -> None:
        """Esc: close the sidebar overlay when the focus is in it (a narrow screen), else cancel
        the reply in progress (its partial text stays, marked cancelled)."""
        if self._sidebar_has_focus() and self.query_one(Sidebar).has_class("-overlay"):
            self._close_sidebar_overlay()
            return
        if self.busy and self.turn_worker is not None:
            if self.session is None or not self.session.cancel():
                self.turn_worker.cancel()  # still asking for a key: nothing was sent
            return
        prompt = self.query_one(PromptInput)
        if self.focused is not prompt:
            prompt.focus()

    def action_regenerate(self) -> None:
        """Ask again for the last reply; the old one stays as a branch."""
        self._resend("regenerate")

    def action_retry(self) -> None:
        """After an error (or a cancelled reply): send again; a failed reply stays a branch."""
        self._resend("retry")

    def _resend(self, how: Literal["regenerate", "retry"]) -> None:
        session = self.session
        if session is not None and self.ready.is_set() and not self._refuse_while_busy():
            resend = session.regenerate if how == "regenerate" else session.retry
            self._start_turn(lambda sink: resend(prefill=self._prefill(), on_event=sink))

    def action_edit_last(self) -> None:
        """Put the last user message back in the prompt; sending it makes a new version."""
        if self.session is None or not self.ready.is_set() or self._refuse_while_busy():
            return
        if self.query_one(PromptInput).text.strip():
            self.notify("Send or clear the current draft first.", markup=False)
            return
        from megachat.chat.outcomes import NothingToDo

        try:
            draft = self.session.begin_edit()
        except NothingToDo as exc:
            self.notify(str(exc), markup=False)
            return
        self._edit_worker(draft)

    @work(group="edit", exit_on_error=False)
    async def _edit_worker(self, draft: Draft) -> None:
        await self.show_active_path()
        prompt = self.query_one(PromptInput)
        prompt.set_draft(draft.text)
        self.query_one(AttachmentsStrip).set_images(list(draft.images))
        prompt.focus()

    # -- focus ----------------------------------------------------------------------------------

    def action_focus_prompt(self) -> None:
        self.query_one(PromptInput).focus()
