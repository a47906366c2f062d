"""`megachat config path|get|set|unset` and `megachat key set|unset`."""

from __future__ import annotations

import os
import pty
import stat
import subprocess
import sys
import tomllib

import pytest

from tests.cli.conftest import CLI, ROOT, TEST_KEY
from tests.cli.test_signals_and_tty import read_to_end, read_until


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


def test_wrong_type_in_config_is_a_warning_and_the_default_is_used(offline_cli: CLI) -> None:
    path = offline_cli.config_file
    path.parent.mkdir(parents=True)
    path.write_text('model = "a"\nmax_tokens = "big"\n')
    result = offline_cli.run("config", "get")
    assert result.returncode == 0
    assert result.stderr == (
        f"megachat: warning: config file {path}, line 2: 'max_tokens' must be a positive integer"
        " (at most 1000000), not the string 'big'; using the default, 4096\n"
    )
    assert "model = a\n" in result.stdout
    assert "max_tokens = 4096\n" in result.stdout


# `config set` refuses with exit 2, one line naming the key and what it allows, nothing written.
REFUSED = [
    ("keymap.send", "notakey!!", "'keymap.send': 'notakey!!' is not a key: use a key name"),
    ("keymap.send", "ctrl+q", "'keymap.send': ctrl+q is reserved for quitting"),
    ("keymap.send", "ctrl+c", "'keymap.send': ctrl+c is reserved"),
    ("keymap.quit", "escape", "'keymap.quit': escape is already bound to 'cancel'"),
    ("keymap.newline", "enter", "'keymap.newline': enter is already bound to 'send'"),
    ("keymap.regenerate", "ctrl+l", "'keymap.regenerate': ctrl+l is already bound to"),
    ("keymap.send", "a", "'keymap.send': a is a typed character"),
    ("keymap.send", "shift+shift+a", "'keymap.send': 'shift+shift+a' is not a key: a modifier"),
    ("keymap.send", "cmd+s", "'keymap.send': 'cmd+s' is not a key: 'cmd' is not a modifier"),
    ("keymap.bogus", "f8", "'keymap.bogus': unknown binding id 'bogus'"),
    ("keymap.approve_once", "c", "'keymap.approve_once': c is already bound to 'copy'"),
    ("model", "", "'model' must be a non-empty name without spaces"),
    ("max_retries", "1000000", "'max_retries' must be an integer from 0 to 10, not '1000000'"),
    ("max_retries", "-1", "'max_retries' must be an integer from 0 to 10"),
    ("max_tokens", "0", "'max_tokens' must be a positive integer (at most 1000000)"),
    ("max_tokens", "10000000", "'max_tokens' must be a positive integer (at most 1000000)"),
    ("temperature", "1.5", "'temperature' must be a number from 0 to 1, not '1.5'"),
    ("timeout", "0", "'timeout' must be a positive number (at most 3600)"),
    ("timeout", "1e9", "'timeout' must be a positive number (at most 3600)"),
    ("rate_limit.requests", "-2", "'rate_limit.requests' must be an integer >= 0"),
    ("rate_limit.per_seconds", "0", "'rate_limit.per_seconds' must be a positive number"),
    ("base_url", "ftp://example.com", "'base_url' must be an http(s) URL"),
    ("theme", "My Theme!", "'theme' must be a name of lower-case letters, digits, - and _"),
]


@pytest.mark.parametrize(
    ("key", "value", "message"), REFUSED, ids=[f"{k}={v}" for k, v, _ in REFUSED]
)
def test_config_set_refuses_bad_values_and_writes_nothing(
    offline_cli: CLI, key: str, value: str, message: str
) -> None:
    path = offline_cli.config_file
    path.parent.mkdir(parents=True)
    path.write_text('# mine\nmodel = "kept"\n\n[keymap]\nconversations = "ctrl+l"\n')
    before = path.read_bytes()
    result = offline_cli.run("config", "set", key, value)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"megachat: error: {message}"), result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert path.read_bytes() == before


def test_config_set_writes_keys_the_way_textual_names_them(offline_cli: CLI) -> None:
    for key, value in (
        ("keymap.send", "Ctrl+S"),
        ("keymap.help", "F1, ?"),
        ("keymap.regenerate", "shift+ctrl+r"),
        ("keymap.newline", "ctrl+j"),  # its own default: no clash with itself
    ):
        result = offline_cli.run("config", "set", key, value)
        assert result.returncode == 0, result.stderr
    assert tomllib.loads(offline_cli.config_file.read_text())["keymap"] == {
        "send": "ctrl+s",
        "help": "f1,question_mark",
        "regenerate": "ctrl+shift+r",
        "newline": "ctrl+j",
    }
    # A swap works one step at a time: move newline off ctrl+j, then send may take it.
    assert offline_cli.run("config", "set", "keymap.send", "ctrl+j").returncode == 2
    assert offline_cli.run("config", "set", "keymap.newline", "shift+enter").returncode == 0
    assert offline_cli.run("config", "set", "keymap.send", "ctrl+j").returncode == 0


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


@pytest.mark.parametrize("given", ["", "\n", "   \n"], ids=["no-input", "empty-line", "blank"])
def test_key_set_without_a_key_says_so(offline_cli: CLI, given: str) -> None:
    offline_cli.run("config", "set", "model", "m")
    before = offline_cli.config_file.read_bytes()
    result = offline_cli.run("key", "set", input=given)
    assert result.returncode == 2
    assert result.stderr == "megachat: error: no key given; nothing was changed\n"
    assert offline_cli.config_file.read_bytes() == before


def test_key_unset(offline_cli: CLI) -> None:
    offline_cli.run("key", "set", input="sk-abc\n")
    assert offline_cli.run("key", "unset").returncode == 0
    assert "api_key" not in tomllib.loads(offline_cli.config_file.read_text())


def _key_set_on_a_pty(offline_cli: CLI, typed: bytes) -> tuple[int, bytes]:
    """`megachat key set` on a real terminal: wait for the prompt, type `typed`, read to the end."""
    master, slave = pty.openpty()
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
    try:
        output = read_until(master, b"API key:")
        os.write(master, typed)
        output += read_to_end(master)
        return proc.wait(timeout=30), output
    finally:
        os.close(master)


def test_key_set_hidden_prompt_on_a_tty(offline_cli: CLI) -> None:
    """On a terminal the key is read with getpass: typed characters are not echoed."""
    status, output = _key_set_on_a_pty(offline_cli, b"sk-typed-secret\n")
    assert status == 0
    assert b"sk-typed-secret" not in output  # not echoed
    assert tomllib.loads(offline_cli.config_file.read_text())["api_key"] == "sk-typed-secret"
    assert stat.S_IMODE(offline_cli.config_file.stat().st_mode) == 0o600


@pytest.mark.parametrize("typed", [b"\x04", b"\n"], ids=["ctrl-d", "enter"])
def test_key_set_on_a_tty_without_a_key_says_so(offline_cli: CLI, typed: bytes) -> None:
    """Ctrl+D (end of input) or a bare Enter at the hidden prompt: no key, nothing changed."""
    status, output = _key_set_on_a_pty(offline_cli, typed)
    assert status == 2
    lines = output.decode().replace("\r", "").splitlines()
    assert lines[-1] == "megachat: error: no key given; nothing was changed"
    assert lines[0].startswith("MegaLLM API key:")
    assert b"Traceback" not in output and b"EOFError" not in output
    assert not offline_cli.config_file.exists()
