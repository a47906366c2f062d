"""Fuzz the config loader and the theme loader (issue 5, item 2).

The config loader may only raise ``ConfigError`` (one line naming the file), for any bytes and for
valid TOML holding values of the wrong type. The theme loader never raises: a bad user theme is
skipped with a warning, because a broken theme file must not stop the app from opening.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from megachat.config import (
    ConfigError,
    file_values,
    known_keys,
    load_settings,
    save_setting,
)
from megachat.tui.themes import load_themes

NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
FUZZ = settings(
    max_examples=120, deadline=None, phases=NO_SHRINK, suppress_health_check=list(HealthCheck)
)
THEMES = settings(
    max_examples=40, deadline=None, phases=NO_SHRINK, suppress_health_check=list(HealthCheck)
)

CONFIG_KEYS = [k for k in known_keys() if "<" not in k]
toml_leaf = (
    st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.datetimes(max_value=dt.datetime(9999, 1, 1))
    | st.dates()
    | st.times()
)
toml_value = st.recursive(
    toml_leaf,
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3)
    ),
    max_leaves=8,
)
key_name = st.sampled_from([*CONFIG_KEYS, "rate_limit", "keymap", "requests", "per_seconds"])
key_name |= st.text(min_size=1, max_size=10)


@st.composite
def config_document(draw: st.DrawFn) -> dict[str, Any]:
    """Valid TOML with known and unknown keys, mostly wrong types, sometimes right ones."""
    doc: dict[str, Any] = {}
    for key in draw(st.lists(key_name, max_size=6)):
        top, _, sub = key.partition(".")
        value = draw(toml_value)
        if sub:
            table = doc.setdefault(top, {})
            if isinstance(table, dict):
                table[sub] = value
        else:
            doc[top] = value
    if draw(st.booleans()):
        doc["keymap"] = draw(st.dictionaries(st.text(max_size=8), toml_value, max_size=3))
    return doc


def _write(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)


def _load_only_config_errors(path: Path) -> None:
    for action in (
        lambda: load_settings(path, environ={}),
        lambda: file_values(path),
        lambda: save_setting("model", "m", path),
    ):
        before = path.read_bytes()
        try:
            action()
        except ConfigError as exc:
            assert str(path) in str(exc)  # names the file (the CLI makes it one clean line)
            assert path.read_bytes() == before  # a file we refuse is never rewritten


@FUZZ
@given(st.binary(max_size=300))
def test_config_random_bytes(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.toml"
        _write(path, raw)
        _load_only_config_errors(path)


@FUZZ
@given(st.text(alphabet=st.sampled_from("ab_= \"'[].\n#123tfrue{},x\\\t"), max_size=120))
def test_config_random_toml_like_text(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.toml"
        _write(path, text.encode())
        _load_only_config_errors(path)


@FUZZ
@given(config_document())
def test_config_valid_toml_wrong_types(doc: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.toml"
        _write(path, tomli_w.dumps(doc).encode())
        _load_only_config_errors(path)


# --- themes -------------------------------------------------------------------------------------

COLOR = st.sampled_from(
    ["#ff0000", "#0f0", "red", "rgb(1,2,3)", "hsl(10,50%,50%)", "ansi_red", "#12345678", "", "#"]
) | st.text(max_size=12)
THEME_FIELDS = [
    "name", "primary", "secondary", "accent", "foreground", "background", "surface", "panel",
    "boost", "warning", "error", "success", "dark", "luminosity_spread", "text_alpha", "ansi",
    "variables",
]  # fmt: skip
VARIABLE_NAMES = st.sampled_from(
    ["block-cursor-text-style", "footer-key-foreground", "input-selection-background", "x-style"]
) | st.text(max_size=10)
VARIABLE_VALUES = st.sampled_from(
    ["bold", "b reverse", "none", "#fff 40%", "red", "$primary", "auto 50%", "bold not"]
) | st.text(max_size=12)


@st.composite
def theme_document(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(THEME_FIELDS) | st.text(max_size=6), max_size=8)):
        if key == "variables":
            doc[key] = draw(
                st.dictionaries(VARIABLE_NAMES, VARIABLE_VALUES | toml_value, max_size=4)
                | toml_value
            )
        elif key in ("dark", "ansi"):
            doc[key] = draw(st.booleans() | toml_value)
        elif key in ("luminosity_spread", "text_alpha"):
            doc[key] = draw(st.floats() | toml_value)
        elif key == "name":
            doc[key] = draw(st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True) | toml_value)
        else:
            doc[key] = draw(COLOR | toml_value)
    if draw(st.booleans()):
        doc.setdefault("primary", draw(COLOR))
    return doc


def _check_themes(folder: Path, bad_expected: bool = False) -> None:
    themes, warnings = load_themes(folder)  # must not raise
    assert all(isinstance(w, str) and "\n" not in w and "\x1b" not in w for w in warnings)
    assert themes  # the shipped ones are always there
    if bad_expected:
        assert warnings


@THEMES
@given(st.lists(theme_document(), min_size=1, max_size=3))
def test_theme_loader_random_valid_toml(docs: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for number, doc in enumerate(docs):
            (folder / f"t{number}.toml").write_bytes(tomli_w.dumps(doc).encode())
        _check_themes(folder)


@THEMES
@given(st.lists(st.binary(max_size=200), min_size=1, max_size=3), st.text(max_size=8))
def test_theme_loader_random_bytes(files: list[bytes], stem: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for number, raw in enumerate(files):
            (folder / f"{number}.toml").write_bytes(raw)
        _check_themes(folder)


def test_theme_loader_reports_bad_file(tmp_path: Path) -> None:
    """The property tests above could pass by ignoring files: a bad one must be a warning."""
    (tmp_path / "bad.toml").write_text('name = "bad"\nprimary = "not-a-colour"\n')
    (tmp_path / "broken.toml").write_bytes(b"\xff\xfe[[[")
    themes, warnings = load_themes(tmp_path)
    assert len([w for w in warnings if "bad.toml" in w or "broken.toml" in w]) == 2
    assert "bad" not in {t.name for t in themes}
