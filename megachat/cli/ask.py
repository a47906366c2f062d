"""`megachat ask`: one turn from the prompt (arguments and/or piped stdin) to the printed reply.

The turn goes through megachat.chat.session.ChatSession, the same session as the TUI, so the
user turn is stored before the request and the reply while it streams. Ctrl+C and SIGTERM stop
it with the partial reply kept as "cancelled" (exit 130 / 143).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, assert_never

from megachat.cli.errors import EXIT_OK, CLIError, usage_error
from megachat.cli.output import dumps, inform, known_secrets, one_line, write
from megachat.cli.presets import resolve_preset
from megachat.cli.reply_writer import ReplyWriter
from megachat.cli.resources import (
    make_client,
    open_store,
    read_settings,
    require_key,
    run_async,
)

if TYPE_CHECKING:
    from megachat.api import MessagesClient
    from megachat.chat.conversation import ChatMessage, Conversation
    from megachat.chat.documents import Attachment
    from megachat.chat.outcomes import Outcome
    from megachat.chat.presets import RenderedPreset
    from megachat.chat.session import ChatSession, EventSink
    from megachat.chat.store import Store
    from megachat.chat.tool_events import ToolCall
    from megachat.chat.tool_loop import Approval
    from megachat.chat.turn import TurnEvent
    from megachat.config import Settings
    from megachat.tools.servers import ServerConfig


def cmd_ask(args: argparse.Namespace) -> int:
    from megachat.cli.sigterm import SigtermAsCtrlC

    with SigtermAsCtrlC() as sigterm:
        settings = read_settings()
        if args.regenerate:
            _check_regenerate(args)
        if args.continue_reply:
            _check_continue_reply(args)
        no_prompt = args.regenerate or args.continue_reply
        text = "" if no_prompt else build_prompt(args.prompt, _read_stdin())

        preset = None
        variables = dict(args.var)
        if args.preset:
            preset = resolve_preset(args.preset, variables)
        elif variables:
            raise usage_error("--var needs --preset")
        if not text.strip() and not no_prompt:
            raise usage_error(
                "no prompt: give PROMPT arguments or pipe text on stdin (nothing was sent)"
            )
        require_key(settings)
        servers = _tool_servers(args, settings)

        images = _load_attachments(args.attach)

        store = None
        needs_store = not args.no_save or args.continue_last or args.conversation
        if needs_store:
            store = open_store()
        try:
            if store is not None and not args.no_save:
                _check_writable(store)
            from megachat.chat.session import ChatSession

            session = ChatSession(
                store,
                lambda: client,  # made below, once the input is known to be good
                new_conversation=lambda: _new_conversation(args, settings, preset),
                secrets=known_secrets(),
                save=not args.no_save,
            )
            session.model_overrides = settings.models
            session.prompt_cache = settings.prompt_cache
            _open_for_ask(session, args, store, preset)
            prefill = args.prefill
            if prefill is None and preset is not None:
                prefill = preset.prefill
            _warn_context(session.conversation, prefill or "", text, images)
            client = make_client(settings)
            ask_turn = _ask_turn(
                session,
                client,
                lambda on_event: (
                    session.continue_reply(stream=not args.no_stream, on_event=on_event)
                    if args.continue_reply
                    else session.regenerate(
                        prefill=prefill or "", stream=not args.no_stream, on_event=on_event
                    )
                    if args.regenerate
                    else session.send(
                        text,
                        images,
                        prefill=prefill or "",
                        stream=not args.no_stream,
                        on_event=on_event,
                    )
                ),
                as_json=args.json,
                tools=_ToolOptions(servers, tuple(args.allow), settings) if servers else None,
                continuation=args.continue_reply,
            )
            return run_async(sigterm.guard(ask_turn))
        finally:
            if store is not None:
                store.close()


@dataclass(frozen=True)
class _ToolOptions:
    """The MCP servers `--mcp` enabled, the `--allow` patterns, the settings for the loop."""

    servers: Sequence[ServerConfig]
    allow: tuple[str, ...]
    settings: Settings


def _tool_servers(args: argparse.Namespace, settings: Settings) -> list[ServerConfig]:
    """The servers named by --mcp (`all`: every enabled one); an unknown name is exit 2."""
    if not args.mcp:
        if args.allow:
            raise usage_error("--allow needs --mcp NAME (nothing was sent)")
        return []
    known = {server.name: server for server in settings.mcp_servers}
    chosen: dict[str, ServerConfig] = {}
    for name in args.mcp:
        if name == "all":
            chosen.update((s.name, s) for s in settings.mcp_servers if s.enabled)
        elif name in known:
            chosen[name] = known[name]
        else:
            names = ", ".join(sorted(known)) or "none configured"
            raise usage_error(
                f"unknown MCP server {one_line(name)!r} (servers: {names}; nothing was sent)"
            )
    if not chosen:
        raise usage_error("--mcp all: no MCP server is enabled in config.toml (nothing was sent)")
    return list(chosen.values())


def _check_regenerate(args: argparse.Namespace) -> None:
    """--regenerate asks a stored conversation's last question again, as a new branch: it needs
    that conversation, keeps what it makes, and adds no turn of its own."""
    if not (args.continue_last or args.conversation):
        raise usage_error(
            "--regenerate needs -c/--continue or --conversation ID (nothing was sent)"
        )
    if args.prompt or args.attach:
        raise usage_error(
            "--regenerate takes no prompt or -a/--attach: it asks the last question again "
            "(nothing was sent)"
        )
    if args.no_save:
        raise usage_error(
            "--regenerate keeps the new reply as a branch, so it cannot be used with --no-save"
        )


def _check_continue_reply(args: argparse.Namespace) -> None:
    """--continue-reply extends a stored conversation's last reply: it needs that conversation,
    keeps what it makes, and adds no prompt of its own."""
    if not (args.continue_last or args.conversation):
        raise usage_error(
            "--continue-reply needs -c/--continue or --conversation ID (nothing was sent)"
        )
    if args.prompt or args.attach or args.prefill is not None or args.regenerate:
        raise usage_error(
            "--continue-reply takes no prompt, -a/--attach, --prefill or --regenerate: it "
            "continues the last reply (nothing was sent)"
        )
    if args.no_save:
        raise usage_error("--continue-reply stores the continued reply: not with --no-save")


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


def _open_for_ask(
    session: ChatSession,
    args: argparse.Namespace,
    store: Store | None,
    preset: RenderedPreset | None,
) -> None:
    """Open the conversation to append to (-c / --conversation), options applied, or a new one."""
    from megachat.chat.store import ConversationNotFound

    if not (args.continue_last or args.conversation):
        session.new()
        return
    assert store is not None
    conv_id = args.conversation or store.latest_id()
    if conv_id is None:
        raise usage_error("no saved conversation to continue (nothing was sent)")
    try:
        conv = session.open(store.resolve_id(conv_id))
    except ConversationNotFound as exc:
        raise usage_error(str(exc)) from None
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
    _apply_request_options(conv, args)
    _check_options(conv)


def _apply_request_options(conv: Conversation, args: argparse.Namespace) -> None:
    """--thinking, --effort, --stop, --top-p, --top-k on the conversation (a `-c` one keeps
    them for later turns, as it keeps -t); an option not given leaves the stored one."""
    if args.thinking is not None:
        conv.thinking = None if args.thinking == "off" else args.thinking
    if args.effort is not None:
        conv.effort = args.effort
    if args.stop:
        conv.stop_sequences = list(args.stop)
    if args.top_p is not None:
        conv.top_p = None if args.top_p == "off" else args.top_p
    if args.top_k is not None:
        conv.top_k = None if args.top_k == "off" else args.top_k


def _check_options(conv: Conversation) -> None:
    """The options together (a thinking budget below max_tokens...): a usage error if not."""
    from megachat.chat.conversation import check_request_options

    try:
        check_request_options(conv)
    except ValueError as exc:
        raise usage_error(f"{exc} (nothing was sent)") from None


def _new_conversation(
    args: argparse.Namespace, settings: Settings, preset: RenderedPreset | None
) -> Conversation:
    """A new conversation from the settings, the preset and the options."""
    from megachat.chat.conversation import Conversation

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
    conv = Conversation(
        model=args.model or settings.model,
        system=system,
        temperature=temperature,
        max_tokens=args.max_tokens or settings.max_tokens,
    )
    _apply_request_options(conv, args)
    _check_options(conv)
    return conv


def _warn_context(
    conv: Conversation, prefill: str, text: str, images: Sequence[Attachment]
) -> None:
    """One stderr line when the request may not fit the context window (it is still sent)."""
    from megachat.chat.documents import attachment_block
    from megachat.chat.tokens import context_warning, estimate_tokens

    draft = [attachment_block(item) for item in images] + [{"type": "text", "text": text}]
    estimate = estimate_tokens(conv.build_request(prefill=prefill)) + estimate_tokens(draft)
    warning = context_warning(estimate, conv.max_tokens)
    if warning:
        inform(f"warning: {one_line(warning)}")


def _load_attachments(paths: Sequence[str]) -> list[Attachment]:
    """The attached images, PDFs and text files (Pillow only when an image needs resizing); a bad
    one is a usage error."""
    if not paths:
        return []
    from megachat.chat.documents import AttachmentError, load_attachment
    from megachat.chat.images import ImageError

    many = len(paths) > 20
    images = []
    for path in paths:
        try:
            images.append(load_attachment(path, many=many))
        except (AttachmentError, ImageError) as exc:
            raise usage_error(f"{exc} (nothing was sent)") from None
    for img in images:
        note = getattr(img, "note", None)
        if note:
            inform(one_line(note))
    return images


async def _ask_turn(
    session: ChatSession,
    client: MessagesClient,
    operation: Callable[[EventSink], Awaitable[Outcome]],
    *,
    as_json: bool,
    tools: _ToolOptions | None = None,
    continuation: bool = False,
) -> int:
    """Run the session's turn, printing text as it arrives (or the final Message with --json).

    `continuation` (--continue-reply): the cut text a reply starts with (sent as its prefill)
    is not printed again, only what follows it.

    With tools, each reply's text is held until the reply ends: the final answer goes to stdout,
    the text of a reply that asks for tools to stderr (stdout has the final answer only)."""
    from megachat.chat.outcomes import (
        Cancelled,
        Failed,
        Finished,
        NothingToDo,
        NotSent,
        word_failure,
    )
    from megachat.chat.prompt_cache import CacheDropped
    from megachat.chat.tool_events import ToolCallFinished, ToolCallStarted, ToolLoopStopped
    from megachat.chat.tool_loop import describe_input
    from megachat.chat.turn import (
        ReplyEvent,
        ReplyFinished,
        ReplyStarted,
        ReplyText,
        RequestRefused,
        Waiting,
    )

    writer = ReplyWriter(terminal=sys.stdout.isatty())
    held: list[str] = []  # with tools: the reply's text until we know whether it is the answer
    already = [0]  # --continue-reply: characters of the reply printed before (its prefill)

    def on_event(event: TurnEvent) -> None:
        match event:
            case ReplyStarted(message=message) if continuation:
                already[0] = len(message.text())
            case ReplyText(text=text) if already[0]:
                skipped, already[0] = min(already[0], len(text)), max(0, already[0] - len(text))
                if text[skipped:]:
                    on_event(ReplyText(text[skipped:]))
            case ReplyText(text=text):
                if tools is not None:
                    held.append(text)
                elif not as_json:
                    writer.write(text)
            case Waiting(notice=notice):
                inform(one_line(notice.describe()))
            case CacheDropped():
                inform(one_line(event.describe()))
            case ReplyFinished(message=message) if tools is not None:
                text = "".join(held)
                held.clear()
                if message.stop_reason == "tool_use":
                    if text.strip():
                        inform(f"assistant: {one_line(text)}")
                elif not as_json:
                    writer.write(text)
            case ToolCallStarted(call=call):
                inform(f"tool {one_line(call.label)} {one_line(describe_input(call.input))}")
            case ToolCallFinished(call=call, summary=summary, is_error=is_error):
                state = "error: " if is_error else "-> "
                inform(f"tool {one_line(call.label)} {state}{one_line(summary)}")
            case ToolLoopStopped(reason=reason, message=note):
                if reason != "end_turn":
                    inform(one_line(note))
            case ReplyStarted() | ReplyEvent() | ReplyFinished():
                pass
            case _:
                assert_never(event)

    async with client:
        try:
            if tools is None:
                outcome = await operation(on_event)
            else:
                outcome = await _with_tools(session, tools, operation, on_event)
        finally:
            if not as_json:
                writer.finish()
    match outcome:
        case Finished():
            _warn_skipped(outcome.skipped_events)
            _note_stop(outcome.message, session)
            if as_json:
                write(dumps(outcome.response or _message_dict(outcome.message)) + "\n")
            return EXIT_OK
        case Failed():
            _warn_skipped(outcome.skipped_events)
            wording = word_failure(
                outcome,
                face="cli",
                saved=session.writer is not None,
                conversation_id=session.conversation.id,
                read_timeout=_read_timeout(client),
            )
            raise CLIError(wording.line())
        case NotSent(error=error):
            if isinstance(error, NothingToDo | RequestRefused):
                raise usage_error(f"{error} (nothing was sent)")
            raise error  # the store's own error (disk full, read-only...), as before
        case Cancelled():  # only the session's own cancel(); Ctrl+C propagates
            return EXIT_OK
        case _:
            assert_never(outcome)


async def _with_tools(
    session: ChatSession,
    tools: _ToolOptions,
    operation: Callable[[EventSink], Awaitable[Outcome]],
    on_event: EventSink,
) -> Outcome:
    """Start the servers, run the turn with the tool loop, stop the servers."""
    from megachat.chat.tool_loop import ToolBox, ToolUse
    from megachat.tools.client import ServerFailed

    settings = tools.settings
    box = ToolBox(tools.servers, allow=tools.allow, call_timeout=settings.tool_timeout)
    async with box:
        for status in box.statuses:
            if isinstance(status, ServerFailed):
                inform(f"MCP server {status.server!r} failed to start: {one_line(status.reason)}")
        interactive = _is_tty(sys.stdin) and _is_tty(sys.stderr)
        session.tool_use = ToolUse(box, _approver(interactive), settings.max_tool_steps)
        try:
            return await operation(on_event)
        finally:
            session.tool_use = None


def _approver(interactive: bool) -> Callable[[ToolCall], Awaitable[Approval]]:
    """Ask on the terminal; without one, deny with a reason the model (and the user) can read."""
    from megachat.chat.tool_loop import Approved, Denied, describe_input

    async def approve(call: ToolCall) -> Approval:
        label = one_line(call.label)
        if not interactive:
            reason = f"denied: not allowed (run with --allow {label})"
            return Denied(reason)
        prompt = f"Run {label} {one_line(describe_input(call.input))}? [y/N/a(lways)] "
        answer = (await _read_tty_line(prompt)).strip().lower()
        if answer in ("a", "always"):
            return Approved(always=True)
        if answer in ("y", "yes"):
            return Approved()
        return Denied("denied by the user")

    return approve


async def _read_tty_line(prompt: str) -> str:
    """One line from the terminal without blocking the event loop (Ctrl+C still cancels)."""
    import asyncio

    sys.stderr.write(prompt)
    sys.stderr.flush()
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[bytes] = loop.create_future()
    fd = sys.stdin.fileno()

    def readable() -> None:
        if not answer.done():
            answer.set_result(os.read(fd, 4096))

    loop.add_reader(fd, readable)
    try:
        return (await answer).decode("utf-8", errors="replace")
    finally:
        loop.remove_reader(fd)


def _is_tty(stream: object) -> bool:
    try:
        return bool(stream is not None and stream.isatty())  # type: ignore[attr-defined]
    except (OSError, ValueError):
        return False


def _warn_skipped(count: int) -> None:
    """One stderr line when the stream had malformed events (the reply may miss text)."""
    from megachat.chat.outcomes import skipped_warning

    warning = skipped_warning(count)
    if warning:
        inform(f"warning: {warning}")


def _note_stop(message: ChatMessage, session: ChatSession) -> None:
    """One stderr line when the reply did not simply end (cut at max_tokens, a stop sequence,
    a refusal...), with how to continue a cut one when it was saved."""
    from megachat.chat.outcomes import stop_note

    hint = ""
    if session.writer is not None:
        hint = f"continue with `megachat ask --conversation {session.conversation.id} "
        hint += "--continue-reply`"
    note = stop_note(message.stop_reason, message.stop_sequence, continue_hint=hint)
    if note:
        inform(one_line(note))


def _read_timeout(client: MessagesClient) -> float | None:
    timeout = getattr(client, "timeout", None)
    read = getattr(timeout, "read", None)
    return read if isinstance(read, int | float) else None


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
