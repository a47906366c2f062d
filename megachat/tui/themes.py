"""Load megachat's Textual themes from TOML files: the shipped ones and the user's own.

A theme file holds the fields of `textual.theme.Theme` (name, primary, secondary, accent,
foreground, background, surface, panel, boost, warning, error, success, dark, luminosity_spread,
text_alpha, ansi, and a `[variables]` table). Every value is checked here, with Textual's own
colour and CSS parsers, because a bad colour would otherwise only fail later, when the theme is
applied, and take the app down with it. A bad file is skipped with a one-line warning.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

from textual.color import Color, ColorParseError
from textual.theme import Theme

from megachat.config import THEME_NAME
from megachat.localfiles import read_user_file
from megachat.sanitize import clean

__all__ = [
    "DARK_THEME",
    "HIGH_CONTRAST_THEME",
    "LIGHT_THEME",
    "ThemeFileError",
    "load_theme_file",
    "load_themes",
    "shipped_themes_dir",
]

DARK_THEME = "megachat-dark"
LIGHT_THEME = "megachat-light"
HIGH_CONTRAST_THEME = "megachat-high-contrast"

MAX_THEME_FILE_BYTES = 64 * 1024
MAX_VARIABLES = 200

_VARIABLE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
_COLOR_FIELDS = (
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)
_FIELDS = {f.name for f in fields(Theme)}


class ThemeFileError(ValueError):
    """A theme file that cannot be used; the message is one human line without the path."""


def shipped_themes_dir() -> Path | None:
    """The folder holding the themes shipped with megachat.

    Installed from a wheel they live in the package (`megachat/themes`, via hatch force-include);
    in a source checkout they are the top-level `themes/` folder next to the package.
    """
    import megachat

    package_dir = Path(megachat.__file__).resolve().parent
    for candidate in (package_dir / "themes", package_dir.parent / "themes"):
        if candidate.is_dir():
            return candidate
    return None


def load_themes(user_dir: Path | None = None) -> tuple[list[Theme], list[str]]:
    """Load the shipped themes, then the user's `*.toml` themes from `user_dir`.

    Returns (themes, warnings). A user theme with the name of a shipped one replaces it. Nothing
    here raises for bad input: an unreadable or invalid file becomes one warning line.
    """
    warnings: list[str] = []
    by_name: dict[str, Theme] = {}
    origin: dict[str, Path] = {}
    shipped = shipped_themes_dir()
    if shipped is None:
        warnings.append("theme: the shipped themes folder was not found")
    sources = [(shipped, False), (user_dir, True)]
    for folder, is_user in sources:
        if folder is None:
            continue
        try:
            paths = sorted(p for p in folder.glob("*.toml") if p.is_file())
        except OSError as exc:
            if is_user:
                warnings.append(f"theme folder {_show(str(folder))}: {_os_reason(exc)}")
            continue
        seen_here: set[str] = set()
        for path in paths:
            try:
                theme = load_theme_file(path, thorough=is_user)
            except ThemeFileError as exc:
                warnings.append(f"theme {_show(path.name)}: {exc} (skipped)")
                continue
            if theme.name in seen_here:
                warnings.append(
                    f"theme {_show(path.name)}: name {theme.name!r} already used by "
                    f"{_show(origin[theme.name].name)} (skipped)"
                )
                continue
            seen_here.add(theme.name)
            by_name[theme.name] = theme
            origin[theme.name] = path
    return list(by_name.values()), warnings


def load_theme_file(path: Path, *, thorough: bool = True) -> Theme:
    """Read and validate one theme file; raise ThemeFileError saying what is wrong."""
    try:
        raw = read_user_file(path, MAX_THEME_FILE_BYTES)  # a FIFO or a huge file is refused
    except OSError as exc:
        raise ThemeFileError(_os_reason(exc)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ThemeFileError("not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ThemeFileError(f"invalid TOML: {_show(str(exc))}") from None
    return theme_from_mapping(data, default_name=path.stem, thorough=thorough)


def theme_from_mapping(
    data: dict[str, Any], *, default_name: str | None = None, thorough: bool = True
) -> Theme:
    """Build a Theme from a parsed TOML table, checking every field's type and value.

    `thorough=False` skips parsing the variables as CSS and generating the full colour system
    (~10 ms a theme): used for the shipped themes, which the test suite checks thoroughly, to
    keep start-up fast.
    """
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise ThemeFileError(f"unknown field {_show(unknown[0])!r}")
    values: dict[str, Any] = {}

    name = data.get("name", default_name)
    if not isinstance(name, str) or not THEME_NAME.fullmatch(name):
        raise ThemeFileError(
            "name must be 1-64 characters of lower-case letters, digits, '-' or '_'"
        )
    values["name"] = name

    if "primary" not in data:
        raise ThemeFileError("missing required field 'primary'")
    for key in _COLOR_FIELDS:
        if key in data:
            values[key] = _color(key, data[key])

    for key in ("dark", "ansi"):
        if key in data:
            if not isinstance(data[key], bool):
                raise ThemeFileError(f"{key} must be true or false")
            values[key] = data[key]

    for key in ("luminosity_spread", "text_alpha"):
        if key in data:
            number = data[key]
            if isinstance(number, bool) or not isinstance(number, int | float):
                raise ThemeFileError(f"{key} must be a number")
            if not 0.0 <= float(number) <= 1.0:
                raise ThemeFileError(f"{key} must be between 0 and 1")
            values[key] = float(number)

    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        raise ThemeFileError("variables must be a table")
    if len(variables) > MAX_VARIABLES:
        raise ThemeFileError(f"more than {MAX_VARIABLES} variables")
    values["variables"] = {key: _variable(key, value) for key, value in variables.items()}
    if thorough and values["variables"] and not _css_values_ok(values["variables"]):
        for key, value in values["variables"].items():  # find the culprit for the message
            _check_css_value(key, value)

    theme = Theme(**values)
    if thorough:
        try:
            theme.to_color_system().generate()
        except Exception as exc:  # Textual's colour maths on odd input: report, never crash
            raise ThemeFileError(f"Textual rejected the colours: {_show(str(exc))}") from None
    return theme


def _color(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ThemeFileError(f"{key} must be a colour string")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeFileError(f"{key}: {_show(value)!r} is not a colour") from None
    return value


def _variable(key: Any, value: Any) -> str:
    """Check a `[variables]` entry by parsing it with Textual's CSS parser, as it will be used."""
    if not isinstance(key, str) or not _VARIABLE_NAME.match(key):
        raise ThemeFileError(f"variable name {_show(str(key))!r} is not valid")
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        raise ThemeFileError(f"variable {key} must be a short non-empty string")
    if any(ch in value for ch in "${};\n\r\\/*"):
        raise ThemeFileError(f"variable {key}: {_show(value)!r} is not allowed")
    return value


