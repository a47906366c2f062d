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
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from megachat.api import MessagesClient

APP_NAME = "megachat"
DEFAULT_BASE_URL = "https://ai.megallm.io"  # same value as megachat.api.DEFAULT_BASE_URL
DEFAULT_MODEL = "claude-sonnet-4"
DEFAULT_MAX_TOKENS = 4096
DEFAULT_THEME = "megachat-dark"
DEFAULT_TIMEOUT = 600.0  # read timeout in seconds; the connect timeout stays 5 s
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
    keymap: dict[str, str] = field(default_factory=dict)
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
# Schema of the file: dotted key -> (Settings attribute, kind, description)

_KEYS: dict[str, tuple[str, str, str]] = {
    "api_key": ("api_key", "secret", "API key (prefer `megachat key set` or MEGALLM_API_KEY)"),
    "base_url": ("base_url", "url", f"API base URL (default {DEFAULT_BASE_URL})"),
    "model": ("model", "str", f"default model (default {DEFAULT_MODEL})"),
    "temperature": ("temperature", "temperature", "default temperature 0..1 (unset: server's)"),
    "max_tokens": ("max_tokens", "posint", f"max tokens per reply (default {DEFAULT_MAX_TOKENS})"),
    "system_prompt": ("system_prompt", "str", "default system prompt for new conversations"),
    "theme": ("theme", "str", f"TUI theme name (default {DEFAULT_THEME})"),
    "max_retries": ("max_retries", "nonnegint", "retries on 408/409/429/5xx (default 2)"),
    "timeout": (
        "timeout",
        "posfloat",
        f"read timeout in seconds (default {DEFAULT_TIMEOUT:g}; connect stays 5 s)",
    ),
    "rate_limit.requests": ("rate_limit_requests", "nonnegint", "requests per window; 0 disables"),
    "rate_limit.per_seconds": ("rate_limit_seconds", "posfloat", "rate limit window in seconds"),
}
_TABLES = {"rate_limit", "keymap"}
_KIND_NAMES = {
    "secret": "a string",
    "url": "an http(s) URL string",
    "str": "a string",
    "temperature": "a number from 0 to 1",
    "posint": "a positive integer",
    "nonnegint": "an integer >= 0",
    "posfloat": "a positive number",
}


def known_keys() -> dict[str, str]:
    """Dotted config keys with a one-line description (for `config get` and --help)."""
    keys = {k: v[2] for k, v in _KEYS.items()}
    keys["keymap.<binding>"] = 'TUI key overrides, e.g. keymap.send = "ctrl+j"'
    return keys


def _check_value(kind: str, value: Any) -> Any:
    """Return the value converted for Settings, or raise ValueError naming what was expected."""
    ok: bool
    if kind in ("secret", "str"):
        ok = isinstance(value, str)
    elif kind == "url":
        ok = isinstance(value, str) and re.match(r"^https?://[^\s/]+", value) is not None
    elif kind == "temperature":
        ok = (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and 0 <= value <= 1
        )
        value = float(value) if ok else value
    elif kind in ("posint", "nonnegint"):
        ok = isinstance(value, int) and not isinstance(value, bool)
        ok = ok and (value > 0 if kind == "posint" else value >= 0)
    elif kind == "posfloat":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        ok = ok and math.isfinite(value) and value > 0
        value = float(value) if ok else value
    else:  # pragma: no cover - schema error
        raise AssertionError(kind)
    if not ok:
        raise ValueError(f"must be {_KIND_NAMES[kind]}, not {_describe(value)}")
    return value


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"{type(value).__name__} {value!r}"


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
    try:
        raw = path.read_bytes()
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
    for key, value in data.items():
        if key in _TABLES:
            if not isinstance(value, dict):
                where = _where(path, text, key)
                raise ConfigError(
                    f"config file {where}: {key!r} must be a table, not {_describe(value)}"
                )
            for sub, subvalue in value.items():
                dotted = f"{key}.{sub}"
                if key == "keymap":
                    if not isinstance(subvalue, str) or not subvalue.strip():
                        where = _where(path, text, sub)
                        raise ConfigError(
                            f"config file {where}: {dotted!r} must be a key string such as"
                            f' "ctrl+j", not {_describe(subvalue)}'
                        )
                    settings.keymap[sub] = subvalue
                    continue
                _apply_key(settings, dotted, subvalue, path, text)
            continue
        _apply_key(settings, key, value, path, text)


def _apply_key(settings: Settings, key: str, value: Any, path: Path, text: str) -> None:
    if key not in _KEYS:
        where = _where(path, text, key)
        raise ConfigError(
            f"config file {where}: unknown setting {key!r} (known: {', '.join(known_keys())})"
        )
    attr, kind, _ = _KEYS[key]
    try:
        converted = _check_value(kind, value)
    except ValueError as exc:
        raise ConfigError(f"config file {_where(path, text, key)}: {key!r} {exc}") from None
    if kind == "secret" and not converted.strip():
        return  # an empty key counts as no key
    setattr(settings, attr, converted)
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
        if not re.match(r"^https?://[^\s/]+", base):
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
    kind = _KEYS[key][1]
    value: Any = text
    if kind in ("temperature", "posfloat"):
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(f"'{key}' must be {_KIND_NAMES[kind]}, not {text[:40]!r}") from None
    elif kind in ("posint", "nonnegint"):
        try:
            value = int(text)
        except ValueError:
            raise ConfigError(f"'{key}' must be {_KIND_NAMES[kind]}, not {text[:40]!r}") from None
    try:
        return _check_value(kind, value)
    except ValueError as exc:
        raise ConfigError(f"'{key}' {exc}") from None


def _canonical(key: str) -> str:
    if key in _KEYS:
        return key
    if key.startswith("keymap.") and len(key) > len("keymap."):
        return key
    raise ConfigError(f"unknown setting {key!r} (known: {', '.join(known_keys())})")


def save_setting(key: str, value: Any, path: Path | None = None) -> Path:
    """Set one dotted key (None removes it) and write the file atomically.

    The existing file is parsed first: a malformed one raises ConfigError and is left untouched.
    The whole result is validated before anything is written.
    """
    path = config_path() if path is None else path
    key = _canonical(key)
    data, text = _read_file(path)
    # Validate the current contents too: never write on top of a file we could not load.
    _apply_file(Settings(), data, path, text)
    if "." in key:
        table, sub = key.split(".", 1)
        section = data.setdefault(table, {})
        if value is None:
            section.pop(sub, None)
            if not section:
                data.pop(table)
        else:
            section[sub] = value
    elif value is None:
        data.pop(key, None)
    else:
        data[key] = value
    _apply_file(Settings(), data, path, "")  # raises ConfigError on a bad value
    _write_file(path, data)
    return path


def store_api_key(key: str, path: Path | None = None) -> Path:
    """Save the API key in config.toml (mode 0600)."""
    key = key.strip()
    if not key:
        raise ConfigError("the API key is empty")
    if any(ch.isspace() or not ch.isprintable() for ch in key):
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
    data, text = _read_file(path)
    _apply_file(Settings(), data, path, text)
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
    return getattr(settings, _KEYS[key][0])


def setting_names() -> list[str]:
    return [f.name for f in fields(Settings)]


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
