"""Markdown for chat messages that stays cheap while it streams and never hides text.

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

Every character of the text stays visible, whatever the text is (issue 8, item 10):

- markdown-it stops producing tokens past `maxNesting` (the rest of the message vanished after ~9
  nested lists or 20 quotes): past MAX_NESTING levels, quote and list markers are read as text;
- Rich leaves out what does not fit the width (a deep container, a table with many columns): a
  block whose drawing misses any of its letters is drawn as plain text instead.

And the work per message is bounded (a 25 MB reply kept a core busy for minutes): a top-level
block longer than BLOCK_WINDOW is parsed and drawn in pieces, so an update re-parses at most one
window, and text past MARKDOWN_BUDGET is drawn as plain lines, measured once and drawn on demand.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from time import perf_counter
from typing import TYPE_CHECKING, Any, ClassVar

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions
from rich.segment import Segment
from rich.style import Style as RichStyle
from textual.dom import NoScreen
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip
from textual.style import Style as VisualStyle
from textual.widget import Widget

from megachat.tui.widgets.markdown_math import add_math_rules, math_as_text

if TYPE_CHECKING:  # markdown-it and rich.markdown load with the first Markdown drawn
    from markdown_it import MarkdownIt
    from markdown_it.parser_block import RuleFuncBlockType
    from markdown_it.rules_block import StateBlock
    from markdown_it.token import Token
    from textual.selection import Selection

__all__ = [
    "BLOCK_WINDOW",
    "LINK_META",
    "MARKDOWN_BUDGET",
    "MAX_NESTING",
    "BlockSplitter",
    "MarkdownBlock",
    "StreamingMarkdown",
    "markdown_parser",
    "split_blocks",
]

LINK_META = "megachat.link"  # the Style meta key holding a link's target (never OSC 8)
DARK_CODE_THEME = "monokai"
LIGHT_CODE_THEME = "friendly"

MAX_NESTING = 10  # container levels drawn as such (a quote is 1, a list 2); deeper markers are text
BLOCK_WINDOW = 16 * 1024  # characters of one block parsed and drawn at once (code excepted)
MARKDOWN_BUDGET = 128 * 1024  # characters of a text drawn as Markdown; the rest is plain text

# CommonMark's container blocks: the only block rules that nest (markdown-it calls its block
# tokenizer again inside them), so the only way past markdown-it's maxNesting.
_CONTAINER_RULES = ("blockquote", "list")
_CODE_KINDS = ("fence", "code_block")

_parser: MarkdownIt | None = None


def markdown_parser() -> MarkdownIt:
    """The shared parser: GitHub-like Markdown with raw HTML off (tags stay literal text), and
    LaTeX math (`$…$`, `$$…$$`, `\\(…\\)`, `\\[…\\]`: markdown_math)."""
    global _parser
    if _parser is None:
        from markdown_it import MarkdownIt

        parser = MarkdownIt("gfm-like", {"html": False})
        add_math_rules(parser)
        _limit_nesting(parser)
        _parser = parser
    return _parser


def _limit_nesting(parser: MarkdownIt) -> None:
    """Past MAX_NESTING levels, read quote and list markers as text instead of nesting further.

    markdown-it skips everything left in a container nested past `maxNesting` (20): the text is
    simply gone. Refusing to open containers earlier keeps every line: the deeper lines become
    paragraph text of the deepest container drawn. It also bounds the recursion and Rich's work,
    which grows with the depth.
    """
    assert parser.options.maxNesting > MAX_NESTING + 2  # a list opens two levels, a paragraph one
    ruler = parser.block.ruler
    for rule in list(ruler.__rules__):  # no public way to read a rule's `alt` chains
        if rule.name in _CONTAINER_RULES:
            ruler.at(rule.name, _shallow(rule.fn), {"alt": list(rule.alt)})


def _shallow(rule: RuleFuncBlockType) -> RuleFuncBlockType:
    def shallow(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
        return state.level < MAX_NESTING and rule(state, start_line, end_line, silent)

    return shallow


@dataclass(eq=False)
class MarkdownBlock:
    """One top-level block (or, for the open tail, a run of them) with its parsed tokens.

    kind "plain" is text past the Markdown budget: no tokens, drawn as it is."""

    source: str
    tokens: list[Token]
    kind: str
    gap: bool = True  # a blank line above it; not for the next piece of a block cut in pieces
    # rendered strips for one (width, code theme); filled lazily
    _key: tuple[int, str] | None = field(default=None, repr=False)
    _lines: Sequence[Strip] = field(default_factory=list, repr=False)

    _code: _CodeSource | None = field(default=None, repr=False)
    _plain: _PlainText | None = field(default=None, repr=False)
    # painted lines (cropped to the width, in the widget's style), for (_key, style)
    _painted: dict[int, Strip] = field(default_factory=dict, repr=False)
    _painted_for: tuple[Any, ...] | None = field(default=None, repr=False)

    def code(self) -> list[str]:
        """The contents of the fenced / indented code blocks in this block."""
        return [t.content for t in self.tokens if t.type in _CODE_KINDS]

    @property
    def is_code(self) -> bool:
        """A top-level code block: drawn by _WrappedLines, not by Rich."""
        return self.kind in _CODE_KINDS

    @property
    def is_plain(self) -> bool:
        """Text drawn as it is, without Markdown (past the budget)."""
        return self.kind == "plain"

    def code_source(self) -> _CodeSource:
        if self._code is None:
            token = self.tokens[0]
            lexer = (token.info or "").strip().partition(" ")[0] if token.type == "fence" else ""
            self._code = _CodeSource(token.content, lexer or "text")
        return self._code

    def plain_source(self) -> _PlainText:
        if self._plain is None:
            self._plain = _PlainText(self.source)
        return self._plain


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


def split_blocks(
    text: str, *, window: int = BLOCK_WINDOW, budget: int = MARKDOWN_BUDGET
) -> list[MarkdownBlock]:
    """Split a finished Markdown text into top-level blocks (see BlockSplitter)."""
    splitter = BlockSplitter(window=window, budget=budget)
    splitter.append(text)
    splitter.finish()
    return splitter.blocks


def _plain_links(tokens: list[Token]) -> list[Token]:
    """Show every link as "text (url)", both parts clickable; an autolink shows its URL once.

    Rich (hyperlinks on) draws a link's own text only, styled with `Style(link=url)`, so after a
    link whose text is not its URL the URL is added, in brackets, as a link of its own: the user
    always sees where a link goes. `_block_lines` then moves every target from the style's link
    into its meta (LINK_META), so no link reaches the terminal as an OSC 8 hyperlink.
    """
    for token in tokens:
        children = token.children
        if not children or not any(child.type == "link_open" for child in children):
            continue
        shown: list[Token] = []
        href = ""
        text: list[str] = []
        for child in children:
            shown.append(child)
            if child.type == "link_open":
                href = str(child.attrs.get("href", ""))
                text = []
            elif child.type in _SHOWN:
                text.append(child.content)
            elif child.type == "link_close" and not _is_autolink(href, "".join(text)):
                shown.extend(_url_in_brackets(href))
        token.children = shown
    return tokens


def _is_autolink(href: str, text: str) -> bool:
    """A link whose text is its URL (`<https://a.b>`, a bare `www.a.b`, `<me@a.b>`)."""
    return bool(text) and href in (text, "http://" + text, "https://" + text, "mailto:" + text)


def _url_in_brackets(href: str) -> list[Token]:
    """Tokens for " (href)" after a link, the URL a link to itself."""
    from markdown_it.token import Token

    return [
        Token("text", "", 0, content=" ("),
        Token("link_open", "a", 1, attrs={"href": href}),
        Token("text", "", 0, content=href),
        Token("link_close", "a", -1),
        Token("text", "", 0, content=")"),
    ]


def _images_as_text(tokens: list[Token]) -> list[Token]:
    """An image as "[image: alt]" where it stands (Rich draws an image as a block of its own: its
    alt text left the line, "🌆 alt" above the words around it)."""
    for token in tokens:
        children = token.children
        if children and any(child.type == "image" for child in children):
            token.children = [_image_text(c) if c.type == "image" else c for c in children]
    return tokens


def _image_text(image: Token) -> Token:
    from markdown_it.token import Token

    alt = " ".join(_alt_text(image.children or []).split())
    return Token("text", "", 0, content=f"[image: {alt}]" if alt else "[image]")


def _alt_text(children: list[Token]) -> str:
    """An image's alt text as drawn: its words without their Markdown (`*b*` is "b")."""
    parts: list[str] = []
    for child in children:
        if child.type in _SHOWN:
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(_image_text(child).content)
    return "".join(parts)


