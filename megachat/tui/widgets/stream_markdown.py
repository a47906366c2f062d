"""Markdown for chat messages that stays cheap while it streams.

Textual's own Markdown widget mounts a widget per block and re-parses and rebuilds the last block
on every append (reference/textual.md: ~30 s of CPU for an 80 KB reply). Here one widget holds a
whole text block of a message and draws it with the line API:

- the text is split into top-level Markdown blocks (markdown-it, HTML off so `List<String>` stays
  literal); every block except the last is *frozen*: parsed once, rendered once per width (Rich's
  Markdown renderer, code highlighted with Pygments) and cached as strips;
- only the open tail (the last block plus an incomplete line) is re-parsed and re-rendered when
  more text arrives, and the caller decides how often that happens (the reply writer coalesces
  deltas to at most ~25 renders per second).

A finished message is drawn by the same code, so a streamed reply ends up rendered exactly like
the same message loaded from disk.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from time import perf_counter
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions
from rich.segment import Segment
from rich.style import Style as RichStyle
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

if TYPE_CHECKING:  # markdown-it and rich.markdown load with the first Markdown drawn
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

__all__ = [
    "MarkdownBlock",
    "StreamingMarkdown",
    "markdown_parser",
    "render_block_lines",
    "split_blocks",
]

DARK_CODE_THEME = "monokai"
LIGHT_CODE_THEME = "friendly"

_parser: MarkdownIt | None = None


def markdown_parser() -> MarkdownIt:
    """The shared parser: GitHub-like Markdown with raw HTML off (tags stay literal text)."""
    global _parser
    if _parser is None:
        from markdown_it import MarkdownIt

        _parser = MarkdownIt("gfm-like", {"html": False})
    return _parser


@dataclass(eq=False)
class MarkdownBlock:
    """One top-level block (or, for the open tail, a run of them) with its parsed tokens."""

    source: str
    tokens: list[Token]
    kind: str
    # rendered strips for one (width, code theme); filled lazily
    _key: tuple[int, str] | None = field(default=None, repr=False)
    _lines: Sequence[Strip] = field(default_factory=list, repr=False)

    _code: _CodeSource | None = field(default=None, repr=False)

    def code(self) -> list[str]:
        """The contents of the fenced / indented code blocks in this block."""
        return [t.content for t in self.tokens if t.type in ("fence", "code_block")]

    @property
    def is_code(self) -> bool:
        """A top-level code block: drawn by _CodeLines, not by Rich."""
        return self.kind in ("fence", "code_block")

    def code_source(self) -> _CodeSource:
        if self._code is None:
            token = self.tokens[0]
            lexer = (token.info or "").strip().partition(" ")[0] if token.type == "fence" else ""
            self._code = _CodeSource(token.content, lexer or "text")
        return self._code


def _groups(tokens: list[Token]) -> list[tuple[int, int, list[Token]]]:
    """Group a token stream into top-level blocks: (start line, end line, tokens)."""
    groups: list[tuple[int, int, list[Token]]] = []
    depth = 0
    current: list[Token] = []
    for token in tokens:
        current.append(token)
        depth += token.nesting
        if depth == 0:
            first = current[0]
            start, end = first.map if first.map else (0, 0)
            groups.append((start, end, current))
            current = []
    if current:  # unbalanced (cannot happen with markdown-it), keep the text anyway
        first = current[0]
        start, end = first.map if first.map else (0, 0)
        groups.append((start, end, current))
    return groups


def _kind(tokens: list[Token]) -> str:
    return tokens[0].type.removesuffix("_open") if tokens else "empty"


def _line_starts(text: str) -> list[int]:
    starts = [0]
    find = text.find
    pos = find("\n")
    while pos != -1:
        starts.append(pos + 1)
        pos = find("\n", pos + 1)
    return starts


def _block_source(text: str, starts: list[int], start: int, end: int) -> str:
    a = starts[start] if start < len(starts) else len(text)
    b = starts[end] if end < len(starts) else len(text)
    return text[a:b].rstrip("\n")


def split_blocks(text: str) -> list[MarkdownBlock]:
    """Split a finished Markdown text into top-level blocks (one parse)."""
    if not text.strip():
        return []
    tokens = markdown_parser().parse(text)
    starts = _line_starts(text)
    return [_make_block(text, starts, a, b, group) for a, b, group in _groups(tokens)]


def _plain_links(tokens: list[Token]) -> list[Token]:
    """Drop link markers whose text is the URL itself (autolinks), so it is not printed twice."""
    for token in tokens:
        children = token.children
        if not children or not any(child.type == "link_open" for child in children):
            continue
        keep: list[Token] = []
        i = 0
        n = len(children)
        while i < n:
            child = children[i]
            if (
                child.type == "link_open"
                and i + 2 < n
                and children[i + 1].type == "text"
                and children[i + 2].type == "link_close"
            ):
                href = str(child.attrs.get("href", ""))
                text = children[i + 1].content
                if text and (
                    href == text or href.endswith("//" + text) or href == "mailto:" + text
                ):
                    keep.append(children[i + 1])
                    i += 3
                    continue
            keep.append(child)
            i += 1
        token.children = keep
    return tokens


def _make_block(
    text: str, starts: list[int], start: int, end: int, group: list[Token]
) -> MarkdownBlock:
    return MarkdownBlock(_block_source(text, starts, start, end), _plain_links(group), _kind(group))


_markdown_class: Any = None


def _tokens_markdown(tokens: list[Token], code_theme: str) -> Any:
    """Rich's Markdown renderer fed with our tokens (Rich itself would re-parse with HTML on)."""
    global _markdown_class
    if _markdown_class is None:
        from rich.markdown import Markdown as RichMarkdown

        class _TokensMarkdown(RichMarkdown):
            def __init__(self, tokens: list[Token], code_theme: str) -> None:
                self.markup = ""
                self.parsed = tokens
                self.code_theme = code_theme
                self.justify = None
                self.style = "none"
                self.hyperlinks = False  # show "text (url)"; nothing opens on a click
                self.inline_code_lexer = None
                self.inline_code_theme = code_theme

        _markdown_class = _TokensMarkdown
    return _markdown_class(tokens, code_theme)


