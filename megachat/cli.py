"""Command line entry point: `megachat` (the TUI) and its subcommands.

Startup is kept lean on purpose: this module imports only the standard library at the top.
`ask` never imports Textual; Pillow is imported (by megachat.chat.images) only when images are
given; the TUI is imported inside the one command that runs it.

Every failure ends as one line `megachat: error: ...` on stderr with exit status 1 (API or
network failure, storage failure) or 2 (usage or input error); Ctrl+C exits 130.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from megachat import __version__

if TYPE_CHECKING:
    from megachat.chat.conversation import Conversation
    from megachat.chat.store import Store
    from megachat.config import Settings

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CLIError(Exception):
    """A failure to report as one line on stderr with the given exit status."""

    def __init__(self, message: str, status: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.status = status


def _usage(message: str) -> CLIError:
    return CLIError(message, EXIT_USAGE)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (plus a pointer to --help), status 2."""

    def error(self, message: str) -> NoReturn:
        raise CLIError(f"{message} (see '{self.prog} --help')", EXIT_USAGE)


# ---------------------------------------------------------------------------------------------
# Argument parsing


def _temperature(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _variable(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, not {text!r}")
    return name.strip(), value


ASK_EPILOG = """\
input:
  The prompt is the PROMPT arguments joined by spaces. When stdin is not a terminal its text is
  used too: stdin text, a blank line, then the prompt (empty stdin adds nothing). With neither,
  ask exits 2.

output:
  The reply's text is written to stdout as it arrives. When stdout is a terminal, terminal
  control/escape sequences in the model's output are removed before display; when stdout is a
  pipe or a file the text is passed through unchanged, so `megachat ask ... > reply.txt` is
  faithful. A newline is added at the end when the reply does not end with one.
  With --prefill the prefill (without trailing whitespace) is printed first and the stored reply
  is prefill + continuation. --json prints the final Message object instead of the text.
  Each wait before a retry or for the client-side rate limit is reported on stderr as one line,
  e.g. "rate limited (429), retrying in 3 s" (always, terminal or not; stdout stays clean).

conversation:
  Each ask is saved as a conversation (see `megachat list`) unless --no-save. -c appends to the
  most recent conversation and --conversation ID to a given one; the whole history is sent.

exit status:
  0 success; 1 API or network failure after retries (stderr names the error type and HTTP
  status); 2 usage or input error (bad image, missing API key, temperature out of range,
  unknown preset), in which case no request is sent; 130 interrupted by Ctrl+C (the partial
  reply is kept, marked cancelled).
"""

MAIN_EPILOG = """\
With no command megachat opens the chat TUI (on a new conversation, or see -c / --resume).
Run `megachat COMMAND --help` for each command.

environment:
  MEGALLM_API_KEY   the API key (overrides the key stored by `megachat key set`)
  MEGALLM_BASE_URL  the API base URL (default https://ai.megallm.io)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="megachat",
        description="A terminal chat client for the MegaLLM Messages API.",
        epilog=MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"megachat {__version__}")
    start = parser.add_mutually_exclusive_group()
    start.add_argument(
        "-c",
        "--continue",
        dest="tui_continue",
        action="store_true",
        help="open the TUI on the most recent conversation",
    )
    start.add_argument(
        "--resume",
        nargs="?",
        const="",
        default=None,
        metavar="ID",
        help="open the TUI on conversation ID; without ID, pick one from a list",
    )
    parser.set_defaults(func=cmd_tui)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add(name: str, help_text: str, func: Callable[..., int], **kw: Any) -> _Parser:
        p = sub.add_parser(name, help=help_text, description=help_text, **kw)
        p.set_defaults(func=func)
        return p

    ask = add(
        "ask",
        "Send one turn and print the reply (non-interactive).",
        cmd_ask,
        epilog=ASK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ask.add_argument("prompt", nargs="*", metavar="PROMPT", help="the prompt (words are joined)")
    ask.add_argument("-m", "--model", help="model id (default: the config's model)")
    ask.add_argument("-s", "--system", help="system prompt")
    ask.add_argument(
        "-t", "--temperature", type=_temperature, metavar="T", help="temperature, 0 to 1"
    )
    ask.add_argument(
        "--max-tokens", type=_positive_int, metavar="N", help="maximum tokens in the reply"
    )
    ask.add_argument(
        "-i",
        "--image",
        action="append",
        default=[],
        metavar="PATH",
        help="attach an image (PNG, JPEG, GIF, WebP; type read from the content); repeatable",
    )
    ask.add_argument("--prefill", metavar="TEXT", help="start the assistant's reply with TEXT")
    where = ask.add_mutually_exclusive_group()
    where.add_argument(
        "-c",
        "--continue",
        dest="continue_last",
        action="store_true",
        help="append to the most recent conversation (its whole history is sent)",
    )
    where.add_argument("--conversation", metavar="ID", help="append to conversation ID")
    ask.add_argument("--no-save", action="store_true", help="do not save this turn")
    ask.add_argument(
        "--no-stream", action="store_true", help="wait for the whole reply (no streaming)"
    )
    ask.add_argument("--json", action="store_true", help="print the final Message object as JSON")
    ask.add_argument(
        "--preset",
        metavar="NAME[:VALUE,...]",
        help=(
            "use a prompt preset (system prompt, temperature, prefill), e.g. translate:French "
            "or summarize:style=eli5; see `megachat presets`"
        ),
    )
    ask.add_argument(
        "--var",
        action="append",
        default=[],
        type=_variable,
        metavar="NAME=VALUE",
        help="a preset variable, e.g. --var lang=French; repeatable",
    )

    lst = add("list", "List saved conversations, newest first.", cmd_list)
    lst.add_argument(
        "--json",
        action="store_true",
        help="print an array of {id, title, model, updated_at, message_count}",
    )
    lst.add_argument("-n", "--limit", type=_positive_int, metavar="N", help="show at most N")

    exp = add("export", "Print a saved conversation as Markdown or JSON.", cmd_export)
    exp.add_argument("id", metavar="ID")
    exp.add_argument(
        "--format",
        choices=["markdown", "json"],
        default="markdown",
        help="markdown (default) or json: {id, title, model, system, temperature, messages}",
    )

    srch = add("search", "Full-text search over saved messages.", cmd_search)
    srch.add_argument("query", nargs="+", metavar="QUERY")
    srch.add_argument("--json", action="store_true", help="print the hits as JSON")

    dele = add("delete", "Delete a saved conversation.", cmd_delete)
    dele.add_argument("id", metavar="ID")

    ren = add("rename", "Rename a saved conversation.", cmd_rename)
    ren.add_argument("id", metavar="ID")
    ren.add_argument("title", nargs="+", metavar="TITLE")

    mod = add("models", "List the models the API offers.", cmd_models)
    mod.add_argument("--json", action="store_true", help="print the list as JSON")

    pre = add("presets", "List the prompt presets (shipped and your own).", cmd_presets)
    pre.add_argument("--json", action="store_true", help="print the presets as JSON")

    cfg = add(
        "config",
        "Show or change settings in config.toml.",
        cmd_config,
        epilog=_config_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cfg_sub = cfg.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    cfg_sub.required = True
    cfg_sub.add_parser("path", help="print the config file's path", description="Print the path.")
    get = cfg_sub.add_parser(
        "get", help="print one setting, or all", description="Print the effective settings."
    )
    get.add_argument("key", nargs="?", metavar="KEY")
    set_ = cfg_sub.add_parser(
        "set",
        help="set a setting",
        description="Set KEY to VALUE in config.toml (see `megachat config --help` for keys).",
    )
    set_.add_argument("key", metavar="KEY")
    set_.add_argument("value", metavar="VALUE")
    unset = cfg_sub.add_parser(
        "unset", help="remove a setting", description="Remove KEY from config.toml."
    )
    unset.add_argument("key", metavar="KEY")

    key = add("key", "Manage the stored API key.", cmd_key)
    key_sub = key.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    key_sub.required = True
    key_sub.add_parser(
        "set",
        help="store the API key (prompted, hidden)",
        description=(
            "Store the API key in config.toml with mode 0600. The key is read with a hidden "
            "prompt, or from stdin when stdin is not a terminal. MEGALLM_API_KEY still "
            "overrides it."
        ),
    )
    key_sub.add_parser(
        "unset", help="remove the stored API key", description="Remove the stored API key."
    )
    return parser


def _config_epilog() -> str:
    from megachat.config import known_keys

    lines = ["keys:"]
    for name, text in known_keys().items():
        lines.append(f"  {name:<24}{text}")
    lines.append("")
    lines.append("The environment overrides the file: MEGALLM_API_KEY, MEGALLM_BASE_URL.")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Entry point


def main(argv: Sequence[str] | None = None) -> int:
    """Run megachat; returns the exit status (never raises, except SystemExit from --help)."""
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help / --version
            return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
        if args.command is not None and (args.tui_continue or args.resume is not None):
            raise _usage(
                f"-c/--continue and --resume before a command open the TUI; "
                f"did you mean `megachat {args.command} -c ...`?"
            )
        return int(args.func(args))
    except CLIError as exc:
        _error(str(exc))
        return exc.status
    except KeyboardInterrupt:
        _flush_quietly()
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`megachat ask ... | head`): not an error worth a message.
        _silence_stdout()
        return EXIT_FAILURE
    except Exception as exc:
        # Anything else still ends as one line; MEGACHAT_DEBUG=1 shows the traceback instead.
        if os.environ.get("MEGACHAT_DEBUG"):
            raise
        from megachat.chat.store import StoreError

        if isinstance(exc, StoreError):
            _error(str(exc))
        else:
            _error(f"unexpected {type(exc).__name__}: {exc} (MEGACHAT_DEBUG=1 shows details)")
        return EXIT_FAILURE


_SECRETS: set[str] = set()  # API keys seen this run: scrubbed from anything we print on stderr


def _error(message: str) -> None:
    from megachat.sanitize import clean

    for secret in _SECRETS | {os.environ.get("MEGALLM_API_KEY", "").strip()}:
        if len(secret) >= 4:
            message = message.replace(secret, "[redacted]")
    text = " ".join(clean(message).split())  # one line, whatever the message held
    try:
        sys.stderr.write(f"megachat: error: {text}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _flush_quietly() -> None:
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


# ---------------------------------------------------------------------------------------------
# Shared helpers


def _settings() -> Settings:
    from megachat.config import ConfigError, load_settings

    try:
        settings = load_settings()
    except ConfigError as exc:
        raise _usage(str(exc)) from None
    if settings.api_key:
        _SECRETS.add(settings.api_key)
    return settings


def _open_store() -> Store:
    from megachat.chat.store import CorruptDatabaseError, Store, StoreError
    from megachat.config import db_path

    try:
        return Store(db_path())
    except CorruptDatabaseError as exc:
        # The damaged file has been moved aside (never overwritten); the next run starts afresh.
        raise CLIError(str(exc)) from None
    except StoreError as exc:
        raise CLIError(str(exc)) from None
    except OSError as exc:
        raise CLIError(f"cannot open the database {db_path()}: {exc.strerror or exc}") from None


def _require_key(settings: Settings) -> str:
    if not settings.api_key:
        raise _usage("no API key: set MEGALLM_API_KEY or run `megachat key set` (nothing was sent)")
    return settings.api_key


def _make_client(settings: Settings) -> Any:
    from megachat.api import MessagesClient, configure_rate_limit

    configure_rate_limit(settings.rate_limit_requests, settings.rate_limit_seconds)
    return MessagesClient(
        api_key=_require_key(settings),
        base_url=settings.base_url,
        max_retries=settings.max_retries,
    )


def _dumps(value: Any) -> str:
    """JSON for humans and scripts: UTF-8 kept, but C1 controls and lone surrogates escaped.

    json.dumps already escapes C0 controls (so ESC becomes \\u001b); C1 controls would reach the
    terminal raw with ensure_ascii=False, so they are escaped too (still the same JSON value).
    """
    text = json.dumps(value, ensure_ascii=False, indent=2)
    return "".join(
        f"\\u{ord(ch):04x}" if 0x7F <= ord(ch) <= 0x9F or 0xD800 <= ord(ch) <= 0xDFFF else ch
        for ch in text
    )


def _write(text: str) -> None:
    out = sys.stdout
    try:
        out.write(text)
    except UnicodeEncodeError:
        out.buffer.write(text.encode(out.encoding or "utf-8", errors="replace"))
    out.flush()


def _for_terminal(text: str) -> str:
    """Untrusted text for stdout: cleaned on a terminal, faithful in a pipe."""
    if sys.stdout.isatty():
        from megachat.sanitize import clean

        return clean(text)
    return text


def _one_line(text: str, width: int | None = None) -> str:
    from megachat.sanitize import clean

    line = " ".join(clean(text).split())
    if width is not None and len(line) > width:
        line = line[: max(0, width - 1)] + "…"
    return line


def _run_async(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)


def _find_conversation(store: Store, conv_id: str) -> Conversation:
    """The conversation with this id (or unique id prefix); exit 2 when there is none."""
    from megachat.chat.store import ConversationNotFound

    try:
        return store.get(store.resolve_id(conv_id))
    except ConversationNotFound as exc:
        raise _usage(str(exc)) from None


def _resolve(store: Store, conv_id: str) -> str:
    from megachat.chat.store import ConversationNotFound

    try:
        return store.resolve_id(conv_id)
    except ConversationNotFound as exc:
        raise _usage(str(exc)) from None


# ---------------------------------------------------------------------------------------------
# megachat (the TUI)


def cmd_tui(args: argparse.Namespace) -> int:
    settings = _settings()
    from megachat.tui.app import run_app  # lazy: Textual is imported only here

    conversation_id = args.resume or None
    pick = args.resume == ""
    if conversation_id is not None:
        # A bad id is a usage error here, before the screen is taken over; a prefix is expanded.
        store = _open_store()
        try:
            conversation_id = _resolve(store, conversation_id)
        finally:
            store.close()
    return int(
        run_app(
            settings,
            conversation_id=conversation_id,
            continue_last=bool(args.tui_continue),
            pick=pick,
        )
        or 0
    )


# ---------------------------------------------------------------------------------------------
# megachat ask


def _read_stdin() -> str:
    """stdin's text when it is not a terminal ("" for a terminal or an empty stream)."""
    stream = sys.stdin
    if stream is None:
        return ""
    try:
        if stream.isatty():
            return ""
    except (OSError, ValueError):
        return ""
    try:
        raw = stream.buffer.read() if hasattr(stream, "buffer") else stream.read().encode()
    except (OSError, ValueError):
        return ""
    return raw.decode("utf-8", errors="replace")


def build_prompt(args_prompt: Sequence[str], stdin_text: str) -> str:
    """stdin text, a blank line, then the prompt; either may be absent."""
    prompt = " ".join(args_prompt).strip()
    piped = stdin_text.rstrip("\r\n") if stdin_text.strip() else ""
    if piped and prompt:
        return f"{piped}\n\n{prompt}"
    return piped or prompt


def cmd_ask(args: argparse.Namespace) -> int:
    settings = _settings()
    text = build_prompt(args.prompt, _read_stdin())

    preset = None
    variables = dict(args.var)
    if args.preset:
        preset = _resolve_preset(args.preset, variables)
    elif variables:
        raise _usage("--var needs --preset")
    if not text.strip():
        raise _usage("no prompt: give PROMPT arguments or pipe text on stdin (nothing was sent)")
    _require_key(settings)

    images = _load_images(args.image)

    store = None
    needs_store = not args.no_save or args.continue_last or args.conversation
    if needs_store:
        store = _open_store()
    try:
        conv = _conversation_for_ask(args, settings, store, preset)
        prefill = args.prefill
        if prefill is None and preset is not None:
            prefill = preset.prefill
        conv.add_user(text, images)
        _warn_context(conv, prefill or "")
        client = _make_client(settings)
        return _run_async(
            _ask_turn(
                conv,
                client,
                None if args.no_save else store,
                prefill=prefill or "",
                stream=not args.no_stream,
                as_json=args.json,
            )
        )
    finally:
        if store is not None:
            store.close()


def _conversation_for_ask(
    args: argparse.Namespace,
    settings: Settings,
    store: Store | None,
    preset: Any,
) -> Conversation:
    from megachat.chat.conversation import Conversation

    if args.continue_last or args.conversation:
        assert store is not None
        conv_id = args.conversation or store.latest_id()
        if conv_id is None:
            raise _usage("no saved conversation to continue (nothing was sent)")
        conv = _find_conversation(store, conv_id)
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
        sys.stderr.write(f"megachat: warning: {_one_line(warning)}\n")


def _load_images(paths: Sequence[str]) -> list[Any]:
    if not paths:
        return []
    from megachat.chat.images import ImageError, load_image

    many = len(paths) > 20
    images = []
    for path in paths:
        try:
            images.append(load_image(path, many=many))
        except ImageError as exc:
            raise _usage(f"{exc} (nothing was sent)") from None
    for img in images:
        note = getattr(img, "note", None)
        if note:
            sys.stderr.write(f"megachat: {_one_line(note)}\n")
    return images


async def _ask_turn(
    conv: Conversation,
    client: Any,
    store: Store | None,
    *,
    prefill: str,
    stream: bool,
    as_json: bool,
) -> int:
    from megachat.api import APIError
    from megachat.chat.turn import ReplyFinished, ReplyText, Turn, Waiting

    writer = _ReplyWriter(sys.stdout, terminal=sys.stdout.isatty())
    finished: ReplyFinished | None = None
    try:
        async with client:
            turn = Turn(conv, client, store, prefill=prefill, stream=stream)
            try:
                async for event in turn.events():
                    if isinstance(event, ReplyText):
                        if not as_json:
                            writer.write(event.text)
                    elif isinstance(event, Waiting):
                        sys.stderr.write(f"megachat: {_one_line(event.notice.describe())}\n")
                        sys.stderr.flush()
                    elif isinstance(event, ReplyFinished):
                        finished = event
            finally:
                if not as_json:
                    writer.finish()
    except APIError as exc:
        raise CLIError(str(exc)) from None
    if as_json and finished is not None:
        _write(_dumps(finished.response or _message_dict(finished.message)) + "\n")
    return EXIT_OK


def _message_dict(message: Any) -> dict:
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


class _ReplyWriter:
    """Writes streamed reply text to stdout, flushing each piece.

    On a terminal, escape sequences are stripped even when one is split across two deltas: a
    possibly unfinished sequence at the end of a piece is held back until the next one.
    """

    _INTRODUCERS = "\x1b\x90\x98\x9b\x9d\x9e\x9f"
    _MAX_HOLD = 4096

    def __init__(self, stream: Any, *, terminal: bool) -> None:
        self.stream = stream
        self.terminal = terminal
        self.pending = ""
        self.last = ""

    def write(self, text: str) -> None:
        if not text:
            return
        if self.terminal:
            text = self._clean_streaming(text)
        if text:
            self.last = text[-1]
            _write(text)

    def finish(self) -> None:
        if self.pending:
            from megachat.sanitize import clean

            rest, self.pending = clean(self.pending), ""
            if rest:
                self.last = rest[-1]
                _write(rest)
        if self.last and self.last != "\n":
            _write("\n")
        self.last = ""

    def _clean_streaming(self, text: str) -> str:
        from megachat.sanitize import clean

        text = self.pending + text
        self.pending = ""
        start = max(text.rfind(ch) for ch in self._INTRODUCERS)
        if start >= 0 and len(text) - start <= self._MAX_HOLD and not _sequence_done(text[start:]):
            text, self.pending = text[:start], text[start:]
        if text.endswith("\r"):  # might be half of CR LF
            text, self.pending = text[:-1], "\r" + self.pending
        return clean(text)


def _sequence_done(tail: str) -> bool:
    """Whether the escape sequence starting tail[0] is complete (or cannot grow into one)."""
    import re

    first = tail[0]
    if first == "\x1b":
        if len(tail) == 1:
            return False
        second = tail[1]
        if second == "[":
            return not re.fullmatch(r"\x1b\[[0-?]*[ -/]*", tail)
        if second in "]PX^_":
            return "\x07" in tail[2:] or "\x1b\\" in tail[2:] or "\x9c" in tail[2:]
        return not re.fullmatch(r"\x1b[ -/]*", tail)
    if first == "\x9b":
        return not re.fullmatch(r"\x9b[0-?]*[ -/]*", tail)
    return "\x07" in tail[1:] or "\x9c" in tail[1:]


# ---------------------------------------------------------------------------------------------
# Presets


def _presets() -> dict[str, Any]:
    from megachat.chat.presets import PresetError, load_presets
    from megachat.config import user_presets_dir

    try:
        return load_presets(user_presets_dir())
    except PresetError as exc:
        raise _usage(f"cannot load presets: {exc}") from None


def _resolve_preset(spec: str, variables: dict[str, str]) -> Any:
    """`NAME`, `NAME:VALUE,...` or `NAME:var=VALUE,...`, plus --var NAME=VALUE -> RenderedPreset."""
    from megachat.chat.presets import PresetError, parse_preset_spec

    presets = _presets()
    name, positional, named = parse_preset_spec(spec)
    named.update(variables)
    preset = presets.get(name)
    if preset is None:
        known = ", ".join(sorted(presets)) or "none"
        raise _usage(f"unknown preset {_one_line(name, 40)!r} (known: {known})")
    try:
        return preset.render(positional, **named)
    except PresetError as exc:
        raise _usage(str(exc)) from None


def cmd_presets(args: argparse.Namespace) -> int:
    presets = _presets()
    if args.json:
        rows = [
            {
                "name": p.name,
                "description": getattr(p, "description", ""),
                "system": getattr(p, "system", None),
                "temperature": getattr(p, "temperature", None),
                "prefill": getattr(p, "prefill", None),
                "variables": [
                    {"name": v.name, "description": v.description, "default": v.default}
                    for v in p.variables
                ],
            }
            for p in presets.values()
        ]
        _write(_dumps(rows) + "\n")
        return EXIT_OK
    for name in sorted(presets):
        p = presets[name]
        extra = " ".join(
            f"--var {v.name}=" + (v.default if v.default is not None else "VALUE")
            for v in p.variables
        )
        line = f"{name:<16}{_one_line(p.description or '')}"
        _write(line + (f"  ({_one_line(extra)})" if extra else "") + "\n")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# Store commands


def cmd_list(args: argparse.Namespace) -> int:
    store = _open_store()
    try:
        rows = store.list(limit=args.limit) if args.limit else store.list()
    finally:
        store.close()
    if args.json:
        _write(_dumps([r.as_dict() for r in rows]) + "\n")
        return EXIT_OK
    if not rows:
        sys.stderr.write("megachat: no saved conversations\n")
        return EXIT_OK
    import time

    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.updated_at))
        _write(f"{r.id}  {when}  {r.message_count:>4}  {_one_line(r.model, 24):<24}  ")
        _write(_one_line(r.title or "(untitled)", 60) + "\n")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from megachat.chat.export import to_json, to_markdown

    store = _open_store()
    try:
        conv = _find_conversation(store, args.id)
    finally:
        store.close()
    if args.format == "json":
        _write(_dumps(to_json(conv)) + "\n")
    else:
        text = to_markdown(conv)
        _write(_for_terminal(text if text.endswith("\n") else text + "\n"))
    return EXIT_OK


