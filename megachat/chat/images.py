"""Images from disk, checked and sized for the Messages API.

The type comes from the file's first bytes, never its name. Images within the API's limits and the
recommended size are sent byte for byte; larger ones are downscaled with Pillow, which is imported
only here, inside functions, so starting megachat does not pay for it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import struct
from dataclasses import dataclass
from pathlib import Path

from megachat.localfiles import FileRefusedError, read_user_file

# API limits (Anthropic vision docs) and the recommended size.
MAX_BASE64_BYTES = 5 * 1024 * 1024  # 5,242,880 characters of base64 per image
MAX_EDGE = 8000  # px, any edge
MAX_EDGE_MANY = 2000  # px, when a request holds more than 20 images
MANY_IMAGES = 20
RECOMMENDED_LONG_EDGE = 1568  # px; bigger images are scaled down by the API anyway
# The largest file read as an image. Bigger files are downscaled before sending, so this is not an
# API limit; it bounds the memory a path can cost (a sparse 3 GB file is refused by its size, not
# read), with room for any real photo or screenshot.
MAX_IMAGE_FILE_BYTES = 64 * 1024 * 1024

MEDIA_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


class ImageError(ValueError):
    """An image that cannot be sent; the message names the file."""


@dataclass(frozen=True)
class PreparedImage:
    """An image ready to send: the exact bytes, their type and size, and what was done to them."""

    name: str
    media_type: str
    data: bytes
    width: int
    height: int
    sha256: str
    original_size: int
    resized: bool = False
    note: str | None = None

    def __repr__(self) -> str:  # keep the bytes out of logs and tracebacks
        return (
            f"PreparedImage(name={self.name!r}, media_type={self.media_type!r}, "
            f"size={len(self.data)}, {self.width}x{self.height}, resized={self.resized})"
        )


def base64_length(n: int) -> int:
    """Length of the base64 text for n bytes."""
    return 4 * ((n + 2) // 3)


def sniff_media_type(data: bytes) -> str | None:
    """The media type from magic bytes, or None when the data is none of the four the API takes."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    n = len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            if i + 9 > n:
                return None
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        i += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        b = data[21:25]
        w = 1 + (((b[1] & 0x3F) << 8) | b[0])
        h = 1 + (((b[3] & 0x0F) << 10) | (b[2] << 2) | ((b[1] & 0xC0) >> 6))
        return w, h
    if chunk == b"VP8X" and len(data) >= 30:
        w = 1 + int.from_bytes(data[24:27], "little")
        h = 1 + int.from_bytes(data[27:30], "little")
        return w, h
    return None


def header_size(data: bytes, media_type: str | None = None) -> tuple[int, int] | None:
    """Width and height read from the file header without decoding (None if not found)."""
    media_type = media_type or sniff_media_type(data)
    try:
        if media_type == "image/png" and len(data) >= 24 and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if media_type == "image/gif" and len(data) >= 10:
            return struct.unpack("<HH", data[6:10])
        if media_type == "image/jpeg":
            return _jpeg_size(data)
        if media_type == "image/webp":
            return _webp_size(data)
    except struct.error:
        return None
    return None


def image_block(img: PreparedImage) -> dict:
    """The Messages API content block for an image."""
    return {
        "type": "image",
        "source": {
            "type": "base64",
            "media_type": img.media_type,
            "data": base64.b64encode(img.data).decode("ascii"),
        },
    }


def _has_alpha(im) -> bool:
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        return True
    return im.mode == "P" and "transparency" in im.info


def _encode(im, fmt: str, quality: int = 85) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        if im.mode not in ("RGB", "L"):
            im = im.convert("RGB")
        im.save(out, "JPEG", quality=quality, optimize=True)
    else:
        im.save(out, "PNG", optimize=False, compress_level=6)
    return out.getvalue()


def _scaled(size: tuple[int, int], long_edge: int) -> tuple[int, int]:
    w, h = size
    scale = long_edge / max(w, h)
    if scale >= 1:
        return w, h
    return max(1, round(w * scale)), max(1, round(h * scale))


