r"""LaTeX math in replies drawn as readable Unicode: `$e^{i\pi}$` reads `e^(iπ)`.

Finding the math is Markdown's job (`add_math_rules`): mdit-py-plugins' dollarmath reads `$…$`
and `$$…$$`, and texmath's bracket rules read `\(…\)` and `\[…\]` (they run before markdown-it's
escape rule, which would otherwise turn `\(` into `(`). Code spans and fences are parsed as code
first, so math inside them stays code. Prices stay text: `$5 and $10` is not math, because inline
math may not start or end with a space and no digit may follow its closing `$`.

Turning LaTeX into text is `latex_unicode.latex_to_unicode`, loaded with the first formula drawn:
x², x₁, `e^(iπ)`, `(a+b)/c`, √(x+1), ∑ᵢ₌₁ⁿ. Unknown macros and environments stay as written, and
any input gives text (the source itself if pylatexenc fails).

The source is never lost: with rendering off (the `render_math` setting, or the palette's "Toggle
math rendering") math is shown exactly as written, and copying a message always gives its source.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # markdown-it, mdit-py-plugins and pylatexenc load with the first math drawn
    from markdown_it import MarkdownIt
    from markdown_it.parser_block import RuleFuncBlockType
    from markdown_it.parser_inline import RuleFuncInlineType
    from markdown_it.rules_block import StateBlock
    from markdown_it.rules_inline import StateInline
    from markdown_it.token import Token

__all__ = [
    "add_math_rules",
    "math_as_text",
    "math_rendering",
    "set_math_rendering",
]


_INLINE = frozenset({"math_inline", "math_inline_double"})
_BLOCKS = frozenset({"math_block", "math_block_label", "math_block_eqno"})
_LABELLED = frozenset({"math_block_label", "math_block_eqno"})
_CLOSER = {"\\(": "\\)", "\\[": "\\]"}  # the closing delimiter of each opening one

_render = True


def math_rendering() -> bool:
    """True when math is drawn as Unicode, False when it is shown as its LaTeX source."""
    return _render


def set_math_rendering(enabled: bool) -> None:
    """Draw math as Unicode (True) or as written (False) from the next parse on (the app sets it
    from the `render_math` setting; shown messages are parsed again by their widgets)."""
    global _render
    _render = enabled


# ---- finding math in Markdown -------------------------------------------------------------------


def add_math_rules(parser: MarkdownIt) -> None:
    """Teach the parser `$…$`, `$$…$$`, `\\(…\\)` and `\\[…\\]` (tokens `math_inline`,
    `math_inline_double`, `math_block`, `math_block_label`, `math_block_eqno`)."""
    from mdit_py_plugins.dollarmath import dollarmath_plugin
    from mdit_py_plugins.texmath.index import make_block_func, make_inline_func, rules

    parser.use(
        dollarmath_plugin,
        allow_space=False,  # "$5 and $10": a space before the closing `$`: not math
        allow_digits=False,  # "$5-$10": a digit after the closing `$`: not math
        allow_blank_lines=False,
        double_inline=True,  # `$$x$$` inside a paragraph is math, not "$" + math + "$"
    )
    block = parser.block.ruler
    for rule in list(block.__rules__):  # no public way to read a rule's function and `alt`
        if rule.name == "math_block":
            block.at(rule.name, _unbroken(rule.fn), {"alt": list(rule.alt)})
    brackets = rules["brackets"]
    parens = make_inline_func(brackets["inline"][0])
    display = brackets["block"][-1]  # `\[…\]` inside a paragraph: display math drawn in line
    in_line = make_inline_func({**display, "name": "math_inline_double"})
    inline = parser.inline.ruler
    inline.before("escape", "math_inline_parens", _closed_inline(parens, "\\)"))
    inline.before("escape", "math_inline_brackets", _closed_inline(in_line, "\\]"))
    for rule in brackets["block"]:  # with and without an equation number
        fn = _closed_block(make_block_func(rule), "\\]")
        block.before("fence", f"{rule['name']}_brackets", _unbroken(fn))


# texmath's bracket rules match a regular expression against the rest of the text from every
# `\(` or `\[`: with no closing delimiter after it, each try reads to the end (16 KB of "\(" took
# 0.7 s to parse). These guards answer "no" at once when no closing delimiter follows.


def _closed_inline(rule: RuleFuncInlineType, closing: str) -> RuleFuncInlineType:
    last: list[tuple[str, int]] = [("", -1)]  # (text, where its last closing delimiter is)

    def closed(state: StateInline, silent: bool) -> bool:
        src, end = last[0]
        if src is not state.src:
            src, end = state.src, state.src.rfind(closing)
            last[0] = (src, end)  # one assignment: another thread's parse never sees a mix
        return state.pos < end and rule(state, silent)

    return closed


def _closed_block(rule: RuleFuncBlockType, closing: str) -> RuleFuncBlockType:
    last: list[tuple[str, int]] = [("", -1)]

    def closed(state: StateBlock, start: int, end: int, silent: bool) -> bool:
        src, close = last[0]
        if src is not state.src:
            src, close = state.src, state.src.rfind(closing)
            last[0] = (src, close)
        return state.bMarks[start] + state.tShift[start] < close and rule(state, start, end, silent)

    return closed


def _unbroken(rule: RuleFuncBlockType) -> RuleFuncBlockType:
    """Display math (its tokens given the lines they span) only when no line inside it would
    end a paragraph (a blank line, a list item, a fence...). Until the closing delimiter arrives,
    a streamed reply shows those lines as the blocks they start, and finished blocks are never
    parsed again: math spanning them would make the stored reply look unlike the streamed one."""

    def unbroken(state: StateBlock, start: int, end: int, silent: bool) -> bool:
        count = len(state.tokens)
        if not rule(state, start, end, silent):
            return False
        if any(_ends_paragraph(state, line) for line in range(start + 1, state.line - 1)):
            del state.tokens[count:]
            state.line = start
            return False
        for token in state.tokens[count:]:
            token.map = token.map or [start, state.line]  # texmath sets none: blocks need it
        return True

    return unbroken


def _ends_paragraph(state: StateBlock, line: int) -> bool:
    """What markdown-it's paragraph rule checks before taking one more line."""
    if state.isEmpty(line):
        return True
    if state.sCount[line] - state.blkIndent > 3 or state.sCount[line] < 0:
        return False
    parent = state.parentType
    state.parentType = "paragraph"
    try:
        return any(
            ends(state, line, state.lineMax, True)
            for ends in state.md.block.ruler.getRules("paragraph")
        )
    finally:
        state.parentType = parent


