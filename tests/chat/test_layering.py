"""The layers of DESIGN.md, checked: imports point down only.

- api imports nothing of chat, cli, tui or config (and no Textual);
- chat imports no Textual, no Rich, no httpx and nothing of cli or tui;
- cli and tui do not import each other, except cli/tui_command.py, the TUI's entry point.

Statically, over every file, with lazy (in-function) and TYPE_CHECKING imports counted: a lazy
import still makes the layer depend on it. Then at run time, in a fresh interpreter: importing
every chat module (new ones included) loads neither Textual nor httpx nor Pillow.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "megachat"

# layer -> (module prefixes it must not import, files of that layer allowed to)
RULES: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "api": (
        ("megachat.chat", "megachat.cli", "megachat.tui", "megachat.config", "textual", "rich"),
        frozenset(),
    ),
    "chat": (("megachat.cli", "megachat.tui", "textual", "rich", "httpx"), frozenset()),
    "cli": (("megachat.tui", "textual"), frozenset({"megachat/cli/tui_command.py"})),
    "tui": (("megachat.cli",), frozenset()),
}


def imported_modules(source: str, module: str) -> set[str]:
    """Every module a file imports, anywhere in it (relative imports resolved against `module`,
    the file's dotted name)."""
    found: set[str] = set()
    package = module.split(".")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level])
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


def _dotted(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _violations(layer: str) -> list[str]:
    forbidden, allowed = RULES[layer]
    bad = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel in allowed:
            continue
        for name in sorted(imported_modules(path.read_text(encoding="utf-8"), _dotted(path))):
            if any(name == p or name.startswith(p + ".") for p in forbidden):
                bad.append(f"{rel} imports {name}")
    return bad


@pytest.mark.parametrize("layer", sorted(RULES))
def test_layer_imports_point_down(layer: str) -> None:
    assert (PACKAGE / layer).is_dir()
    assert _violations(layer) == []


def test_the_scanner_sees_lazy_relative_and_type_checking_imports() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from megachat.tui.app import MegachatApp\n"
        "def f():\n    import httpx\n    from ..tui import keymap\n"
    )
    found = imported_modules(source, "megachat.chat.example")
    assert {"megachat.tui.app", "httpx", "megachat.tui", "megachat.tui.keymap"} <= found


CHECK = """
import importlib, pkgutil, sys
import megachat.chat
names = sorted(m.name for m in pkgutil.walk_packages(megachat.chat.__path__, "megachat.chat."))
for name in names:
    importlib.import_module(name)
from megachat.chat import Conversation, Store, load_presets
load_presets()
assert "megachat.chat.conversation" in names and "megachat.chat.turn" in names, names
bad = sorted(m for m in ("textual", "rich", "httpx", "PIL", "anthropic") if m in sys.modules)
print(",".join(bad) or "clean")
"""


def test_every_chat_module_imports_no_ui_http_or_pillow() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHECK],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "clean"


def test_api_imports_none_of_the_layers_above() -> None:
    code = (
        "import sys, megachat.api\n"
        "up = ('megachat.chat', 'megachat.cli', 'megachat.tui', 'megachat.config', 'textual')\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith(up))) or 'clean')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "clean"
