"""The API key never leaks: not into the data dir, exports, logs or any command's output (issue 5).

Every command runs as a real process against the fake server, including servers that echo the
key back in 401/500 bodies, an HTML error page and a mid-stream ``error`` event. Afterwards every
file under the sandbox's XDG dirs (data, state, cache: the store, its WAL, any log) is scanned
for the key's bytes. The config file is the one place the key may live, and only with mode 0600.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import CLI, ROOT, Result, _base_env
from tests.fakeserver import FakeServer, Reply, error_reply, message_events, sse_text_reply

KEY = "sk-mega-SECRET-9f8e7d6c5b4a3210-LEAKCANARY"
ECHO = f"Invalid API key: {KEY} (x-api-key: {KEY})"
NO_RETRY = {"x-should-retry": "false"}


def _sandbox(tmp_path: Path, server: FakeServer | None, *, key_in_env: bool) -> CLI:
    env = _base_env(tmp_path)
    env.update(
        XDG_STATE_HOME=str(tmp_path / "state"),  # where a log would go
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        HOME=str(tmp_path / "home"),
    )
    env["MEGALLM_BASE_URL"] = server.base_url if server else "http://127.0.0.1:9"
    if key_in_env:
        env["MEGALLM_API_KEY"] = KEY
    return CLI(env, tmp_path / "config", tmp_path / "data", server)


def _assert_no_key_in_files(root: Path, allowed: set[Path] = frozenset()) -> int:
    """Scan every file under ``root`` (sqlite db, -wal, -shm, logs...). Returns files scanned."""
    scanned = 0
    for path in root.rglob("*"):
        if path.is_file() and path not in allowed:
            scanned += 1
            data = path.read_bytes()
            assert KEY.encode() not in data, f"the API key was written to {path}"
            assert KEY.encode("utf-16-le") not in data, f"the API key (UTF-16) is in {path}"
    return scanned


def _assert_clean(results: list[Result]) -> None:
    for result in results:
        assert KEY not in result.stdout, result.stdout
        assert KEY not in result.stderr, result.stderr


def _scenario(cli: CLI, server: FakeServer) -> list[Result]:
    """Success, multi-turn, every error shape echoing the key, exports, list, search, config."""
    out: list[Result] = []
    server.enqueue(sse_text_reply("first answer"))
    out.append(cli.run("ask", "hello there"))
    assert out[-1].returncode == 0, out[-1].stderr
    server.enqueue(sse_text_reply("second answer"))
    out.append(cli.run("ask", "-c", "and again"))
    assert out[-1].returncode == 0, out[-1].stderr

    server.enqueue(error_reply(401, "authentication_error", ECHO))
    out.append(cli.run("ask", "-c", "third"))
    assert out[-1].returncode == 1 and "401" in out[-1].stderr
    server.enqueue(error_reply(500, "api_error", ECHO, shape="megallm", headers=NO_RETRY))
    out.append(cli.run("ask", "-c", "fourth"))
    assert out[-1].returncode == 1 and "500" in out[-1].stderr
    page = f"<html><body><h1>502 Bad Gateway</h1><pre>{KEY}</pre></body></html>"
    server.enqueue(Reply(status=502, body=page, headers={**NO_RETRY, "content-type": "text/html"}))
    out.append(cli.run("ask", "-c", "fifth"))
    assert out[-1].returncode == 1
    error_event = {"type": "error", "error": {"type": "overloaded_error", "message": ECHO}}
    events = [*message_events([{"type": "text", "text": "partial"}], with_stop=False)]
    server.enqueue(Reply(sse=[*events, ("error", error_event)]))
    out.append(cli.run("ask", "-c", "sixth"))
    assert out[-1].returncode == 1 and "overloaded" in out[-1].stderr
    server.enqueue(sse_text_reply("json answer"))
    out.append(cli.run("ask", "--json", "seventh"))
    assert out[-1].returncode == 0
    server.enqueue(error_reply(401, "authentication_error", ECHO, path="/v1/models"))
    out.append(cli.run("models"))

    listing = cli.run("list", "--json")
    out.append(listing)
    for conv in json.loads(listing.stdout):
        out.append(cli.run("export", conv["id"]))
        out.append(cli.run("export", "--format", "json", conv["id"]))
        assert out[-1].returncode == 0
    out += [cli.run("list"), cli.run("search", "answer"), cli.run("search", "SECRET")]
    out += [cli.run("config", "get"), cli.run("config", "get", "api_key"), cli.run("key")]
    out += [cli.run("config", "path"), cli.run("--help"), cli.run("ask", "--help")]

    # The key really was in use: every request carried it (so the scan below is meaningful).
    sent = [r for r in server.requests if r.path.startswith("/v1/")]
    assert sent and all(r.headers.get("x-api-key") == KEY for r in sent)
    return out


def test_key_from_environment_never_leaks(tmp_path: Path, fake_server: FakeServer) -> None:
    cli = _sandbox(tmp_path, fake_server, key_in_env=True)
    results = _scenario(cli, fake_server)
    _assert_clean(results)
    assert _assert_no_key_in_files(tmp_path) >= 1  # at least the database was scanned
    assert (cli.data_dir / "megachat.db").exists()


def test_key_from_config_file_never_leaks(tmp_path: Path, fake_server: FakeServer) -> None:
    cli = _sandbox(tmp_path, fake_server, key_in_env=False)
    stored = cli.run("key", "set", input=KEY + "\n")
    assert stored.returncode == 0, stored.stderr
    assert KEY in cli.config_file.read_text()
    results = [stored, *_scenario(cli, fake_server)]
    _assert_clean(results)
    _assert_no_key_in_files(tmp_path, allowed={cli.config_file})
    assert stat.S_IMODE(cli.config_file.stat().st_mode) == 0o600


def test_bad_key_error_does_not_echo_it(tmp_path: Path) -> None:
    """A key with a control character is refused before sending, without printing it."""
    cli = _sandbox(tmp_path, None, key_in_env=False)
    bad = KEY + "\x01"
    result = cli.run("ask", "hi", env={"MEGALLM_API_KEY": bad})
    assert result.returncode != 0
    assert KEY not in result.stdout + result.stderr


# --- the config file's mode -----------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _run_with_umask(cli: CLI, umask: int, *args: str, stdin: bytes = b"") -> int:
    proc = subprocess.run(
        [sys.executable, "-m", "megachat", *args],
        input=stdin,
        capture_output=True,
        env=cli.env,
        cwd=ROOT,
        preexec_fn=lambda: os.umask(umask),
        timeout=60,
    )
    assert KEY.encode() not in proc.stdout + proc.stderr
    return proc.returncode


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_config_holding_the_key_is_0600(tmp_path: Path, umask: int) -> None:
    cli = _sandbox(tmp_path, None, key_in_env=False)
    # A pre-existing world-readable config without the key...
    cli.config_file.parent.mkdir(parents=True)
    cli.config_file.write_text('model = "m1"\n')
    cli.config_file.chmod(0o644)
    assert _run_with_umask(cli, umask, "key", "set", stdin=(KEY + "\n").encode()) == 0
    assert KEY in cli.config_file.read_text()
    assert _mode(cli.config_file) == 0o600
    # ...and a later `config set` of another key keeps it 0600 while the key is in it.
    assert _run_with_umask(cli, umask, "config", "set", "model", "m2") == 0
    assert 'model = "m2"' in cli.config_file.read_text() and KEY in cli.config_file.read_text()
    assert _mode(cli.config_file) == 0o600
    assert _run_with_umask(cli, umask, "config", "set", "temperature", "0.5") == 0
    assert _mode(cli.config_file) == 0o600
    # No stray temporary copy of the key is left next to it.
    leftovers = [p for p in cli.config_file.parent.iterdir() if p != cli.config_file]
    assert all(KEY.encode() not in p.read_bytes() for p in leftovers if p.is_file())
