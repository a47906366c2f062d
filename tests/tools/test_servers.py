"""parse_servers and stdio_environment: the [mcp_servers.NAME] tables of config.toml."""

from __future__ import annotations

import tomllib

from megachat.tools.servers import HttpServer, StdioServer, parse_servers, stdio_environment

GOOD = tomllib.loads(
    """
[mcp_servers.files]
command = "npx"
args = ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]
env = { DEBUG = "1" }
cwd = "/tmp"
allow = ["read_file"]

[mcp_servers.search-2]
url = "https://example.com/mcp"
headers = { Authorization = "Bearer abc" }
enabled = false
"""
)


def test_good_tables_become_servers() -> None:
    servers, warnings = parse_servers(GOOD["mcp_servers"])
    assert warnings == []
    assert servers == [
        StdioServer(
            name="files",
            command="npx",
            args=("-y", "@modelcontextprotocol/server-filesystem", "/tmp"),
            env={"DEBUG": "1"},
            cwd="/tmp",
            enabled=True,
            allow=("read_file",),
        ),
        HttpServer(
            name="search-2",
            url="https://example.com/mcp",
            headers={"Authorization": "Bearer abc"},
            enabled=False,
            allow=(),
        ),
    ]


def test_defaults() -> None:
    servers, warnings = parse_servers({"a": {"command": "srv"}})
    assert warnings == []
    assert servers == [StdioServer(name="a", command="srv")]
    assert servers[0].enabled is True and servers[0].allow == ()


def test_bad_entries_are_warned_about_and_the_good_ones_kept() -> None:
    table: dict[str, object] = {
        "ok": {"url": "http://127.0.0.1:9/mcp"},
        "bad name": {"command": "x"},
        "both": {"command": "x", "url": "http://h/mcp"},
        "neither": {"enabled": True},
        "args_not_list": {"command": "x", "args": "-v"},
        "args_not_strings": {"command": "x", "args": [1, 2]},
        "env_not_strings": {"command": "x", "env": {"A": 1}},
        "enabled_not_bool": {"command": "x", "enabled": "yes"},
        "allow_not_list": {"command": "x", "allow": "read"},
        "command_not_string": {"command": ["x"]},
        "headers_on_stdio": {"command": "x", "headers": {}},
        "env_on_http": {"url": "http://h/mcp", "env": {}},
        "ftp": {"url": "ftp://h/mcp"},
        "typo": {"command": "x", "arg": []},
        "not_a_table": "x",
    }
    servers, warnings = parse_servers(table)
    assert [server.name for server in servers] == ["ok"]
    assert len(warnings) == len(table) - 1
    assert all("\n" not in warning and warning.endswith("; ignored") for warning in warnings)
    joined = "\n".join(warnings)
    for expected in (
        "mcp_servers.bad name: a server name may use only letters",
        "mcp_servers.both: has both 'command' and 'url'",
        "mcp_servers.neither: needs either 'command' or 'url'",
        "mcp_servers.args_not_list: 'args' must be an array of strings",
        "mcp_servers.args_not_strings: 'args' must be an array of strings",
        "mcp_servers.env_not_strings: 'env' must be a table of strings",
        "mcp_servers.enabled_not_bool: 'enabled' must be true or false",
        "mcp_servers.allow_not_list: 'allow' must be an array of strings",
        "mcp_servers.command_not_string: 'command' must be a string",
        "mcp_servers.typo: unknown key 'arg'",
        "mcp_servers.not_a_table: expected a table",
    ):
        assert expected in joined


def test_a_warning_does_not_echo_control_characters() -> None:
    _, warnings = parse_servers({"evil\x1b[2J": {"command": "x"}})
    assert "\x1b" not in warnings[0]


def test_stdio_environment_is_its_env_plus_path_and_home_only() -> None:
    ours = {
        "PATH": "/usr/bin",
        "HOME": "/home/me",
        "MEGALLM_API_KEY": "sk-secret",
        "USER": "me",
        "AWS_SECRET_ACCESS_KEY": "x",
    }
    server = StdioServer(name="s", command="srv", env={"DEBUG": "1"})
    assert stdio_environment(server, ours) == {
        "PATH": "/usr/bin",
        "HOME": "/home/me",
        "DEBUG": "1",
    }
    overriding = StdioServer(name="s", command="srv", env={"PATH": "/opt/bin"})
    assert stdio_environment(overriding, ours)["PATH"] == "/opt/bin"
    assert stdio_environment(server, {}) == {"DEBUG": "1"}
