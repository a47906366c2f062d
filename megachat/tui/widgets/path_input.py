"""An Input for file paths that completes like a shell: the suggestion is shown dim, Right accepts.

Textual has no path suggester, so `PathSuggester` lists the folder being typed into (in a thread,
so a slow disk never blocks keys) and offers the longest unambiguous completion, or the first
match when the choice is ambiguous. Folders complete with a trailing "/" so the next Right goes on.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Collection
from pathlib import Path

from textual.suggester import Suggester
from textual.widgets import Input

__all__ = ["PathInput", "PathSuggester", "suggest_path"]

MAX_SCAN_ENTRIES = 5000


def suggest_path(
    value: str,
    *,
    extensions: Collection[str] | None = None,
    show_hidden: bool = False,
    cwd: Path | None = None,
) -> str | None:
    """Complete the path `value`; return `value` plus the completed tail, or None.

    `extensions` (lower-case, with the dot) limits which files are offered; folders always are.
    Hidden entries are offered only when the typed name starts with ".".
    """
    if not value or "\n" in value or "\x00" in value:
        return None
    head, prefix = os.path.split(value)
    if not head and prefix.startswith("~"):
        return None  # "~" or "~user" alone: nothing to complete inside yet
    base = Path(os.path.expanduser(head)) if head else Path(".")
    if not base.is_absolute():
        base = (cwd or Path.cwd()) / base
    want_hidden = show_hidden or prefix.startswith(".")
    candidates: list[str] = []
    try:
        with os.scandir(base) as entries:
            for count, entry in enumerate(entries):
                if count >= MAX_SCAN_ENTRIES:
                    break
                name = entry.name
                if not name.startswith(prefix) or name in (".", ".."):
                    continue
                if name.startswith(".") and not want_hidden:
                    continue
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    continue
                if is_dir:
                    candidates.append(name + "/")
                elif extensions is None or os.path.splitext(name)[1].lower() in extensions:
                    candidates.append(name)
    except OSError:
        return None
    if not candidates:
        return None
    candidates.sort(key=lambda name: (name.lower(), name))
    common = os.path.commonprefix(candidates)  # noqa: RUF071 (names, not paths)
    completion = common if len(common) > len(prefix) else candidates[0]
    if completion == prefix:
        return None
    return value + completion[len(prefix) :]


class PathSuggester(Suggester):
    """Suggests completions of the path typed so far; never cached, since folders change."""

    def __init__(
        self, *, extensions: Collection[str] | None = None, show_hidden: bool = False
    ) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.extensions = frozenset(ext.lower() for ext in extensions) if extensions else None
        self.show_hidden = show_hidden

    async def get_suggestion(self, value: str) -> str | None:
        return await asyncio.to_thread(
            suggest_path, value, extensions=self.extensions, show_hidden=self.show_hidden
        )


class PathInput(Input):
    """An Input with a `PathSuggester`; press Right at the end to accept the suggestion."""

    def __init__(
        self,
        value: str | None = None,
        *,
        extensions: Collection[str] | None = None,
        placeholder: str = "Path",
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(
            value,
            placeholder=placeholder,
            suggester=PathSuggester(extensions=extensions),
            select_on_focus=False,
            id=id,
            classes=classes,
        )
