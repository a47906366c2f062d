"""The whole command line surface in one place: argparse parsers, value types and help texts.

Each subcommand's parser is set up with `func=`, the function in its own module that runs it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, NoReturn

from megachat import __version__
from megachat.cli.ask import cmd_ask
from megachat.cli.config_commands import cmd_config, cmd_key, config_epilog
from megachat.cli.conversations import cmd_delete, cmd_export, cmd_list, cmd_rename, cmd_search
from megachat.cli.errors import EXIT_USAGE, CLIError
from megachat.cli.importing import MAX_IMPORT_MIB, cmd_import
from megachat.cli.mcp_commands import DEFAULT_LIST_TIMEOUT, cmd_mcp
from megachat.cli.models import cmd_models
from megachat.cli.presets import cmd_presets
from megachat.cli.tui_command import cmd_tui
from megachat.cli.usage import cmd_usage
from megachat.config import DEFAULT_BASE_URL


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (plus a pointer to --help), status 2."""

    def error(self, message: str) -> NoReturn:
        raise CLIError(f"{message} (see '{self.prog} --help')", EXIT_USAGE)


# -- value types -------------------------------------------------------------------------------


def temperature(text: str) -> float:
    """0 to 1 inclusive (the API's range): the same rule as the `temperature` setting."""
    from megachat.config import parse_value

    try:
        return float(parse_value("temperature", text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_int(text: str) -> int:
    """An integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def positive_seconds(text: str) -> float:
    """A finite number of seconds above 0."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number above 0, not {text!r}")
    return value


def thinking(text: str) -> int | str:
    """A thinking budget (tokens, at least 1024), `adaptive`, or `off`."""
    from megachat.chat.conversation import MIN_THINKING_BUDGET

    word = text.strip().lower()
    if word in ("adaptive", "off"):
        return word
    try:
        budget = int(word)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of tokens, adaptive or off, not {text!r}"
        ) from None
    if budget < MIN_THINKING_BUDGET:
        raise argparse.ArgumentTypeError(
            f"a thinking budget must be at least {MIN_THINKING_BUDGET} tokens, not {budget}"
        )
    return budget


def probability_or_off(text: str) -> float | str:
    """A number from 0 to 1 inclusive (top_p), or off (a -c conversation's is dropped)."""
    return "off" if text == "off" else probability(text)


def count_or_off(text: str) -> int | str:
    """A positive integer (top_k), or off (a -c conversation's is dropped)."""
    return "off" if text == "off" else positive_int(text)


def probability(text: str) -> float:
    """A number from 0 to 1 inclusive (top_p)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, not {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, not {text!r}")
    return value


def stop_text(text: str) -> str:
    """A stop sequence: any non-empty text."""
    if not text:
        raise argparse.ArgumentTypeError("a stop sequence cannot be empty")
    return text


def variable(text: str) -> tuple[str, str]:
    """NAME=VALUE for a preset variable."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, not {text!r}")
    return name.strip(), value


# -- help texts --------------------------------------------------------------------------------


EXPORT_EPILOG = """\
json:
  {id, title, model, system, temperature, messages}: `messages` are the active branch in Messages
  API shapes, exactly as it would be sent next (images as base64). --all-branches adds `tree`,
  one {id, parent_id, role, content, status, created_at} per message of every branch, in the
  order they were written (created_at in ISO 8601 UTC); `megachat import` reads both forms.

markdown:
  The active branch, one heading per turn. --all-branches marks a turn that has other versions
  with its number, e.g. "Assistant (2/3)", then adds a section "Branch at message N (k/m)" for
  each other branch: its turns from message N down to the newest reply under it.
"""

IMPORT_EPILOG = f"""\
FILE is what `megachat export ID --format json` writes, with or without --all-branches (at most
{MAX_IMPORT_MIB} MiB); - reads it from stdin. The conversation gets a new id, printed on
stdout, and its messages new ids.
  - without `tree`: `messages` (roles alternating, starting with the user) become the history.
  - with `tree`: every branch is rebuilt; the active branch is the newest one whose messages
    equal `messages`, or, when none does, the newest branch in the tree.

exit status:
  0 imported; 2 the file cannot be read or is not such an export (not JSON, wrong shapes, roles
  not alternating, unknown parent ids, a cycle, bad image data): one line names the file, the
  place and the problem, and nothing is written.
"""

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
  With --regenerate (and -c or --conversation ID) nothing is appended: the last reply is asked
  for again and the new one is added beside it as a new branch, which becomes the active one
  (the old reply stays; see `megachat export ID --all-branches`). It takes no PROMPT, -a or
  stdin, and cannot be used with --no-save.
  With --continue-reply (and -c or --conversation ID) the last reply, cut at max_tokens, is
  continued: where the model takes a prefill its text is sent as the start of the reply and the
  whole (cut text + continuation) is stored as a new version of it; otherwise a short user turn
  asks for the rest. Only the continuation is printed, so `ask ... > out; ask -c
  --continue-reply >> out` builds the whole text. After any reply that did not simply end (cut
  at max_tokens, a stop sequence, a refusal) stderr says so in one line.

