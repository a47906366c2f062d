"""`megachat mcp import FILE` and `megachat mcp list [--json]`: the configured tool servers.

`import` reads a Claude-Desktop-style file (`{"mcpServers": {NAME: {...}}}`) with a bound, turns
each entry into our `[mcp_servers.NAME]` table, checks every table by the tools layer's one rule
(the rule loading the config uses) and only then writes config.toml: a malformed file changes
nothing. `list` starts the enabled servers concurrently, each with its own timeout, and shows
what each offers. Names, tool descriptions and stderr come from other programs: they reach the
terminal only sanitized.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypedDict, assert_never

from megachat.cli.errors import EXIT_FAILURE, EXIT_OK, CLIError, usage_error
from megachat.cli.output import dumps, one_line, write

if TYPE_CHECKING:
    from megachat.tools.client import ServerStatus
    from megachat.tools.servers import ServerConfig

# A hand-written list of servers is a few KiB; past this the file is not one.
MAX_IMPORT_FILE_BYTES = 1 << 20
DEFAULT_LIST_TIMEOUT = 30.0  # seconds for one server to start and list its tools
STDERR_TAIL_LINES = 5  # of a failed server's stderr, in the text listing

# Claude Desktop's entry keys we carry over, and the `type` values (Claude Code's .mcp.json)
# that agree with the transport we support for each shape.
_STDIO_KEYS = ("command", "args", "env", "cwd")
_HTTP_KEYS = ("url", "headers")
_TYPES = {"stdio": "command", "http": "url", "streamable-http": "url", "streamableHttp": "url"}


# -- import ------------------------------------------------------------------------------------


def cmd_mcp(args: argparse.Namespace) -> int:
    if args.action == "import":
        return _import(args.file, replace=args.replace)
    if args.action == "list":
        return _list(as_json=args.json, timeout=args.timeout)
    raise AssertionError(f"unknown mcp action {args.action!r}")


def _import(path: str, *, replace: bool) -> int:
    from megachat import config

    shown = one_line(path)
    tables = claude_desktop_tables(_read_json(path, shown), shown)
    try:
        written = config.save_mcp_servers(tables, replace=replace)
    except config.ServersExistError as exc:
        names = ", ".join(one_line(name) for name in exc.names)
        raise usage_error(
            f"already configured: {names}; nothing was imported (--replace overwrites them)"
        ) from None
    except config.ConfigError as exc:
        raise usage_error(str(exc)) from None
    except OSError as exc:
        raise CLIError(f"cannot write {config.config_path()}: {exc.strerror or exc}") from None
    for name, table in tables.items():
        target = table.get("command", table.get("url", ""))
        transport = "stdio" if "command" in table else "http"
        write(f"imported {one_line(name)} ({transport}: {one_line(str(target), 60)})\n")
    write(f"written to {written}\n")
    return EXIT_OK


def _read_json(path: str, shown: str) -> object:
    from megachat.localfiles import read_user_file

    try:
        raw = read_user_file(path, MAX_IMPORT_FILE_BYTES)
    except OSError as exc:
        raise usage_error(f"{shown}: {exc.strerror or exc}") from None
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise usage_error(f"{shown}: not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise usage_error(f"{shown}: not valid JSON: {exc}") from None
    except RecursionError:
        raise usage_error(f"{shown}: not valid JSON: nested too deeply") from None


def claude_desktop_tables(document: object, shown: str) -> dict[str, dict[str, Any]]:
    """`{"mcpServers": {...}}` as our `[mcp_servers.NAME]` tables, every one checked.

    The check is parse_servers's, the same the config file gets when it is loaded: any entry it
    would warn about makes the whole file a usage error, so what is written always loads.
    """
    if not isinstance(document, dict) or not isinstance(document.get("mcpServers"), dict):
        raise usage_error(f'{shown}: expected an object with an "mcpServers" object')
    entries: dict[str, object] = document["mcpServers"]
    if not entries:
        raise usage_error(f'{shown}: "mcpServers" is empty; nothing to import')
    tables = {name: _table(name, entry, shown) for name, entry in entries.items()}
    from megachat.tools.servers import parse_servers

    _, warnings = parse_servers(tables)
    if warnings:
        raise usage_error(f"{shown}: {one_line(warnings[0])}; nothing was imported")
    return tables


def _table(name: str, entry: object, shown: str) -> dict[str, Any]:
    """One entry's keys carried over; `type` checked against its shape and dropped."""
    where = f"{shown}: server {one_line(name)!r}"
    if not isinstance(entry, dict):
        raise usage_error(f"{where} must be an object")
    shape = "command" if "command" in entry else "url" if "url" in entry else None
    if shape is None:
        raise usage_error(f'{where} needs "command" (stdio) or "url" (streamable HTTP)')
    kind = entry.get("type")
    if kind is not None and _TYPES.get(kind) != shape:
        raise usage_error(f"{where}: type {one_line(str(kind))!r} is not supported here")
    allowed = _STDIO_KEYS if shape == "command" else _HTTP_KEYS
    extra = [key for key in entry if key not in allowed and key != "type"]
    if extra:
        raise usage_error(f"{where}: unexpected key {one_line(extra[0])!r}")
    return {key: entry[key] for key in allowed if key in entry}


