"""Themes: the shipped TOML files, user themes, validation of bad input, and the wheel layout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from textual.app import App, ComposeResult
from textual.widgets import Button, Footer, Input, OptionList, Static

from megachat.tui.themes import (
    DARK_THEME,
    HIGH_CONTRAST_THEME,
    LIGHT_THEME,
    ThemeFileError,
    load_theme_file,
    load_themes,
    shipped_themes_dir,
    theme_from_mapping,
)

REPO = Path(__file__).resolve().parents[2]
SHIPPED = {DARK_THEME, LIGHT_THEME, HIGH_CONTRAST_THEME}


def write(folder: Path, name: str, text: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


GOOD_USER_THEME = """
name = "ocean"
primary = "#1E90FF"
background = "#001020"
dark = true
[variables]
footer-key-foreground = "#FFCC00"
block-cursor-text-style = "b reverse"
"""


def test_shipped_themes_load_without_warnings() -> None:
    themes, warnings = load_themes(None)
    assert warnings == []
    by_name = {theme.name: theme for theme in themes}
    assert set(by_name) >= SHIPPED
    assert by_name[DARK_THEME].dark is True
    assert by_name[LIGHT_THEME].dark is False
    assert by_name[HIGH_CONTRAST_THEME].text_alpha == 1.0


def test_shipped_dir_in_a_source_checkout_is_the_top_level_themes_folder() -> None:
    found = shipped_themes_dir()
    assert found is not None
    assert found.resolve() == (REPO / "themes").resolve()
    assert {p.stem for p in found.glob("*.toml")} >= SHIPPED


def test_every_shipped_file_passes_the_thorough_checks_and_is_named_after_its_file() -> None:
    """Start-up loads shipped themes without the CSS checks; this is where they are made."""
    for path in (REPO / "themes").glob("*.toml"):
        assert load_theme_file(path, thorough=True).name == path.stem


def test_user_theme_is_added_and_can_replace_a_shipped_one(tmp_path: Path) -> None:
    write(tmp_path, "ocean.toml", GOOD_USER_THEME)
    write(tmp_path, "mine.toml", f'name = "{DARK_THEME}"\nprimary = "#FF0000"\n')
    themes, warnings = load_themes(tmp_path)
    assert warnings == []
    by_name = {theme.name: theme for theme in themes}
    assert by_name["ocean"].variables["footer-key-foreground"] == "#FFCC00"
    assert by_name[DARK_THEME].primary == "#FF0000"
    assert len([t for t in themes if t.name == DARK_THEME]) == 1


def test_missing_user_dir_is_not_an_error(tmp_path: Path) -> None:
    themes, warnings = load_themes(tmp_path / "does-not-exist")
    assert warnings == []
    assert {t.name for t in themes} >= SHIPPED


def test_name_defaults_to_the_file_name(tmp_path: Path) -> None:
    write(tmp_path, "plain.toml", 'primary = "red"\n')
    themes, warnings = load_themes(tmp_path)
    assert warnings == []
    assert "plain" in {t.name for t in themes}


BAD_FILES = {
    "syntax.toml": ('name = "x\nprimary = ', "invalid TOML"),
    "noprimary.toml": ('name = "noprimary"\n', "missing required field 'primary'"),
    "badcolor.toml": ('primary = "not-a-colour"\n', "is not a colour"),
    "numbercolor.toml": ("primary = 12\n", "must be a colour string"),
    "unknown.toml": ('primary = "red"\nprimay = "blue"\n', "unknown field 'primay'"),
    "badname.toml": ('name = "Has Spaces"\nprimary = "red"\n', "name must be"),
    "markupname.toml": ('name = "[bold]x[/]"\nprimary = "red"\n', "name must be"),
    "darkstring.toml": ('primary = "red"\ndark = "yes"\n', "dark must be true or false"),
    "alpha.toml": ('primary = "red"\ntext_alpha = 3\n', "between 0 and 1"),
    "alphabool.toml": ('primary = "red"\ntext_alpha = true\n', "must be a number"),
    "vartable.toml": ('primary = "red"\nvariables = "x"\n', "variables must be a table"),
    "varcolor.toml": ('primary = "red"\n[variables]\nborder = "nope"\n', "is not a colour"),
    "varstyle.toml": (
        'primary = "red"\n[variables]\nblock-cursor-text-style = "shiny"\n',
        "is not a text style",
    ),
    "varinject.toml": (
        'primary = "red"\n[variables]\nborder = "red; } Screen { color: blue"\n',
        "is not allowed",
    ),
    "varname.toml": ('primary = "red"\n[variables]\n"Bad Name" = "red"\n', "is not valid"),
    "varnested.toml": ('primary = "red"\n[variables.border]\nx = 1\n', "short non-empty"),
}


@pytest.mark.parametrize("filename", sorted(BAD_FILES))
def test_bad_theme_file_is_skipped_with_one_warning(tmp_path: Path, filename: str) -> None:
    text, reason = BAD_FILES[filename]
    write(tmp_path, filename, text)
    write(tmp_path, "ocean.toml", GOOD_USER_THEME)
    themes, warnings = load_themes(tmp_path)
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f"theme {filename}: ")
    assert reason in warnings[0]
    assert warnings[0].endswith("(skipped)")
    assert "\n" not in warnings[0]
    names = {t.name for t in themes}
    assert "ocean" in names and names >= SHIPPED
    assert Path(filename).stem not in names


def test_unreadable_files_become_warnings(tmp_path: Path) -> None:
    write(tmp_path, "binary.toml", b"\xff\xfe\x00garbage")
    write(tmp_path, "huge.toml", 'primary = "red"\n' + "# padding\n" * 20_000)
    (tmp_path / "folder.toml").mkdir()  # not a file: ignored
    _, warnings = load_themes(tmp_path)
    assert sorted(w.split(":")[0] for w in warnings) == ["theme binary.toml", "theme huge.toml"]
    assert any("not UTF-8" in w for w in warnings)
    assert any("larger than" in w for w in warnings)


def test_duplicate_names_in_the_user_dir_keep_the_first(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", 'name = "same"\nprimary = "red"\n')
    write(tmp_path, "b.toml", 'name = "same"\nprimary = "blue"\n')
    themes, warnings = load_themes(tmp_path)
    assert [t.primary for t in themes if t.name == "same"] == ["red"]
    assert len(warnings) == 1 and "already used by a.toml" in warnings[0]


def test_hostile_file_names_are_cleaned_in_warnings(tmp_path: Path) -> None:
    name = "evil\x1b]2;pwned\x07[bold].toml"
    write(tmp_path, name, "primary = ")
    _, warnings = load_themes(tmp_path)
    assert len(warnings) == 1
    assert "\x1b" not in warnings[0] and "\x07" not in warnings[0]
    assert "[bold]" in warnings[0]  # shown literally, it is the caller's job not to use markup


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            ["name", "primary", "secondary", "background", "dark", "text_alpha", "variables", "x"]
        ),
        st.one_of(
            st.text(max_size=20),
            st.booleans(),
            st.floats(allow_nan=True),
            st.integers(),
            st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3),
        ),
    )
)
def test_arbitrary_tables_either_load_or_raise_theme_file_error(data: dict) -> None:
    try:
        theme = theme_from_mapping(data, default_name="fuzz")
    except ThemeFileError as exc:
        assert "\n" not in str(exc)
        return
    theme.to_color_system().generate()  # an accepted theme is one Textual can use


class ThemedApp(App[None]):
    """Widgets that use theme variables, to apply every theme for real."""

    def compose(self) -> ComposeResult:
        yield Static("static")
        yield Input("input")
        yield Button("button")
        yield OptionList("one", "two")
        yield Footer()


async def test_every_theme_applies_in_a_running_app(tmp_path: Path) -> None:
    write(tmp_path, "ocean.toml", GOOD_USER_THEME)
    themes, warnings = load_themes(tmp_path)
    assert warnings == []
    app = ThemedApp()
    async with app.run_test() as pilot:
        for theme in themes:
            app.register_theme(theme)
        for theme in themes:
            app.theme = theme.name
            await pilot.pause()
            assert app.current_theme.name == theme.name
        assert app.theme_variables["footer-key-foreground"].upper() == "#FFCC00"


def test_wheel_ships_the_themes_and_the_installed_package_finds_them(tmp_path: Path) -> None:
    """A non-editable install: build the wheel, unpack it elsewhere, import from there only."""
    out = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = out.glob("megachat-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert {f"megachat/themes/{name}.toml" for name in SHIPPED} <= set(names)
        assert "megachat/tui/screens/image_picker.tcss" in names
        assert "megachat/tui/screens/conversations.tcss" in names
        archive.extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    probe = subprocess.run(
        [sys.executable, "-I", "-c",
         "import sys; sys.path.insert(0, sys.argv[1]);"
         "from megachat.tui.themes import load_themes, shipped_themes_dir;"
         "t, w = load_themes(None); print(shipped_themes_dir());"
         "print(sorted(x.name for x in t), w)",
         str(site)],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr[-2000:]
    folder, loaded = probe.stdout.splitlines()
    assert Path(folder) == site / "megachat" / "themes"
    for name in SHIPPED:
        assert name in loaded
    assert loaded.endswith("[]")