_CODE_CHUNK = 64  # lines highlighted together; a fence is never lexed as a whole while streaming
_TAB_SIZE = 4
_lexers: dict[str, object] = {}
_themes: dict[str, object] = {}


def _lexer(name: str) -> object | None:
    if name not in _lexers:
        from pygments.lexers import get_lexer_by_name
        from pygments.util import ClassNotFound

        try:
            _lexers[name] = get_lexer_by_name(name or "text", stripnl=False, ensurenl=True)
        except ClassNotFound:
            _lexers[name] = None
    return _lexers[name]


def _syntax_theme(name: str) -> object:
    if name not in _themes:
        from rich.syntax import Syntax

        _themes[name] = Syntax.get_theme(name)
    return _themes[name]


class _CodeSource:
    """A code block's text, highlighted lazily, _CODE_CHUNK lines at a time (width independent).

    Only the lines actually drawn are highlighted, so a long fence costs little while it streams
    and an off-screen one costs only its line count (hard-wrapped, so the height is exact).
    """

    def __init__(self, code: str, lexer_name: str) -> None:
        self.lines = code.rstrip().expandtabs(_TAB_SIZE).split("\n")
        self.lexer_name = lexer_name
        self._chunks: dict[tuple[str, int], list[list[Segment]]] = {}

    def segments(self, n: int, theme_name: str) -> list[Segment]:
        chunk = n // _CODE_CHUNK
        key = (theme_name, chunk)
        lines = self._chunks.get(key)
        if lines is None:
            lines = self._chunks[key] = self._highlight(chunk, theme_name)
        return lines[n - chunk * _CODE_CHUNK]

    def _highlight(self, chunk: int, theme_name: str) -> list[list[Segment]]:
        from pygments.token import Token

        theme = _syntax_theme(theme_name)
        get_style = theme.get_style_for_token  # type: ignore[attr-defined]
        source = self.lines[chunk * _CODE_CHUNK : (chunk + 1) * _CODE_CHUNK]
        lexer = _lexer(self.lexer_name)
        out: list[list[Segment]] = [[]]
        if lexer is None:
            plain = get_style(Token.Text)
            return [[Segment(line, plain)] if line else [] for line in source]
        styles: dict[object, RichStyle] = {}
        for ttype, value in lexer.get_tokens("\n".join(source) + "\n"):  # type: ignore[attr-defined]
            style = styles.get(ttype)
            if style is None:
                style = styles[ttype] = get_style(ttype)
            first = True
            for part in value.split("\n"):
                if not first:
                    out.append([])
                first = False
                if part:
                    out[-1].append(Segment(part, style))
        while len(out) < len(source):
            out.append([])
        return out[: len(source)]


