"""Command palette provider: every megachat action, preset and theme, matched safely.

Textual's `Matcher.highlight` parses the candidate as content markup, so a title such as a
preset called `[/]` would crash the palette (reference/textual.md, "Command palette"). Titles are
therefore wrapped in `Content` and highlighted here by offsets, never parsed.
"""

from __future__ import annotations

from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Matcher, Provider
from textual.content import Content

from megachat.sanitize import clean


def highlight(matcher: Matcher, title: str) -> Content:
    """`title` as literal Content with the fuzzy-matched characters styled."""
    content = Content(title)
    score, offsets = matcher.fuzzy_search.match(matcher.query, title)
    if not score:
        return content
    for offset in offsets:
        if offset < len(title) and not title[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


class MegachatCommands(Provider):
    """Hits from `app.command_entries(screen)`: (title, help, callback) triples."""

    def _entries(self) -> list[tuple[str, str, Any]]:
        entries = getattr(self.app, "command_entries", None)
        if entries is None:
            return []
        return [
            (clean(title), help_text, callback)
            for title, help_text, callback in entries(self.screen)
        ]

    async def discover(self) -> Hits:
        for title, help_text, callback in self._entries():
            yield DiscoveryHit(Content(title), callback, text=title, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._entries():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, highlight(matcher, title), callback, text=title, help=help_text)