# -- list --------------------------------------------------------------------------------------


class ToolJSON(TypedDict):
    name: str
    description: str


class ServerJSON(TypedDict):
    """One element of `mcp list --json`."""

    name: str
    transport: Literal["stdio", "http"]
    enabled: bool
    status: Literal["running", "failed", "disabled"]
    tools: list[ToolJSON]
    error: str | None
    stderr: str | None


@dataclass(frozen=True)
class _Row:
    """One server's line in the listing, its untrusted text already cleaned."""

    name: str
    transport: Literal["stdio", "http"]
    enabled: bool
    status: Literal["running", "failed", "disabled"]
    tools: tuple[tuple[str, str], ...] = ()
    error: str | None = None
    stderr: str | None = None


def _list(*, as_json: bool, timeout: float) -> int:
    from megachat.cli.resources import read_settings, run_async

    servers = read_settings().mcp_servers
    statuses: list[ServerStatus | None] = run_async(_start_all(servers, timeout)) if servers else []
    rows = [_row(server, status) for server, status in zip(servers, statuses, strict=True)]
    if as_json:
        write(dumps([_as_json(row) for row in rows]) + "\n")
    elif not rows:
        write("no MCP servers configured (see `megachat mcp import --help`)\n")
    else:
        for row in rows:
            write(_as_text(row))
    return EXIT_FAILURE if any(row.status == "failed" for row in rows) else EXIT_OK


async def _start_all(servers: Sequence[ServerConfig], timeout: float) -> list[ServerStatus | None]:
    """Each enabled server started and asked for its tools, all at once; None when disabled."""
    import asyncio

    from megachat.tools.client import list_tools

    async def one(server: ServerConfig) -> ServerStatus | None:
        return await list_tools(server, timeout) if server.enabled else None

    return list(await asyncio.gather(*(one(server) for server in servers)))


def _row(server: ServerConfig, status: ServerStatus | None) -> _Row:
    from megachat.sanitize import clean
    from megachat.tools.client import ServerFailed, ServerRunning
    from megachat.tools.servers import HttpServer, StdioServer

    transport: Literal["stdio", "http"]
    match server:
        case StdioServer():
            transport = "stdio"
        case HttpServer():
            transport = "http"
        case _:
            assert_never(server)
    name = one_line(server.name)
    match status:
        case None:
            return _Row(name, transport, False, "disabled")
        case ServerRunning(tools=tools):
            listed = tuple(
                (one_line(tool.name), _first_line(clean(tool.description or ""))) for tool in tools
            )
            return _Row(name, transport, True, "running", tools=listed)
        case ServerFailed(reason=reason, stderr_tail=stderr):
            tail = clean(stderr).strip("\n") or None
            return _Row(name, transport, True, "failed", error=one_line(reason), stderr=tail)
        case _:
            assert_never(status)


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return " ".join(line.split())
    return ""


def _as_json(row: _Row) -> ServerJSON:
    return {
        "name": row.name,
        "transport": row.transport,
        "enabled": row.enabled,
        "status": row.status,
        "tools": [{"name": name, "description": text} for name, text in row.tools],
        "error": row.error,
        "stderr": row.stderr,
    }


def _as_text(row: _Row) -> str:
    match row.status:
        case "disabled":
            return f"{row.name} ({row.transport}): disabled\n"
        case "running":
            count = len(row.tools)
            lines = [f"{row.name} ({row.transport}): running, {count} tool{'s' * (count != 1)}"]
            lines += [f"  {name}" + (f" - {text}" if text else "") for name, text in row.tools]
            return "\n".join(lines) + "\n"
        case "failed":
            lines = [f"{row.name} ({row.transport}): failed: {row.error}"]
            if row.stderr:
                tail = row.stderr.splitlines()[-STDERR_TAIL_LINES:]
                lines += [f"  stderr: {line}" for line in tail]
            return "\n".join(lines) + "\n"
        case _:
            assert_never(row.status)
