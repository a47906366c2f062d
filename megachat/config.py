"""Settings: config.toml under the platformdirs config dir, overridden by the environment.

The file is read with tomllib and written with tomli-w. A file holding the API key is written
with mode 0600 (created that way, then atomically renamed over the old one, so the key never sits
in a world-readable file even for a moment). A malformed file is reported with its path and line
and is never overwritten: every write parses the existing file first and refuses if it cannot.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from megachat.api import MessagesClient
    from megachat.tools.servers import ServerConfig

APP_NAME = "megachat"
DEFAULT_BASE_URL = "https://ai.megallm.io"  # its one home: the api layer is always told the URL
DEFAULT_MODEL = "claude-sonnet-4"
DEFAULT_MAX_TOKENS = 4096
DEFAULT_THEME = "megachat-dark"
DEFAULT_TIMEOUT = 600.0  # read timeout in seconds; the connect timeout stays 5 s
DEFAULT_MAX_TOOL_STEPS = 10  # tool rounds in one turn: a model looping on tools stops here
DEFAULT_TOOL_TIMEOUT = 120.0  # seconds one tool call may take before it is given up
ENV_API_KEY = "MEGALLM_API_KEY"
ENV_BASE_URL = "MEGALLM_BASE_URL"


class ConfigError(Exception):
    """The config file cannot be used; the message names the file (and the line when known)."""


@dataclass
class Settings:
    """Effective settings: defaults, then config.toml, then the environment."""

    api_key: str | None = field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL
    model: str = DEFAULT_MODEL
    temperature: float | None = None
    max_tokens: int = DEFAULT_MAX_TOKENS
    system_prompt: str = ""
    theme: str = DEFAULT_THEME
    rate_limit_requests: int = 50
    rate_limit_seconds: float = 60.0
    max_retries: int = 2
    timeout: float = DEFAULT_TIMEOUT
    max_tool_steps: int = DEFAULT_MAX_TOOL_STEPS  # tool rounds in one turn before it stops
    tool_timeout: float = DEFAULT_TOOL_TIMEOUT  # seconds one tool call may take
    keymap: dict[str, str] = field(default_factory=dict)
    render_math: bool = True  # LaTeX in replies drawn as Unicode (False: shown as written)
    prompt_cache: bool = True  # cache_control breakpoints on the system prompt, tools, turns
    # The `[models."ID"]` tables (id or pattern -> checked fields), over the shipped model table;
    # checked by megachat.chat.capabilities, read by its model_info.
    models: dict[str, dict[str, object]] = field(default_factory=dict)
    # The `[mcp_servers.NAME]` tables, checked by megachat.tools.servers (bad ones are warnings).
    mcp_servers: list[ServerConfig] = field(default_factory=list)
    # Bad values found in the file (one line each): reported at start, the defaults used instead.
    warnings: list[str] = field(default_factory=list, compare=False, repr=False)
    # Where each of api_key / base_url came from: "default", "file" or "environment".
    api_key_source: str = field(default="default", compare=False)
    base_url_source: str = field(default="default", compare=False)


# ---------------------------------------------------------------------------------------------
# Paths


def config_dir() -> Path:
    """`$XDG_CONFIG_HOME/megachat` on Linux (platformdirs elsewhere)."""
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """`$XDG_DATA_HOME/megachat` on Linux: the SQLite store lives here."""
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))


def config_path() -> Path:
    return config_dir() / "config.toml"


def db_path() -> Path:
    return data_dir() / "megachat.db"


def user_themes_dir() -> Path:
    return config_dir() / "themes"


def user_presets_dir() -> Path:
    return config_dir() / "presets"


# ---------------------------------------------------------------------------------------------
# Schema of the file: what each dotted key accepts. The one rule for each setting: `config set`,
# loading the file and `ask -t` all check values here.

# A theme name: the rule user theme files follow too (lower-case letters, digits, - and _).
THEME_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_URL = re.compile(r"https?://[^\s/?#]+(?:[/?#]\S*)?")
MAX_RETRIES = 10
MAX_TIMEOUT = 3600.0  # an hour between two bytes is already far past any real server
MAX_TOOL_STEPS = 100
MAX_TOOL_TIMEOUT = 3600.0
MAX_MAX_TOKENS = 1_000_000


@dataclass(frozen=True)
class _Rule:
    """One setting: its Settings attribute, what it holds and, for numbers, the allowed range."""

    attr: str
    kind: str  # "secret", "url", "token", "text", "name", "int", "float", "bool", "temperature"
    description: str
    low: float | None = None  # inclusive, or exclusive when low_open
    high: float | None = None  # inclusive
    low_open: bool = False

    def allowed(self) -> str:
        """What the setting accepts, for messages: "an integer from 0 to 10"."""
        if self.kind == "temperature":
            from megachat.chat.temperature import TEMPERATURE_ALLOWED

            return TEMPERATURE_ALLOWED
        if self.kind not in ("int", "float"):
            return _KIND_NAMES[self.kind]
        noun = "an integer" if self.kind == "int" else "a number"
        at_most = f" (at most {_number(self.high)})" if self.high is not None else ""
        if (self.low_open and self.low == 0) or (self.kind == "int" and self.low == 1):
            return f"a positive {noun.split()[-1]}{at_most}"
        if self.low is None:
            return noun
        if self.high is not None:
            return f"{noun} from {_number(self.low)} to {_number(self.high)}"
        return f"{noun} >= {_number(self.low)}"

    def check(self, value: Any) -> Any:
        """The value converted for Settings; ValueError saying what is allowed otherwise."""
        ok: bool
        if self.kind in ("int", "float"):
            number = isinstance(value, int | float) and not isinstance(value, bool)
            ok = number and (isinstance(value, int) or self.kind == "float")
            ok = ok and math.isfinite(value) and self._in_range(value)
            if ok and self.kind == "float":
                value = float(value)
        elif self.kind == "bool":
            ok = isinstance(value, bool)
        elif self.kind == "temperature":
            # the one temperature rule lives with the request it shapes
            from megachat.chat.temperature import check_temperature

            try:
                value = check_temperature(value)
                ok = value is not None
            except ValueError:
                ok = False
        elif not isinstance(value, str):
            ok = False
        elif self.kind == "secret":
            ok = not value.strip() or is_token(value.strip())
        elif self.kind == "url":
            ok = _URL.fullmatch(value) is not None
        elif self.kind == "token":
            ok = is_token(value)
        elif self.kind == "name":
            ok = THEME_NAME.fullmatch(value) is not None
        else:
            ok = self.kind == "text"
        if not ok:
            # A secret is never repeated back, not even in an error message.
            shown = "" if self.kind == "secret" else f", not {_describe(value)}"
            raise ValueError(f"must be {self.allowed()}{shown}")
        return value

    def _in_range(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or value <= self.high


_KEYS: dict[str, _Rule] = {
    "api_key": _Rule("api_key", "secret", "API key (prefer `megachat key set` or MEGALLM_API_KEY)"),
    "base_url": _Rule("base_url", "url", f"API base URL (default {DEFAULT_BASE_URL})"),
    "model": _Rule("model", "token", f"default model (default {DEFAULT_MODEL})"),
    "temperature": _Rule(
        "temperature", "temperature", "default temperature 0..1 (unset: server's)"
    ),
    "max_tokens": _Rule(
        "max_tokens",
        "int",
        f"max tokens per reply (default {DEFAULT_MAX_TOKENS})",
        low=1,
        high=MAX_MAX_TOKENS,
    ),
    "system_prompt": _Rule("system_prompt", "text", "default system prompt for new conversations"),
    "theme": _Rule("theme", "name", f"TUI theme name (default {DEFAULT_THEME})"),
    "max_retries": _Rule(
        "max_retries", "int", "retries on 408/409/429/5xx (default 2)", low=0, high=MAX_RETRIES
    ),
    "timeout": _Rule(
        "timeout",
        "float",
        f"read timeout in seconds (default {DEFAULT_TIMEOUT:g}; connect stays 5 s)",
        low=0,
        high=MAX_TIMEOUT,
        low_open=True,
    ),
    "max_tool_steps": _Rule(
        "max_tool_steps",
        "int",
        f"tool rounds in one turn before it stops (default {DEFAULT_MAX_TOOL_STEPS})",
        low=1,
        high=MAX_TOOL_STEPS,
    ),
    "tool_timeout": _Rule(
        "tool_timeout",
        "float",
        f"seconds one tool call may take (default {DEFAULT_TOOL_TIMEOUT:g})",
        low=0,
        high=MAX_TOOL_TIMEOUT,
        low_open=True,
    ),
    "render_math": _Rule(
        "render_math", "bool", "draw LaTeX math in replies as Unicode (default true)"
    ),
    "prompt_cache": _Rule(
        "prompt_cache",
        "bool",
        "mark the system prompt, tools and newest turns for prompt caching (default true)",
    ),
    "rate_limit.requests": _Rule(
        "rate_limit_requests", "int", "requests per window; 0 disables", low=0
    ),
    "rate_limit.per_seconds": _Rule(
        "rate_limit_seconds",
        "float",
        "rate limit window in seconds",
        low=0,
        high=86400,
        low_open=True,
    ),
}
_TABLES = {"rate_limit", "keymap"}
MCP_SERVERS = "mcp_servers"  # the table of tool servers: its rules live in megachat.tools
MODELS = "models"  # the user's model table: its rules live in megachat.chat.capabilities
_KIND_NAMES = {
    "secret": "a string without spaces or control characters",
    "url": "an http(s) URL",
    "token": "a non-empty name without spaces or control characters",
    "text": "a string",
    "name": "a name of lower-case letters, digits, - and _",
    "bool": "true or false",
}
_BOOLEANS = {"true": True, "false": False}  # as TOML writes them


def known_keys() -> dict[str, str]:
    """Dotted config keys with a one-line description (for `config get` and --help)."""
    keys = {k: v.description for k, v in _KEYS.items()}
    keys["keymap.<binding>"] = 'TUI key overrides, e.g. keymap.send = "ctrl+j"'
    return keys


def is_token(text: str) -> bool:
    """Non-empty, no spaces, no control characters: an API key or a model id."""
    return bool(text) and all(ch.isprintable() and not ch.isspace() for ch in text)


def parse_value(key: str, text: str) -> Any:
    """A setting typed on the command line (`config set`, `ask -t`), converted and checked.

    `key` is one of the schema's keys (not keymap.*). ValueError says what the key allows and
    quotes what was typed.
    """
    rule = _KEYS[key]
    try:
        value: Any = text
        if rule.kind == "int":
            value = int(text)
        elif rule.kind in ("float", "temperature"):
            value = float(text)
        elif rule.kind == "bool":
            value = _BOOLEANS.get(text.strip().lower(), text)
        return rule.check(value)
    except ValueError:
        raise ValueError(f"must be {rule.allowed()}, not {text[:40]!r}") from None


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:g}"


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, int | float):
        return repr(value)
    return f"{type(value).__name__} {value!r}"


def _instead(attr: str) -> str:
    """What a bad value in the file gives way to: "using the default, 2"."""
    value = getattr(Settings(), attr)
    if value is None:
        return "ignored (left unset)"
    if isinstance(value, bool):
        return f"using the default, {str(value).lower()}"
    shown = repr(value) if isinstance(value, str) else _number(value)
    return f"using the default, {shown}"


def _line_of(text: str, key: str) -> int | None:
    """Best-effort line number of `key = ...` in the raw file, for error messages."""
    name = key.rsplit(".", 1)[-1]
    pattern = re.compile(
        rf"^\s*(?:\"{re.escape(name)}\"|'{re.escape(name)}'|{re.escape(name)})\s*="
    )
    for number, line in enumerate(text.splitlines(), 1):
        if pattern.match(line):
            return number
    return None


def _where(path: Path, text: str, key: str) -> str:
    line = _line_of(text, key)
    return f"{path}, line {line}" if line else str(path)


# ---------------------------------------------------------------------------------------------
# Reading


def _read_file(path: Path) -> tuple[dict[str, Any], str]:
    """Parse the file; a missing file is empty. Raises ConfigError naming file and line."""
    from megachat.localfiles import MAX_SETTINGS_FILE_BYTES, read_user_file

    try:
        raw = read_user_file(path, MAX_SETTINGS_FILE_BYTES)  # a FIFO or /dev/zero is refused
    except FileNotFoundError:
        return {}, ""
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"config file {path}, line {line}: not valid UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message says "(at line L, column C)", or "(at end of document)".
        detail = str(exc)
        if "line" not in detail:
            detail += f" (line {max(1, len(text.splitlines()))}, the last line)"
        raise ConfigError(f"malformed config file {path}: {detail}") from None
    return data, text


def _apply_file(settings: Settings, data: dict[str, Any], path: Path, text: str) -> None:
    """Apply the file's values; a bad one is a warning in `settings.warnings` and is ignored.

    The TOML parsed, so the file is the user's and only that value is wrong: the default stands
    in for it rather than refusing to start (a malformed file is still a ConfigError).
    """
    for key, value in data.items():
        if key not in _TABLES and key not in (MCP_SERVERS, MODELS):
            _apply_key(settings, key, value, path, text)
        elif not isinstance(value, dict):  # the one rule for every table of the file
            where = _where(path, text, key)
            settings.warnings.append(
                f"config file {where}: {key!r} must be a table, not {_describe(value)}; ignored"
            )
        elif key == MCP_SERVERS:
            _apply_mcp_servers(settings, value, path)
        elif key == MODELS:
            _apply_models(settings, value, path)
        else:
            for sub, subvalue in value.items():
                if key == "keymap":
                    _apply_binding(settings, sub, subvalue, path, text)
                else:
                    _apply_key(settings, f"{key}.{sub}", subvalue, path, text)


def _apply_mcp_servers(settings: Settings, value: dict[str, Any], path: Path) -> None:
    """The tool servers, checked by the tools layer's one rule; each bad entry is a warning.

    Imported here only when the file has the table: megachat.tools.servers is plain data and
    never imports the `mcp` SDK, so reading settings stays cheap.
    """
    from megachat.tools.servers import parse_servers

    servers, warnings = parse_servers(value)
    settings.mcp_servers = list(servers)
    settings.warnings.extend(f"config file {path}: {warning}" for warning in warnings)


def _apply_models(settings: Settings, value: dict[str, Any], path: Path) -> None:
    """The user's `[models."ID"]` tables, checked by the one rule for model fields (the shipped
    table's rule too); each bad field is a warning and is ignored, the rest of its table kept.
    Imported only when the file has the table; the shipped table itself is not read here."""
    from megachat.chat.capabilities import check_models

    models, warnings = check_models(value)
    settings.models = models
    settings.warnings.extend(f"config file {path}: {warning}" for warning in warnings)


def _apply_binding(settings: Settings, sub: str, value: Any, path: Path, text: str) -> None:
    try:
        settings.keymap[sub] = _check_binding(value)
    except ValueError as exc:
        where = _where(path, text, sub)
        settings.warnings.append(f"config file {where}: {f'keymap.{sub}'!r} {exc}; ignored")


def _check_binding(value: Any) -> str:
    """Only the shape of a `[keymap]` value: key names and clashes are the TUI's rule
    (megachat/tui/keymap.py), so `ask` never imports Textual to read its settings."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f'must be a key string such as "ctrl+j", not {_describe(value)}')
    return value