class _CodeLines(Sequence[Strip]):
    """The drawn lines of a code block at one width: padding 1 all round, hard-wrapped."""

    def __init__(self, source: _CodeSource, width: int, theme_name: str) -> None:
        self.source = source
        self.width = max(3, width)
        self.theme_name = theme_name
        self.code_width = self.width - 2
        self.background = _syntax_theme(theme_name).get_background_style()  # type: ignore[attr-defined]
        rows: list[tuple[int, int]] = []
        cw = self.code_width
        for n, line in enumerate(source.lines):
            pieces = max(1, -(-cell_len(line) // cw))
            rows.extend((n, piece) for piece in range(pieces))
        self.rows = rows
        self._strips: dict[int, list[Strip]] = {}

    def __len__(self) -> int:
        return len(self.rows) + 2

    def __getitem__(self, y):  # type: ignore[override]
        if isinstance(y, slice):
            return [self[i] for i in range(*y.indices(len(self)))]
        if y < 0:
            y += len(self)
        if y == 0 or y == len(self) - 1:
            return Strip.blank(self.width, self.background)
        n, piece = self.rows[y - 1]
        pieces = self._strips.get(n)
        if pieces is None:
            segments = self.source.segments(n, self.theme_name)
            strip = Strip(segments)
            length = strip.cell_length
            cuts = [*range(self.code_width, length, self.code_width), length]
            pieces = list(strip.divide(cuts)) if length else [Strip([])]
            self._strips[n] = pieces
        part = pieces[piece] if piece < len(pieces) else Strip([])
        pad = Segment(" ", self.background)
        line = Strip([pad, *part, pad])
        return line.extend_cell_length(self.width, self.background).crop(0, self.width)


def render_block_lines(
    console: Console, options: ConsoleOptions, blocks: list[MarkdownBlock], code_theme: str
) -> list[Strip]:
    """Render blocks at options' width into strips, one blank line between blocks.

    Rich starts some blocks (lists) or ends others (rules) with an empty line; those are dropped
    so the spacing is the same whichever way the text was cut into blocks.
    """
    width = options.max_width
    options = options.update(height=None)
    lines: list[Strip] = []
    for i, block in enumerate(blocks):
        if block.is_code:
            if i and lines:
                lines.append(Strip([]))
            lines.extend(_CodeLines(block.code_source(), width, code_theme))
            continue
        segments = console.render(_tokens_markdown(block.tokens, code_theme), options)
        strips = [
            Strip(line)
            for line in Segment.split_and_crop_lines(
                segments, width, include_new_lines=False, pad=False
            )
        ]
        start, end = 0, len(strips)
        while start < end and not strips[start].cell_length:
            start += 1
        while end > start and not strips[end - 1].cell_length:
            end -= 1
        if i and lines:
            lines.append(Strip([]))
        lines.extend(strips[start:end])
    return lines


class StreamingMarkdown(Widget):
    """A Markdown text drawn line by line; text can be appended cheaply while it streams."""

    DEFAULT_CSS = """
    StreamingMarkdown {
        height: auto;
    }
    """

    def __init__(
        self,
        text: str = "",
        *,
        streaming: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """`text` must already be sanitized; `streaming=True` keeps the last block open."""
        super().__init__(name=name, id=id, classes=classes)
        self._text = ""
        self._consumed = 0  # text[:_consumed] is frozen in _blocks
        self._blocks: list[MarkdownBlock] = []
        self._tail: list[MarkdownBlock] = []  # re-parsed on every update
        self._streaming = streaming
        self._starts: list[int] = []  # first line of each item at _layout_key
        self._layout_key: tuple[int, str] | None = None
        self._height = 0
        self.tail_cost = 0.0  # seconds the open tail took in the last layout
        if text:
            self._text = text
            if streaming:
                self._reparse_tail()
            else:
                self._blocks = split_blocks(text)
                self._consumed = len(text)

    # ---- text ---------------------------------------------------------------------------------

    @property
    def text(self) -> str:
        """The Markdown source shown so far."""
        return self._text

    @property
    def streaming(self) -> bool:
        """True while the last block may still grow."""
        return self._streaming

    @property
    def blocks(self) -> list[MarkdownBlock]:
        """Every block, frozen and open (for tests and copying)."""
        return [*self._blocks, *self._tail]

    def code_blocks(self) -> list[str]:
        """The contents of the code blocks, in order."""
        return [code for block in self.blocks for code in block.code()]

    def append(self, fragment: str) -> None:
        """Add sanitized text to the end; only the open tail is parsed again."""
        if not fragment:
            return
        self._text += fragment
        self._reparse_tail()
        self._changed()

    def set_text(self, text: str) -> None:
        """Replace the text (appends when `text` extends what is shown)."""
        if text.startswith(self._text):
            self.append(text[len(self._text) :])
            return
        self._text = text
        self._blocks = []
        self._consumed = 0
        if self._streaming:
            self._reparse_tail()
        else:
            self._blocks = split_blocks(text)
            self._consumed = len(text)
            self._tail = []
        self._changed()

    def finish(self) -> None:
        """The text is complete: freeze the tail (its tokens are reused, not parsed again)."""
        if not self._streaming:
            return
        self._streaming = False
        # The tail parse covers text[_consumed:] completely, so its groups are final blocks.
        self._freeze_all_tail()
        self._changed()

    def _reparse_tail(self) -> None:
        """Parse the open part; freeze every block that a later line can no longer change."""
        tail = self._text[self._consumed :]
        if not tail.strip():
            self._tail = []
            return
        parser = markdown_parser()
        complete_end = tail.rfind("\n") + 1
        if complete_end:
            # Block boundaries come from complete lines only: "1. a\n\n2" is a paragraph "2"
            # until the line ends as "2. b" and turns out to continue the list.
            complete = tail[:complete_end]
            groups = _groups(parser.parse(complete))
            if len(groups) > 1:
                starts = _line_starts(complete)
                for a, b, group in groups[:-1]:
                    self._blocks.append(_make_block(complete, starts, a, b, group))
                last_start = groups[-1][0]
                self._consumed += starts[last_start]
                tail = self._text[self._consumed :]
        tokens = parser.parse(tail)
        groups = _groups(tokens)
        starts = _line_starts(tail)
        self._tail = [_make_block(tail, starts, a, b, group) for a, b, group in groups]

    def _freeze_all_tail(self) -> None:
        self._blocks.extend(self._tail)
        self._tail = []
        self._consumed = len(self._text)

    def _changed(self) -> None:
        self._layout_key = None
        self.clear_cached_dimensions()
        if self.is_attached:
            self.refresh(layout=True)

    # ---- rendering ----------------------------------------------------------------------------

    def _code_theme(self) -> str:
        try:
            dark = self.app.current_theme.dark
        except Exception:
            dark = True
        return DARK_CODE_THEME if dark else LIGHT_CODE_THEME

    def _render_block(self, block: MarkdownBlock, width: int, theme: str) -> Sequence[Strip]:
        key = (width, theme)
        if block._key != key and block.is_code:
            block._lines = _CodeLines(block.code_source(), width, theme)
            block._key = key
        elif block._key != key:
            app = self.app
            options = app.console_options.update(width=width, height=None, highlight=False)
            block._lines = render_block_lines(app.console, options, [block], theme)
            block._key = key
        return block._lines

    def _items(self) -> list[MarkdownBlock]:
        if not self._blocks:
            return self._tail
        if not self._tail:
            return self._blocks
        return self._blocks + self._tail

    def _layout(self, width: int) -> None:
        """Render what is stale at `width` and compute where each block starts."""
        theme = self._code_theme()
        key = (width, theme)
        if self._layout_key == key:
            return
        starts: list[int] = []
        y = 0
        items = self._items()
        frozen = len(self._blocks)
        tail_started = 0.0
        for i, block in enumerate(items):
            if i:
                y += 1
            if i == frozen:
                tail_started = perf_counter()
            starts.append(y)
            y += len(self._render_block(block, width, theme))
        if self._tail:
            self.tail_cost = perf_counter() - tail_started
        self._starts = starts
        self._height = y
        self._layout_key = key

    def prerender(self) -> float:
        """Render what changed at the current width now, so the next layout finds it cached.

        Returns the seconds the open tail took to render: the part paid again on every update.
        """
        width = self.content_region.width
        self.tail_cost = 0.0
        if width > 0:
            self._layout(width)
        return self.tail_cost

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """Height of every block at this width (renders only blocks not cached at it)."""
        if width <= 0:
            return 0
        self._layout(width)
        return self._height

    def render_line(self, y: int) -> Strip:
        """One line of the rendered text, styled on top of the widget's own colours."""
        width = self.size.width
        style = self.rich_style
        if width <= 0:
            return Strip.blank(0, style)
        self._layout(width)
        index = bisect_right(self._starts, y) - 1
        items = self._items()
        if index < 0 or index >= len(items):
            return Strip.blank(width, style)
        block = items[index]
        lines = self._render_block(block, width, self._layout_key[1] if self._layout_key else "")
        offset = y - self._starts[index]
        if offset >= len(lines):
            return Strip.blank(width, style)
        return lines[offset].crop_extend(0, width, None).apply_style(style)

    def rendered_lines(self, width: int) -> list[str]:
        """The text of every rendered line at `width` (for tests and plain-text export)."""
        self._layout(width)
        theme = self._layout_key[1] if self._layout_key else DARK_CODE_THEME
        out: list[str] = []
        items = self._items()
        for i, block in enumerate(items):
            if i:
                out.append("")
            out.extend(strip.text.rstrip() for strip in self._render_block(block, width, theme))
        return out