def _reencode(
    data: bytes, media_type: str, name: str, max_edge: int
) -> tuple[bytes, str, int, int, bool]:
    """Decode with Pillow, take the first frame, downscale to max_edge and fit the size limit.

    Returns (bytes, media_type, width, height, animated).
    """
    try:
        from PIL import Image, ImageOps
    except ImportError as exc:  # pragma: no cover - Pillow is a dependency
        raise ImageError(f"{name}: Pillow is needed to resize this image") from exc
    try:
        im = Image.open(io.BytesIO(data))
        animated = bool(getattr(im, "is_animated", False))
        if media_type == "image/jpeg":
            im.draft("RGB", _scaled(im.size, max_edge))  # decode big JPEGs at a reduced scale
        im.seek(0)
        im.load()
        if not animated:
            im = ImageOps.exif_transpose(im)
    except (Image.DecompressionBombError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageError(f"{name}: cannot decode the image ({exc})") from exc

    alpha = _has_alpha(im)
    if im.mode == "P" or im.mode not in ("RGB", "RGBA", "L", "LA"):
        im = im.convert("RGBA" if alpha else "RGB")
    # PNG for transparency and for graphics (PNG/GIF sources) while it fits; JPEG for photos.
    fmt = "PNG" if alpha or media_type in ("image/png", "image/gif") else "JPEG"
    long_edge = min(max_edge, max(im.size))
    quality = 85
    for _ in range(12):
        target = _scaled(im.size, long_edge)
        frame = im if target == im.size else im.resize(target, Image.Resampling.LANCZOS)
        out = _encode(frame, fmt, quality)
        if base64_length(len(out)) <= MAX_BASE64_BYTES:
            return out, f"image/{fmt.lower()}", frame.size[0], frame.size[1], animated
        if fmt == "PNG" and not alpha:
            fmt = "JPEG"  # an opaque image too big as PNG: JPEG before shrinking further
            continue
        long_edge = max(1, int(max(target) * 0.8))
        quality = max(60, quality - 5)
    raise ImageError(f"{name}: cannot make the image small enough for the API")


def prepare_image_bytes(data: bytes, name: str, *, many: bool = False) -> PreparedImage:
    """Check and size image bytes (name is only used in messages). See load_image."""
    media_type = sniff_media_type(data)
    if media_type is None:
        raise ImageError(f"{name}: not a PNG, JPEG, GIF or WebP image")
    size = header_size(data, media_type)
    animated = False
    if media_type == "image/gif":
        animated = _gif_is_animated(data)
    elif media_type == "image/webp" and data[12:16] == b"VP8X" and len(data) > 20:
        animated = bool(data[20] & 0x02)
    if size is None or min(size) < 1:
        size = _pillow_size(data, name)
    max_edge = min(RECOMMENDED_LONG_EDGE, MAX_EDGE_MANY if many else MAX_EDGE)
    too_big = base64_length(len(data)) > MAX_BASE64_BYTES
    if not (too_big or animated or max(size) > max_edge):
        return PreparedImage(
            name=name,
            media_type=media_type,
            data=data,
            width=size[0],
            height=size[1],
            sha256=hashlib.sha256(data).hexdigest(),
            original_size=len(data),
        )
    out, out_type, w, h, animated = _reencode(data, media_type, name, max_edge)
    notes = []
    if animated:
        notes.append(f"{name}: animated image, only the first frame is sent")
    if (w, h) != tuple(size):
        notes.append(
            f"{name}: resized from {size[0]}x{size[1]} ({len(data):,} bytes) "
            f"to {w}x{h} {out_type} ({len(out):,} bytes)"
        )
    elif out_type != media_type or too_big:
        notes.append(
            f"{name}: re-encoded as {out_type} to fit the API's 5 MB limit "
            f"({len(data):,} -> {len(out):,} bytes)"
        )
    return PreparedImage(
        name=name,
        media_type=out_type,
        data=out,
        width=w,
        height=h,
        sha256=hashlib.sha256(out).hexdigest(),
        original_size=len(data),
        resized=True,
        note="; ".join(notes) or None,
    )


def load_image(path: str | Path, *, many: bool = False) -> PreparedImage:
    """Read an image file and make it sendable; ImageError (naming the file) when it cannot be.

    many=True applies the stricter edge limit for requests that hold more than 20 images. Only a
    regular file of at most MAX_IMAGE_FILE_BYTES is read, so a FIFO, a device or a huge file is
    refused at once instead of hanging or filling memory.
    """
    name = str(path)
    try:
        data = read_user_file(path, MAX_IMAGE_FILE_BYTES)
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{name}: is a directory, not an image") from None
    except FileRefusedError as exc:  # a FIFO, a device, too large: refused before reading
        raise ImageError(f"{name}: {exc}") from None
    except OSError as exc:
        raise ImageError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if not data:
        raise ImageError(f"{name}: empty file, not an image")
    return prepare_image_bytes(data, name, many=many)


def load_images(paths: list[str | Path]) -> list[PreparedImage]:
    """Load several images for one request, applying the >20-image edge limit when it applies."""
    many = len(paths) > MANY_IMAGES
    return [load_image(p, many=many) for p in paths]


def _gif_is_animated(data: bytes) -> bool:
    """True when a GIF holds more than one image descriptor (walks blocks, no decoding)."""
    try:
        i = 13
        flags = data[10]
        if flags & 0x80:
            i += 3 * (2 ** ((flags & 0x07) + 1))
        frames = 0
        n = len(data)
        while i < n:
            b = data[i]
            if b == 0x3B:  # trailer
                break
            if b == 0x21:  # extension: label, then sub-blocks
                i += 2
                while i < n and data[i]:
                    i += data[i] + 1
                i += 1
            elif b == 0x2C:  # image descriptor
                frames += 1
                if frames > 1:
                    return True
                lflags = data[i + 9]
                i += 10
                if lflags & 0x80:
                    i += 3 * (2 ** ((lflags & 0x07) + 1))
                i += 1  # LZW minimum code size
                while i < n and data[i]:
                    i += data[i] + 1
                i += 1
            else:
                return False
    except IndexError:
        return False
    return False


def _pillow_size(data: bytes, name: str) -> tuple[int, int]:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except Exception as exc:
        raise ImageError(f"{name}: cannot read the image ({exc})") from exc


def data_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of image bytes (header first, Pillow if needed); None if unreadable."""
    size = header_size(data)
    if size is not None:
        return int(size[0]), int(size[1])
    try:
        return _pillow_size(data, "image")
    except (ImageError, ImportError):
        return None
