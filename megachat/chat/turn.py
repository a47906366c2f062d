"""The one send path: a user turn goes out, the reply comes back and is stored as it arrives.

Both faces use this class exactly the same way (`megachat ask` and the TUI), so persistence,
prefill merging, retries reporting and cancellation behave identically everywhere:

    turn = Turn(conversation, client, store, prefill="{", stream=True)
    async for event in turn.events():
        ...   # ReplyStarted, ReplyText, ReplyEvent, Waiting, ReplyFinished

What happens, in order:
1. The conversation and its pending user turn(s) are written to the store BEFORE the request, so
   a crash or a failed request never loses what the user typed.
2. The request is built from the conversation (Conversation.build_request), with prompt-caching
   breakpoints unless caching is off or this server is known to refuse them. What the model
   would reject (capabilities.refusal: a prefill it does not take, temperature with thinking...)
   is refused before anything is stored or sent: RequestRefused. A 400 naming `cache_control`
   sends the same request once more without any, remembers the server (prompt_cache) and yields
   CacheDropped.
3. When the reply starts (the stream's message_start, or the whole message with stream=False) an
   assistant message is appended to the conversation and stored with status "streaming";
   `ReplyStarted` then `ReplyText(prefill)` are yielded. A request that fails before any reply
   began leaves no assistant message behind (the user turn stays, ready to retry).
4. Text is yielded as it arrives and written to the store at most ~1 s behind (a timer flushes it
   even when the stream stalls). What arrives while the consumer is busy is handed over together
   when it next asks: consecutive text as one ReplyText (same text, same order), so a fast stream
   costs one hand-off per network read, not one per delta.
5. The reply ends "complete" (ReplyFinished), or:
   - the consuming task is cancelled (Ctrl+C, Escape in the TUI): the text so far is stored with
     status "cancelled" and CancelledError propagates;
   - the stream breaks (connection lost, no message_stop): status "interrupted";
   - an API error: status "error". In both cases the text so far is kept, ReplyFinished is yielded
     with that status and then the APIError is raised;
   - the conversation was deleted elsewhere (another process ran `megachat delete`): the stream
     is stopped, nothing more is stored (the delete stays done) and ConversationDeleted is raised.
6. The API key never gets through: the reply is redacted (megachat.redact) before it is stored,
   kept in the message or yielded as ReplyText; a key split across two deltas is caught by holding
   back a tail that could start one until the next delta. The secrets are the store's unless
   given.

This module imports neither httpx nor Textual: it talks to the client object it is given, and
imports megachat.api only lazily, for its error classes, once a request has failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from megachat.chat.conversation import ChatMessage, Conversation, merge_prefill, prefill_sent
from megachat.chat.prompt_cache import CacheDropped, CacheRefusals, names_cache_control, refusals_at
from megachat.chat.tool_events import ToolCallFinished, ToolCallStarted, ToolLoopStopped
from megachat.redact import Secrets, StreamRedactor

if TYPE_CHECKING:
    from megachat.api import MessagesClient, WaitNotice
    from megachat.chat.capabilities import ModelInfo
    from megachat.chat.store import Store

FLUSH_INTERVAL = 1.0  # seconds of streamed text at most at risk if the process dies


class RequestRefused(Exception):
    """The model would reject this request (one line naming the setting to change): nothing
    was stored or sent."""


@dataclass(frozen=True)
class ReplyStarted:
    """The assistant message exists (status "streaming"); `message` is updated in place."""

    message: ChatMessage


@dataclass(frozen=True)
class ReplyText:
    """Printable reply text as it arrives (the prefill first). Untrusted: sanitize to display."""

    text: str


@dataclass(frozen=True)
class ReplyEvent:
    """A raw stream event from megachat.api.events (thinking, tool_use, usage... for a UI).

    Every event but TextDelta: reply text comes as ReplyText only (prefilled, redacted, joined)."""

    event: Any


@dataclass(frozen=True)
class Waiting:
    """The client is waiting before a retry or for the rate limiter; notice.describe() says so."""

    notice: WaitNotice


@dataclass(frozen=True)
class ReplyFinished:
    """The reply ended; message.status is complete, interrupted or error.

    `response` is the API's final Message object (None when the reply did not complete);
    `error` is the APIError about to be raised, if any; `skipped_events` counts malformed stream
    events the API layer dropped (non-zero: the reply may be missing text, tell the user).
    """

    message: ChatMessage
    response: dict | None = None
    error: BaseException | None = field(default=None)
    skipped_events: int = 0


TurnEvent = (
    ReplyStarted
    | ReplyText
    | ReplyEvent
    | Waiting
    | ReplyFinished
    | ToolCallStarted
    | ToolCallFinished
    | ToolLoopStopped
    | CacheDropped
)


class _Outbox:
    """The events from the request task to the consumer, handed over in batches.

    Reply text is kept raw until the consumer takes it (or another event follows it), then
    redacted once for all of it: consecutive deltas become one ReplyText, in order, and the
    redactor runs once per hand-off instead of once per delta.
    """

    __slots__ = ("_items", "_redactor", "_text", "closed", "ready")

    def __init__(self, redactor: StreamRedactor) -> None:
        self._redactor = redactor
        self._items: list[TurnEvent] = []
        self._text: list[str] = []  # raw reply text not yet redacted
        self.ready = asyncio.Event()  # something to take, or closed
        self.closed = False

    def put(self, item: TurnEvent) -> None:
        self._drain_text()
        self._items.append(item)
        self.ready.set()

    def put_text(self, text: str) -> None:
        self._text.append(text)
        self.ready.set()

    def put_rest(self) -> None:
        """The reply ended: the text the redactor held back was not a secret."""
        self._drain_text()
        self._add_text(self._redactor.flush())

    def close(self) -> None:
        self.closed = True
        self.ready.set()

    def take(self) -> list[TurnEvent]:
        """Everything put since the last take (text joined and redacted); clears `ready`."""
        self._drain_text()
        items, self._items = self._items, []
        if not self.closed:
            self.ready.clear()
        return items

    def _drain_text(self) -> None:
        if self._text:
            raw = self._text[0] if len(self._text) == 1 else "".join(self._text)
            self._text.clear()
            self._add_text(self._redactor.feed(raw))

    def _add_text(self, text: str) -> None:
        if not text:
            return
        items = self._items
        if items and type(items[-1]) is ReplyText:
            items[-1] = ReplyText(items[-1].text + text)
        else:
            items.append(ReplyText(text))


class Turn:
    """One request/response on a conversation; persistence is part of it so no caller forgets it."""

    def __init__(
        self,
        conversation: Conversation,
        client: MessagesClient,
        store: Store | None,
        *,
        prefill: str = "",
        stream: bool = True,
        secrets: Secrets | None = None,
        user_stored: bool = False,
        tools: Sequence[dict] | None = None,
        model_overrides: Mapping[str, Mapping[str, object]] | None = None,
        prompt_cache: bool = False,
        cache_refusals: CacheRefusals | None = None,
    ) -> None:
        self.conversation = conversation
        # the user's [models."ID"] tables (Settings.models): what the model takes, its prices
        self.model_overrides = model_overrides
        self.prompt_cache = prompt_cache  # the `prompt_cache` setting, as the face passes it
        # where servers refusing cache_control are remembered (None: the data dir's file)
        self._cache_refusals = cache_refusals
        self.tools = tools  # the API tool definitions this request carries (the tool loop's)
        # The caller has already stored the user turn (ChatSession does, so that a failure there
        # gives the draft back): the turn then does not write the conversation a second time.
        self._user_stored = user_stored
        self.client = client
        self.store = store
        self.prefill = prefill_sent(prefill)
        self.stream = stream
        if secrets is None:
            secrets = store.secrets if store is not None else Secrets()
        self._secrets = secrets
        self._outbox = _Outbox(StreamRedactor(secrets))  # what the consumer gets
        self.message: ChatMessage | None = None  # the assistant reply, once started
        self.response: dict | None = None  # the API's final Message
        self._dirty = False
        self._flush_handle: asyncio.TimerHandle | None = None
        self._last_flush = 0.0
        self._stream: Any = None  # the MessageStream while streaming
        self._streamed_text: list[str] = []
        self._flush_error: Exception | None = None  # a failed timer flush, raised on next text

    # -- public --------------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[TurnEvent]:
        """Run the turn, yielding its events; see the module docstring for the guarantees.

        The request runs in its own task so that waits (retries, rate limiter) can be reported
        while the request is pending. Cancelling the task iterating here cancels the request and
        stores the partial reply as "cancelled" before CancelledError propagates.
        """
        outbox = self._outbox
        worker = asyncio.create_task(self._run(), name="megachat-turn")
        worker.add_done_callback(lambda _task: outbox.close())
        try:
            while True:
                await outbox.ready.wait()
                closed = outbox.closed  # read before taking: nothing is put after close
                for item in outbox.take():
                    yield item
                if closed:
                    break
            await worker  # re-raises the APIError (or CancelledError) of the request
        finally:
            if not worker.done():
                worker.cancel()
                # Let the worker store the partial reply as cancelled before we go on.
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.shield(worker)
                if not worker.done():  # we were cancelled again while waiting: finish anyway
                    self._finish_cancelled()

    def refusal(self) -> str | None:
        """Why this request must not go out (one line naming the setting to change), or None.

        An option out of range (Conversation's own rules) or what the model rejects
        (capabilities.refusal, against the body as it would be sent). The session asks before
        storing the user turn, so a refused turn leaves nothing behind."""
        from megachat.chat.capabilities import refusal

        try:
            body = self.request(cache=False)
        except ValueError as exc:
            return str(exc)
        return refusal(self.model_info(), body)

    def model_info(self) -> ModelInfo:
        """The model table's entry for the conversation's model (with the user's overrides)."""
        from megachat.chat.capabilities import model_info

        return model_info(self.conversation.model, self.model_overrides)

    def request(self, *, cache: bool) -> dict:
        """The body this turn sends (with or without prompt-caching breakpoints)."""
        return self.conversation.build_request(
            prefill=self.prefill, stream=self.stream, tools=self.tools, cache=cache
        )

    # -- the request -----------------------------------------------------------------------------

    def _refusals(self) -> CacheRefusals:
        if self._cache_refusals is None:
            self._cache_refusals = refusals_at()
        return self._cache_refusals

    def _base_url(self) -> str:
        base_url = getattr(self.client, "base_url", "")
        return base_url if isinstance(base_url, str) else ""

    async def _run(self) -> None:
        refused = self.refusal()
        if refused is not None:
            raise RequestRefused(refused)
        self._store_pending_user_turns()
        cache = self.prompt_cache and not self._refusals().refuses(self._base_url())
        try:
            try:
                await self._send(self.request(cache=cache))
            except Exception as exc:
                if not (cache and self.message is None and names_cache_control(exc)):
                    raise
                # The server refuses prompt caching: the same turn once more without it.
                base_url = self._base_url()
                self._refusals().remember(base_url)
                self._outbox.put(CacheDropped(base_url))
                await self._send(self.request(cache=False))
        except asyncio.CancelledError:
            self._finish_cancelled()
            raise
        except Exception as exc:
            if _is_deleted(exc):
                self._abandon()
            else:
                self._finish_error(exc)
            raise
        finally:
            self._cancel_flush_timer()

    async def _send(self, request: dict) -> None:
        if self.stream:
            await self._run_stream(request)
        else:
            await self._run_create(request)

    async def _run_stream(self, request: dict) -> None:
        from megachat.api.events import MessageStart, TextDelta

        stream = self.client.stream(request, on_wait=self._on_wait)
        self._stream = stream
        outbox = self._outbox
        streamed = self._streamed_text
        async with stream:
            async for batch in stream.batches():
                if self.message is None:
                    first = batch[0]
                    start = first.message if isinstance(first, MessageStart) else None
                    self._start(start or getattr(stream, "snapshot", None))
                texts = len(streamed)
                for event in batch:
                    if type(event) is TextDelta:
                        streamed.append(event.text)
                        outbox.put_text(event.text)
                    else:
                        outbox.put(ReplyEvent(event))
                if len(streamed) > texts:
                    self._text_arrived()
            final = stream.final_message
        self._complete(final)

    async def _run_create(self, request: dict) -> None:
        message = await self.client.create(request, on_wait=self._on_wait)
        self._start(message)
        text = "".join(b.get("text", "") for b in message.get("content", []) if _is_text(b))
        self._emit_text(text)
        self._complete(message)

    def _on_wait(self, notice: WaitNotice) -> None:
        """This request's wait hook (passed per request, so concurrent turns never share one).

        The per-request hook replaces the client's own `on_wait` for the request, so that one is
        still called afterwards: whoever set it on the client keeps hearing about waits.
        """
        self._outbox.put(Waiting(notice))
        client_hook = getattr(self.client, "on_wait", None)
        if client_hook is not None:
            client_hook(notice)

    @property
    def skipped_events(self) -> int:
        """Malformed stream events skipped so far (0 without a stream)."""
        count = getattr(self._stream, "skipped_events", 0) if self._stream is not None else 0
        return count if isinstance(count, int) else 0

    # -- reply lifecycle -------------------------------------------------------------------------

    def _start(self, api_message: dict | None) -> None:
        model = (api_message or {}).get("model") or self.conversation.model
        self.message = self.conversation.add_assistant(self.prefill, model=model)
        if self.store is not None:
            self.store.begin_reply(self.conversation.id, self.message)
            self._last_flush = time.monotonic()
        self._outbox.put(ReplyStarted(self.message))
        self._emit_text(self.prefill)

    def _emit_text(self, text: str) -> None:
        """Yield reply text, redacted (a tail that may start a secret waits for the next piece)."""
        if text:
            self._outbox.put_text(text)

    def _emit_rest(self) -> None:
        """The reply ended: yield the text held back (it was not a secret)."""
        self._outbox.put_rest()

    def _text_arrived(self) -> None:
        """Streamed text was added to `_streamed_text`: store it within FLUSH_INTERVAL."""
        assert self.message is not None
        if self._flush_error is not None:
            raise self._flush_error
        self._dirty = True
        if self.store is None:
            return
        if time.monotonic() - self._last_flush >= FLUSH_INTERVAL:
            self._flush()
        elif self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(FLUSH_INTERVAL, self._flush_from_timer)

    def _current_content(self) -> list[dict]:
        """The reply so far (redacted): the stream's snapshot when there is one, merged with the
        prefill."""
        snapshot = getattr(self._stream, "snapshot", None) if self._stream is not None else None
        blocks = list((snapshot or {}).get("content") or [])
        if not blocks and self._streamed_text:
            blocks = [{"type": "text", "text": "".join(self._streamed_text)}]
        return self._secrets.redact(merge_prefill(self.prefill, blocks))

    def _flush(self) -> None:
        """Write the text received so far (called at most about once a second)."""
        self._cancel_flush_timer()
        if self.message is None or not self._dirty:
            return
        self._dirty = False
        self.message.content = _without_unfinished_secret(self._current_content(), self._secrets)
        self._last_flush = time.monotonic()
        if self.store is not None:
            self.store.update_reply(self.message, content=self.message.content)

    def _flush_from_timer(self) -> None:
        """The timer's flush. A store failure (disk full, locked too long) must not escape into
        the event loop (asyncio prints "Exception in callback" and a traceback): it is kept and
        raised on the next text, exactly as the same failure of an inline flush is."""
        self._flush_handle = None
        try:
            self._flush()
        except Exception as exc:
            self._flush_error = exc

    def _cancel_flush_timer(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None

    def _complete(self, final: dict) -> None:
        assert self.message is not None
        final = self._secrets.redact(final)
        self.response = final
        self.message.content = merge_prefill(self.prefill, list(final.get("content") or []))
        self.message.usage = final.get("usage")
        self.message.stop_reason = final.get("stop_reason")
        self.message.model = final.get("model") or self.message.model
        self._price()
        self._finish("complete")
        self._emit_rest()
        self._outbox.put(ReplyFinished(self.message, final, skipped_events=self.skipped_events))

    def _price(self) -> None:
        """What the reply cost, from its usage and the model table (None when either is
        unknown); the store writes it with the reply."""
        from megachat.chat.cost import reply_cost

        assert self.message is not None
        self.message.cost_usd = reply_cost(self.message.usage, self.model_info().prices)

    def _finish(self, status: str) -> None:
        assert self.message is not None
        self._cancel_flush_timer()
        self._dirty = False
        self.message.status = status  # type: ignore[assignment]
        self.conversation.updated_at = time.time()
        if self.store is not None:
            self.store.finish_reply(self.message, status)

    def _finish_cancelled(self) -> None:
        if self.message is None or self.message.status != "streaming":
            return
        self.message.content = self._current_content()
        try:
            self._finish("cancelled")
        except Exception as exc:
            if not _is_deleted(exc):  # deleted elsewhere: nothing to store, the cancel goes on
                raise

    def _finish_error(self, exc: BaseException) -> None:
        if self.message is None:
            partial = getattr(exc, "partial", None)
            if not partial or not partial.get("content"):
                return  # failed before any reply: nothing to keep
            self._start(partial)
        if self.message.status != "streaming":
            return
        partial = getattr(exc, "partial", None)
        if partial and partial.get("content"):
            content = merge_prefill(self.prefill, list(partial["content"]))
            self.message.content = self._secrets.redact(content)
            self.message.usage = partial.get("usage") or self.message.usage
        else:
            self.message.content = self._current_content()
        self._price()
        self._finish(_failure_status(exc))
        self._emit_rest()
        self._outbox.put(ReplyFinished(self.message, None, exc, skipped_events=self.skipped_events))

    def _abandon(self) -> None:
        """The conversation was deleted elsewhere: keep what arrived in memory (the screen still
        shows it) but store nothing more, so the delete is not undone."""
        self._dirty = False
        if self.message is not None:
            if self.message.status == "streaming":
                self.message.content = self._current_content()
            self.message.status = "error"
        self._emit_rest()

    # -- persistence -----------------------------------------------------------------------------

    def _store_pending_user_turns(self) -> None:
        """Write the conversation (if new) and its unsaved messages before sending anything."""
        if self.store is None or self._user_stored:
            return
        self.store.save(self.conversation)


def _is_text(block: dict) -> bool:
    return block.get("type") == "text"


def _is_deleted(exc: BaseException) -> bool:
    """The store says the conversation was deleted elsewhere (imported only when it failed)."""
    from megachat.chat.store import ConversationDeleted

    return isinstance(exc, ConversationDeleted)


def _without_unfinished_secret(content: list[dict], secrets: Secrets) -> list[dict]:
    """A partial reply as it may be stored: the last block's text must not end with what could
    be the first part of a key (its rest would come in the next delta, after this write)."""
    if not content or not secrets:
        return content
    last = content[-1]
    for field_name in ("text", "thinking"):
        value = last.get(field_name)
        if isinstance(value, str):
            cut = secrets.unfinished(value)
            if cut:
                return [*content[:-1], {**last, field_name: value[:-cut]}]
    return content


def _failure_status(exc: BaseException) -> str:
    """ "interrupted" when the connection broke mid-reply, "error" when the API said no."""
    try:
        from megachat.api.errors import APIConnectionError, StreamInterrupted
    except ImportError:  # pragma: no cover
        return "error"
    if isinstance(exc, StreamInterrupted | APIConnectionError):
        return "interrupted"
    return "error"
