"""Helpers shared by the api tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sse"
EXPECTED: dict[str, Any] = json.loads((FIXTURES / "expected_sdk_results.json").read_text())
FIXTURE_NAMES = sorted(name for name in EXPECTED if name.endswith(".sse"))
OK_FIXTURES = [n for n in FIXTURE_NAMES if "final_message" in EXPECTED[n]]
ERROR_FIXTURES = [n for n in FIXTURE_NAMES if "error" in EXPECTED[n]]
KEY = "sk-mega-test-SECRET-0123456789"
BODY = {
    "model": "claude-sonnet-4",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "hi"}],
}


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def assert_matches_sdk(message: dict, expected: dict) -> None:
    """Compare the fields the SDK run recorded (content blocks field by field)."""
    for key, value in expected.items():
        if key == "content":
            assert len(message["content"]) == len(value)
            for got, want in zip(message["content"], value, strict=True):
                for field, field_value in want.items():
                    assert got.get(field) == field_value, (field, got)
        else:
            assert message.get(key) == value, key
