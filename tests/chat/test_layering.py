"""megachat.chat stays a domain layer: no Textual, no httpx, and Pillow only when resizing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHECK = """
import sys
import megachat.chat
from megachat.chat import conversation, export, ids, images, migrations, presets, store, tokens
from megachat.chat import Conversation, Store, load_presets
load_presets()
bad = sorted(m for m in ("textual", "httpx", "PIL", "anthropic") if m in sys.modules)
print(",".join(bad) or "clean")
"""


def test_domain_imports_no_ui_http_or_pillow() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHECK],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=True,
    )
    assert out.stdout.strip() == "clean"
