"""`megachat config path|get|set|unset` and `megachat key set|unset`."""

from __future__ import annotations

import os
import stat
import tomllib

from tests.cli.conftest import CLI, TEST_KEY


def test_config_path_follows_xdg(offline_cli: CLI) -> None:
    result = offline_cli.run("config", "path")
    assert result.returncode == 0
    assert result.stdout.strip() == str(offline_cli.config_file)
    assert not offline_cli.config_file.exists()


def test_config_set_then_get(offline_cli: CLI) -> None:
    assert offline_cli.run("config", "set", "model", "claude-3.7-sonnet").returncode == 0
    assert offline_cli.run("config", "set", "temperature", "0.4").returncode == 0
    assert offline_cli.run("config", "set", "rate_limit.requests", "0").returncode == 0
    assert offline_cli.run("config", "set", "keymap.send", "ctrl+s").returncode == 0
    data = tomllib.loads(offline_cli.config_file.read_text())
    assert data == {
        "model": "claude-3.7-sonnet",
        "temperature": 0.4,
        "rate_limit": {"requests": 0},
        "keymap": {"send": "ctrl+s"},
    }
    assert offline_cli.run("config", "get", "model").stdout == "claude-3.7-sonnet\n"
    assert offline_cli.run("config", "get", "temperature").stdout == "0.4\n"
    assert offline_cli.run("config", "get", "rate_limit.requests").stdout == "0\n"
    assert offline_cli.run("config", "get", "keymap.send").stdout == "ctrl+s\n"
    everything = offline_cli.run("config", "get")
    assert everything.returncode == 0
    assert "model = claude-3.7-sonnet" in everything.stdout
    assert "max_tokens = 4096" in everything.stdout
    assert "keymap.send = ctrl+s" in everything.stdout
    assert "api_key = (not set)" in everything.stdout


def test_config_unset(offline_cli: CLI) -> None:
    offline_cli.run("config", "set", "model", "x")
    assert offline_cli.run("config", "unset", "model").returncode == 0
    assert offline_cli.run("config", "get", "model").stdout == "claude-sonnet-4\n"


def test_config_set_rejects_bad_values_and_unknown_keys(offline_cli: CLI) -> None:
    for argv in (
        ("config", "set", "temperature", "3"),
        ("config", "set", "max_tokens", "lots"),
        ("config", "set", "colour", "red"),
        ("config", "get", "colour"),
        ("config", "set", "api_key", "sk-on-the-command-line"),
    ):
        result = offline_cli.run(*argv)
        assert result.returncode == 2, argv
        assert result.stderr.startswith("megachat: error: ")
        assert len(result.stderr.splitlines()) == 1
    assert not offline_cli.config_file.exists()


def test_malformed_config_names_the_line_and_is_never_overwritten(offline_cli: CLI) -> None:
    path = offline_cli.config_file
    path.parent.mkdir(parents=True)
    original = b'model = "a"\ntemperature = 0.5\nmax_tokens = [1,\n'
    path.write_bytes(original)
    for argv in (("config", "get"), ("config", "set", "model", "b"), ("ask", "hello"), ("models",)):
        result = offline_cli.run(*argv)
        assert result.returncode == 2, argv
        assert result.stderr.startswith("megachat: error: malformed config file ")
        assert str(path) in result.stderr
        assert "line 3" in result.stderr or "line 4" in result.stderr
        assert len(result.stderr.splitlines()) == 1
        assert "Traceback" not in result.stderr
    key = offline_cli.run("key", "set", input="sk-new\n")
    assert key.returncode == 2
    assert path.read_bytes() == original


def test_wrong_type_in_config_is_clear(offline_cli: CLI) -> None:
    path = offline_cli.config_file
    path.parent.mkdir(parents=True)
    path.write_text('model = "a"\nmax_tokens = "big"\n')
    result = offline_cli.run("config", "get")
    assert result.returncode == 2
    assert f"{path}, line 2: 'max_tokens' must be a positive integer" in result.stderr


def test_key_set_from_stdin_is_stored_0600(offline_cli: CLI) -> None:
    offline_cli.run("config", "set", "model", "m")
    os.chmod(offline_cli.config_file, 0o644)
    result = offline_cli.run("key", "set", input=f"{TEST_KEY}\n")
    assert result.returncode == 0, result.stderr
    assert TEST_KEY not in result.stdout + result.stderr
    mode = stat.S_IMODE(offline_cli.config_file.stat().st_mode)
    assert mode == 0o600
    assert tomllib.loads(offline_cli.config_file.read_text()) == {"model": "m", "api_key": TEST_KEY}
    shown = offline_cli.run("config", "get", "api_key")
    assert shown.stdout == "(set, from the file)\n"
    assert TEST_KEY not in offline_cli.run("config", "get").stdout


def test_key_set_rejects_empty_input(offline_cli: CLI) -> None:
    result = offline_cli.run("key", "set", input="\n")
    assert result.returncode == 2
    assert "empty" in result.stderr
    assert not offline_cli.config_file.exists()


def test_key_unset(offline_cli: CLI) -> None:
    offline_cli.run("key", "set", input="sk-abc\n")
    assert offline_cli.run("key", "unset").returncode == 0
    assert "api_key" not in tomllib.loads(offline_cli.config_file.read_text())


def test_key_set_hidden_prompt_on_a_tty(offline_cli: CLI) -> None:
    """On a terminal the key is read with getpass: typed characters are not echoed."""
    import pty
    import subprocess
    import sys

    from tests.cli.conftest import ROOT

    pid_fd = pty.openpty()
    master, slave = pid_fd
    proc = subprocess.Popen(
        [sys.executable, "-m", "megachat", "key", "set"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=offline_cli.env,
        cwd=ROOT,
        start_new_session=True,
    )
    os.close(slave)
    output = b""
    while b"API key:" not in output:
        chunk = os.read(master, 1024)
        assert chunk, output
        output += chunk
    os.write(master, b"sk-typed-secret\n")
    rest = b""
    while True:
        try:
            chunk = os.read(master, 1024)
        except OSError:
            break
        if not chunk:
            break
        rest += chunk
    assert proc.wait(timeout=30) == 0
    os.close(master)
    assert b"sk-typed-secret" not in output + rest  # not echoed
    assert tomllib.loads(offline_cli.config_file.read_text())["api_key"] == "sk-typed-secret"
    assert stat.S_IMODE(offline_cli.config_file.stat().st_mode) == 0o600
