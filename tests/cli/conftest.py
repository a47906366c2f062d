"""Run megachat for real: as a subprocess (`python -m megachat ...`) or in-process via main().

Every run gets its own XDG_CONFIG_HOME / XDG_DATA_HOME under tmp_path, the fake server's URL in
MEGALLM_BASE_URL and a test API key, so nothing touches the user's real files or the network.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from megachat.chat.prompt_cache import FILE_NAME as PROMPT_CACHE_FILE
from tests.fakeserver import FakeServer

ROOT = Path(__file__).resolve().parents[2]
TEST_KEY = "sk-mega-test-KEY-7f3a9c1e5b"


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class CLI:
    """A megachat sandbox: its environment and helpers to run commands in it."""

    env: dict[str, str]
    config_home: Path
    data_home: Path
    server: FakeServer | None

    @property
    def config_file(self) -> Path:
        return self.config_home / "megachat" / "config.toml"

    @property
    def data_dir(self) -> Path:
        return self.data_home / "megachat"

    def run(
        self,
        *args: str,
        input: str | bytes | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> Result:
        """Run `python -m megachat ARGS` to completion; stdin is empty unless `input` is given."""
        full_env = dict(self.env)
        if env:
            full_env.update(env)
        for name, value in list(full_env.items()):
            if value is None:
                del full_env[name]
        data = input.encode() if isinstance(input, str) else input
        proc = subprocess.run(
            [sys.executable, "-m", "megachat", *args],
            input=data if data is not None else b"",
            capture_output=True,
            env=full_env,
            cwd=ROOT,
            timeout=timeout,
        )
        return Result(
            proc.returncode,
            proc.stdout.decode("utf-8", errors="replace"),
            proc.stderr.decode("utf-8", errors="replace"),
        )

    def call(self, *args: str) -> Result:
        """Run `megachat ARGS` in this process (faster; for commands that do not read stdin)."""
        import contextlib
        import io

        from megachat.cli import main

        saved = dict(os.environ)
        out, err = io.StringIO(), io.StringIO()
        try:
            for name in [n for n in os.environ if n.startswith("MEGALLM_")]:
                del os.environ[name]
            os.environ.update(
                {k: v for k, v in self.env.items() if k.startswith(("XDG_", "MEGALLM_"))}
            )
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(list(args))
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return Result(code, out.getvalue(), err.getvalue())

    def popen(self, *args: str, **kwargs: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "megachat", *args],
            env=self.env,
            cwd=ROOT,
            **kwargs,  # type: ignore[arg-type]
        )

    def apply(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Use this sandbox's environment in-process (for main([...]) tests)."""
        for name in ("MEGALLM_API_KEY", "MEGALLM_BASE_URL"):
            monkeypatch.delenv(name, raising=False)
        for name, value in self.env.items():
            if name.startswith(("XDG_", "MEGALLM_")):
                monkeypatch.setenv(name, value)


def _base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEGALLM_")}
    env.update(
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        PYTHONIOENCODING="utf-8",
        COLUMNS="100",
    )
    return env


@pytest.fixture
def cli(tmp_path: Path, fake_server: FakeServer) -> Iterator[CLI]:
    """A sandbox wired to the fake server, with an API key in the environment.

    The fake server is remembered as one that refuses prompt caching (as megachat remembers a
    proxy that answered 400 to cache_control), so requests go without cache_control and tests
    compare plain bodies; tests of caching remove the file (`allow_prompt_cache`)."""
    env = _base_env(tmp_path)
    env["MEGALLM_BASE_URL"] = fake_server.base_url
    env["MEGALLM_API_KEY"] = TEST_KEY
    refused = tmp_path / "data" / "megachat" / PROMPT_CACHE_FILE
    refused.parent.mkdir(parents=True, exist_ok=True)
    refused.write_text(json.dumps([fake_server.base_url]))
    yield CLI(env, tmp_path / "config", tmp_path / "data", fake_server)


@pytest.fixture
def offline_cli(tmp_path: Path) -> Iterator[CLI]:
    """A sandbox with no server and no key (for commands that must not send anything)."""
    env = _base_env(tmp_path)
    env["MEGALLM_BASE_URL"] = "http://127.0.0.1:9"  # discard port: nothing listens
    yield CLI(env, tmp_path / "config", tmp_path / "data", None)


def allow_prompt_cache(cli: CLI) -> None:
    """Forget that the sandbox's server refuses prompt caching: requests carry cache_control."""
    (cli.data_dir / PROMPT_CACHE_FILE).unlink(missing_ok=True)


def messages_sent(server: FakeServer) -> list[dict]:
    return [r.json for r in server.requests_to("/v1/messages")]


def png_bytes(width: int = 4, height: int = 3) -> bytes:
    """A small valid PNG made without Pillow (zlib + struct)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\x10\x20\x30" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def joined(parts: Sequence[str]) -> str:
    return "".join(parts)