def cmd_search(args: argparse.Namespace) -> int:
    query = " ".join(args.query)
    store = _open_store()
    try:
        try:
            hits = store.search(query)
        except ValueError as exc:
            raise _usage(f"bad search query: {exc}") from None
    finally:
        store.close()
    if args.json:
        data = [_hit_dict(h) for h in hits]
        _write(_dumps(data) + "\n")
        return EXIT_OK
    if not hits:
        sys.stderr.write("megachat: no matches\n")
        return EXIT_OK
    for hit in hits:
        d = _hit_dict(hit)
        title = _one_line(d["title"] or "(untitled)", 50)
        _write(f"{d['conversation_id']}  {title}\n    {_one_line(d['snippet'])}\n")
    return EXIT_OK


def _hit_dict(hit: Any) -> dict:
    from megachat.chat.store import iso_time

    return {
        "conversation_id": hit.conversation_id,
        "title": hit.title,
        "snippet": hit.snippet,
        "role": hit.role,
        "message_id": hit.message_id,
        "updated_at": iso_time(hit.updated_at) if hit.updated_at else None,
    }


def cmd_delete(args: argparse.Namespace) -> int:
    store = _open_store()
    try:
        conv_id = _resolve(store, args.id)
        store.delete(conv_id)
    finally:
        store.close()
    sys.stderr.write(f"megachat: deleted {conv_id}\n")
    return EXIT_OK


