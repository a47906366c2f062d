"""Images: type from content, clear errors naming the file, sizes, downscaling."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path

import pytest

from megachat.chat.images import (
    MAX_BASE64_BYTES,
    MAX_IMAGE_FILE_BYTES,
    RECOMMENDED_LONG_EDGE,
    ImageError,
    base64_length,
    header_size,
    image_block,
    load_image,
    load_images,
)
from tests.chat.conftest import make_animated_gif, make_image


def open_image(data: bytes):
    from PIL import Image

    im = Image.open(io.BytesIO(data))
    im.load()
    return im


@pytest.mark.parametrize(
    ("fmt", "media_type", "misleading_name"),
    [
        ("PNG", "image/png", "photo.jpg"),
        ("JPEG", "image/jpeg", "picture.png"),
        ("GIF", "image/gif", "anim.webp"),
        ("WEBP", "image/webp", "image.gif"),
    ],
)
def test_type_comes_from_content_not_name(
    tmp_path: Path, fmt: str, media_type: str, misleading_name: str
) -> None:
    data = make_image(fmt, (40, 30))
    path = tmp_path / misleading_name
    path.write_bytes(data)
    img = load_image(path)
    assert img.media_type == media_type
    assert (img.width, img.height) == (40, 30)
    # small images are sent byte for byte
    assert img.data == data and not img.resized and img.note is None
    assert img.sha256 == hashlib.sha256(data).hexdigest()
    block = image_block(img)
    assert block == {
        "type": "image",
        "source": {
            "type": "base64",
            "media_type": media_type,
            "data": base64.b64encode(data).decode(),
        },
    }


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_header_dimensions_match_pillow(fmt: str, mode: str) -> None:
    if fmt == "JPEG" and mode == "RGBA":
        pytest.skip("JPEG has no alpha")
    data = make_image(fmt, (123, 45), mode=mode)
    assert header_size(data) == (123, 45)


def test_lossless_webp_dimensions() -> None:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (77, 5000 // 77)).save(out, "WEBP", lossless=True)
    assert header_size(out.getvalue()) == (77, 5000 // 77)


def test_non_image_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("just some text, not a picture")
    with pytest.raises(ImageError) as err:
        load_image(path)
    assert str(path) in str(err.value)
    assert "PNG, JPEG, GIF or WebP" in str(err.value)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.png"
    with pytest.raises(ImageError, match=r"nope.png: no such file"):
        load_image(path)


def test_directory_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"directory"):
        load_image(tmp_path)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty.jpg"):
        load_image(empty)


def test_unreadable_file(tmp_path: Path) -> None:
    import os

    if os.geteuid() == 0:
        pytest.skip("root can read anything")
    path = tmp_path / "secret.png"
    path.write_bytes(make_image("PNG"))
    path.chmod(0)
    with pytest.raises(ImageError, match=r"secret.png: cannot read"):
        load_image(path)


def test_six_megabyte_png_is_resized_under_the_limit(tmp_path: Path) -> None:
    # noise does not compress: 1500x1400 RGB is ~6.3 MB as PNG, long edge under 1568
    data = make_image("PNG", (1500, 1400), noise=True)
    assert len(data) > 6_000_000
    path = tmp_path / "noise.png"
    path.write_bytes(data)
    img = load_image(path)
    assert img.resized
    assert base64_length(len(img.data)) <= MAX_BASE64_BYTES
    assert len(base64.b64encode(img.data)) <= 5_242_880
    assert img.original_size == len(data)
    assert img.note and "noise.png" in img.note
    decoded = open_image(img.data)
    assert decoded.size == (img.width, img.height)
    assert img.media_type == f"image/{decoded.format.lower()}"


def test_very_wide_image_is_downscaled(tmp_path: Path) -> None:
    path = tmp_path / "strip.png"
    path.write_bytes(make_image("PNG", (10000, 100)))
    img = load_image(path)
    assert img.resized
    assert max(img.width, img.height) <= RECOMMENDED_LONG_EDGE
    assert (img.width, img.height) == open_image(img.data).size
    assert img.width == RECOMMENDED_LONG_EDGE and img.height == 16


def test_big_photo_stays_jpeg_and_alpha_png_stays_png(tmp_path: Path) -> None:
    photo = tmp_path / "photo.bin"
    photo.write_bytes(make_image("JPEG", (3000, 2000), noise=True))
    img = load_image(photo)
    assert img.media_type == "image/jpeg" and (img.width, img.height) == (1568, 1045)

    alpha = tmp_path / "alpha.jpg"
    alpha.write_bytes(make_image("PNG", (2000, 1000), mode="RGBA"))
    img = load_image(alpha)
    assert img.media_type == "image/png"
    decoded = open_image(img.data)
    assert decoded.mode == "RGBA" and decoded.size == (1568, 784)
    assert decoded.getpixel((10, 10))[3] == 128  # transparency kept


def test_animated_gif_sends_first_frame_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "anim.gif"
    path.write_bytes(make_animated_gif())
    img = load_image(path)
    assert img.resized
    assert img.note and "first frame" in img.note
    decoded = open_image(img.data)
    assert not getattr(decoded, "is_animated", False)
    assert decoded.convert("RGB").getpixel((0, 0)) == (0, 10, 200)


def test_still_gif_is_not_touched(tmp_path: Path) -> None:
    path = tmp_path / "still.gif"
    data = make_image("GIF")
    path.write_bytes(data)
    assert load_image(path).data == data


def test_many_images_use_the_stricter_limit(tmp_path: Path) -> None:
    paths = []
    for i in range(21):
        p = tmp_path / f"{i}.png"
        p.write_bytes(make_image("PNG", (10 + i, 10)))
        paths.append(p)
    images = load_images(paths)
    assert len(images) == 21 and all(not i.resized for i in images)


def test_corrupt_image_with_valid_magic_needing_resize(tmp_path: Path) -> None:
    data = make_image("PNG", (4000, 10))
    path = tmp_path / "broken.png"
    path.write_bytes(data[:60])  # header says 4000 px, pixel data cut off
    with pytest.raises(ImageError, match=r"broken.png"):
        load_image(path)


def test_heavy_alpha_png_shrinks_but_stays_png(tmp_path: Path) -> None:
    path = tmp_path / "overlay.png"
    data = make_image("PNG", (1300, 1100), mode="RGBA", noise=True)
    assert base64_length(len(data)) > MAX_BASE64_BYTES
    path.write_bytes(data)
    img = load_image(path)
    assert img.media_type == "image/png" and open_image(img.data).mode == "RGBA"
    assert base64_length(len(img.data)) <= MAX_BASE64_BYTES
    assert img.width < 1300 and img.note and "resized" in img.note


@pytest.mark.timeout(20)  # today's guard: opening a FIFO used to block until a writer came
def test_fifo_and_device_are_refused_without_reading(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "x.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageError) as err:
        load_image(fifo)
    assert str(err.value) == f"{fifo}: is not a regular file"
    with pytest.raises(ImageError, match=r"^/dev/null: is not a regular file$"):
        load_image("/dev/null")


def test_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    with open(big, "wb") as handle:  # sparse: a PNG signature, then nothing on disk
        handle.write(b"\x89PNG\r\n\x1a\n")
        handle.truncate(MAX_IMAGE_FILE_BYTES + (1 << 20))
    with pytest.raises(ImageError) as err:
        load_image(big)
    assert str(err.value) == f"{big}: is 65.0 MiB, larger than the 64 MiB limit"
