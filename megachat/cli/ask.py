"""`megachat ask`: one turn from the prompt (arguments and/or piped stdin) to the printed reply.

The turn goes through megachat.chat.turn.Turn, the same send path as the TUI, so the user turn is
stored before the request and the reply while it streams. Ctrl+C and SIGTERM stop it with the
partial reply kept as "cancelled" (exit 130 / 143).
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from megachat.cli.errors import EXIT_OK, CLIError, usage_error
from megachat.cli.output import dumps, inform, one_line, write
from megachat.cli.presets import resolve_preset
from megachat.cli.reply_writer import ReplyWriter
from megachat.cli.resources import (
    find_conversation,
    make_client,
    open_store,
    read_settings,
    require_key,
    run_async,
)

if TYPE_CHECKING:
    from megachat.api import MessagesClient
    from megachat.chat.conversation import ChatMessage, Conversation
    from megachat.chat.images import PreparedImage
    from megachat.chat.presets import RenderedPreset
    from megachat.chat.store import Store
    from megachat.chat.turn import ReplyFinished
    from megachat.config import Settings


def cmd_ask(args: argparse.Namespace) -> int:
    from megachat.cli.sigterm import SigtermAsCtrlC

    with SigtermAsCtrlC() as sigterm:
        settings = read_settings()
        text = build_prompt(args.prompt, _read_stdin())

        preset = None
        variables = dict(args.var)
        if args.preset:
            preset = resolve_preset(args.preset, variables)
        elif variables:
            raise usage_error("--var needs --preset")
        if not text.strip():
            raise usage_error(
                "no prompt: give PROMPT arguments or pipe text on stdin (nothing was sent)"
            )
        require_key(settings)

        images = _load_images(args.image)

        store = None
        needs_store = not args.no_save or args.continue_last or args.conversation
        if needs_store:
            store = open_store()
        try:
            if store is not None and not args.no_save:
                _check_writable(store)
            conv = _conversation_for_ask(args, settings, store, preset)
            prefill = args.prefill
            if prefill is None and preset is not None:
                prefill = preset.prefill
            conv.add_user(text, images)
            _warn_context(conv, prefill or "")
            client = make_client(settings)
            ask_turn = _ask_turn(
                conv,
                client,
                None if args.no_save else store,
                prefill=prefill or "",
                stream=not args.no_stream,
                as_json=args.json,
            )
            return run_async(sigterm.guard(ask_turn))
        finally:
            if store is not None:
                store.close()


def _check_writable(store: Store) -> None:
    """Refuse before sending when the turn could not be stored (a read-only data directory):
    a reply nobody can find again is worse than a clear error. `--no-save` still works."""
    from megachat.chat.store import ReadOnlyStoreError

    try:
        store.check_writable()
    except ReadOnlyStoreError as exc:
        raise CLIError(f"{exc}; nothing was sent") from None


def build_prompt(args_prompt: Sequence[str], stdin_text: str) -> str:
    """stdin text, a blank line, then the prompt; either may be absent."""
    prompt = " ".join(args_prompt).strip()
    piped = stdin_text.rstrip("\r\n") if stdin_text.strip() else ""
    if piped and prompt:
        return f"{piped}\n\n{prompt}"
    return piped or prompt


def _read_stdin() -> str:
    """stdin's text when it is not a terminal ("" for a terminal or an empty stream).

    Read in chunks and capped at what one request can carry, so `< /dev/zero` is refused with a
    usage error (nothing sent) instead of filling memory, and Ctrl+C / SIGTERM act between chunks.
    """
    stream = sys.stdin
    if stream is None:
        return ""
    try:
        if stream.isatty():
            return ""
    except (OSError, ValueError):
        return ""
    from megachat.api.limits import MAX_REQUEST_BYTES
    from megachat.localfiles import FileTooLargeError, read_at_most

    try:
        if hasattr(stream, "buffer"):
            source = stream.buffer
        else:  # a text stream with no bytes underneath (an embedding caller)
            source = io.BytesIO(stream.read(MAX_REQUEST_BYTES + 1).encode())
        raw = read_at_most(source, MAX_REQUEST_BYTES)
    except FileTooLargeError:
        raise usage_error(
            f"stdin is larger than {MAX_REQUEST_BYTES // 1_000_000} MB, the most one request "
            "can carry (nothing was sent)"
        ) from None
    except (OSError, ValueError):
        return ""
    return raw.decode("utf-8", errors="replace")


def _conversation_for_ask(
    args: argparse.Namespace,
    settings: Settings,
    store: Store | None,
    preset: RenderedPreset | None,
) -> Conversation:
    """The conversation to append to (-c / --conversation) or a new one, options applied."""
    from megachat.chat.conversation import Conversation

    if args.continue_last or args.conversation:
        assert store is not None
        conv_id = args.conversation or store.latest_id()
        if conv_id is None:
            raise usage_error("no saved conversation to continue (nothing was sent)")
        conv = find_conversation(store, conv_id)
        if preset is not None:
            preset.apply(conv)
        if args.model:
            conv.model = args.model
        if args.system is not None:
            conv.system = args.system
        if args.temperature is not None:
            conv.temperature = args.temperature
        if args.max_tokens is not None:
            conv.max_tokens = args.max_tokens
        return conv
    system = settings.system_prompt
    temperature = settings.temperature
    if preset is not None:
        system = preset.system or system
        if preset.temperature is not None:
            temperature = preset.temperature
    if args.system is not None:
        system = args.system
    if args.temperature is not None:
        temperature = args.temperature
    return Conversation(
        model=args.model or settings.model,
        system=system,
        temperature=temperature,
        max_tokens=args.max_tokens or settings.max_tokens,
    )


def _warn_context(conv: Conversation, prefill: str) -> None:
    """One stderr line when the request may not fit the context window (it is still sent)."""
    from megachat.chat.tokens import context_warning, estimate_tokens

    estimate = estimate_tokens(conv.build_request(prefill=prefill))
    warning = context_warning(estimate, conv.max_tokens)
    if warning:
        inform(f"warning: {one_line(warning)}")


def _load_images(paths: Sequence[str]) -> list[PreparedImage]:
    """The attached images (Pillow only when one needs resizing); a bad one is a usage error."""
    if not paths:
        return []
    from megachat.chat.images import ImageError, load_image

    many = len(paths) > 20
    images = []
    for path in paths:
        try:
            images.append(load_image(path, many=many))
        except ImageError as exc:
            raise usage_error(f"{exc} (nothing was sent)") from None
    for img in images:
        note = getattr(img, "note", None)
        if note:
            inform(one_line(note))
    return images


async def _ask_turn(
    conv: Conversation,
    client: MessagesClient,
    store: Store | None,
    *,
    prefill: str,
    stream: bool,
    as_json: bool,
) -> int:
    """Run the turn, printing text as it arrives (or the final Message with --json)."""
    from megachat.api import APIError
    from megachat.chat.store import ConversationDeleted
    from megachat.chat.turn import ReplyFinished, ReplyText, Turn, Waiting
    from megachat.cli.output import known_secrets

    writer = ReplyWriter(terminal=sys.stdout.isatty())
    finished: ReplyFinished | None = None
    turn = Turn(conv, client, store, prefill=prefill, stream=stream, secrets=known_secrets())
    try:
        async with client:
            try:
                async for event in turn.events():
                    if isinstance(event, ReplyText):
                        if not as_json:
                            writer.write(event.text)
                    elif isinstance(event, Waiting):
                        inform(one_line(event.notice.describe()))
                    elif isinstance(event, ReplyFinished):
                        finished = event
            finally:
                if not as_json:
                    writer.finish()
    except ConversationDeleted:
        raise CLIError(
            f"conversation {conv.id} was deleted elsewhere while this turn ran; "
            "nothing more of it was saved"
        ) from None
    except APIError as exc:
        _warn_skipped(finished)
        raise CLIError(
            failure_message(
                exc,
                finished,
                saved=store is not None,
                prefill=turn.prefill,
                read_timeout=_read_timeout(client),
            )
        ) from None
    _warn_skipped(finished)
    if as_json and finished is not None:
        write(dumps(finished.response or _message_dict(finished.message)) + "\n")
    return EXIT_OK


def _warn_skipped(finished: ReplyFinished | None) -> None:
    """One stderr line when the stream had malformed events (the reply may miss text)."""
    count = finished.skipped_events if finished is not None else 0
    if count:
        events = "event" if count == 1 else "events"
        inform(f"warning: {count} malformed stream {events} skipped; the reply may be incomplete")


def _read_timeout(client: MessagesClient) -> float | None:
    timeout = getattr(client, "timeout", None)
    read = getattr(timeout, "read", None)
    return read if isinstance(read, int | float) else None


def failure_message(
    exc: BaseException,
    finished: ReplyFinished | None,
    *,
    saved: bool,
    prefill: str = "",
    read_timeout: float | None = None,
) -> str:
    """The one error line for a failed turn: the API error, plus what the user can do next."""
    from megachat.api import APITimeoutError, AuthenticationError, StreamInterrupted

    text = str(exc)
    if isinstance(exc, AuthenticationError):
        return f"{text}; check MEGALLM_API_KEY or run `megachat key set`"
    if isinstance(exc, StreamInterrupted):
        message = finished.message if finished is not None else None
        received = message.text() if message is not None else ""
        kept = saved and message is not None and message.status == "interrupted"
        if kept and received.strip() and received != prefill:
            return f"{text}; the partial reply was saved; continue with `megachat ask -c`"
        return text
    if isinstance(exc, APITimeoutError) and read_timeout is not None:
        return (
            f"{text} (no answer within {read_timeout:g} s; "
            "raise it with `megachat config set timeout SECONDS`)"
        )
    return text


def _message_dict(message: ChatMessage) -> dict[str, Any]:
    """A Message-shaped dict for --json when the API's own final object is not available."""
    return {
        "id": message.id,
        "type": "message",
        "role": message.role,
        "content": message.content,
        "model": message.model,
        "stop_reason": message.stop_reason,
        "stop_sequence": None,
        "usage": message.usage,
    }
