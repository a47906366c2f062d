"""Real image previews through textual-image where the terminal has a graphics protocol, half-blocks
elsewhere (issue 11, item 6).

- the renderer is chosen from the terminal's environment alone (no terminal query);
- loading textual-image's modules writes nothing to the terminal (textual-image's own package
  imports do: that is checked too, so the test can fail);
- in Pilot, the picker and the attachments strip show textual-image's widgets for kitty and sixel,
  fed pictures prepared in the preview thread, and half-blocks otherwise;
- a real `megachat` on a pty writes kitty graphics escapes (or sixels) when an image is previewed
  in a kitty (or WezTerm) environment, none in a plain xterm, and imports textual_image only then;
- `megachat --version` does not import textual_image.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from textual.app import App, ComposeResult
from textual.geometry import Region

from megachat.tui.screens.image_picker import ImagePickerScreen
from megachat.tui.widgets.attachments import AttachmentsStrip
from megachat.tui.widgets.image_graphics import (
    ENV_IMAGE_PREVIEW,
    GraphicPicture,
    Renderer,
    choose_renderer,
)
from megachat.tui.widgets.image_preview import HalfBlockImage, ImagePicture, ImagePreview
from tests.benchmarks.ptyproc import spawn_in_pty, stop
from tests.cli.conftest import ROOT, _base_env
from tests.fakeserver import FakeServer
from tests.tui.conftest import ready, settle
from tests.tui.screen_host import ScreenHost, screen_text, wait_until

RED, BLUE = (255, 0, 0), (0, 0, 255)
KITTY_APC = b"\x1b_G"  # a kitty graphics protocol command
PLACEHOLDER = chr(0x10EEEE).encode()  # a cell showing part of a kitty image
SIXEL_START = b"\x1bP0;0;0q"  # textual-image's sixel header
HALF_BLOCK = "▀".encode()
# What textual-image's package imports send to ask the terminal: DA1, a kitty query, cell size.
TERMINAL_QUERIES = (b"\x1b[c", b"a=q", b"\x1b[16t")
# Variables that name the terminal this test runs in: none may leak into a test's environment.
TERMINAL_VARIABLES = (
    "TERM",
    "TERM_PROGRAM",
    "TERM_PROGRAM_VERSION",
    "COLORTERM",
    "KITTY_WINDOW_ID",
    "KONSOLE_VERSION",
    "TMUX",
    "STY",
    "WEZTERM_EXECUTABLE",
    "WEZTERM_PANE",
    ENV_IMAGE_PREVIEW,
)


def make_flag(path: Path, size: tuple[int, int] = (40, 20)) -> Path:
    """Blue left half, red right half."""
    flag = Image.new("RGB", size, RED)
    flag.paste(Image.new("RGB", (size[0] // 2, size[1]), BLUE), (0, 0))
    flag.save(path)
    return path


# -- the choice of renderer ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"TERM": "xterm-kitty"}, Renderer.KITTY),
        ({"TERM": "xterm-ghostty", "TERM_PROGRAM": "ghostty"}, Renderer.KITTY),
        ({"TERM": "xterm-256color", "KITTY_WINDOW_ID": "3"}, Renderer.KITTY),
        ({"TERM": "xterm-256color", "TERM_PROGRAM": "WezTerm"}, Renderer.SIXEL),
        ({"TERM": "xterm-256color", "TERM_PROGRAM": "iTerm.app"}, Renderer.SIXEL),
        ({"TERM": "foot"}, Renderer.SIXEL),
        ({"TERM": "mlterm"}, Renderer.SIXEL),
        ({"TERM": "xterm-256color", "KONSOLE_VERSION": "230805"}, Renderer.SIXEL),
        ({"TERM": "xterm-256color", "KONSOLE_VERSION": "210800"}, Renderer.HALFBLOCK),
        ({"TERM": "xterm"}, Renderer.HALFBLOCK),
        ({"TERM": "xterm-256color", "COLORTERM": "truecolor"}, Renderer.HALFBLOCK),
        ({"TERM": "linux"}, Renderer.HALFBLOCK),
        ({}, Renderer.HALFBLOCK),
        # Multiplexers swallow graphics escapes unless passed through: half-blocks.
        ({"TERM": "xterm-kitty", "TMUX": "/tmp/tmux-1000/default,42,0"}, Renderer.HALFBLOCK),
        ({"TERM": "tmux-256color", "KITTY_WINDOW_ID": "1"}, Renderer.HALFBLOCK),
        ({"TERM": "screen", "TERM_PROGRAM": "WezTerm", "STY": "1.pts-0"}, Renderer.HALFBLOCK),
        # WezTerm started from a kitty shell inherits KITTY_WINDOW_ID: TERM_PROGRAM wins.
        ({"TERM_PROGRAM": "WezTerm", "KITTY_WINDOW_ID": "1"}, Renderer.SIXEL),
        # The override names the renderer, whatever the terminal looks like.
        ({"TERM": "xterm-kitty", ENV_IMAGE_PREVIEW: "halfblock"}, Renderer.HALFBLOCK),
        ({"TERM": "xterm", ENV_IMAGE_PREVIEW: "sixel"}, Renderer.SIXEL),
        ({"TERM": "xterm", ENV_IMAGE_PREVIEW: " Kitty "}, Renderer.KITTY),
        ({"TERM": "xterm-kitty", ENV_IMAGE_PREVIEW: "auto"}, Renderer.KITTY),
        ({"TERM": "xterm-kitty", ENV_IMAGE_PREVIEW: "bogus"}, Renderer.KITTY),
    ],
)
def test_renderer_follows_the_terminal(environ: dict[str, str], expected: Renderer) -> None:
    assert choose_renderer(environ, stdout_is_tty=True) is expected


def test_no_graphics_guessed_when_stdout_is_not_the_terminal() -> None:
    # textual-image writes kitty images to stdout: redirected, they would land in a file.
    assert choose_renderer({"TERM": "xterm-kitty"}, stdout_is_tty=False) is Renderer.HALFBLOCK
    assert choose_renderer({"TERM_PROGRAM": "WezTerm"}, stdout_is_tty=False) is Renderer.HALFBLOCK
    forced = {"TERM": "xterm-kitty", ENV_IMAGE_PREVIEW: "kitty"}
    assert choose_renderer(forced, stdout_is_tty=False) is Renderer.KITTY


# -- loading textual-image asks the terminal nothing ---------------------------------------------


def output_of_python_on_a_pty(code: str, env: Mapping[str, str]) -> bytes:
    """Everything `python -c code` writes to its pty (stdin, stdout, stderr) until it exits."""
    proc, master = spawn_in_pty([sys.executable, "-c", code], env, cwd=ROOT, rows=24, cols=80)
    output = b""
    deadline = time.monotonic() + 60
    try:
        while True:
            assert time.monotonic() < deadline, f"python did not exit; output: {output!r}"
            ready_fds, _, _ = select.select([master], [], [], 0.5)
            if not ready_fds:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the pty
                break
            if not chunk:
                break
            output += chunk
        assert proc.wait(timeout=30) == 0, output
    finally:
        stop(proc, master)
    return output


def terminal_env(tmp_path: Path, **terminal: str) -> dict[str, str]:
    """The test environment with only the terminal variables given."""
    env = {k: v for k, v in _base_env(tmp_path).items() if k not in TERMINAL_VARIABLES}
    env.update(terminal)
    return env


def test_graphics_widgets_load_without_querying_the_terminal(tmp_path: Path) -> None:
    env = terminal_env(tmp_path, TERM="xterm-kitty", COLORTERM="truecolor")
    quiet = output_of_python_on_a_pty(
        "import megachat.tui.widgets.image_graphics_widgets; print('LOADED')", env
    )
    assert quiet.strip() == b"LOADED"
    # The check can fail: textual-image's own package import probes the terminal.
    probing = output_of_python_on_a_pty("import textual_image.widget; print('LOADED')", env)
    assert any(query in probing for query in TERMINAL_QUERIES), probing


def test_the_version_command_imports_no_textual_image(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "megachat", "--version"],
        env=_base_env(tmp_path),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout.startswith("megachat ")
    assert "| megachat.cli" in done.stderr  # importtime did report the imports
    assert "textual_image" not in done.stderr
    assert "image_graphics" not in done.stderr


# -- Pilot: the picker and the attachments strip -------------------------------------------------


@pytest.fixture
def pics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pics").mkdir()
    make_flag(tmp_path / "pics" / "flag.png")
    return tmp_path / "pics"


async def preview_flag(pilot: Any) -> ImagePreview:
    """Highlight pics/flag.png in the picker and wait for its preview."""
    preview = pilot.app.screen.query_one(ImagePreview)
    await wait_until(pilot, lambda: preview.result is not None)  # the folder's, at first
    await pilot.press("down")
    await wait_until(
        pilot,
        lambda: preview.result is not None and preview.result.path.name == "flag.png",
    )
    await pilot.pause()
    return preview


def graphic_widgets(widget: Any) -> list[Any]:
    from megachat.tui.widgets.image_graphics_widgets import KittyPicture, SixelPicture

    return list(widget.query(KittyPicture)) + list(widget.query(SixelPicture))


@pytest.mark.parametrize("renderer", [Renderer.KITTY, Renderer.SIXEL])
async def test_the_picker_shows_textual_image_when_graphics_are_chosen(
    pics: Path, renderer: Renderer
) -> None:
    from megachat.tui.widgets.image_graphics_widgets import KittyPicture, SixelPicture

    app = ScreenHost(lambda: ImagePickerScreen(Path("pics"), renderer=renderer))
    async with app.run_test(size=(100, 30)) as pilot:
        preview = await preview_flag(pilot)
        assert preview.result is not None
        picture = preview.result.image
        assert isinstance(picture, GraphicPicture) and picture.renderer is renderer
        assert "flag.png" in preview.result.info and "40×20 PNG" in preview.result.info
        [widget] = graphic_widgets(preview)
        assert isinstance(widget, KittyPicture if renderer is Renderer.KITTY else SixelPicture)
        assert not preview.query_one(".picture-halfblocks").display
        # The picture was scaled in the preview thread to the size the widget draws it at.
        await wait_until(pilot, lambda: widget.content_size.width > 0)
        assert (widget.content_size.width, widget.content_size.height) == picture.cells
        # A 2:1 picture in cells twice as tall as wide (10 x 20 pixels when the tty does not say).
        assert picture.cells[0] == pytest.approx(4 * picture.cells[1], abs=2)
        left = picture.image.getpixel((0, 0))
        right = picture.image.getpixel((picture.image.width - 1, 0))
        assert (left, right) == (BLUE, RED)
        if renderer is Renderer.SIXEL:
            # Encoded off the event loop: drawing uses those sixels, it does not encode again.
            assert picture.sixels is not None and picture.sixels.startswith(SIXEL_START.decode())
            inner = widget.children[0]
            width, height = inner.content_size
            strips = inner.render_lines(Region(0, 0, width, height))
            assert picture.sixels in "".join(segment.text for segment in strips[-1])


async def test_the_picker_draws_half_blocks_otherwise(pics: Path) -> None:
    app = ScreenHost(lambda: ImagePickerScreen(Path("pics"), renderer=Renderer.HALFBLOCK))
    async with app.run_test(size=(100, 30)) as pilot:
        preview = await preview_flag(pilot)
        assert preview.result is not None
        assert isinstance(preview.result.image, HalfBlockImage)
        assert graphic_widgets(preview) == []
        assert preview.query_one(".picture-halfblocks").display
        assert "▀" in screen_text(app)


async def test_a_headless_app_previews_as_half_blocks_whatever_the_terminal(
    pics: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A test (headless) app has no terminal to draw on, whatever TERM says.
    monkeypatch.setenv(ENV_IMAGE_PREVIEW, "kitty")
    app = ScreenHost(lambda: ImagePickerScreen(Path("pics")))
    async with app.run_test(size=(100, 30)) as pilot:
        preview = await preview_flag(pilot)
        assert preview.renderer is Renderer.HALFBLOCK
        assert preview.result is not None and isinstance(preview.result.image, HalfBlockImage)


async def test_moving_between_graphics_and_text_previews_keeps_one_widget(pics: Path) -> None:
    (pics / "notes.png").write_bytes(b"\x00not an image")  # binary: no image, PDF or text
    make_flag(pics / "wide.png", (80, 20))
    app = ScreenHost(lambda: ImagePickerScreen(Path("pics"), renderer=Renderer.SIXEL))
    async with app.run_test(size=(100, 30)) as pilot:
        preview = await preview_flag(pilot)
        [first] = graphic_widgets(preview)
        await pilot.press("down")  # notes.png: no picture, a reason
        await wait_until(pilot, lambda: preview.result is not None and preview.result.error)
        await pilot.pause()
        assert graphic_widgets(preview) == []
        assert "notes.png: a binary file" in screen_text(app)  # the document pane says why
        await pilot.press("down")  # wide.png: a graphics picture again
        await wait_until(
            pilot, lambda: preview.result is not None and preview.result.path.name == "wide.png"
        )
        await pilot.pause()
        [widget] = graphic_widgets(preview)
        assert widget is not first
        picture = preview.result.image
        assert isinstance(picture, GraphicPicture)
        assert picture.cells[0] == pytest.approx(8 * picture.cells[1], abs=4)


async def test_resizing_prepares_the_picture_again_for_the_new_box(pics: Path) -> None:
    app = ScreenHost(lambda: ImagePickerScreen(Path("pics"), renderer=Renderer.KITTY))
    async with app.run_test(size=(100, 30)) as pilot:
        preview = await preview_flag(pilot)
        before = preview.result
        assert before is not None and isinstance(before.image, GraphicPicture)
        await pilot.resize_terminal(140, 40)
        await wait_until(pilot, lambda: preview.result is not before)
        await pilot.pause()
        after = preview.result
        assert after is not None and isinstance(after.image, GraphicPicture)
        assert after.image.cells[0] > before.image.cells[0]
        [widget] = graphic_widgets(preview)
        assert (widget.content_size.width, widget.content_size.height) == after.image.cells


class _OneKittyPicture(App[None]):
    """A picture wider than the kitty protocol's placeholders can address (297 cells)."""

    def __init__(self, picture: GraphicPicture) -> None:
        super().__init__()
        self.picture = picture

    def compose(self) -> ComposeResult:
        yield ImagePicture(id="picture")

    def on_mount(self) -> None:
        self.query_one(ImagePicture).show(self.picture)