def cmd_rename(args: argparse.Namespace) -> int:
    title = " ".join(args.title).strip()
    if not title:
        raise _usage("the title is empty")
    store = _open_store()
    try:
        store.rename(_resolve(store, args.id), title)
    finally:
        store.close()
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# models


def cmd_models(args: argparse.Namespace) -> int:
    settings = _settings()
    client = _make_client(settings)

    async def fetch() -> list[Any]:
        async with client:
            return await client.list_models()

    from megachat.api import APIError

    try:
        models = _run_async(fetch())
    except APIError as exc:
        raise CLIError(str(exc)) from None
    if args.json:
        data = [
            {
                "id": m.id,
                "display_name": m.display_name,
                "context_window": m.context_window,
                "max_output_tokens": m.max_output_tokens,
            }
            for m in models
        ]
        _write(_dumps(data) + "\n")
        return EXIT_OK
    for m in models:
        window = f"{m.context_window:,}" if m.context_window else "-"
        _write(f"{_one_line(m.id, 40):<40}  {window:>9}  {_one_line(m.display_name or '')}\n")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# config / key


def cmd_config(args: argparse.Namespace) -> int:
    from megachat import config

    if args.action == "path":
        _write(f"{config.config_path()}\n")
        return EXIT_OK
    try:
        if args.action == "get":
            return _config_get(args.key)
        if args.key == "api_key":
            raise _usage("use `megachat key set` to store the API key (it keeps it off the screen)")
        if args.action == "set":
            value = config.parse_cli_value(args.key, args.value)
            config.save_setting(args.key, value)
        else:
            config.save_setting(args.key, None)
    except config.ConfigError as exc:
        raise _usage(str(exc)) from None
    except OSError as exc:
        raise CLIError(f"cannot write {config.config_path()}: {exc.strerror or exc}") from None
    return EXIT_OK


