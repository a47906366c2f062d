"""Servers that refuse prompt caching, remembered by base URL.

Some Anthropic-compatible proxies answer 400 to any `cache_control`. The turn then resends once
without it (megachat.chat.turn) and remembers the base URL here, so later requests to that
server go without from the start. The list is a small JSON file in the data dir, read once per
process and written atomically (a crash leaves the old file or the new one, never half of one).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

FILE_NAME = "prompt_cache_refused.json"
MAX_FILE_BYTES = 1_000_000  # a hand-edited or corrupt file bigger than this is ignored


@dataclass(frozen=True)
class CacheDropped:
    """A TurnEvent: the server refused `cache_control`, so the request went again without it,
    and will for every later request to `base_url`."""

    base_url: str

    def describe(self) -> str:
        return (
            "the server does not take prompt caching; sent without it "
            f"(remembered for {self.base_url})"
        )


class CacheRefusals:
    """The base URLs whose servers refuse `cache_control`, kept in the JSON file at `path`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._urls: set[str] | None = None  # read on first use
        self._lock = threading.Lock()

    def refuses(self, base_url: str) -> bool:
        """Whether requests to `base_url` must go without cache_control."""
        return _normal(base_url) in self._loaded()

    def remember(self, base_url: str) -> None:
        """Add `base_url` (in memory, then on disk; a disk that cannot be written only loses
        the memory across runs, the turn goes on)."""
        with self._lock:
            urls = self._loaded()
            urls.add(_normal(base_url))
            with contextlib.suppress(OSError):
                _write_atomically(self.path, json.dumps(sorted(urls), indent=1) + "\n")

    def _loaded(self) -> set[str]:
        if self._urls is None:
            self._urls = _read(self.path)
        return self._urls


_BY_PATH: dict[Path, CacheRefusals] = {}


def refusals_at(path: Path | None = None) -> CacheRefusals:
    """The one CacheRefusals for `path` in this process (default: the data dir's file), so the
    file is read once however many turns ask."""
    if path is None:
        from megachat.config import data_dir

        path = data_dir() / FILE_NAME
    found = _BY_PATH.get(path)
    if found is None:
        found = _BY_PATH[path] = CacheRefusals(path)
    return found


def names_cache_control(exc: BaseException) -> bool:
    """A 400 whose message names `cache_control`: the server refuses prompt caching."""
    status = getattr(exc, "status_code", None)
    message = getattr(exc, "message", None) or str(exc)
    return status == 400 and "cache_control" in str(message)


def _normal(base_url: str) -> str:
    return base_url.strip().rstrip("/")


def _read(path: Path) -> set[str]:
    try:
        if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
            return set()
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    if not isinstance(data, list):
        return set()
    return {_normal(url) for url in data if isinstance(url, str)}


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