def _apply_key(settings: Settings, key: str, value: Any, path: Path, text: str) -> None:
    where = _where(path, text, key)
    rule = _KEYS.get(key)
    if rule is None:
        known = ", ".join(known_keys())
        settings.warnings.append(
            f"config file {where}: unknown setting {key!r} ignored (known: {known})"
        )
        return
    try:
        converted = rule.check(value)
    except ValueError as exc:
        settings.warnings.append(f"config file {where}: {key!r} {exc}; {_instead(rule.attr)}")
        return
    if rule.kind == "secret":
        converted = converted.strip() or None  # an empty key counts as no key
        if converted is None:
            return
    setattr(settings, rule.attr, converted)
    if key == "api_key":
        settings.api_key_source = "file"
    elif key == "base_url":
        settings.base_url_source = "file"


def load_settings(
    path: Path | None = None, environ: dict[str, str] | os._Environ[str] | None = None
) -> Settings:
    """Defaults, then the config file, then MEGALLM_API_KEY / MEGALLM_BASE_URL."""
    path = config_path() if path is None else path
    env = os.environ if environ is None else environ
    settings = Settings()
    data, text = _read_file(path)
    _apply_file(settings, data, path, text)
    key = env.get(ENV_API_KEY, "").strip()
    if key:
        settings.api_key = key
        settings.api_key_source = "environment"
    base = env.get(ENV_BASE_URL, "").strip()
    if base:
        if not _URL.fullmatch(base):
            raise ConfigError(f"{ENV_BASE_URL} must be an http(s) URL, not {base[:60]!r}")
        settings.base_url = base
        settings.base_url_source = "environment"
    return settings