def _css_property(key: str) -> str:
    # Text-style variables ("bold", "b reverse", "none"); all others are colours ("#fff 40%").
    return "text-style" if key.endswith("-style") else "color"


def _check_css_value(key: str, value: str) -> None:
    if not _css_values_ok({key: value}):
        kind = "text style" if _css_property(key) == "text-style" else "colour"
        raise ThemeFileError(f"variable {key}: {_show(value)!r} is not a {kind}")


def _css_values_ok(variables: dict[str, str]) -> bool:
    """Parse the variables with Textual's CSS parser, as they will be used: one parse for all."""
    from textual.css.stylesheet import Stylesheet

    names = {f"v{index}": key for index, key in enumerate(variables)}
    sheet = Stylesheet(variables={name: variables[key] for name, key in names.items()})
    rules = " ".join(f"{_css_property(key)}: ${name};" for name, key in names.items())
    try:
        sheet.add_source(f"Screen {{ {rules} }}", read_from=("<theme>", ""))
        sheet.parse()
    except Exception:  # StylesheetParseError and anything odd the tokenizer raises
        return False
    return True


def _os_reason(exc: OSError) -> str:
    return _show(exc.strerror or type(exc).__name__)


def _show(text: str, limit: int = 80) -> str:
    """Untrusted text (file names, TOML errors) made safe for a one-line warning."""
    text = " ".join(clean(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
