"""The main screen: the conversation, the prompt, the attachments strip, the settings sidebar.

Turns go out only through megachat.chat.turn.Turn (the same send path as `megachat ask`), which
stores the user turn before the request and the reply while it streams. This screen turns Turn's
events into view updates, keeps the draft safe (Enter takes it out of the prompt at once, so
keys typed right after Enter are kept; a draft that was not sent goes back in front of them),
and turns every failure into a notification with the API's own message.

Start-up: the first frame shows the prompt (focused) and the sidebar; the conversation view, the
store and httpx are brought in right after it (`_start`), so the prompt is usable at once.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Input, Select, Static, TextArea

from megachat.sanitize import clean
from megachat.tui.keymap import MAIN_KEYS, bindings
from megachat.tui.widgets.attachments import AttachmentsStrip
from megachat.tui.widgets.prompt_input import PromptInput, image_path_from_text
from megachat.tui.widgets.sidebar import Sidebar
from megachat.tui.widgets.status_line import StatusLine

if TYPE_CHECKING:
    from textual.timer import Timer
    from textual.worker import Worker

    from megachat.chat.conversation import ChatMessage, Conversation
    from megachat.tui.app import MegachatApp

KEY_REFUSED = "The API key was refused (HTTP 401). Enter another key to retry."


async def _settle(result: Any) -> Any:
    """Await `result` when the view's method returned an awaitable."""
    if inspect.isawaitable(result):
        return await result
    return result


