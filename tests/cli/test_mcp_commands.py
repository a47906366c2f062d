"""`megachat mcp import FILE` and `megachat mcp list [--json]`, run as real processes.

`mcp list` starts the real test MCP server (tests/mcp_servers/stdio_server.py, written with the
`mcp` SDK) as a subprocess of megachat, exactly as a user's server would be started.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import tomli_w

from tests.cli.conftest import CLI, ROOT

CLAUDE_DESKTOP = {
    "mcpServers": {
        "files": {
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"],
            "env": {"DEBUG": "1"},
        },
        "search": {"url": "https://mcp.example.com/mcp", "headers": {"X-Token": "abc"}},
    }
}


def _write_json(tmp_path: Path, document: object, name: str = "claude.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def _write_config(cli: CLI, data: dict) -> None:
    cli.config_file.parent.mkdir(parents=True, exist_ok=True)
    cli.config_file.write_text(tomli_w.dumps(data))


def test_import_writes_tables_keeps_other_settings_mode_0600(
    offline_cli: CLI, tmp_path: Path
) -> None:
    _write_config(offline_cli, {"model": "claude-x", "keymap": {"send": "ctrl+s"}})
    result = offline_cli.run("mcp", "import", str(_write_json(tmp_path, CLAUDE_DESKTOP)))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "imported files (stdio: npx)"
    assert lines[1] == "imported search (http: https://mcp.example.com/mcp)"
    data = tomllib.loads(offline_cli.config_file.read_text())
    assert data == {
        "model": "claude-x",
        "keymap": {"send": "ctrl+s"},
        "mcp_servers": {
            "files": {
                "command": "npx",
                "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"],
                "env": {"DEBUG": "1"},
            },
            "search": {"url": "https://mcp.example.com/mcp", "headers": {"X-Token": "abc"}},
        },
    }
    assert stat.S_IMODE(offline_cli.config_file.stat().st_mode) == 0o600
    # What was written loads without a warning.
    assert offline_cli.run("config", "get", "model").stderr == ""


def test_import_refuses_duplicates_unless_replace(offline_cli: CLI, tmp_path: Path) -> None:
    _write_config(offline_cli, {"mcp_servers": {"files": {"command": "old-server"}}})
    before = offline_cli.config_file.read_bytes()
    path = _write_json(tmp_path, CLAUDE_DESKTOP)
    refused = offline_cli.run("mcp", "import", str(path))
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert len(refused.stderr.splitlines()) == 1
    assert "already configured: files" in refused.stderr and "--replace" in refused.stderr
    assert offline_cli.config_file.read_bytes() == before

    replaced = offline_cli.run("mcp", "import", "--replace", str(path))
    assert replaced.returncode == 0, replaced.stderr
    servers = tomllib.loads(offline_cli.config_file.read_text())["mcp_servers"]
    assert servers["files"]["command"] == "npx"
    assert set(servers) == {"files", "search"}


def test_malformed_files_exit_2_and_write_nothing(offline_cli: CLI, tmp_path: Path) -> None:
    _write_config(offline_cli, {"model": "claude-x"})
    before = offline_cli.config_file.read_bytes()
    cases: list[tuple[bytes, str]] = [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid UTF-8"),
        (b"[]", '"mcpServers"'),
        (json.dumps({"servers": {}}).encode(), '"mcpServers"'),
        (json.dumps({"mcpServers": {}}).encode(), "empty"),
        (json.dumps({"mcpServers": {"a": "npx"}}).encode(), "must be an object"),
        (json.dumps({"mcpServers": {"a": {"args": []}}}).encode(), '"command"'),
        (json.dumps({"mcpServers": {"a": {"command": "x", "bogus": 1}}}).encode(), "bogus"),
        (json.dumps({"mcpServers": {"a": {"url": "h", "type": "sse"}}}).encode(), "sse"),
        # Caught by the tools layer's own rule (the one loading the config applies):
        (json.dumps({"mcpServers": {"a": {"command": "x", "args": "-v"}}}).encode(), "args"),
        (json.dumps({"mcpServers": {"a": {"command": "x", "env": {"K": 1}}}}).encode(), "env"),
    ]
    for raw, expected in cases:
        path = tmp_path / "bad.json"
        path.write_bytes(raw)
        result = offline_cli.run("mcp", "import", str(path))
        assert result.returncode == 2, (raw, result.stderr)
        assert result.stdout == ""
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert result.stderr.startswith("megachat: error: ")
        assert expected in result.stderr, (raw, result.stderr)
        assert "Traceback" not in result.stderr
        assert offline_cli.config_file.read_bytes() == before


def test_import_reads_only_a_bounded_regular_file(offline_cli: CLI, tmp_path: Path) -> None:
    for path, expected in (
        (Path("/dev/zero"), "not a regular file"),
        (tmp_path, "directory"),
        (tmp_path / "missing.json", "No such file"),
    ):
        result = offline_cli.run("mcp", "import", str(path))
        assert result.returncode == 2
        assert expected in result.stderr
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (2 << 20))
    result = offline_cli.run("mcp", "import", str(big))
    assert result.returncode == 2 and "limit" in result.stderr
    assert not offline_cli.config_file.exists()


def _stdio_server_table() -> dict:
    return {
        "command": sys.executable,
        "args": ["-m", "tests.mcp_servers.stdio_server"],
        "cwd": str(ROOT),
    }


def test_list_shows_the_tools_of_a_running_server(offline_cli: CLI) -> None:
    _write_config(
        offline_cli,
        {
            "mcp_servers": {
                "test": _stdio_server_table(),
                "off": {"command": "never-started", "enabled": False},
            }
        },
    )
    result = offline_cli.run("mcp", "list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("test (stdio): running, ")
    tool_lines = [line for line in lines[1:] if line.startswith("  ")]
    assert any(line.startswith("  add - ") for line in tool_lines), result.stdout
    assert "off (stdio): disabled" in lines


def test_list_json_shape(offline_cli: CLI) -> None:
    _write_config(
        offline_cli,
        {
            "mcp_servers": {
                "test": _stdio_server_table(),
                "off": {"url": "http://127.0.0.1:9/mcp", "enabled": False},
            }
        },
    )
    result = offline_cli.run("mcp", "list", "--json")
    assert result.returncode == 0, result.stderr
    servers = json.loads(result.stdout)
    by_name = {server["name"]: server for server in servers}
    keys = {"name", "transport", "enabled", "status", "tools", "error", "stderr"}
    assert all(set(server) == keys for server in servers)
    running = by_name["test"]
    assert (running["transport"], running["enabled"], running["status"]) == (
        "stdio",
        True,
        "running",
    )
    assert running["error"] is None
    assert all(set(t) == {"name", "description"} for t in running["tools"])
    assert "add" in {tool["name"] for tool in running["tools"]}
    assert all("\n" not in tool["description"] for tool in running["tools"])
    assert by_name["off"] == {
        "name": "off",
        "transport": "http",
        "enabled": False,
        "status": "disabled",
        "tools": [],
        "error": None,
        "stderr": None,
    }


def test_list_a_missing_command_fails_with_exit_1(offline_cli: CLI, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-server")
    _write_config(
        offline_cli, {"mcp_servers": {"test": _stdio_server_table(), "gone": {"command": missing}}}
    )
    result = offline_cli.run("mcp", "list")
    assert result.returncode == 1
    failed = [line for line in result.stdout.splitlines() if line.startswith("gone ")]
    assert len(failed) == 1 and failed[0].startswith("gone (stdio): failed: "), result.stdout
    assert result.stdout.startswith("test (stdio): running")  # the other one still listed
    assert "Traceback" not in result.stdout + result.stderr

    as_json = json.loads(offline_cli.run("mcp", "list", "--json").stdout)
    gone = next(server for server in as_json if server["name"] == "gone")
    assert gone["status"] == "failed" and gone["error"] and gone["tools"] == []


def test_list_with_no_servers(offline_cli: CLI) -> None:
    result = offline_cli.run("mcp", "list", "--json")
    assert (result.returncode, json.loads(result.stdout)) == (0, [])
    text = offline_cli.run("mcp", "list")
    assert text.returncode == 0 and "no MCP servers configured" in text.stdout


def test_bad_server_table_is_a_warning_not_a_crash(offline_cli: CLI) -> None:
    _write_config(offline_cli, {"model": "m", "mcp_servers": {"bad": {"args": ["x"]}}})
    result = offline_cli.run("config", "get", "model")
    assert result.returncode == 0 and result.stdout == "m\n"
    assert "warning" in result.stderr and "bad" in result.stderr


def test_help_does_not_import_mcp(offline_cli: CLI) -> None:
    for argv in (["--help"], ["mcp", "--help"], ["mcp", "list", "--help"]):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "megachat", *argv],
            capture_output=True,
            text=True,
            env=offline_cli.env,
            cwd=ROOT,
            timeout=60,
        )
        assert proc.returncode == 0
        imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}
        assert "megachat.cli.parser" in imported  # the check sees our own modules
        assert not {name for name in imported if name == "mcp" or name.startswith("mcp.")}
    assert "1 when one failed" in offline_cli.run("mcp", "list", "--help").stdout


def test_list_shows_a_crashed_servers_stderr_sanitized(offline_cli: CLI) -> None:
    script = "echo first >&2; printf 'boom\\033]0;owned\\007 end\\n' >&2; exit 3"
    _write_config(
        offline_cli, {"mcp_servers": {"crash": {"command": "sh", "args": ["-c", script]}}}
    )
    result = offline_cli.run("mcp", "list")
    assert result.returncode == 1
    assert result.stdout.startswith("crash (stdio): failed: ")
    assert "  stderr: boom end" in result.stdout.splitlines()
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    server = json.loads(offline_cli.run("mcp", "list", "--json").stdout)[0]
    assert server["status"] == "failed" and server["stderr"] == "first\nboom end"
