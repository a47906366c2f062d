"""The file picker: tree, path completion, half-block preview, attach and cancel (documents:
tests/tui/test_attach_documents.py).

Real image files are written with Pillow into a temporary folder; the screen runs in a tiny host
app (tests/tui/screen_host.py).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from textual.widgets import Input

from megachat.chat.images import MAX_IMAGE_FILE_BYTES
from megachat.sanitize import clean
from megachat.tui.screens.image_picker import ImagePickerScreen, ImageTree, display_path
from megachat.tui.widgets.image_preview import (
    HalfBlockImage,
    ImagePreview,
    describe_size,
    render_preview,
)
from megachat.tui.widgets.path_input import PathInput, suggest_path
from tests.tui.nasty_strings import NASTY_STRINGS
from tests.tui.screen_host import ScreenHost, screen_text, wait_until

BLUE = (0, 0, 255)
RED = (255, 0, 0)


def make_pictures(root: Path) -> Path:
    """pics/ with two images, a fake (binary) .jpg, a text file, a hidden image, a subfolder."""
    pics = root / "pics"
    (pics / "sub").mkdir(parents=True)
    (pics / ".hidden").mkdir()
    flag = Image.new("RGB", (40, 20), RED)
    flag.paste(Image.new("RGB", (20, 20), BLUE), (0, 0))
    flag.save(pics / "flag.png")
    Image.new("RGBA", (10, 10), (0, 255, 0, 128)).save(pics / "green.webp", lossless=True)
    Image.new("RGB", (8, 8), (9, 9, 9)).save(pics / "sub" / "tiny.gif")
    Image.new("RGB", (8, 8), (9, 9, 9)).save(pics / ".secret.png")
    (pics / "fake.jpg").write_bytes(b"\x00not really a jpeg")
    (pics / "notes.txt").write_text("text")
    return pics


@pytest.fixture
def pics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return make_pictures(tmp_path)


def picker(app: ScreenHost) -> ImagePickerScreen:
    screen = app.screen
    assert isinstance(screen, ImagePickerScreen)
    return screen


def tree_labels(app: ScreenHost) -> list[str]:
    tree = picker(app).query_one(ImageTree)
    return [str(node.label) for node in tree.root.children]


async def tree_loaded(pilot: Any) -> None:
    await wait_until(pilot, lambda: bool(tree_labels(pilot.app)))


async def preview_of(pilot: Any, name: str) -> ImagePreview:
    preview = picker(pilot.app).query_one(ImagePreview)
    await wait_until(
        pilot,
        lambda: (
            preview.result is not None
            and preview.path is not None
            and preview.path.name == name
            and preview.result.path == preview.path
        ),
    )
    return preview


async def highlight(pilot: Any, name: str) -> None:
    tree = picker(pilot.app).query_one(ImageTree)
    for _ in range(len(tree.root.children) + 2):
        node = tree.cursor_node
        if node is not None and node.data is not None and node.data.path.name == name:
            return
        await pilot.press("down")
    raise AssertionError(f"{name} not reachable in the tree")


async def test_tree_shows_files_and_folders_without_hidden_entries(pics: Path) -> None:
    app = ScreenHost(lambda: ImagePickerScreen(Path("pics")))
    async with app.run_test(size=(100, 30)) as pilot:
        await tree_loaded(pilot)
        assert tree_labels(app) == ["sub", "fake.jpg", "flag.png", "green.webp", "notes.txt"]
        assert picker(app).query_one(PathInput).value == "pics/"


async def test_highlight_previews_as_half_blocks_and_enter_attaches(pics: Path) -> None:
    app = ScreenHost(lambda: ImagePickerScreen(Path("pics")))
    async with app.run_test(size=(100, 30)) as pilot:
        await tree_loaded(pilot)
        await highlight(pilot, "flag.png")
        preview = await preview_of(pilot, "flag.png")
        assert preview.result is not None
        assert preview.result.info == "flag.png · 101 B · 40×20 PNG".replace(
            "101 B", describe_size((pics / "flag.png").stat().st_size)
        )
        image = preview.result.image
        assert isinstance(image, HalfBlockImage)
        first, last = image.lines[0][0], image.lines[0][-1]
        assert set(first.text) == {"▀"}
        assert first.style is not None and last.style is not None
        assert first.style.color is not None and last.style.color is not None
        assert first.style.color.triplet == BLUE and last.style.color.triplet == RED
        assert first.style.bgcolor is not None and first.style.bgcolor.triplet == BLUE
        # Two pixels per cell: a 2:1 picture comes out twice as wide as it is tall in cells.
        width = sum(len(segment.text) for segment in image.lines[0])
        assert width == pytest.approx(2 * 2 * len(image.lines), abs=2)
        assert picker(app).query_one(PathInput).value == "pics/flag.png"
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.dismissed)
    assert app.result == pics / "flag.png"
    assert app.result.is_absolute()


async def test_a_file_that_cannot_be_attached_says_why(pics: Path) -> None:
    app = ScreenHost(lambda: ImagePickerScreen(Path("pics")))
    async with app.run_test(size=(100, 30)) as pilot:
        await tree_loaded(pilot)
        await highlight(pilot, "fake.jpg")
        preview = await preview_of(pilot, "fake.jpg")
        assert preview.result is not None and preview.result.error
        assert preview.result.info.startswith("Not an image: fake.jpg")
        # Not an image, a PDF or text: the document pane, over the picture, says why.
        await wait_until(pilot, lambda: "fake.jpg: a binary file" in screen_text(app))


async def test_path_input_completes_with_right_and_enter_attaches(pics: Path) -> None:
    app = ScreenHost(lambda: ImagePickerScreen(Path("pics")))
    async with app.run_test(size=(100, 30)) as pilot:
        await tree_loaded(pilot)
        await pilot.press("ctrl+l")
        path_input = picker(app).query_one(PathInput)
        assert path_input.has_focus
        await pilot.press("f", "l")
        assert path_input.value == "pics/fl"
        await wait_until(pilot, lambda: path_input._suggestion == "pics/flag.png")
        await pilot.press("right")
        assert path_input.value == "pics/flag.png"
        await preview_of(pilot, "flag.png")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.dismissed)
    assert app.result == pics / "flag.png"


async def test_typing_a_folder_and_enter_browses_it(pics: Path) -> None:
    app = ScreenHost(lambda: ImagePickerScreen(Path("pics")))
    async with app.run_test(size=(100, 30)) as pilot:
        await tree_loaded(pilot)
        path_input = picker(app).query_one(PathInput)
        path_input.value = "pics/sub"
        path_input.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: tree_labels(app) == ["tiny.gif"])
        assert path_input.value == "pics/sub/"
        assert not app.dismissed


async def test_a_missing_path_is_refused_with_a_message(pics: Path) -> None:
    app = ScreenHost(lambda: ImagePickerScreen(Path("pics")))
    async with app.run_test(size=(100, 30)) as pilot:
        await tree_loaded(pilot)
        path_input = picker(app).query_one(PathInput)
        path_input.value = "pics/nope[bold].png"
        path_input.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert not app.dismissed
        assert "No such file: nope[bold].png" in screen_text(app)


async def test_escape_and_the_cancel_button_cancel(pics: Path) -> None:
    app = ScreenHost(lambda: ImagePickerScreen(Path("pics")))
    async with app.run_test(size=(100, 30)) as pilot:
        await tree_loaded(pilot)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.dismissed)
    assert app.result is None
    app = ScreenHost(lambda: ImagePickerScreen(Path("pics")))
    async with app.run_test(size=(100, 30)) as pilot:
        await tree_loaded(pilot)
        await pilot.click("#picker-cancel")
        await wait_until(pilot, lambda: app.dismissed)
    assert app.result is None


async def test_a_start_dir_that_does_not_exist_falls_back_to_the_working_folder(
    pics: Path,
) -> None:
    app = ScreenHost(lambda: ImagePickerScreen(pics / "missing"))
    async with app.run_test(size=(100, 30)) as pilot:
        await tree_loaded(pilot)
        assert "pics" in tree_labels(app)


def fs_name(text: str) -> str | None:
    """A nasty string made into a usable file name, or None when the OS cannot hold it."""
    name = text.replace("/", "_").replace("\x00", "_")[:60].strip() or None
    if name is None or name in (".", "..") or name.startswith("."):
        return None
    try:
        os.fsencode(name + ".png")
    except UnicodeEncodeError:
        return None
    return name + ".png"


async def test_nasty_file_names_show_cleaned_and_attach_the_real_file(tmp_path: Path) -> None:
    folder = tmp_path / "nasty"
    folder.mkdir()
    names: list[str] = []
    for text in NASTY_STRINGS:
        name = fs_name(text)
        if name is None or name in names:
            continue
        Image.new("RGB", (4, 4), (1, 2, 3)).save(folder / name, format="PNG")
        names.append(name)
    assert len(names) >= 25
    app = ScreenHost(lambda: ImagePickerScreen(folder))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: len(tree_labels(app)) == len(names))
        for label in tree_labels(app):
            assert label == " ".join(clean(label).splitlines())
        drawn = screen_text(app)
        assert "\x1b" not in drawn and "\x07" not in drawn and "\x9b" not in drawn
        tree = picker(app).query_one(ImageTree)
        path_input = picker(app).query_one(PathInput)
        for _ in names:  # walk every file: preview, input text, no crash
            await pilot.press("down")
            node = tree.cursor_node
            assert node is not None and node.data is not None
            await preview_of(pilot, node.data.path.name)
            assert path_input.value == " ".join(clean(path_input.value).splitlines())
        chosen = tree.cursor_node
        assert chosen is not None and chosen.data is not None
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.dismissed)
    assert app.result is not None and app.result.name == chosen.data.path.name
    assert app.result.is_file()


async def test_control_characters_in_a_name_round_trip_through_the_path_input(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "odd"
    folder.mkdir()
    nasty = "red\x1b[31m.png"
    Image.new("RGB", (4, 4), RED).save(folder / nasty, format="PNG")
    Image.new("RGB", (4, 4), BLUE).save(folder / "red.png", format="PNG")
    for pick in (nasty, "red.png"):
        app = ScreenHost(lambda: ImagePickerScreen(folder))
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_until(pilot, lambda: len(tree_labels(app)) == 2)  # noqa: B023
            await highlight(pilot, nasty)
            path_input = picker(app).query_one(PathInput)
            assert path_input.value.endswith("odd/red.png")  # shown without the escape
            await highlight(pilot, pick)
            path_input.focus()
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.dismissed)  # noqa: B023
        assert app.result == folder / pick


# -- the pieces on their own ------------------------------------------------------------------


def test_suggest_path_completes_names_folders_and_common_prefixes(tmp_path: Path) -> None:
    make_pictures(tmp_path)
    (tmp_path / "pics" / "flower.jpg").write_bytes(b"x")
    exts = {".png", ".jpg", ".gif", ".webp"}
    assert suggest_path("pi", extensions=exts, cwd=tmp_path) == "pics/"
    assert suggest_path("pics/s", extensions=exts, cwd=tmp_path) == "pics/sub/"
    assert suggest_path("pics/fla", extensions=exts, cwd=tmp_path) == "pics/flag.png"
    # "fl" is ambiguous (flag.png, flower.jpg): the first candidate is offered
    assert suggest_path("pics/fl", extensions=exts, cwd=tmp_path) == "pics/flag.png"
    assert suggest_path("pics/no", extensions=exts, cwd=tmp_path) is None  # notes.txt filtered
    assert suggest_path("pics/no", extensions=None, cwd=tmp_path) == "pics/notes.txt"
    assert suggest_path("pics/.s", extensions=exts, cwd=tmp_path) == "pics/.secret.png"
    assert suggest_path("pics/", extensions=exts, cwd=tmp_path) == "pics/fake.jpg"
    assert suggest_path(str(tmp_path / "pics" / "gr"), extensions=exts) == str(
        tmp_path / "pics" / "green.webp"
    )
    assert suggest_path("", cwd=tmp_path) is None
    assert suggest_path("~", cwd=tmp_path) is None
    assert suggest_path("missing/x", cwd=tmp_path) is None
    assert suggest_path("pics/flag.png", extensions=exts, cwd=tmp_path) is None


def test_suggest_path_keeps_the_tilde_as_typed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    make_pictures(tmp_path)
    assert suggest_path("~/pi") == "~/pics/"
    assert suggest_path("~/pics/fla", extensions={".png"}) == "~/pics/flag.png"


def test_render_preview_handles_every_kind_of_file(tmp_path: Path) -> None:
    pics = make_pictures(tmp_path)
    transparent = render_preview(pics / "green.webp", 10, 5, background=(0, 0, 0))
    assert transparent.is_image and transparent.image is not None
    top = transparent.image.lines[0][0].style
    assert top is not None and top.color is not None
    assert top.color.triplet == (0, 128, 0)  # 50% green over black
    tiny = render_preview(pics / "sub" / "tiny.gif", 20, 10)
    assert tiny.image is not None and tiny.image.width == 20  # small pictures are scaled up
    assert len(tiny.image.lines) == 10
    folder = render_preview(pics / "sub", 20, 10)
    assert folder.info == "Folder: sub" and folder.image is None
    missing = render_preview(pics / "gone.png", 20, 10)
    assert missing.error and missing.info == "No such file: gone.png"
    truncated = pics / "broken.png"
    truncated.write_bytes((pics / "flag.png").read_bytes()[:60])
    broken = render_preview(truncated, 20, 10)
    assert broken.error and broken.info.startswith("Cannot read broken.png as an image")
    no_room = render_preview(pics / "flag.png", 0, 0)
    assert no_room.is_image and no_room.image is None and "40×20" in no_room.info


def test_render_preview_refuses_decompression_bombs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pics = make_pictures(tmp_path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # flag.png has 800 pixels: > 2x limit
    result = render_preview(pics / "flag.png", 20, 10)
    assert result.image is None and "too large to preview" in result.info


def test_display_path_is_short() -> None:
    cwd = Path("/work/project")
    assert display_path(Path("/work/project/pics/a.png"), cwd) == "pics/a.png"
    assert display_path(Path("/work/project"), cwd) == "."
    assert display_path(Path.home() / "x.png", cwd) == "~/x.png"


def test_importing_the_picker_does_not_import_pillow() -> None:
    code = (
        "import sys, megachat.tui.screens.image_picker, megachat.tui.widgets.image_preview;"
        "print('PIL' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"


async def test_input_changed_to_an_image_previews_it(pics: Path) -> None:
    app = ScreenHost(lambda: ImagePickerScreen(Path("pics")))
    async with app.run_test(size=(100, 30)) as pilot:
        await tree_loaded(pilot)
        picker(app).query_one(PathInput, Input).value = "pics/green.webp"
        preview = await preview_of(pilot, "green.webp")
        assert preview.result is not None and "10×10 WEBP" in preview.result.info


async def test_a_fifo_is_not_previewed_or_attached_and_nothing_blocks(pics: Path) -> None:
    fifo = pics / "x.png"
    os.mkfifo(fifo)
    try:
        app = ScreenHost(lambda: ImagePickerScreen(Path("pics")))
        async with app.run_test(size=(100, 30)) as pilot:
            await tree_loaded(pilot)
            await highlight(pilot, "x.png")
            preview = await preview_of(pilot, "x.png")
            assert preview.result is not None and preview.result.error
            assert preview.result.info == "x.png: is not a regular file"
            assert "x.png: is not a regular file" in screen_text(app)
            await pilot.press("enter")
            await pilot.pause()
            assert not app.dismissed
            assert "Not a regular file: x.png" in screen_text(app)
    finally:  # a preview still blocked opening the FIFO (the bug) would hang the event loop's end
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def test_render_preview_refuses_devices_and_files_over_the_image_limit(tmp_path: Path) -> None:
    device = render_preview(Path("/dev/zero"), 20, 10)
    assert device.error and device.image is None
    assert device.info == "zero: is not a regular file"
    big = tmp_path / "big.png"
    with open(big, "wb") as handle:
        handle.truncate(MAX_IMAGE_FILE_BYTES + 1)
    huge = render_preview(big, 20, 10)
    assert huge.error and huge.image is None
    assert huge.info == "big.png: is 67,108,865 bytes, larger than the 64 MiB limit"