def _make_block(
    text: str, starts: list[int], start: int, end: int, group: list[Token], gap: bool = True
) -> MarkdownBlock:
    source = _block_source(text, starts, start, end)
    tokens = _plain_links(_images_as_text(math_as_text(group)))
    return MarkdownBlock(source, tokens, _kind(tokens), gap)


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
                # Links carry Style(link=url); _block_lines turns that into meta (no OSC 8).
                self.hyperlinks = True
                self.inline_code_lexer = None
                self.inline_code_theme = code_theme

        _markdown_class = _TokensMarkdown
    return _markdown_class(tokens, code_theme)


def warm_up(dark: bool = True) -> None:
    """Build what a first reply needs (the parser, Rich's Markdown class, the code theme and
    Pygments' Python lexer with its compiled patterns: ~85 ms), so a reply does not wait for it.
    The screen runs this off the event loop once start-up is done."""
    theme = DARK_CODE_THEME if dark else LIGHT_CODE_THEME
    _tokens_markdown(markdown_parser().parse("# a\n\n*b* `c`\n"), theme)
    _syntax_theme(theme)
    lexer = _lexer("python")
    if lexer is not None:
        for _token in lexer.get_tokens("x = 1\n"):  # type: ignore[attr-defined]
            pass


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


class _PlainText:
    """Text drawn as it is, line by line: the part of a message past the Markdown budget, or a
    block Rich could not draw whole. Growing it costs only the new text."""

    def __init__(self, text: str = "") -> None:
        self.lines: list[str] = [""]
        self.version = 0
        self.extend(text)

    def extend(self, text: str) -> None:
        if not text:
            return
        parts = text.split("\n")
        self.lines[-1] += parts[0]
        self.lines.extend(parts[1:])
        self.version += 1

    def segments(self, n: int, theme_name: str) -> list[Segment]:
        line = self.lines[n]
        return [Segment(line.expandtabs(_TAB_SIZE))] if line else []


