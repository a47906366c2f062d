"""Fixtures for the chat layer: a real SQLite store in a temporary directory, image makers."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from megachat.api import MessagesClient
from megachat.api.ratelimit import RateLimiter
from megachat.chat.store import Store
from tests.fakeserver import FakeServer


@pytest.fixture
async def client(fake_server: FakeServer) -> AsyncIterator[MessagesClient]:
    """A client on the fake server: no retries, no rate limit (the session tests' client)."""
    async with MessagesClient(
        api_key="sk-session-test",
        base_url=fake_server.base_url,
        rate_limiter=RateLimiter(0),
        max_retries=0,
    ) as c:
        yield c


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "megachat.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store(db_path)
    yield s
    s.close()


def make_image(
    fmt: str, size: tuple[int, int] = (40, 30), *, mode: str = "RGB", noise: bool = False
) -> bytes:
    """Encode a small test image with Pillow (PNG, JPEG, GIF or WEBP)."""
    from PIL import Image

    if noise:
        raw = os.urandom(size[0] * size[1] * len(mode))
        im = Image.frombytes(mode, size, raw)
    else:
        color = (200, 30, 60, 128) if mode == "RGBA" else (200, 30, 60)
        im = Image.new(mode, size, color[: len(mode)])
    out = io.BytesIO()
    if fmt == "JPEG" and im.mode != "RGB":
        im = im.convert("RGB")
    im.save(out, fmt)
    return out.getvalue()


def make_animated_gif(size: tuple[int, int] = (32, 32), frames: int = 3) -> bytes:
    from PIL import Image

    images = [Image.new("RGB", size, (i * 80, 10, 200 - i * 50)) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    return out.getvalue()