# ---------------------------------------------------------------------------------------------
# Writing


def parse_cli_value(key: str, text: str) -> Any:
    """Turn the string from `config set KEY VALUE` into the TOML value the key expects."""
    key = _canonical(key)
    if key.startswith("keymap."):
        if not text.strip():
            raise ConfigError(f"{key!r} needs a key such as ctrl+j")
        return text
    try:
        return parse_value(key, text)
    except ValueError as exc:
        raise ConfigError(f"{key!r} {exc}") from None


def _canonical(key: str) -> str:
    if key in _KEYS:
        return key
    if key.startswith("keymap.") and len(key) > len("keymap."):
        return key
    raise ConfigError(f"unknown setting {key!r} (known: {', '.join(known_keys())})")


def save_setting(key: str, value: Any, path: Path | None = None) -> Path:
    """Set one dotted key (None removes it) and write the file atomically.

    The existing file is parsed first: a malformed one raises ConfigError and is left untouched.
    The new value is checked by the same rule as loading before anything is written; other bad
    values already in the file are the user's to fix and are kept as they are.
    """
    path = config_path() if path is None else path
    key = _canonical(key)
    data, text = _read_file(path)
    if value is not None:
        try:
            rule = _KEYS.get(key)
            value = _check_binding(value) if rule is None else rule.check(value)
        except ValueError as exc:
            raise ConfigError(f"{key!r} {exc}") from None
    if "." in key:
        table, sub = key.split(".", 1)
        section = _table(data, table, path, text)
        if value is None:
            section.pop(sub, None)
        else:
            section[sub] = value
        if section:
            data[table] = section
        else:
            data.pop(table, None)
    elif value is None:
        data.pop(key, None)
    else:
        data[key] = value
    _write_file(path, data)
    return path


