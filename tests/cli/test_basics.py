"""--version, --help on every command, one-line usage errors, lean startup."""

from __future__ import annotations

import subprocess
import sys

import pytest

from megachat import __version__
from megachat.cli import main
from tests.cli.conftest import CLI, ROOT

COMMANDS = [
    [],
    ["ask"],
    ["list"],
    ["export"],
    ["search"],
    ["delete"],
    ["rename"],
    ["models"],
    ["presets"],
    ["config"],
    ["config", "path"],
    ["config", "get"],
    ["config", "set"],
    ["config", "unset"],
    ["key"],
    ["key", "set"],
    ["key", "unset"],
]


def test_version_subprocess(offline_cli: CLI) -> None:
    result = offline_cli.run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"megachat {__version__}"
    assert result.stderr == ""


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "megachat")
def test_help_on_every_command(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: megachat")
    assert " ".join(["megachat", *command]) in out


def test_main_help_lists_commands_and_environment(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("ask", "list", "export", "search", "delete", "rename", "models", "config", "key"):
        assert f"    {name}" in out
    assert "MEGALLM_API_KEY" in out and "MEGALLM_BASE_URL" in out
    assert "--continue" in out and "--resume" in out


def test_ask_help_documents_tty_versus_pipe_and_exit_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["ask", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for option in (
        "--model",
        "--system",
        "--temperature",
        "--max-tokens",
        "--image",
        "--prefill",
        "--continue",
        "--conversation",
        "--no-save",
        "--no-stream",
        "--json",
        "--preset",
        "--var",
    ):
        assert option in out
    assert "When stdout is a terminal" in out
    assert "passed through unchanged" in out
    assert "retrying in 3 s" in out
    assert "130" in out and "exit status" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["frobnicate"],
        ["ask", "-t", "1.5", "hi"],
        ["ask", "-t", "-0.1", "hi"],
        ["ask", "-t", "nan", "hi"],
        ["ask", "--max-tokens", "0", "hi"],
        ["ask", "--format", "x"],
        ["ask", "-c", "--conversation", "X", "hi"],
        ["export", "ID", "--format", "pdf"],
        ["--resume", "X", "-c"],
        ["config"],
        ["ask", "--var", "novalue", "--preset", "translate", "hi"],
        ["-c", "ask", "hi"],
        ["--resume", "X", "list"],
    ],
)
def test_usage_errors_are_one_line_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("megachat: error: ")


def test_temperature_error_from_subprocess_has_no_traceback(offline_cli: CLI) -> None:
    result = offline_cli.run("ask", "-t", "2", "hello")
    assert result.returncode == 2
    assert result.stderr.startswith("megachat: error: argument -t/--temperature")
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1


def _imported_modules(code: str, env: dict[str, str] | None = None) -> set[str]:
    probe = (
        "import sys, runpy\n"
        f"sys.argv = {code!r}.split()\n"
        "try:\n"
        "    runpy.run_module('megachat', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "loaded = sorted(name for name, module in sys.modules.items() if module is not None)\n"
        "import json; sys.stderr.write('\\nMODULES:' + json.dumps(loaded))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env
        or {
            "PATH": "/usr/bin:/bin",
            "XDG_CONFIG_HOME": "/nonexistent-cfg",
            "XDG_DATA_HOME": "/nonexistent-data",
        },
        stdin=subprocess.DEVNULL,
    )
    import json

    marker = proc.stderr.rsplit("MODULES:", 1)[1]
    return set(json.loads(marker))


def test_version_is_lean() -> None:
    modules = _imported_modules("megachat --version")
    assert not {m for m in modules if m.split(".")[0] in {"textual", "PIL", "httpx", "rich"}}


def test_ask_does_not_import_textual_or_pillow() -> None:
    # No key: ask stops with exit 2 after parsing, settings and the prompt - still no heavy imports.
    modules = _imported_modules("megachat ask hello")
    assert not {m for m in modules if m.split(".")[0] in {"textual", "PIL"}}


def test_a_real_ask_imports_neither_textual_nor_pillow(cli: CLI, tmp_path) -> None:
    from tests.cli.conftest import png_bytes

    image = tmp_path / "small.png"
    image.write_bytes(png_bytes())
    modules = _imported_modules(f"megachat ask -i {image} hello", env=cli.env)
    assert "megachat.chat.turn" in modules and "httpx" in modules  # it really ran
    assert not {m for m in modules if m.split(".")[0] in {"textual", "PIL"}}
    assert len(cli.server.requests_to("/v1/messages")) == 1