async def test_a_picture_that_cannot_be_drawn_is_a_line_not_a_traceback() -> None:
    image = Image.new("RGB", (3200, 20), RED)  # 320 x 1 cells of 10 x 20 pixels
    app = _OneKittyPicture(GraphicPicture(Renderer.KITTY, image, (320, 1)))
    async with app.run_test(size=(330, 6)) as pilot:
        await wait_until(pilot, lambda: "picture not shown" in screen_text(app))
        assert "(picture not shown: Image to large to render)" in screen_text(app)
        assert app.is_running


def test_without_textual_image_graphics_fall_back_to_half_blocks(tmp_path: Path) -> None:
    # textual-image missing (or shaped unlike the version megachat knows): half-blocks, no error.
    flag = make_flag(tmp_path / "flag.png")
    code = (
        "import sys; sys.modules['textual_image'] = None\n"
        "from pathlib import Path\n"
        "from megachat.tui.widgets.image_graphics import Renderer\n"
        "from megachat.tui.widgets.image_preview import HalfBlockImage, render_preview\n"
        f"result = render_preview(Path({str(flag)!r}), 20, 10, renderer=Renderer.KITTY)\n"
        "assert isinstance(result.image, HalfBlockImage), result\n"
        "assert not result.error and '40×20 PNG' in result.info, result\n"
        "print('FELL BACK')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=_base_env(tmp_path),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "FELL BACK"
    assert "fall back to half-blocks" in done.stderr  # logged once, with the reason


async def test_the_attachments_strip_shows_a_thumbnail_with_graphics(
    make_app: Any, tmp_path: Path
) -> None:
    from megachat.tui.widgets.image_graphics_widgets import SixelPicture

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        strip = main.query_one(AttachmentsStrip)
        strip.renderer = Renderer.SIXEL
        main.attach_path(make_flag(tmp_path / "flag.png"))
        await settle(pilot)
        await wait_until(pilot, lambda: strip.thumbnail is not None)
        await pilot.pause()
        thumbnail = strip.thumbnail
        assert isinstance(thumbnail, GraphicPicture) and thumbnail.sixels
        [widget] = strip.query(SixelPicture)
        assert (widget.content_size.width, widget.content_size.height) == thumbnail.cells
        assert thumbnail.cells[0] <= 10 and thumbnail.cells[1] <= 4
        assert "40×20" in str(strip.render())
        # A second image: the thumbnail follows the cursor; removing both clears it.
        main.attach_path(make_flag(tmp_path / "wide.png", (80, 20)))
        await settle(pilot)
        await wait_until(pilot, lambda: strip.thumbnail is not thumbnail)
        second = strip.thumbnail
        assert isinstance(second, GraphicPicture) and second.cells[1] < thumbnail.cells[1]
        strip.focus()
        await pilot.press("left")
        await wait_until(pilot, lambda: strip.thumbnail is not second)
        assert isinstance(strip.thumbnail, GraphicPicture)
        assert strip.thumbnail.cells == thumbnail.cells
        await pilot.press("delete", "delete")
        await settle(pilot)
        assert strip.images == [] and strip.thumbnail is None
        assert list(strip.query(SixelPicture)) == []


async def test_with_half_blocks_the_strip_stays_a_list(make_app: Any, tmp_path: Path) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        strip = main.query_one(AttachmentsStrip)
        assert strip.renderer is Renderer.HALFBLOCK  # headless
        main.attach_path(make_flag(tmp_path / "flag.png"))
        await settle(pilot)
        assert strip.thumbnail is None and list(strip.query(ImagePicture)) == []
        assert strip.size.height == 1
        assert str(strip.render()).startswith("📎 flag.png")


# -- the real process on a pty -------------------------------------------------------------------


class Terminal:
    """megachat on a 120x40 pty in `cwd`; every byte it writes is kept in `output`."""

    def __init__(self, argv: list[str], env: Mapping[str, str], cwd: Path) -> None:
        self.proc, self.master = spawn_in_pty(argv, env, cwd=cwd, rows=40, cols=120)
        self.output = b""

    def read_until(self, needle: bytes, *, resend: bytes = b"", timeout: float = 30) -> None:
        """Read until `needle` was written; `resend` is typed again after each 50 ms of quiet."""
        deadline = time.monotonic() + timeout
        while needle not in self.output:
            left = deadline - time.monotonic()
            assert left > 0, f"no {needle!r} from the app; tail: {self.output[-600:]!r}"
            if resend:
                os.write(self.master, resend)
            ready_fds, _, _ = select.select([self.master], [], [], min(left, 0.05))
            if ready_fds:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    chunk = b""
                assert chunk, f"the app exited; tail: {self.output[-600:]!r}"
                self.output += chunk

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        stop(self.proc, self.master)


def preview_in_real_app(
    tmp_path: Path, server: FakeServer, picture_mark: bytes, **terminal: str
) -> tuple[bytes, bytes]:
    """Open the picker in a real megachat and preview an image until `picture_mark` is written:
    (the output before the picker was asked for, the output from then on)."""
    work = tmp_path / "work"
    work.mkdir()
    make_flag(work / "flag.png")
    env = terminal_env(tmp_path, **terminal)
    env.update(MEGALLM_API_KEY="sk-test-key-0123456789", MEGALLM_BASE_URL=server.base_url)
    app = Terminal([sys.executable, "-X", "importtime", "-m", "megachat"], env, work)
    try:
        app.read_until(b"zq", resend=b"zq")  # the prompt has focus and echoes keys
        started = len(app.output)
        app.write(b"\x0f")  # ctrl+o: the picker
        app.read_until(b"Attach a file")
        # Down (again, until the tree has loaded) highlights flag.png: its info line shows.
        app.read_until("40×20 PNG".encode(), resend=b"\x1b[B")
        app.read_until(picture_mark)
        return app.output[:started], app.output[started:]
    finally:
        app.close()


@pytest.mark.parametrize(
    ("terminal", "mark", "other"),
    [
        ({"TERM": "xterm-kitty", "COLORTERM": "truecolor"}, PLACEHOLDER, SIXEL_START),
        (
            {"TERM": "xterm-256color", "TERM_PROGRAM": "WezTerm", "COLORTERM": "truecolor"},
            SIXEL_START,
            KITTY_APC,
        ),
    ],
    ids=["kitty", "wezterm"],
)
def test_a_real_graphics_terminal_gets_the_image_through_its_protocol(
    tmp_path: Path, fake_server: FakeServer, terminal: dict[str, str], mark: bytes, other: bytes
) -> None:
    before, after = preview_in_real_app(tmp_path, fake_server, mark, **terminal)
    assert mark in after and other not in before + after
    if mark == PLACEHOLDER:  # the image sent, a virtual placement made, placeholders drawn
        assert KITTY_APC + b"i=" in after and b"a=p" in after and b"U=1" in after
    # textual-image was loaded with the first preview, not at start-up, and asked nothing.
    assert b"textual_image" not in before
    assert b"textual_image" in after
    for query in TERMINAL_QUERIES:
        assert query not in before + after


def test_a_plain_xterm_gets_half_blocks_and_no_graphics(
    tmp_path: Path, fake_server: FakeServer
) -> None:
    before, after = preview_in_real_app(
        tmp_path, fake_server, HALF_BLOCK, TERM="xterm-256color", COLORTERM="truecolor"
    )
    for graphics in (KITTY_APC, PLACEHOLDER, SIXEL_START):
        assert graphics not in before + after
    assert b"textual_image" not in before + after