def _cells(line: str) -> int:
    if "\t" in line:
        line = line.expandtabs(_TAB_SIZE)
    return len(line) if line.isascii() else cell_len(line)


class _WrappedLines(Sequence[Strip]):
    """Lines hard-wrapped at one width, drawn only when asked for: a code block (highlighted,
    padded by one cell all round) or plain text.

    Measuring costs one pass over the lines (hard wrapping makes the height exact without
    drawing); a growing plain text re-measures only its new lines (`sync`)."""

    def __init__(
        self, source: _CodeSource | _PlainText, width: int, theme_name: str, *, padded: bool
    ) -> None:
        self.source = source
        self.theme_name = theme_name
        self.pad = 1 if padded else 0
        self.width = max(1 + 2 * self.pad, width)
        self.text_width = self.width - 2 * self.pad
        self.background = (
            _syntax_theme(theme_name).get_background_style()  # type: ignore[attr-defined]
            if padded
            else None
        )
        self._ends = array("q")  # rows down to the end of each source line
        self._strips: dict[int, list[Strip]] = {}
        self._version: int | None = None
        self.sync()

    def sync(self) -> None:
        """Measure what the source gained since the last call (its last line may have grown)."""
        version = getattr(self.source, "version", 0)
        if version == self._version:
            return
        self._version = version
        ends = self._ends
        done = len(ends)
        if done:
            done -= 1
            del ends[done:]
            self._strips.pop(done, None)
        total = ends[-1] if ends else 0
        width = self.text_width
        for line in self.source.lines[done:]:
            total += max(1, -(-_cells(line) // width))
            ends.append(total)

    def __len__(self) -> int:
        return (self._ends[-1] if self._ends else 0) + 2 * self.pad

    def __getitem__(self, y):  # type: ignore[override]
        if isinstance(y, slice):
            return [self[i] for i in range(*y.indices(len(self)))]
        size = len(self)
        if y < 0:
            y += size
        if not 0 <= y < size:
            raise IndexError(y)
        row = y - self.pad
        if self.pad and (row < 0 or y == size - 1):
            return Strip.blank(self.width, self.background)
        n = bisect_right(self._ends, row)
        piece = row - (self._ends[n - 1] if n else 0)
        pieces = self._strips.get(n)
        if pieces is None:
            strip = Strip(self.source.segments(n, self.theme_name))
            length = strip.cell_length
            cuts = [*range(self.text_width, length, self.text_width), length]
            pieces = list(strip.divide(cuts)) if length else [Strip([])]
            self._strips[n] = pieces
        part = pieces[piece] if piece < len(pieces) else Strip([])
        if not self.pad:
            return part
        pad = Segment(" ", self.background)
        line = Strip([pad, *part, pad])
        return line.extend_cell_length(self.width, self.background).crop(0, self.width)


_SHOWN = ("text", "code_inline")


def _token_text(tokens: list[Token]) -> str:
    """The text a block's tokens carry: what must be somewhere in its drawing."""
    parts: list[str] = []
    for token in tokens:
        if token.type in _CODE_KINDS:
            parts.append(token.content)
        for child in token.children or ():
            if child.type in _SHOWN:  # images and math are text by now (_make_block)
                parts.append(child.content)
    return "".join(parts)


def _shows_all(tokens: list[Token], strips: list[Strip]) -> bool:
    """True when every letter and digit of the tokens' text is drawn (Rich adds bullets, numbers
    and link targets, and wraps lines, so the drawing holds at least as many of each)."""
    wanted = Counter(_token_text(tokens))
    drawn = Counter("".join(strip.text for strip in strips))
    return all(drawn[ch] >= n for ch, n in wanted.items() if ch.isalnum())


def _block_lines(
    console: Console, options: ConsoleOptions, block: MarkdownBlock, code_theme: str
) -> Sequence[Strip]:
    """One block drawn at options' width: code and plain text on demand, the rest by Rich.

    Rich starts some blocks (lists) or ends others (rules) with an empty line; those are dropped
    so the spacing is the same whichever way the text was cut into blocks. What Rich leaves out
    (a container nested deeper than the width allows, a table with more columns than fit) would
    vanish without a trace, so such a block is drawn as plain text instead.
    """
    width = options.max_width
    if block.is_code:
        return _WrappedLines(block.code_source(), width, code_theme, padded=True)
    if block.is_plain:
        return _WrappedLines(block.plain_source(), width, code_theme, padded=False)
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
    if not _shows_all(block.tokens, strips):
        return _WrappedLines(block.plain_source(), width, code_theme, padded=False)
    return [_link_targets_as_meta(strip) for strip in strips[start:end]]


def _link_targets_as_meta(strip: Strip) -> Strip:
    """Move each link target from the style's `link` into its meta (LINK_META).

    Textual writes a style's link to the terminal as an OSC 8 hyperlink, which the terminal may
    open on a click without asking; a target in the meta stays in the app, where a click on it
    posts StreamingMarkdown.LinkClicked and the screen asks first (model output is untrusted).
    """
    if not any(style is not None and style.link for _text, style, _control in strip):
        return strip
    segments = [
        Segment(
            text, style.update_link(None) + RichStyle.from_meta({LINK_META: style.link}), control
        )
        if style is not None and style.link
        else Segment(text, style, control)
        for text, style, control in strip
    ]
    return Strip(segments, strip.cell_length)


class BlockSplitter:
    """Cuts a growing Markdown text into top-level blocks; only the open end is parsed again.

    `frozen` blocks can no longer change, `tail` is re-parsed when text arrives, `plain` is the
    text past the budget. The cuts depend on the text only, never on how it arrived, so a
    streamed reply is drawn exactly like the stored one. The work is bounded:

    - past `budget` characters the rest is one plain block, never parsed;
    - a block that does not end within `window` characters is frozen in pieces of at most a
      window, cut at line ends (code excepted: it is drawn on demand, so it stays whole), so an
      update re-parses at most a window of text (or one code block).
    """

    def __init__(self, *, window: int = BLOCK_WINDOW, budget: int = MARKDOWN_BUDGET) -> None:
        self.window = max(1, window)
        self.budget = max(0, budget)
        self.text = ""
        self.frozen: list[MarkdownBlock] = []
        self.tail: list[MarkdownBlock] = []
        self.plain: MarkdownBlock | None = None
        self._consumed = 0  # text[:_consumed] is in `frozen`
        self._joined_at = -1  # where a block was cut in pieces: the next piece starts there
        self._plain_from = self._plain_to = 0  # text[from:to] is in `plain`
        self._tail_for = (-1, -1)  # (_consumed, len(text)) when the tail was parsed
        self._refs: dict[str, Any] = {}  # link reference definitions in frozen text
        self._parsed_refs: dict[str, Any] = {}  # ... and those the last parse found

    @property
    def blocks(self) -> list[MarkdownBlock]:
        """Every block, in order."""
        plain = [self.plain] if self.plain is not None else []
        return [*self.frozen, *self.tail, *plain]

    def append(self, fragment: str) -> None:
        """More text: freeze what it can no longer change and re-parse the open end."""
        if fragment:
            self.text += fragment
            self._advance(final=False)

    def finish(self) -> None:
        """The text is complete: every block is final."""
        self._advance(final=True)

    # ---- internals -------------------------------------------------------------------------------

    def _parse(self, text: str) -> list[tuple[int, int, list[Token]]]:
        """Parse a piece of the text; `[x][ref]` links see the definitions frozen before it."""
        env: dict[str, Any] = {"references": dict(self._refs)}
        tokens = markdown_parser().parse(text, env)
        self._parsed_refs = env["references"]
        return _groups(tokens)

    def _keep_refs(self, before_line: int | None = None) -> None:
        """Remember the last parse's link definitions above `before_line` (now frozen); not
        those in the open tail, which may still be a definition in the making."""
        for label, ref in self._parsed_refs.items():
            if label not in self._refs and (before_line is None or ref["map"][1] <= before_line):
                self._refs[label] = ref

    def _blocks(
        self, chunk: str, at: int, groups: list[tuple[int, int, list[Token]]]
    ) -> list[MarkdownBlock]:
        """Blocks for groups parsed from `chunk` = text[at:...]."""
        starts = _line_starts(chunk)
        return [
            _make_block(chunk, starts, a, b, group, gap=not (at == self._joined_at and a == 0))
            for a, b, group in groups
        ]

    def _advance(self, final: bool) -> None:
        if self.plain is None:
            self._cut_windows()
        if self.plain is not None:
            self.tail = []
            self.plain.plain_source().extend(self.text[self._plain_to :])
            self._plain_to = len(self.text)
            self.plain.source = self.text[self._plain_from :]
            return
        if final:
            self._freeze_rest()
        else:
            self._parse_tail()

    def _cut_windows(self) -> None:
        """Freeze blocks a window at a time while more than a window of text is open."""
        text = self.text
        while True:
            pos = self._consumed
            limit = min(pos + self.window, self.budget)
            if len(text) <= limit:
                return  # the rest fits in a window: it is the tail
            if limit <= pos:
                self._start_plain()
                return
            cut = text.rfind("\n", pos, limit) + 1
            at_line_end = cut > pos
            if not at_line_end:
                cut = limit  # a line longer than the window: cut it
            chunk = text[pos:cut]
            groups = self._parse(chunk)
            if not groups:  # blank lines (or link definitions)
                self._keep_refs()
                self._consumed = cut
                continue
            if len(groups) == 1 and at_line_end and _kind(groups[0][2]) in _CODE_KINDS:
                # A code block is drawn on demand, so it is kept whole: find where it ends
                # (a line after it, even unfinished, cannot change that).
                end = min(len(text), self.budget)
                if end > cut:
                    chunk = text[pos:end]
                    groups = self._parse(chunk)
                if len(groups) == 1:
                    if end >= self.budget:
                        self._start_plain()
                    return  # still open
                groups = groups[:2]  # freeze the code block; the next block starts the window
            if len(groups) > 1:
                self.frozen.extend(self._blocks(chunk, pos, groups[:-1]))
                self._keep_refs(groups[-1][0])
                self._consumed = pos + _line_starts(chunk)[groups[-1][0]]
                continue
            if limit >= self.budget:
                self._start_plain()
                return
            # One block longer than the window: this piece of it is final.
            self.frozen.extend(self._blocks(chunk, pos, groups))
            self._keep_refs()
            self._consumed = self._joined_at = cut

    def _start_plain(self) -> None:
        pos = self._consumed
        self._plain_from = self._plain_to = pos
        self.plain = MarkdownBlock("", [], "plain", gap=pos != self._joined_at)

    def _parse_tail(self) -> None:
        """Parse the open part; freeze every block that a later line can no longer change."""
        text = self.text
        tail = text[self._consumed :]
        self._tail_for = (self._consumed, len(text))
        if not tail.strip():
            self.tail = []
            return
        complete_end = tail.rfind("\n") + 1
        if complete_end:
            # Block boundaries come from complete lines only: "1. a\n\n2" is a paragraph "2"
            # until the line ends as "2. b" and turns out to continue the list.
            complete = tail[:complete_end]
            groups = self._parse(complete)
            if len(groups) > 1:
                self.frozen.extend(self._blocks(complete, self._consumed, groups[:-1]))
                self._keep_refs(groups[-1][0])
                self._consumed += _line_starts(complete)[groups[-1][0]]
                tail = text[self._consumed :]
                self._tail_for = (self._consumed, len(text))
        self.tail = self._blocks(tail, self._consumed, self._parse(tail))

    def _freeze_rest(self) -> None:
        """The text is complete: the tail's blocks are final (parsed again only if stale)."""
        text = self.text
        if self._tail_for != (self._consumed, len(text)):
            rest = text[self._consumed :]
            self.tail = (
                self._blocks(rest, self._consumed, self._parse(rest)) if rest.strip() else []
            )
        self.frozen.extend(self.tail)
        self.tail = []
        self._consumed = len(text)
        self._tail_for = (-1, -1)


class StreamingMarkdown(Widget):
    """A Markdown text drawn line by line; text can be appended cheaply while it streams."""

    DEFAULT_CSS = """
    StreamingMarkdown {
        height: auto;
    }
    """

    block_window: ClassVar[int] = BLOCK_WINDOW
    markdown_budget: ClassVar[int] = MARKDOWN_BUDGET

    class LinkClicked(Message):
        """A link was clicked; the screen shows `url` and asks before opening it."""

        def __init__(self, url: str) -> None:
            super().__init__()
            self.url = url

    def on_click(self, event: Click) -> None:
        """A click on a link's text or URL (not the end of a drag selecting text) asks to open
        its target, carried in the style's meta by `_link_targets_as_meta`."""
        url = event.style.meta.get(LINK_META)
        if isinstance(url, str) and url and self._selection() is None:
            event.stop()
            self.post_message(self.LinkClicked(url))

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
        self._streaming = streaming
        self._splitter = self._new_splitter(text)
        self._item_list: list[MarkdownBlock] | None = None
        self._starts: list[int] = []  # first line of each item at _layout_key
        self._layout_key: tuple[int, str] | None = None
        self._height = 0
        self.tail_cost = 0.0  # seconds the open tail took in the last layout
        self._line_style: RichStyle | None = None  # while render_lines runs
        self._line_selection: Selection | None = None  # while render_lines runs

    def _new_splitter(self, text: str) -> BlockSplitter:
        splitter = BlockSplitter(window=self.block_window, budget=self.markdown_budget)
        splitter.append(text)
        if not self._streaming:
            splitter.finish()
        return splitter

    # ---- text ---------------------------------------------------------------------------------

    @property
    def text(self) -> str:
        """The Markdown source shown so far."""
        return self._splitter.text

    @property
    def streaming(self) -> bool:
        """True while the last block may still grow."""
        return self._streaming

    @property
    def blocks(self) -> list[MarkdownBlock]:
        """Every block, frozen, open and plain (for tests and copying)."""
        return self._splitter.blocks

    def code_blocks(self) -> list[str]:
        """The contents of the code blocks, in order."""
        return [code for block in self.blocks for code in block.code()]

    def append(self, fragment: str) -> None:
        """Add sanitized text to the end; only the open tail is parsed again."""
        if not fragment:
            return
        self._splitter.append(fragment)
        self._changed()

    def set_text(self, text: str) -> None:
        """Replace the text (appends when `text` extends what is shown)."""
        if text.startswith(self.text):
            self.append(text[len(self.text) :])
            return
        self._splitter = self._new_splitter(text)
        self._changed()

    def reparse(self) -> None:
        """Parse and draw the whole text again: how it is drawn changed (math rendering)."""
        self._splitter = self._new_splitter(self.text)
        self._changed()

    def finish(self) -> None:
        """The text is complete: freeze the tail (its tokens are reused, not parsed again)."""
        if not self._streaming:
            return
        self._streaming = False
        self._splitter.finish()
        self._changed()

    def _changed(self) -> None:
        self._item_list = None
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
        if block._key == key:
            if isinstance(block._lines, _WrappedLines):
                block._lines.sync()  # plain text past the budget grows while it streams
            return block._lines
        app = self.app
        options = app.console_options.update(width=width, height=None, highlight=False)
        block._lines = _block_lines(app.console, options, block, theme)
        block._key = key
        return block._lines

    def _items(self) -> list[MarkdownBlock]:
        if self._item_list is None:
            self._item_list = self._splitter.blocks
        return self._item_list

    def _layout(self, width: int) -> None:
        """Render what is stale at `width` and compute where each block starts."""
        theme = self._code_theme()
        key = (width, theme)
        if self._layout_key == key:
            return
        starts: list[int] = []
        y = 0
        items = self._items()
        frozen = len(self._splitter.frozen)
        tail_started = 0.0
        for i, block in enumerate(items):
            if i and block.gap:
                y += 1
            if i == frozen:
                tail_started = perf_counter()
            starts.append(y)
            y += len(self._render_block(block, width, theme))
        if len(items) > frozen:
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

    def render_lines(self, crop: Region) -> list[Strip]:
        """Lines for the compositor; the widget's style and selection are worked out once for all
        of them (`rich_style` walks every ancestor's styles; it used to run once per line)."""
        self._line_style = self.rich_style
        self._line_selection = self._selection()
        try:
            return super().render_lines(crop)
        finally:
            self._line_style = None
            self._line_selection = None

    def render_line(self, y: int) -> Strip:
        """One line of the rendered text, styled on top of the widget's own colours, its selected
        part highlighted.

        A line asked for on its own, outside `render_lines`, is Textual's compositor looking for
        the text under the mouse pointer: only that line carries offsets (`Strip.apply_offsets`,
        which map a cell to a column and line of the text). Painting never reads them, and adding
        them to every painted line nearly tripled the cost of painting the streaming tail (40
        fresh lines: 0.75 -> 2.1 ms a frame).
        """
        painting = self._line_style is not None
        style = self._line_style if painting else self.rich_style
        selection = self._line_selection if painting else self._selection()
        line = self._painted_line(y, style)
        if selection is not None and (span := selection.get_span(y)) is not None:
            line = self._highlight(line, y, span)
        return line if painting else line.apply_offsets(0, y)

    def _selection(self) -> Selection | None:
        """The selection in this widget; None once it has left its screen (a reply of another
        branch is still drawn while it is being taken off)."""
        try:
            return self.text_selection
        except NoScreen:
            return None

    def _painted_line(self, y: int, style: RichStyle) -> Strip:
        width = self.size.width
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
        if block.is_plain:  # its last line grows while it streams
            return lines[offset].crop_extend(0, width, None).apply_style(style)
        # Scrolling and every streamed frame paint the same lines again: keep them painted
        # (never highlighted nor with offsets: render_line adds those to a copy).
        painted_for = (block._key, style)
        if block._painted_for != painted_for:
            block._painted_for = painted_for
            block._painted = {}
        line = block._painted.get(offset)
        if line is None:
            line = block._painted[offset] = (
                lines[offset].crop_extend(0, width, None).apply_style(style)
            )
        return line

    def _highlight(self, line: Strip, y: int, span: tuple[int, int]) -> Strip:
        """`line` with the selected columns of its text in the screen's selection style."""
        selectable = self._selectable_text(y)
        if selectable is None:
            return line
        first, shown = selectable
        start, end = span
        start = max(start, first)
        end = first + len(shown) if end == -1 else min(end, first + len(shown))
        if start >= end:
            return line
        painted = line.text  # offsets count characters, Strip.divide cuts at cells
        cuts = [cell_len(painted[:start]), cell_len(painted[:end]), line.cell_length]
        before, selected, after = line.divide(cuts)
        # Textual's own blending (as Static draws a selection): a see-through selection
        # background over each segment's own, its text colour kept unless the theme sets one.
        selection = VisualStyle.from_styles(self.screen.get_component_styles("screen--selection"))
        from_rich = VisualStyle.from_rich_style
        selected = Strip(
            [
                Segment(text, (from_rich(style or RichStyle()) + selection).rich_style, control)
                for text, style, control in selected
            ],
            selected.cell_length,
        )
        return Strip.join([before, selected, after])

    def _selectable_text(self, y: int) -> tuple[int, str] | None:
        """(first column, text) of line `y` as a selection copies it: without the trailing padding
        nor a code block's one-cell margin; None for a code block's blank top and bottom rows,
        which are left out of a copy (the blank line between blocks stays)."""
        index = bisect_right(self._starts, y) - 1
        items = self._items()
        if index < 0 or index >= len(items) or self._layout_key is None:
            return None
        lines = self._render_block(items[index], *self._layout_key)
        offset = y - self._starts[index]
        if offset >= len(lines):
            return (0, "")  # the blank line above the next block
        pad = lines.pad if isinstance(lines, _WrappedLines) else 0
        if pad and (offset < pad or offset >= len(lines) - pad):
            return None
        return pad, lines[offset].text[pad:].rstrip()

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        """The selected text of the lines as drawn (what the user sees: wrapped where the screen
        wraps, list bullets included), for Textual's copy of a mouse selection."""
        width = self.size.width
        if width <= 0:
            return None
        self._layout(width)
        first = selection.start.y if selection.start is not None else 0
        last = selection.end.y if selection.end is not None else self._height - 1
        out: list[str] = []
        for y in range(max(0, first), min(last, self._height - 1) + 1):
            selectable = self._selectable_text(y)
            span = selection.get_span(y)
            if selectable is None or span is None:
                continue
            column, shown = selectable
            start, end = span
            end = column + len(shown) if end == -1 else end
            out.append(shown[max(0, start - column) : max(0, end - column)])
        return "\n".join(out), "\n"

    def rendered_lines(self, width: int) -> list[str]:
        """The text of every rendered line at `width` (for tests and plain-text export)."""
        self._layout(width)
        theme = self._layout_key[1] if self._layout_key else DARK_CODE_THEME
        out: list[str] = []
        items = self._items()
        for i, block in enumerate(items):
            if i and block.gap:
                out.append("")
            out.extend(strip.text.rstrip() for strip in self._render_block(block, width, theme))
        return out