def _table(data: dict[str, Any], name: str, path: Path, text: str) -> dict[str, Any]:
    """The file's table `name` (empty when absent), to change; ConfigError when it is not one."""
    section = data.get(name, {})
    if not isinstance(section, dict):
        where = _where(path, text, name)
        raise ConfigError(
            f"config file {where}: {name!r} must be a table, not {_describe(section)};"
            " fix or remove it first"
        )
    return section


class ServersExistError(ConfigError):
    """Servers of these names are configured already; nothing was written."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(f"already configured: {', '.join(names)}")
        self.names = names


def save_mcp_servers(
    tables: dict[str, dict[str, Any]], *, replace: bool, path: Path | None = None
) -> Path:
    """Write `[mcp_servers.NAME]` tables, keeping everything else in the file (mode 0600).

    The tables must already be checked (megachat.tools.servers.parse_servers). A server of the
    same name is replaced only with `replace`; otherwise ServersExistError and nothing is
    written. A malformed file raises ConfigError and is left untouched, as in save_setting.
    """
    path = config_path() if path is None else path
    data, text = _read_file(path)
    section = _table(data, MCP_SERVERS, path, text)
    clashes = [name for name in tables if name in section]
    if clashes and not replace:
        raise ServersExistError(clashes)
    section.update(tables)
    data[MCP_SERVERS] = section
    _write_file(path, data)
    return path


def add_tool_allow(server: str, tool: str, path: Path | None = None) -> Path:
    """Append `tool` to `[mcp_servers.SERVER].allow` ("always allow" in the approval prompt),
    keeping everything else in the file (mode 0600); a tool already allowed is not repeated.

    A server not in the file, or a table or `allow` of the wrong shape, raises ConfigError and
    nothing is written; a malformed file raises ConfigError and is left untouched.
    """
    path = config_path() if path is None else path
    data, text = _read_file(path)
    servers = _table(data, MCP_SERVERS, path, text)
    entry = servers.get(server)
    if entry is None:
        raise ConfigError(f"no MCP server {server!r} in config file {path}; nothing was written")
    if not isinstance(entry, dict):
        where = _where(path, text, server)
        raise ConfigError(
            f"config file {where}: {f'{MCP_SERVERS}.{server}'!r} must be a table, not "
            f"{_describe(entry)}; fix or remove it first"
        )
    allow = entry.get("allow", [])
    if not isinstance(allow, list):
        where = _where(path, text, "allow")
        raise ConfigError(
            f"config file {where}: {f'{MCP_SERVERS}.{server}.allow'!r} must be an array of tool"
            f" names, not {_describe(allow)}; fix or remove it first"
        )
    if tool not in allow:
        entry["allow"] = [*allow, tool]
        _write_file(path, data)
    return path


def store_api_key(key: str, path: Path | None = None) -> Path:
    """Save the API key in config.toml (mode 0600)."""
    key = key.strip()
    if not key:
        raise ConfigError("the API key is empty")
    if not is_token(key):
        raise ConfigError("the API key contains spaces or control characters")
    return save_setting("api_key", key, path)


def _write_file(path: Path, data: dict[str, Any]) -> None:
    import tomli_w

    payload = tomli_w.dumps(data).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    # Created 0600 from the start: the key must never be readable by others, even briefly.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)  # in case a umask or ACL widened it
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def file_values(path: Path | None = None) -> dict[str, Any]:
    """The file's settings as flat dotted keys (for `config get`)."""
    path = config_path() if path is None else path
    data, _ = _read_file(path)
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            for sub, subvalue in value.items():
                flat[f"{key}.{sub}"] = subvalue
        else:
            flat[key] = value
    return flat


def effective_value(settings: Settings, key: str) -> Any:
    """The effective value of a dotted key (api_key is never returned, only whether it is set)."""
    key = _canonical(key)
    if key.startswith("keymap."):
        return settings.keymap.get(key.split(".", 1)[1])
    if key == "api_key":
        return None
    return getattr(settings, _KEYS[key].attr)


def make_client(settings: Settings) -> MessagesClient:
    """The Messages client these settings describe; `ask` and the TUI both build it here."""
    from megachat.api import MessagesClient, configure_rate_limit

    configure_rate_limit(settings.rate_limit_requests, settings.rate_limit_seconds)
    return MessagesClient(
        api_key=settings.api_key or "",
        base_url=settings.base_url,
        max_retries=settings.max_retries,
        timeout=settings.timeout,
    )