class MainScreen(Screen):
    """The chat."""

    CSS_PATH = "main.tcss"
    BINDINGS = bindings(MAIN_KEYS)
    AUTO_FOCUS = "#prompt"

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
        self.conversation: Conversation | None = None
        self.view: Any = None
        self.ready = asyncio.Event()
        self.turn_worker: Worker | None = None
        self.last_error: str | None = None
        self._last_usage: dict | None = None
        self._history_tokens = 0
        self._models: list[Any] = []
        self._code_index: dict[int, int] = {}
        self._offered_paths: set[str] = set()
        self._save_timer: Timer | None = None

    @property
    def mc_app(self) -> MegachatApp:
        return self.app  # type: ignore[return-value]

    # -- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(Content("New chat"), id="title-bar", markup=False)
        with Horizontal(id="body"), Vertical(id="chat"):
            yield Vertical(id="conversation-slot")
            yield StatusLine(id="status")
            yield AttachmentsStrip(id="attachments")
            yield PromptInput(id="prompt")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#prompt", PromptInput).focus()
        self.call_after_refresh(self._start)

    @work(group="startup", exit_on_error=False)
    async def _start(self) -> None:
        """After the first frame: the conversation view, the conversation, the models list."""
        try:
            # The sidebar (Select, TextArea, Inputs) and the view come right after the first frame.
            await self.query_one("#body").mount(Sidebar(self.mc_app.settings.model, id="sidebar"))
            from megachat.tui.widgets.conversation_view import ConversationView

            self.view = ConversationView(id="conversation")
            await self.query_one("#conversation-slot").mount(self.view)
            conversation = await self._initial_conversation()
            await self.show_conversation(conversation)
        except Exception as exc:  # never a traceback screen
            self.mc_app.notify_error(f"Start-up problem: {exc}")
            if self.conversation is None:
                await self.show_conversation(self._new_conversation())
        finally:
            self.ready.set()
        # Import the HTTP client (httpx) off the event loop while the user starts typing.
        await asyncio.to_thread(importlib.import_module, "megachat.api")
        if not self.mc_app.has_api_key:
            key = await self.app.push_screen_wait(self._api_key_screen(None))
            if key:
                await self.mc_app.set_api_key(key)
            else:
                self.notify(
                    "No API key yet: you will be asked again when you send.",
                    severity="warning",
                    markup=False,
                )
            self.query_one("#prompt", PromptInput).focus()
        self.load_models()

    async def _initial_conversation(self) -> Conversation:
        store = self.mc_app.store
        if self._start_pick:
            from megachat.tui.screens import NEW_CHAT, ConversationsScreen

            chosen = await self.app.push_screen_wait(ConversationsScreen(store))
            if chosen and chosen != NEW_CHAT:
                conversation = self._load_from_store(str(chosen))
                if conversation is not None:
                    return conversation
            return self._new_conversation()
        conversation_id = self._start_id
        if conversation_id is None and self._start_continue:
            conversation_id = store.latest_id()
            if conversation_id is None:
                self.notify("No saved conversation yet: a new one is open.", markup=False)
        if conversation_id is not None:
            conversation = self._load_from_store(conversation_id)
            if conversation is not None:
                return conversation
        return self._new_conversation()

    def _load_from_store(self, conversation_id: str) -> Conversation | None:
        try:
            conversation = self.mc_app.store.get(conversation_id)
        except Exception as exc:
            self.mc_app.notify_error(f"Could not open conversation {conversation_id}: {exc}")
            return None
        if conversation is None:
            self.mc_app.notify_error(f"No conversation with id {conversation_id}")
        return conversation

    def _new_conversation(self) -> Conversation:
        from megachat.chat.conversation import Conversation

        settings = self.mc_app.settings
        return Conversation(
            model=settings.model,
            system=settings.system_prompt or "",
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
        )

    async def show_conversation(self, conversation: Conversation) -> None:
        """Make `conversation` the current one: view, sidebar, title, figures."""
        self.conversation = conversation
        self.last_error = None
        self._last_usage = next((m.usage for m in reversed(conversation.messages) if m.usage), None)
        self._code_index.clear()
        if self.view is not None:
            await _settle(self.view.load(conversation.messages))
        self.query_one(Sidebar).load(conversation)
        self._update_title()
        self._recount_history()

    def _update_title(self) -> None:
        conversation = self.conversation
        title = " ".join(clean(conversation.title if conversation else "").split())
        title = title or "New chat"
        self.query_one("#title-bar", Static).update(Content(title))

    # -- figures --------------------------------------------------------------------------------

    def _recount_history(self) -> None:
        from megachat.chat.tokens import estimate_tokens

        conversation = self.conversation
        if conversation is None:
            return
        try:
            self._history_tokens = estimate_tokens(conversation.build_request(stream=False))
        except Exception:
            self._history_tokens = 0
        self._update_figures()

    def _update_figures(self) -> None:
        from megachat.chat.tokens import context_warning, context_window, estimate_tokens

        conversation = self.conversation
        if conversation is None:
            return
        blocks: list[dict] = [{"type": "text", "text": self.query_one(PromptInput).text}]
        for image in self.query_one(AttachmentsStrip).images:
            blocks.append({"type": "image", "width": image.width, "height": image.height})
        try:
            draft = estimate_tokens(blocks)
        except Exception:
            draft = 0
        try:
            window = context_window(conversation.model, self._models)
            warning = context_warning(self._history_tokens + draft, conversation.max_tokens, window)
        except Exception:
            warning = None
        self.query_one(Sidebar).set_figures(
            draft_tokens=draft, usage=self._last_usage, warning=warning
        )

    # -- models ---------------------------------------------------------------------------------

    @work(group="models", exclusive=True, exit_on_error=False)
    async def load_models(self) -> None:
        """Fill the model list from the server; the configured model stays as the fallback."""
        if not self.mc_app.has_api_key:
            return
        try:
            models = await self.mc_app.client().list_models()
        except Exception as exc:
            self.log.warning(f"models list unavailable: {exc}")
            return
        self._models = list(models)
        current = self.conversation.model if self.conversation else None
        self.query_one(Sidebar).set_models([m.id for m in models], current=current)
        self._update_figures()

    # -- settings changes -------------------------------------------------------------------------

    @on(Select.Changed, "#model")
    def _model_changed(self, event: Select.Changed) -> None:
        if self.conversation is None or event.value is Select.NULL:
            return
        self.conversation.model = str(event.value)
        self._save_settings()
        self._update_figures()

    @on(Input.Changed, "#temperature")
    def _temperature_changed(self, event: Input.Changed) -> None:
        if self.conversation is None:
            return
        try:
            value = self.query_one(Sidebar).temperature()
        except ValueError:
            return  # shown as invalid; sending is refused until it is fixed
        if value != self.conversation.temperature:
            self.conversation.temperature = value
            self._save_settings()

    @on(Input.Changed, "#max-tokens")
    def _max_tokens_changed(self, event: Input.Changed) -> None:
        if self.conversation is None:
            return
        try:
            value = self.query_one(Sidebar).max_tokens()
        except ValueError:
            return
        if value != self.conversation.max_tokens:
            self.conversation.max_tokens = value
            self._save_settings()
            self._update_figures()

    @on(TextArea.Changed, "#system")
    def _system_changed(self, event: TextArea.Changed) -> None:
        if self.conversation is None:
            return
        self.conversation.system = event.text_area.text
        # Saved half a second after the last keystroke, not on every one.
        if self._save_timer is not None:
            self._save_timer.stop()
        self._save_timer = self.set_timer(0.5, self._save_settings)

    def _save_settings(self) -> None:
        """Save the conversation's settings, once it is in the store (new chats: on first send)."""
        from megachat.chat.store import ConversationDeleted

        conversation = self.conversation
        if conversation is None or not conversation.messages:
            return
        store = self.mc_app.store
        try:
            store.save(conversation)
        except ConversationDeleted:
            pass  # said when it was found (the turn stopped, or a send was refused)
        except Exception as exc:
            self.mc_app.notify_error(f"Settings not saved: {exc}")

    # -- prompt ---------------------------------------------------------------------------------

    @on(TextArea.Changed, "#prompt")
    def _prompt_changed(self, event: TextArea.Changed) -> None:
        self._update_figures()
        text = event.text_area.text
        if "/" in text or "\\" in text:
            path = image_path_from_text(text)
            if path is not None and str(path) not in self._offered_paths:
                self._offered_paths.add(str(path))
                self._offer_attach(path, text, clear_prompt=True)

    @on(PromptInput.ImagePathPasted)
    def _path_pasted(self, event: PromptInput.ImagePathPasted) -> None:
        self._offered_paths.add(str(event.path))
        self._offer_attach(event.path, event.text, clear_prompt=False)

    @work(group="offer", exit_on_error=False)
    async def _offer_attach(self, path: Path, text: str, *, clear_prompt: bool) -> None:
        from megachat.tui.screens import ConfirmScreen

        name = clean(path.name)
        attach = await self.app.push_screen_wait(ConfirmScreen(f"Attach the image {name}?"))
        prompt = self.query_one(PromptInput)
        if attach:
            if clear_prompt and prompt.text.strip() == text.strip():
                prompt.clear()
            self.attach_path(path)
        elif not clear_prompt:
            prompt.insert(text)
        prompt.focus()

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
        if not self.ready.is_set() or self.conversation is None:
            self._send_when_ready(text)  # typed before start-up finished: not lost
            return
        if self._refuse_while_busy():
            self._give_back(text)
            return
        strip = self.query_one(AttachmentsStrip)
        images = strip.images
        if not text.strip() and not images:
            self._give_back(text)
            return
        sidebar = self.query_one(Sidebar)
        try:
            temperature = sidebar.temperature()
            max_tokens = sidebar.max_tokens()
        except ValueError as exc:
            self.mc_app.notify_error(str(exc))
            self._give_back(text)
            return
        self.conversation.temperature = temperature
        self.conversation.max_tokens = max_tokens
        self.conversation.system = sidebar.system
        model = sidebar.model
        if model:
            self.conversation.model = model
        strip.clear()  # taken with the text; given back with it if the turn is not sent
        self._start_turn(new_text=text, new_images=images)

    @work(group="deferred-send", exclusive=True, exit_on_error=False)
    async def _send_when_ready(self, text: str) -> None:
        await self.ready.wait()
        if self.conversation is not None:
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

    def _start_turn(self, **kwargs: Any) -> None:
        """Start a turn; until it ends, Enter in the prompt adds a newline (see PromptInput)."""
        self.query_one(PromptInput).held = True
        self.turn_worker = self._run_turn(**kwargs)

    @property
    def busy(self) -> bool:
        worker = self.turn_worker
        return worker is not None and not worker.is_finished

    def _refuse_while_busy(self) -> bool:
        """True (and the user told why) when a reply is still streaming."""
        if self.busy:
            self.notify("A reply is still coming (Esc cancels it).", markup=False)
        return self.busy

    # -- the turn -------------------------------------------------------------------------------

    @work(group="turn", exclusive=True, exit_on_error=False)
    async def _run_turn(
        self,
        *,
        new_text: str | None = None,
        new_images: list[Any] | None = None,
        drop_reply: bool = False,
    ) -> None:
        """Send one turn through Turn; with `new_text`, the draft becomes a user message first;
        with `drop_reply`, a last assistant reply is removed first (regenerate / retry).

        The draft was taken out of the prompt at Enter. Every way this ends before the user turn
        is in the conversation (no key, a refused message, nothing stored) gives it back, in one
        place (`finally`); Enter sends again once the turn is over."""
        conversation = self.conversation
        assert conversation is not None
        prompt = self.query_one(PromptInput)
        draft = None if new_text is None else (new_text, list(new_images or []))
        unsent = draft  # what goes back to the prompt when this turn ends
        try:
            if (
                drop_reply
                and conversation.messages
                and conversation.messages[-1].role == "assistant"
            ):
                if not self._delete_from(conversation.messages[-1]):
                    return
                if self.view is not None:
                    await _settle(self.view.load(conversation.messages))
            status = self.query_one(StatusLine)
            if not self.mc_app.has_api_key:
                key = await self.app.push_screen_wait(self._api_key_screen(None))
                if not key:
                    self.notify("Not sent: no API key.", severity="warning", markup=False)
                    return
                await self.mc_app.set_api_key(key)
            user_message: ChatMessage | None = None
            if draft is not None:
                try:
                    user_message = conversation.add_user(*draft)
                except ValueError as exc:
                    self.mc_app.notify_error(str(exc))
                    return
                unsent = None
                if self.view is not None:
                    await _settle(self.view.add_message(user_message))
                self._update_title()
            self.last_error = None
            status.show("Waiting for the reply… (Esc cancels)")
            while True:
                try:
                    outcome = await self._stream_turn(conversation)
                except asyncio.CancelledError:
                    status.clear()
                    self._after_turn()
                    raise
                if outcome == "retry-auth":
                    key = await self.app.push_screen_wait(self._api_key_screen(KEY_REFUSED))
                    if key:
                        await self.mc_app.set_api_key(key)
                        status.show("Retrying with the new key…")
                        continue
                    self.last_error = KEY_REFUSED
                elif isinstance(outcome, _NotStored) and user_message is not None:
                    # Failed before the user turn was stored: the draft goes back, untouched.
                    if user_message in conversation.messages:
                        conversation.messages.remove(user_message)
                    if self.view is not None:
                        await _settle(self.view.load(conversation.messages))
                    unsent = draft
                    self.mc_app.notify_error(f"Not sent: {outcome.error}")
                break
            status.clear()
            self._after_turn()
        finally:
            if unsent is not None:
                self._give_back(*unsent)
            prompt.held = False

    async def _stream_turn(self, conversation: Conversation) -> Any:
        """Run one Turn; returns None, "retry-auth", _NotStored(err) or the error text."""
        from megachat.chat.turn import (
            ReplyEvent,
            ReplyFinished,
            ReplyStarted,
            ReplyText,
            Turn,
            Waiting,
        )

        status = self.query_one(StatusLine)
        prefill = self.query_one(Sidebar).prefill
        try:
            client = self.mc_app.client()
        except Exception as exc:
            self.mc_app.notify_error(f"Cannot reach the API: {exc}")
            return _NotStored(exc)
        turn = Turn(conversation, client, self.mc_app.store, prefill=prefill)
        reply: Any = None
        stored = False
        try:
            async for event in turn.events():
                stored = True
                if isinstance(event, ReplyStarted):
                    status.show("Replying… (Esc cancels)")
                    if self.view is not None:
                        reply = await _settle(self.view.begin_reply(event.message))
                elif isinstance(event, ReplyText):
                    if reply is not None:
                        await _settle(reply.append_text(None, event.text))
                elif isinstance(event, ReplyEvent):
                    if reply is not None:
                        reply.apply_event(event.event)
                elif isinstance(event, Waiting):
                    status.show(event.notice.describe(), warning=True)
                elif isinstance(event, ReplyFinished):
                    if reply is not None:
                        await _settle(reply.finish(event.message))
                        reply = None
                    if event.message.usage:
                        self._last_usage = event.message.usage
                    if event.skipped_events:
                        self.notify(
                            f"{event.skipped_events} malformed stream event(s) skipped; "
                            "the reply may be incomplete",
                            severity="warning",
                            markup=False,
                        )
        except asyncio.CancelledError:
            if reply is not None and turn.message is not None:
                await _settle(reply.finish(turn.message))
            self.notify("Reply cancelled; the partial text is kept.", markup=False)
            raise
        except Exception as exc:
            if reply is not None and turn.message is not None:
                await _settle(reply.finish(turn.message))
            return self._turn_failed(exc, stored=stored)
        return None

    def _turn_failed(self, exc: Exception, *, stored: bool) -> Any:
        from megachat.api.errors import APIError, AuthenticationError
        from megachat.chat.store import ConversationDeleted

        if isinstance(exc, AuthenticationError):
            return "retry-auth"
        if isinstance(exc, ConversationDeleted) and stored:
            # The text stays on screen (read-only: sending into it is refused by the store).
            message = (
                "This conversation was deleted elsewhere: the reply stopped and nothing more "
                "of it is saved. What you see stays here; start a new chat to go on."
            )
            self.last_error = None
            self.notify(message, severity="warning", markup=False, timeout=10)
            return message
        if not stored and not isinstance(exc, APIError):
            return _NotStored(exc)
        message = str(exc) or type(exc).__name__
        self.last_error = message
        self.mc_app.notify_error(message, title="Request failed (F5 retries)")
        return message

    def _after_turn(self) -> None:
        self._recount_history()
        self._update_title()
        if self.conversation is not None and self.conversation.messages:
            self._save_settings()

    def _api_key_screen(self, message: str | None) -> Any:
        from megachat.tui.screens import ApiKeyScreen

        return ApiKeyScreen(message)

    # -- actions --------------------------------------------------------------------------------

    def action_cancel(self) -> None:
        """Esc: cancel the reply in progress (its partial text stays, marked cancelled)."""
        if self.busy and self.turn_worker is not None:
            self.turn_worker.cancel()
            return
        prompt = self.query_one(PromptInput)
        if self.focused is not prompt:
            prompt.focus()

    def action_regenerate(self) -> None:
        """Drop the last reply and ask again."""
        self._resend(drop_reply=True, label="regenerate")

    def action_retry(self) -> None:
        """After an error (or a cancelled reply): send the conversation again."""
        self._resend(drop_reply=True, label="retry")

    def _resend(self, *, drop_reply: bool, label: str) -> None:
        conversation = self.conversation
        if conversation is None or not self.ready.is_set():
            return
        if self._refuse_while_busy():
            return
        if not conversation.messages:
            self.notify(f"Nothing to {label} yet.", markup=False)
            return
        self._start_turn(drop_reply=drop_reply)

    def action_edit_last(self) -> None:
        """Put the last user message back in the prompt (removing it and its reply) to resend."""
        conversation = self.conversation
        if conversation is None or not self.ready.is_set():
            return
        if self._refuse_while_busy():
            return
        last_user = conversation.last("user")
        if last_user is None:
            self.notify("No message to edit yet.", markup=False)
            return
        prompt = self.query_one(PromptInput)
        if prompt.text.strip():
            self.notify("Send or clear the current draft first.", markup=False)
            return
        if not self._delete_from(last_user):
            return
        self._edit_worker(last_user)

    @work(group="edit", exit_on_error=False)
    async def _edit_worker(self, message: ChatMessage) -> None:
        conversation = self.conversation
        assert conversation is not None
        if self.view is not None:
            await _settle(self.view.load(conversation.messages))
        prompt = self.query_one(PromptInput)
        prompt.set_draft(message.text())
        images = []
        for block in message.images():
            image = _image_from_block(block, message.image_name(block))
            if image is not None:
                images.append(image)
        self.query_one(AttachmentsStrip).set_images(images)
        self._recount_history()
        prompt.focus()

    def _delete_from(self, message: ChatMessage) -> bool:
        """Remove `message` and everything after it, from the store (one transaction) and then
        from memory. On a store failure nothing changes and False is returned."""
        from megachat.chat.store import ConversationNotFound, MessageNotFound

        conversation = self.conversation
        assert conversation is not None
        index = conversation.messages.index(message)
        store = self.mc_app.store
        try:
            # The first of these the store holds (normally `message` itself): a turn whose
            # storing failed may be in memory only, and nothing after it is lost by this.
            for candidate in conversation.messages[index:]:
                try:
                    store.delete_messages_from(conversation.id, candidate.id)
                    break
                except MessageNotFound:
                    continue
        except ConversationNotFound:
            pass  # never stored (a new chat whose first send failed): memory only
        except Exception as exc:
            self.mc_app.notify_error(f"Could not change the stored conversation: {exc}")
            return False
        conversation.truncate_from(message.id)
        return True

    def action_attach(self) -> None:
        """Open the image picker."""
        self._pick_image()

    @work(group="picker", exit_on_error=False)
    async def _pick_image(self) -> None:
        from megachat.tui.screens import ImagePickerScreen

        path = await self.app.push_screen_wait(ImagePickerScreen(Path.cwd()))
        if path is not None:
            self.attach_path(Path(path))
        self.query_one(PromptInput).focus()

    def attach_path(self, path: Path) -> Worker:
        """Load and attach an image (in a thread: Pillow may resize it)."""
        return self._load_image(path)

    @work(group="images", thread=True, exit_on_error=False)
    def _load_image(self, path: Path) -> None:
        from megachat.chat.images import load_image

        try:
            image = load_image(path, many=len(self.query_one(AttachmentsStrip).images) > 0)
        except Exception as exc:
            self.app.call_from_thread(self.mc_app.notify_error, str(exc))
            return
        self.app.call_from_thread(self._image_loaded, image)

    def _image_loaded(self, image: Any) -> None:
        self.query_one(AttachmentsStrip).add(image)
        note = getattr(image, "note", None)
        if note:
            self.notify(clean(str(note)), markup=False)

    def action_remove_attachments(self) -> None:
        self.query_one(AttachmentsStrip).clear()

    def action_conversations(self) -> None:
        """Open the saved conversations (open, new, rename, delete)."""
        if self._refuse_while_busy():
            return
        self._conversations_worker()

    @work(group="conversations", exclusive=True, exit_on_error=False)
    async def _conversations_worker(self) -> None:
        from megachat.tui.screens import NEW_CHAT, ConversationsScreen

        current = self.conversation
        screen = ConversationsScreen(
            self.mc_app.store, current_id=current.id if current is not None else None
        )
        chosen = await self.app.push_screen_wait(screen)
        if chosen and chosen != NEW_CHAT:
            conversation = self._load_from_store(str(chosen))
            if conversation is not None:
                await self.show_conversation(conversation)
        elif chosen == NEW_CHAT or (current is not None and current.id in screen.deleted_ids):
            await self.show_conversation(self._new_conversation())
        elif current is not None and current.id in screen.renamed:
            current.title = screen.renamed[current.id]
            self._update_title()
        self.query_one(PromptInput).focus()

    def action_new_chat(self) -> None:
        if self._refuse_while_busy():
            return
        self._new_chat_worker()

    @work(group="conversations", exclusive=True, exit_on_error=False)
    async def _new_chat_worker(self) -> None:
        await self.show_conversation(self._new_conversation())
        self.query_one(PromptInput).focus()

    def action_toggle_sidebar(self) -> None:
        for sidebar in self.query(Sidebar):
            sidebar.toggle_class("-hidden")

    def action_focus_prompt(self) -> None:
        self.query_one(PromptInput).focus()

    def action_focus_system(self) -> None:
        for sidebar in self.query(Sidebar):
            sidebar.remove_class("-hidden")
            sidebar.query_one("#system", TextArea).focus()

    def action_copy(self) -> None:
        """Copy the focused message (or, from the prompt, the last reply)."""
        target = self._focused_message()
        if target is not None:
            text = target.plain_text()
            what = "message"
        else:
            last = self.conversation.last("assistant") if self.conversation else None
            if last is None:
                self.notify("Nothing to copy yet.", markup=False)
                return
            from megachat.tui.widgets.message import plain_text

            text = plain_text(last)
            what = "last reply"
        self.app.copy_to_clipboard(text)  # the app sanitizes every copy
        self.notify(f"Copied the {what} ({len(text):,} characters).", markup=False)

    def action_copy_code(self) -> None:
        """Copy a code block of the focused message; pressing again takes the next one."""
        target = self._focused_message()
        if target is None:
            blocks = self._last_reply_code_blocks()
            key = -1
        else:
            blocks = list(target.code_blocks())
            key = id(target)
        if not blocks:
            self.notify("No code block to copy.", markup=False)
            return
        index = self._code_index.get(key, 0) % len(blocks)
        self._code_index[key] = index + 1
        self.app.copy_to_clipboard(blocks[index])
        self.notify(f"Copied code block {index + 1} of {len(blocks)}.", markup=False)

    def _last_reply_code_blocks(self) -> list[str]:
        last = self.conversation.last("assistant") if self.conversation else None
        if last is None:
            return []
        from megachat.tui.widgets.message import code_blocks

        return code_blocks(last)

    def _focused_message(self) -> Any:
        node = self.focused
        while node is not None and node is not self:
            if hasattr(node, "plain_text") and hasattr(node, "code_blocks"):
                return node
            node = node.parent
        return None

    def apply_preset(self, name: str) -> Worker:
        """Fill the system prompt, temperature and prefill from a preset (asking for values)."""
        return self._apply_preset(name)

    @work(group="preset", exclusive=True, exit_on_error=False)
    async def _apply_preset(self, name: str) -> None:
        preset = self.mc_app.presets().get(name)
        if preset is None or self.conversation is None:
            return
        values: dict[str, str] = {}
        for variable in getattr(preset, "variables", ()):
            if variable.default is not None:
                continue
            from megachat.tui.screens import TextPromptScreen

            question = f"{name}: {variable.name}"
            if variable.description:
                question += f" ({variable.description})"
            if variable.choices:
                question += " — one of " + ", ".join(variable.choices)
            answer = await self.app.push_screen_wait(
                TextPromptScreen(question, title="Preset", confirm_label="Apply")
            )
            if answer is None:
                return
            values[variable.name] = answer
        try:
            rendered = preset.render(values)
        except Exception as exc:
            self.mc_app.notify_error(str(exc))
            return
        temperature = rendered.temperature
        self.query_one("#system", TextArea).load_text(rendered.system)
        self.query_one("#temperature", Input).value = (
            "" if temperature is None else f"{temperature:g}"
        )
        self.query_one("#prefill", Input).value = rendered.prefill
        self.conversation.system = rendered.system
        self.conversation.temperature = temperature
        self._save_settings()
        self.notify(f"Preset {clean(name)} applied.", markup=False)
        self.query_one(PromptInput).focus()

    # -- palette --------------------------------------------------------------------------------

    def command_entries(self) -> list[tuple[str, str, Any]]:
        """Every action of this screen for the command palette."""
        entries: list[tuple[str, str, Any]] = [
            ("Send message", "Send the prompt", self._send_from_palette),
            ("Cancel reply", "Stop the reply in progress, keep its text", self.action_cancel),
            ("Attach image", "Pick an image to send with the next message", self.action_attach),
            ("Remove attachments", "Drop the pending images", self.action_remove_attachments),
            ("Regenerate reply", "Ask again for the last reply", self.action_regenerate),
            ("Retry", "Send again after an error", self.action_retry),
            ("Edit last message", "Edit and resend your last message", self.action_edit_last),
            ("Conversations", "Open, rename or delete saved chats", self.action_conversations),
            ("New chat", "Start a new conversation", self.action_new_chat),
            ("Copy message", "Copy the focused message (or the last reply)", self.action_copy),
            ("Copy code block", "Copy a code block of the focused message", self.action_copy_code),
            ("Toggle sidebar", "Show or hide the settings", self.action_toggle_sidebar),
            ("Edit system prompt", "Focus the system prompt editor", self.action_focus_system),
            ("Focus prompt", "Move the cursor to the prompt", self.action_focus_prompt),
        ]
        try:
            presets = self.mc_app.presets()
        except Exception:
            presets = {}
        for name in sorted(presets):
            entries.append(
                (
                    f"Preset: {name}",
                    "Fill system prompt, temperature, prefill",
                    self._preset_applier(name),
                )
            )
        return entries

    def _send_from_palette(self) -> None:
        prompt = self.query_one(PromptInput)
        if not self._refuse_while_busy() and not prompt.held:
            prompt.submit()  # the same path as Enter

    def _preset_applier(self, name: str) -> Any:
        def apply() -> None:
            self.apply_preset(name)

        return apply


class _NotStored:
    """A failure before the user turn reached the store: the draft must be given back."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _image_from_block(block: dict, name: str | None = None) -> Any:
    """Rebuild a PreparedImage from a stored image block (to re-attach it when editing), under
    the file name it was first attached with when known."""
    source = block.get("source") or {}
    if source.get("type") != "base64":
        return None
    try:
        from megachat.chat.images import prepare_image_bytes

        data = base64.b64decode(source.get("data") or "")
        return prepare_image_bytes(data, name or "image")
    except Exception:
        return None