exit status:
  0 success; 1 API or network failure after retries (stderr names the error type and HTTP
  status); 2 usage or input error (a file -a cannot attach, missing API key, temperature out
  of range, unknown preset), in which case no request is sent; 130 interrupted by Ctrl+C, 143
  stopped by SIGTERM (`kill`), which ask treats like Ctrl+C: in both cases the partial reply is
  kept, marked cancelled.
"""

MAIN_EPILOG = f"""\
With no command megachat opens the chat TUI (on a new conversation, or see -c / --resume).
Run `megachat COMMAND --help` for each command.

environment:
  MEGALLM_API_KEY   the API key (overrides the key stored by `megachat key set`)
  MEGALLM_BASE_URL  the API base URL (default {DEFAULT_BASE_URL})
  MEGACHAT_IMAGE_PREVIEW  kitty, sixel or halfblock: how the TUI draws image previews
"""


MCP_EPILOG = """\
Tool servers are `[mcp_servers.NAME]` tables in config.toml: either `command` (with `args`,
`env`, `cwd`) for a server run as a subprocess over stdio, or `url` (with `headers`) for a
streamable-HTTP one; plus `enabled` (default true) and `allow` (tool names run without asking).
A stdio server's environment is its `env` plus PATH and HOME only: never MEGALLM_API_KEY.
"""

MCP_IMPORT_DESCRIPTION = """\
Add the servers of a Claude Desktop config file (claude_desktop_config.json):
{"mcpServers": {NAME: {"command": ..., "args": [...], "env": {...}} | {"url": ..., "headers":
{...}}}}. Each becomes [mcp_servers.NAME] in config.toml (the rest of the file is kept; mode
0600). One line is printed per server. A server already configured is refused unless --replace.
A malformed file writes nothing and exits 2.
"""

MCP_LIST_DESCRIPTION = """\
Start every enabled server (all at once, each with a timeout), and show its status and tools
(name and the first line of the description), or why it failed with the end of its stderr.
Disabled servers are listed as disabled. --json prints an array of {name, transport, enabled,
status, tools: [{name, description}], error, stderr}; status is running, failed or disabled.