def _show_value(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, str):
        return _one_line(value) if value else '""'
    return str(value)


def _config_get(key: str | None) -> int:
    from megachat import config

    settings = config.load_settings()
    if key is not None:
        if key == "api_key":
            _write(_key_status(settings) + "\n")
            return EXIT_OK
        _write(_show_value(config.effective_value(settings, key)) + "\n")
        return EXIT_OK
    _write(f"api_key = {_key_status(settings)}\n")
    for name in config.known_keys():
        if name == "api_key" or name.startswith("keymap."):
            continue
        _write(f"{name} = {_show_value(config.effective_value(settings, name))}\n")
    for binding, keys in sorted(settings.keymap.items()):
        _write(f"keymap.{_one_line(binding)} = {_one_line(keys)}\n")
    return EXIT_OK


def _key_status(settings: Settings) -> str:
    if not settings.api_key:
        return "(not set)"
    return f"(set, from the {settings.api_key_source})"


def cmd_key(args: argparse.Namespace) -> int:
    from megachat import config

    try:
        if args.action == "unset":
            config.save_setting("api_key", None)
            return EXIT_OK
        key = _read_key()
        path = config.store_api_key(key)
    except config.ConfigError as exc:
        raise _usage(str(exc)) from None
    except OSError as exc:
        raise CLIError(f"cannot write {config.config_path()}: {exc.strerror or exc}") from None
    sys.stderr.write(f"megachat: API key saved to {path} (mode 0600)\n")
    if os.environ.get(config.ENV_API_KEY, "").strip():
        sys.stderr.write(f"megachat: note: {config.ENV_API_KEY} is set and takes precedence\n")
    return EXIT_OK


def _read_key() -> str:
    stdin = sys.stdin
    if stdin is not None and not stdin.isatty():
        line = stdin.readline()
        return line.strip()
    import getpass

    return getpass.getpass("MegaLLM API key: ").strip()


if __name__ == "__main__":
    sys.exit(main())
