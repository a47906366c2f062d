"""Shared fixtures: the loopback fake Messages server."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from megachat.api import shared_rate_limiter
from tests.fakeserver import FakeServer

# The fake server is on loopback: never route it through a proxy from the environment
# (httpx honours HTTP(S)_PROXY/ALL_PROXY; subprocesses inherit this too).
for _name in ("NO_PROXY", "no_proxy"):
    os.environ[_name] = ",".join(filter(None, [os.environ.get(_name), "127.0.0.1", "localhost"]))


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    """A fresh fake server on 127.0.0.1 (ephemeral port) for one test."""
    with FakeServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _no_shared_rate_limit() -> Iterator[None]:
    """The process-wide 50/60 s limiter would stall a test suite; tests of it use their own."""
    limiter = shared_rate_limiter()
    saved = (limiter.requests, limiter.per_seconds)
    limiter.configure(0, saved[1])
    yield
    limiter.configure(*saved)