exit status: 0 when every enabled server runs, 1 when one failed, 2 for a bad config file.
"""


def build_parser() -> argparse.ArgumentParser:
    """The `megachat` parser; each command's namespace carries its `func`."""
    parser = Parser(
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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    def add(name: str, help_text: str, func: Callable[..., int], **kw: Any) -> Parser:
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
        "-t", "--temperature", type=temperature, metavar="T", help="temperature, 0 to 1"
    )
    ask.add_argument(
        "--max-tokens", type=positive_int, metavar="N", help="maximum tokens in the reply"
    )
    ask.add_argument(
        "-a",
        "--attach",
        "-i",
        "--image",
        dest="attach",
        action="append",
        default=[],
        metavar="PATH",
        help="attach a file: an image (PNG, JPEG, GIF, WebP), a PDF or a UTF-8 text file, its "
        "kind read from the content; repeatable (-i/--image: the same)",
    )
    ask.add_argument("--prefill", metavar="TEXT", help="start the assistant's reply with TEXT")
    ask.add_argument(
        "--thinking",
        type=thinking,
        metavar="BUDGET|adaptive|off",
        help="extended thinking: a budget of tokens (at least 1024, below --max-tokens), "
        "adaptive (newer models), or off; kept by the conversation",
    )
    ask.add_argument(
        "--effort",
        choices=("low", "medium", "high"),
        help="how much effort the model spends (with adaptive thinking)",
    )
    ask.add_argument(
        "--stop",
        action="append",
        default=[],
        type=stop_text,
        metavar="TEXT",
        help="stop the reply where it would write TEXT; repeatable",
    )
    ask.add_argument(
        "--top-p",
        type=probability_or_off,
        metavar="X|off",
        help="nucleus sampling, 0 to 1; off drops it; kept by the conversation",
    )
    ask.add_argument(
        "--top-k",
        type=count_or_off,
        metavar="N|off",
        help="sample from the top N tokens; off drops it; kept by the conversation",
    )
    where = ask.add_mutually_exclusive_group()
    where.add_argument(
        "-c",
        "--continue",
        dest="continue_last",
        action="store_true",
        help="append to the most recent conversation (its whole history is sent)",
    )
    where.add_argument("--conversation", metavar="ID", help="append to conversation ID")
    ask.add_argument(
        "--regenerate",
        action="store_true",
        help=(
            "with -c or --conversation: answer the last question again as a new branch "
            "(the old reply is kept) and print it; takes no prompt"
        ),
    )
    ask.add_argument(
        "--continue-reply",
        action="store_true",
        help=(
            "with -c or --conversation: continue the last reply, cut at max_tokens, and print "
            "the continuation; takes no prompt"
        ),
    )
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
        "--mcp",
        action="append",
        default=[],
        metavar="NAME",
        help="enable the MCP server NAME's tools (`all`: every enabled server); repeatable",
    )
    ask.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="SERVER.TOOL",
        help="run this tool without asking (SERVER.* for all of a server's); repeatable",
    )
    ask.add_argument(
        "--var",
        action="append",
        default=[],
        type=variable,
        metavar="NAME=VALUE",
        help="a preset variable, e.g. --var lang=French; repeatable",
    )

    lst = add("list", "List saved conversations, newest first.", cmd_list)
    lst.add_argument(
        "--json",
        action="store_true",
        help="print an array of {id, title, model, updated_at, message_count, input_tokens, "
        "output_tokens, cost_usd}",
    )
    lst.add_argument("-n", "--limit", type=positive_int, metavar="N", help="show at most N")

    exp = add(
        "export",
        "Print a saved conversation as Markdown or JSON.",
        cmd_export,
        epilog=EXPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    exp.add_argument("id", metavar="ID")
    exp.add_argument(
        "--format",
        choices=["markdown", "json"],
        default="markdown",
        help="markdown (default) or json: {id, title, model, system, temperature, messages}",
    )
    exp.add_argument(
        "--all-branches",
        action="store_true",
        help="every branch too: json gains `tree`; markdown adds a section per branch",
    )

    imp = add(
        "import",
        "Save an exported conversation (export --format json) as a new one; prints its id.",
        cmd_import,
        epilog=IMPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    imp.add_argument("file", metavar="FILE", help="the JSON file, or - for stdin")

    srch = add("search", "Full-text search over saved messages.", cmd_search)
    srch.add_argument("query", nargs="+", metavar="QUERY")
    srch.add_argument("--json", action="store_true", help="print the hits as JSON")

    dele = add("delete", "Delete a saved conversation.", cmd_delete)
    dele.add_argument("id", metavar="ID")

    ren = add("rename", "Rename a saved conversation.", cmd_rename)
    ren.add_argument("id", metavar="ID")
    ren.add_argument("title", nargs="+", metavar="TITLE")

    use = add("usage", "Tokens and cost of the stored replies, by model and by day.", cmd_usage)
    use.add_argument("--since", metavar="YYYY-MM-DD", help="only replies from that day (UTC) on")
    use.add_argument("--json", action="store_true", help="print {by_model, by_day, total} as JSON")

    mod = add("models", "List the models the API offers.", cmd_models)
    mod.add_argument("--json", action="store_true", help="print the list as JSON")

    pre = add("presets", "List the prompt presets (shipped and your own).", cmd_presets)
    pre.add_argument("--json", action="store_true", help="print the presets as JSON")

    cfg = add(
        "config",
        "Show or change settings in config.toml.",
        cmd_config,
        epilog=config_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cfg_sub = cfg.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
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

    mcp = add(
        "mcp",
        "List and import MCP tool servers.",
        cmd_mcp,
        epilog=MCP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mcp_sub = mcp.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    mcp_sub.required = True
    mcp_import = mcp_sub.add_parser(
        "import",
        help="add the servers of a Claude Desktop config file",
        description=MCP_IMPORT_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mcp_import.add_argument("file", metavar="FILE", help="the JSON file")
    mcp_import.add_argument(
        "--replace", action="store_true", help="overwrite servers already configured"
    )
    mcp_list = mcp_sub.add_parser(
        "list",
        help="start the servers and show their tools (exit 1 when one fails)",
        description=MCP_LIST_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mcp_list.add_argument("--json", action="store_true", help="print the servers as JSON")
    mcp_list.add_argument(
        "--timeout",
        type=positive_seconds,
        default=DEFAULT_LIST_TIMEOUT,
        metavar="SECONDS",
        help=f"for each server to start and list its tools (default {DEFAULT_LIST_TIMEOUT:g})",
    )

    key = add("key", "Manage the stored API key.", cmd_key)
    key_sub = key.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
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