# ---- math tokens as tokens Rich draws ---------------------------------------------------------


def math_as_text(tokens: list[Token]) -> list[Token]:
    """Inline math as text tokens (Rich draws them in line), display math as a paragraph (Rich
    skips block tokens it does not know: the math would vanish). Unicode or the source, as set."""
    if not any(token.type in _BLOCKS or _has_math(token.children) for token in tokens):
        return tokens
    out: list[Token] = []
    for token in tokens:
        if token.type in _BLOCKS:
            out.extend(_paragraph(token))
            continue
        if token.children:
            token.children = [_inline_text(child) for child in token.children]
        out.append(token)
    return out


def _has_math(children: list[Token] | None) -> bool:
    return any(child.type in _INLINE or _has_math(child.children) for child in children or ())


def _inline_text(token: Token) -> Token:
    if token.children:  # an image's alt text
        token.children = [_inline_text(child) for child in token.children]
    if token.type not in _INLINE:
        return token
    from markdown_it.token import Token

    shown = _shown(token).replace("\n", "; ")
    return Token("text", "", 0, content=shown, level=token.level)


def _paragraph(token: Token) -> list[Token]:
    from markdown_it.token import Token

    children: list[Token] = []
    for n, line in enumerate(_shown(token).split("\n")):
        if n:
            children.append(Token("hardbreak", "br", 0, level=token.level + 1))
        children.append(Token("text", "", 0, content=line, level=token.level + 1))
    text = "".join(child.content for child in children)
    level = token.level
    return [
        Token("paragraph_open", "p", 1, map=token.map, level=level, block=True),
        Token("inline", "", 0, map=token.map, level=level + 1, content=text, children=children),
        Token("paragraph_close", "p", -1, level=level, block=True),
    ]


def _shown(token: Token) -> str:
    """The math as drawn: Unicode, or (rendering off) as it was written; then its label."""
    label = f"({token.info})" if token.type in _LABELLED and token.info else ""
    if _render:
        from megachat.tui.widgets.latex_unicode import latex_to_unicode

        return latex_to_unicode(token.content) + (f"    {label}" if label else "")
    opening = token.markup
    source = f"{opening}{token.content}{_CLOSER.get(opening, opening)}"
    return f"{source} {label}" if label else source
