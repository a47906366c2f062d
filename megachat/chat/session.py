"""ChatSession: the rules of a chat, one copy for both faces (the TUI and `megachat ask`).

A session owns the open conversation, the store and (through a factory) the API client. It
opens, starts and switches conversations; sends, regenerates, edits, retries, continues (a reply
cut at max_tokens) and cancels turns; walks and deletes branches. A face maps keys or options
to these calls and outcomes to output:

    session = ChatSession(store, app.client, new_conversation=defaults)
    outcome = await session.send("Hello", prefill="", on_event=show)
    match outcome:
        case Finished(): ...
        case Cancelled(): ...
        case Failed(): ...            # word_failure(outcome, face=...) says it
        case NotSent(): ...           # outcome.draft goes back to the prompt
        case _: assert_never(outcome)

History is a tree (megachat.chat.conversation): regenerate, edit and retry add a sibling; the
only way anything is removed is `delete_branch`. What is sent is the active path.

No Textual, no httpx: the client object is made by the face (`client` is a callable returning
it, called once per turn, so a face can swap the key between turns).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from megachat.chat.conversation import CONTINUE_MARK, ChatMessage, Conversation
from megachat.chat.outcomes import (
    CONTINUE_REQUEST,
    NOT_CUT,
    Cancelled,
    Draft,
    Failed,
    Finished,
    NothingToDo,
    NotSent,
    Outcome,
    SessionBusy,
)
from megachat.chat.tool_events import ToolLoopStopped
from megachat.chat.turn import ReplyFinished, RequestRefused, Turn, TurnEvent

if TYPE_CHECKING:
    from megachat.api import MessagesClient
    from megachat.chat.documents import Attachment
    from megachat.chat.images import PreparedImage
    from megachat.chat.store import Store
    from megachat.chat.tool_loop import ToolUse
    from megachat.redact import Secrets

EventSink = Callable[[TurnEvent], Awaitable[None] | None]


class ChatSession:
    """One open conversation and the turns on it; one turn at a time."""

    def __init__(
        self,
        store: Store | None,
        client: Callable[[], MessagesClient],
        *,
        new_conversation: Callable[[], Conversation] = Conversation,
        secrets: Secrets | None = None,
        save: bool = True,
    ) -> None:
        self.store = store  # conversations are opened from it
        # where turns, settings and the active branch are written; None: nowhere (`--no-save`)
        self.writer = store if save else None
        self._client = client
        self._new_conversation = new_conversation
        self._secrets = secrets
        self.conversation: Conversation = new_conversation()
        self._running = False
        self._task: asyncio.Task[ReplyFinished | None] | None = None
        self._turn: Turn | None = None
        self._cancel_requested = False
        # Called when a turn changed the active path before its reply (the new user turn is on
        # it, or an old reply left it): a face re-shows `conversation.messages` then.
        self.on_path_change: Callable[[], Awaitable[None] | None] | None = None
        # The tool loop (megachat.chat.tool_loop): set by a face that enabled MCP servers; every
        # request then carries their tools and a reply asking for them is answered.
        self.tool_use: ToolUse | None = None
        # The user's `[models."ID"]` tables (Settings.models): what a model takes (prefill...).
        self.model_overrides: Mapping[str, Mapping[str, object]] | None = None
        # Prompt caching (cache_control breakpoints on every request): a face sets it from the
        # `prompt_cache` setting (on by default there); off here, so the request is plain.
        self.prompt_cache: bool = False

    # -- which conversation ----------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """A turn is under way (from the call until its outcome)."""
        return self._running

    @property
    def streaming_reply(self) -> ChatMessage | None:
        """The reply being streamed right now, once it has begun."""
        return self._turn.message if self._turn is not None else None

    def open(self, conversation_id: str, *, message_id: str | None = None) -> Conversation:
        """Open a stored conversation (store errors propagate: ConversationNotFound, ...).

        With `message_id` (a search hit), the branch holding that message becomes the active one.
        """
        self._refuse_while_busy()
        assert self.store is not None, "open() needs a store"
        conversation = self.store.get(conversation_id)
        self.conversation = conversation
        if message_id is not None and conversation.get(message_id) is not None:
            shown = conversation.active_leaf_id
            conversation.switch_to(message_id)
            if conversation.active_leaf_id != shown:  # a hit on the path shown changes nothing
                self._persist_active()
        return conversation

    def open_latest(self) -> Conversation | None:
        """Open the most recently updated conversation; None (nothing changes) when none."""
        assert self.store is not None, "open_latest() needs a store"
        latest = self.store.latest_id()
        return None if latest is None else self.open(latest)

    def new(self, conversation: Conversation | None = None) -> Conversation:
        """Start a new conversation (the defaults, or the one given); stored on its first send."""
        self._refuse_while_busy()
        self.conversation = conversation if conversation is not None else self._new_conversation()
        return self.conversation

    def save_settings(self) -> None:
        """Store the conversation's settings and title, once it is stored (new chats: on send)."""
        if self.writer is not None and self.conversation.messages:
            self.writer.save(self.conversation)

    # -- turns ---------------------------------------------------------------------------------

    async def send(
        self,
        text: str,
        images: Iterable[Attachment] = (),
        *,
        prefill: str = "",
        stream: bool = True,
        on_event: EventSink | None = None,
    ) -> Outcome:
        """A new user turn at the end of the active path, and its reply.

        When the path ends in a user turn left unanswered (its request failed), the new message
        goes beside it as another version instead of under it: two user turns in a row would be
        merged into one request turn, silently. The unanswered one stays, a branch of its own."""
        draft = Draft(text, tuple(images))
        if self._running:
            return NotSent(SessionBusy(), draft)
        unanswered = self.conversation.unanswered()
        if unanswered is not None and unanswered.is_tool_results():
            unanswered = None  # the new text follows the results (one user turn when sent)
        try:
            if unanswered is not None:
                user = self.conversation.branch_user(unanswered, text, draft.images)
            else:
                user = self.conversation.add_user(text, draft.images)
        except ValueError as exc:  # an empty message
            return NotSent(exc, draft)
        return await self._run(prefill, stream, on_event, user=user, draft=draft)

    async def edit(
        self,
        message: ChatMessage,
        text: str,
        images: Iterable[Attachment] = (),
        *,
        prefill: str = "",
        stream: bool = True,
        on_event: EventSink | None = None,
    ) -> Outcome:
        """A new version of the user turn `message` (a sibling, its reply under it)."""
        draft = Draft(text, tuple(images))
        if self._running:
            return NotSent(SessionBusy(), draft)
        if message.role != "user":
            return NotSent(NothingToDo("Only your own messages can be edited."), draft)
        try:
            user = self.conversation.branch_user(message, text, draft.images)
        except ValueError as exc:
            return NotSent(exc, draft)
        return await self._run(prefill, stream, on_event, user=user, draft=draft)

    def begin_edit(self, message: ChatMessage | None = None) -> Draft:
        """Edit in the prompt: the active path ends before `message` (default: the last user
        turn), so the next `send` is its new version; returns its text and images as a draft.
        Nothing is removed: the old version stays a branch."""
        self._refuse_while_busy()
        message = message or self.conversation.last("user")
        if message is None or message.role != "user":
            raise NothingToDo("No message to edit yet.")
        self.conversation.branch_reply(message)
        from megachat.chat.documents import document_from_block

        images: list[Attachment | None] = [
            _image_from_block(b, message.image_name(b))
            if b.get("type") == "image"
            else document_from_block(b)
            for b in message.content
            if b.get("type") in ("image", "document")
        ]
        return Draft(message.text(), tuple(i for i in images if i is not None))

    async def regenerate(
        self, *, prefill: str = "", stream: bool = True, on_event: EventSink | None = None
    ) -> Outcome:
        """Ask again: a new reply beside the last one (which is kept as a branch)."""
        return await self._resend("regenerate", prefill, stream, on_event)

    async def retry(
        self, *, prefill: str = "", stream: bool = True, on_event: EventSink | None = None
    ) -> Outcome:
        """After an error or a cancel: send the active path again; a reply there is kept as a
        branch and the new one goes beside it (a user turn left unanswered is simply answered)."""
        return await self._resend("retry", prefill, stream, on_event)

    async def continue_reply(
        self, *, stream: bool = True, on_event: EventSink | None = None
    ) -> Outcome:
        """Extend the last reply of the path, cut at max_tokens; NotSent(NothingToDo) otherwise.

        Where the model takes a prefill (and no thinking is on, which rules prefill out), the
        reply's text goes out as the final assistant turn and prefill + continuation is stored
        as a new version of the reply (a sibling, as regenerate makes: the cut one is kept), so
        the user sees one message. Otherwise a short user turn (CONTINUE_REQUEST, marked with
        CONTINUE_MARK so faces dim it) asks for the rest and the answer follows it."""
        if self._running:
            return NotSent(SessionBusy())
        conversation = self.conversation
        last = conversation.messages[-1] if conversation.messages else None
        if last is None or last.role != "assistant" or last.stop_reason != "max_tokens":
            return NotSent(NothingToDo(NOT_CUT))
        text = last.text()
        calls = any(b.get("type") == "tool_use" for b in last.content)
        if text.strip() and not calls and conversation.thinking is None and self._prefill_ok():
            conversation.branch_reply(last)
            outcome = await self._run(text, stream, on_event, restore=last)
            if isinstance(outcome, Failed | Cancelled) and outcome.message is None:
                # no new version began: the cut reply is shown again, to be continued later
                conversation.switch_to(last.id)
                self._persist_active(quiet=True)
                await self._path_changed()
            return outcome
        user = conversation.add_user(CONTINUE_REQUEST)
        user.content[-1][CONTINUE_MARK] = True
        return await self._run("", stream, on_event, user=user)

    def _prefill_ok(self) -> bool:
        """The conversation's model takes an assistant prefill (the model table says)."""
        from megachat.chat.capabilities import model_info

        return model_info(self.conversation.model, self.model_overrides).prefill

    def cancel(self) -> bool:
        """Stop the reply in progress (its text so far is kept, "cancelled"); False if none."""
        task = self._task
        if task is None or task.done():
            return False
        self._cancel_requested = True
        task.cancel()
        return True

    # -- branches ------------------------------------------------------------------------------

    def switch_branch(self, message: ChatMessage, step: int) -> ChatMessage | None:
        """Show the previous (-1) / next (+1) version of `message` and the path under it, down to
        the leaf last used there; returns that sibling (None past either end: nothing changes).
        The new active path is `self.conversation.messages`. While a reply streams this works
        once the reply has begun (it keeps streaming into its own branch)."""
        if self._running and self.streaming_reply is None:
            raise SessionBusy()
        target = self.conversation.sibling(message, step)
        if target is None:
            return None
        self.conversation.switch_to(target.id)
        self._persist_active()
        return target

    def delete_branch(self, message: ChatMessage) -> list[ChatMessage]:
        """Remove `message` and everything under it, in the store and here; returns what was
        removed. On the active path, the path moves to a sibling (else ends at the parent)."""
        self._refuse_while_busy()
        conversation = self.conversation
        if self.writer is not None and self._stored():
            self.writer.delete_branch(conversation.id, message.id)
        removed = conversation.delete_branch(message.id)
        self._persist_active()
        return removed

    # -- the turn ----------------------------------------------------------------------------------

    async def _resend(
        self, label: str, prefill: str, stream: bool, on_event: EventSink | None
    ) -> Outcome:
        if self._running:
            return NotSent(SessionBusy())
        last = self.conversation.messages[-1] if self.conversation.messages else None
        if last is None:
            return NotSent(NothingToDo(f"Nothing to {label} yet."))
        if last.role == "assistant":
            self.conversation.branch_reply(last)
        return await self._run(prefill, stream, on_event, restore=last)

    async def _run(
        self,
        prefill: str,
        stream: bool,
        on_event: EventSink | None,
        *,
        user: ChatMessage | None = None,
        draft: Draft | None = None,
        restore: ChatMessage | None = None,
    ) -> Outcome:
        """One Turn. Before the user turn is stored, a failure is NotSent (the draft comes back,
        the path is as it was); after, it is Failed (the user turn stays, ready to retry)."""
        self._running = True
        conversation = self.conversation
        try:
            await self._path_changed()
            try:
                client = self._client()
                turn = self._new_turn(conversation, client, prefill, stream)
                refused = turn.refusal()  # what the model would reject: nothing is kept or sent
                if refused is not None:
                    raise RequestRefused(refused)
                if self.writer is not None:
                    self.writer.save(conversation)  # the user turn, before any request
            except Exception as exc:  # any reason it could not go out: the user gets it back
                if user is not None:
                    conversation.delete_branch(user.id)
                if restore is not None:
                    conversation.switch_to(restore.id)
                await self._path_changed()
                return NotSent(exc, draft)
            return await self._stream(turn, on_event)
        finally:
            self._running = False

    def _new_turn(
        self, conversation: Conversation, client: MessagesClient, prefill: str, stream: bool
    ) -> Turn:
        tool_use = self.tool_use
        return Turn(
            conversation,
            client,
            self.writer,
            prefill=prefill,
            stream=stream,
            secrets=self._secrets,
            user_stored=True,
            tools=tool_use.toolbox.definitions() or None if tool_use is not None else None,
            model_overrides=self.model_overrides,
            prompt_cache=self.prompt_cache,
        )

    async def _stream(self, turn: Turn, on_event: EventSink | None) -> Outcome:
        """Run the turn (and the tool loop after it) in its own task, so that `cancel()` stops
        this turn and nothing else."""
        self._turn = turn
        self._cancel_requested = False
        task = asyncio.create_task(self._drive(turn, on_event), name="megachat-session-turn")
        self._task = task
        try:
            finished = await task
        except asyncio.CancelledError:
            turn = self._turn or turn
            self._answer_open_calls()
            current = asyncio.current_task()
            if self._cancel_requested and (current is None or not current.cancelling()):
                return Cancelled(turn.message)
            raise  # the caller itself was cancelled (Ctrl+C, the app closing)
        except Exception as exc:  # the turn's error, as an outcome (Turn kept the partial reply)
            turn = self._turn or turn
            self._answer_open_calls(f"not run: the reply failed ({type(exc).__name__})")
            return Failed(exc, turn.message, turn.skipped_events, turn.prefill)
        finally:
            self._task = None
            turn = self._turn or turn
            self._turn = None
            leaf = self.conversation.active_leaf_id
            if turn.message is not None and leaf != turn.message.id and not self._tool_leaf():
                self._persist_active(quiet=True)  # switched away mid-stream: keep what is shown
        assert finished is not None
        message = finished.message
        return Finished(message, message.status, finished.response, finished.skipped_events)

    async def _drive(self, turn: Turn, on_event: EventSink | None) -> ReplyFinished | None:
        """The turn, then while its reply asks for tools (and the loop may go on): run them,
        send their results, consume the next reply. Ends with the last reply's ReplyFinished."""
        from megachat.chat.tool_loop import run_tool_step

        steps = 0
        while True:
            finished = await _consume(turn, on_event)
            tool_use = self.tool_use
            if (
                tool_use is None
                or finished is None
                or finished.error is not None
                or finished.message.stop_reason != "tool_use"
            ):
                if steps and finished is not None and finished.error is None:
                    await _emit(on_event, ToolLoopStopped("end_turn", "The model ended its turn."))
                return finished
            if steps >= tool_use.max_steps:
                note = (
                    f"Stopped after {steps} tool steps (max_tool_steps = {tool_use.max_steps}); "
                    "the calls of the last reply were not run."
                )
                self._answer_open_calls(
                    f"not run: the limit of {tool_use.max_steps} tool steps was reached"
                )
                await _emit(on_event, ToolLoopStopped("max_tool_steps", note))
                return finished
            steps += 1
            await run_tool_step(self.conversation, tool_use, self.writer, on_event)
            await self._path_changed()  # a face shows the results before the next reply
            turn = self._new_turn(self.conversation, turn.client, "", turn.stream)
            self._turn = turn

    def _answer_open_calls(self, reason: str | None = None) -> None:
        """A cancel or failure left tool calls without results: answer them (is_error), stored."""
        from megachat.chat.tool_loop import CANCELLED_REASON, answer_open_calls

        try:
            answer_open_calls(self.conversation, self.writer, reason or CANCELLED_REASON)
        except Exception:  # the store failed too: the turn's own outcome says what went wrong
            pass

    def _tool_leaf(self) -> bool:
        last = self.conversation.messages[-1] if self.conversation.messages else None
        return last is not None and last.is_tool_results()

    async def _path_changed(self) -> None:
        if self.on_path_change is not None:
            result = self.on_path_change()
            if inspect.isawaitable(result):
                await result

    # -- store ---------------------------------------------------------------------------------

    def _stored(self) -> bool:
        return self.store is not None and self.store.exists(self.conversation.id)

    def _persist_active(self, *, quiet: bool = False) -> None:
        """Remember the active path in the store (a conversation never stored has none)."""
        from megachat.chat.store import StoreError

        leaf = self.conversation.active_leaf_id
        if self.writer is None:
            return
        try:
            if self._stored():
                self.writer.set_active(self.conversation.id, leaf)
        except StoreError:
            if not quiet:
                raise  # after a turn: the turn's own outcome says what went wrong

    def _refuse_while_busy(self) -> None:
        if self._running:
            raise SessionBusy()


async def _consume(turn: Turn, on_event: EventSink | None) -> ReplyFinished | None:
    """Pass every event to the face; the last ReplyFinished is the turn's result."""
    finished = None
    async for event in turn.events():
        if isinstance(event, ReplyFinished):
            finished = event
            sequence = (event.response or {}).get("stop_sequence")
            event.message.stop_sequence = sequence if isinstance(sequence, str) else None
        if on_event is not None:
            result = on_event(event)
            if inspect.isawaitable(result):
                await result
    return finished


async def _emit(on_event: EventSink | None, event: TurnEvent) -> None:
    if on_event is not None:
        result = on_event(event)
        if inspect.isawaitable(result):
            await result


def _image_from_block(block: dict, name: str | None = None) -> PreparedImage | None:
    """Rebuild an attachment from a stored image block (to edit its message), under the file
    name it was first attached with when known; None when it cannot be rebuilt."""
    from megachat.chat.images import ImageError, prepare_image_bytes

    source = block.get("source") or {}
    if source.get("type") != "base64":
        return None
    try:
        data = base64.b64decode(source.get("data") or "", validate=True)
        return prepare_image_bytes(data, name or "image")
    except (binascii.Error, ValueError, ImageError):
        return None
