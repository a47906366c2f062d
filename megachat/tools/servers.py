"""MCP server definitions read from the ``[mcp_servers.NAME]`` tables of config.toml.

Plain dataclasses, no `mcp` import: the CLI can list and validate servers without the SDK.
Bad entries become one-line warnings rather than errors so one typo does not disable every
other server.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

SERVER_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
INHERITED_VARIABLES = ("PATH", "HOME")  # all a server gets from us: never the API key


@dataclass(frozen=True)
class StdioServer:
    """A server we start as a subprocess and talk to over its stdin/stdout."""

    name: str
    command: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    enabled: bool = True
    allow: tuple[str, ...] = ()


@dataclass(frozen=True)
class HttpServer:
    """A server already running somewhere, reached by streamable HTTP."""

    name: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    enabled: bool = True
    allow: tuple[str, ...] = ()


ServerConfig = StdioServer | HttpServer


class _BadEntry(ValueError):
    """One reason a server table is unusable; becomes a warning line."""


def parse_servers(table: Mapping[str, object]) -> tuple[list[ServerConfig], list[str]]:
    """Read the ``mcp_servers`` table: usable servers, and one warning line per bad entry."""
    servers: list[ServerConfig] = []
    warnings: list[str] = []
    for name, entry in table.items():
        try:
            servers.append(_parse_server(str(name), entry))
        except _BadEntry as bad:
            warnings.append(f"mcp_servers.{_printable(str(name))}: {bad}; ignored")
    return servers, warnings


def stdio_environment(server: StdioServer, ours: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a stdio server runs with: its own ``env`` plus our PATH and HOME.

    Nothing else of ours is passed on, so the API key (or any other secret in our environment)
    never reaches a tool server. The server's ``env`` wins over ours for PATH and HOME too.
    """
    source = os.environ if ours is None else ours
    inherited = {key: source[key] for key in INHERITED_VARIABLES if key in source}
    return inherited | dict(server.env)


def _parse_server(name: str, entry: object) -> ServerConfig:
    if not SERVER_NAME.match(name):
        raise _BadEntry("a server name may use only letters, digits, '-' and '_'")
    if not isinstance(entry, Mapping):
        raise _BadEntry("expected a table")
    known = {"command", "args", "env", "cwd", "url", "headers", "enabled", "allow"}
    unknown = sorted(str(key) for key in entry if key not in known)
    if unknown:
        raise _BadEntry(f"unknown key {_printable(unknown[0])!r}")
    enabled = _boolean(entry, "enabled", default=True)
    allow = _strings(entry, "allow")
    has_command, has_url = "command" in entry, "url" in entry
    if has_command and has_url:
        raise _BadEntry("has both 'command' and 'url'; choose one")
    if has_command:
        for key in ("headers",):
            if key in entry:
                raise _BadEntry(f"'{key}' belongs to an HTTP server ('url'), not a command")
        command = _string(entry, "command")
        if not command.strip():
            raise _BadEntry("'command' is empty")
        cwd = _string(entry, "cwd") if "cwd" in entry else None
        return StdioServer(
            name=name,
            command=command,
            args=_strings(entry, "args"),
            env=_string_table(entry, "env"),
            cwd=cwd,
            enabled=enabled,
            allow=allow,
        )
    if has_url:
        for key in ("args", "env", "cwd"):
            if key in entry:
                raise _BadEntry(f"'{key}' belongs to a command server, not an HTTP one ('url')")
        url = _string(entry, "url")
        if not url.startswith(("http://", "https://")):
            raise _BadEntry("'url' must start with http:// or https://")
        return HttpServer(
            name=name,
            url=url,
            headers=_string_table(entry, "headers"),
            enabled=enabled,
            allow=allow,
        )
    raise _BadEntry("needs either 'command' or 'url'")


def _string(entry: Mapping[str, object], key: str) -> str:
    value = entry[key]
    if not isinstance(value, str):
        raise _BadEntry(f"'{key}' must be a string")
    return value


def _boolean(entry: Mapping[str, object], key: str, *, default: bool) -> bool:
    value = entry.get(key, default)
    if not isinstance(value, bool):
        raise _BadEntry(f"'{key}' must be true or false")
    return value


def _strings(entry: Mapping[str, object], key: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _BadEntry(f"'{key}' must be an array of strings")
    return tuple(value)


def _string_table(entry: Mapping[str, object], key: str) -> dict[str, str]:
    value = entry.get(key, {})
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _BadEntry(f"'{key}' must be a table of strings")
    return dict(value)


def _printable(text: str) -> str:
    """A config key echoed in a warning, without control characters and kept short."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text)
    return cleaned if len(cleaned) <= 60 else cleaned[:57] + "..."
