"""`megachat config path|get|set|unset` and `megachat key set|unset`.

The API key is never printed: `config get` says only whether one is set and where it comes from,
and `key set` reads it with a hidden prompt (or from piped stdin).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from megachat.cli.errors import EXIT_OK, CLIError, usage_error
from megachat.cli.output import inform, one_line, write

if TYPE_CHECKING:
    from megachat.config import Settings

_MAX_KEY_CHARS = 4096  # far more than any API key; stdin is read no further


def config_epilog() -> str:
    """The `config --help` list of known keys, from megachat.config."""
    from megachat.config import known_keys

    lines = ["keys:"]
    for name, text in known_keys().items():
        lines.append(f"  {name:<24}{text}")
    lines.append("")
    lines.append("The environment overrides the file: MEGALLM_API_KEY, MEGALLM_BASE_URL.")
    return "\n".join(lines)


def cmd_config(args: argparse.Namespace) -> int:
    from megachat import config

    if args.action == "path":
        write(f"{config.config_path()}\n")
        return EXIT_OK
    try:
        if args.action == "get":
            return _config_get(args.key)
        if args.key == "api_key":
            raise usage_error(
                "use `megachat key set` to store the API key (it keeps it off the screen)"
            )
        if args.action == "set":
            value = config.parse_cli_value(args.key, args.value)
            if args.key.startswith("keymap."):
                value = _checked_binding(args.key, value)
            config.save_setting(args.key, value)
        else:
            config.save_setting(args.key, None)
    except config.ConfigError as exc:
        raise usage_error(str(exc)) from None
    except OSError as exc:
        raise CLIError(f"cannot write {config.config_path()}: {exc.strerror or exc}") from None
    return EXIT_OK


def _checked_binding(key: str, keys: str) -> str:
    """The keys in Textual's spelling, checked by the TUI's own keymap rules (names, clashes).

    Textual is imported only then: `ask` and the other commands never need key names.
    """
    from megachat import config
    from megachat.cli.tui_command import check_binding

    current = config.load_settings().keymap  # the other overrides it must not clash with
    try:
        return check_binding(key.split(".", 1)[1], keys, current)
    except ValueError as exc:
        raise usage_error(f"{key!r}: {exc}") from None


def _show_value(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, str):
        return one_line(value) if value else '""'
    if isinstance(value, bool):
        return str(value).lower()  # as typed and as TOML writes it
    return str(value)


def _config_get(key: str | None) -> int:
    from megachat import config
    from megachat.cli.resources import read_settings

    settings = read_settings()  # bad values in the file: one warning line each
    if key is not None:
        if key == "api_key":
            write(_key_status(settings) + "\n")
            return EXIT_OK
        write(_show_value(config.effective_value(settings, key)) + "\n")
        return EXIT_OK
    write(f"api_key = {_key_status(settings)}\n")
    for name in config.known_keys():
        if name == "api_key" or name.startswith("keymap."):
            continue
        write(f"{name} = {_show_value(config.effective_value(settings, name))}\n")
    for binding, keys in sorted(settings.keymap.items()):
        write(f"keymap.{one_line(binding)} = {one_line(keys)}\n")
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
        if not key:
            raise usage_error("no key given; nothing was changed")
        path = config.store_api_key(key)
    except config.ConfigError as exc:
        raise usage_error(str(exc)) from None
    except OSError as exc:
        raise CLIError(f"cannot write {config.config_path()}: {exc.strerror or exc}") from None
    inform(f"API key saved to {path} (mode 0600)")
    if os.environ.get(config.ENV_API_KEY, "").strip():
        inform(f"note: {config.ENV_API_KEY} is set and takes precedence")
    return EXIT_OK


def _read_key() -> str:
    """The key from piped stdin, else from a hidden prompt; "" when none was given.

    End of input (Ctrl+D at the prompt, empty stdin) and an empty line both mean no key.
    """
    stdin = sys.stdin
    if stdin is not None and not stdin.isatty():
        line = stdin.readline(_MAX_KEY_CHARS + 1)  # bounded: `key set < /dev/zero`
        if len(line.rstrip("\r\n")) > _MAX_KEY_CHARS:
            raise usage_error(
                f"the key is longer than {_MAX_KEY_CHARS} characters; nothing was changed"
            )
        return line.strip()
    import getpass

    try:
        return getpass.getpass("MegaLLM API key: ").strip()
    except EOFError:
        if sys.stderr.isatty():
            sys.stderr.write("\n")  # getpass ends the prompt's line only after a typed Enter
        return ""
