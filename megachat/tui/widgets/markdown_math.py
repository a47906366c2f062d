r"""LaTeX math in replies drawn as readable Unicode: `$e^{i\pi}$` reads `e^(iπ)`.

Finding the math is Markdown's job (`add_math_rules`): mdit-py-plugins' dollarmath reads `$…$`
and `$$…$$`, and texmath's bracket rules read `\(…\)` and `\[…\]` (they run before markdown-it's
escape rule, which would otherwise turn `\(` into `(`). Code spans and fences are parsed as code
first, so math inside them stays code. Prices stay text: `$5 and $10` is not math, because inline
math may not start or end with a space and no digit may follow its closing `$`.

Turning LaTeX into text is `latex_to_unicode`: pylatexenc parses it and knows the symbols
(`\alpha` α, `\le` ≤, `\mathbb{R}` ℝ), but its own text conversion loses the structure
(`\frac{a+b}{c}` gives "a+b/c", `e^{i\pi}` "e^iπ"), so scripts, fractions and roots are written
here over its node tree: x², x₁, `e^(iπ)`, `(a+b)/c`, √(x+1), ∑ᵢ₌₁ⁿ. Unknown macros and
environments stay as written, and any input gives text (the source itself if pylatexenc fails).

The source is never lost: with rendering off (the `render_math` setting, or the palette's "Toggle
math rendering") math is shown exactly as written, and copying a message always gives its source.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # markdown-it, mdit-py-plugins and pylatexenc load with the first math drawn
    from markdown_it import MarkdownIt
    from markdown_it.parser_block import RuleFuncBlockType
    from markdown_it.parser_inline import RuleFuncInlineType
    from markdown_it.rules_block import StateBlock
    from markdown_it.rules_inline import StateInline
    from markdown_it.token import Token

__all__ = [
    "add_math_rules",
    "latex_to_unicode",
    "math_as_text",
    "math_rendering",
    "set_math_rendering",
]

MAX_MATH = 4 * 1024  # characters of a formula converted (~50 ms at most); longer: shown as written
_MAX_DEPTH = 64  # brace nesting converted; deeper is shown as written (pylatexenc recurses)

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
        return latex_to_unicode(token.content) + (f"    {label}" if label else "")
    opening = token.markup
    source = f"{opening}{token.content}{_CLOSER.get(opening, opening)}"
    return f"{source} {label}" if label else source


# ---- LaTeX to Unicode ----------------------------------------------------------------------------

_SUPERSCRIPTS = dict(
    zip(
        "0123456789+-−=()abcdefghijklmnoprstuvwxyzABDEGHIJKLMNOPRTUVWαβγδεθιφχ∘⊤'′″‴",
        "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁻⁼⁽⁾ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻᴬᴮᴰᴱᴳᴴᴵᴶᴷᴸᴹᴺᴼᴾᴿᵀᵁⱽᵂᵅᵝᵞᵟᵋᶿᶥᵠᵡ°ᵀ′′″‴",
        strict=True,
    )
)
_SUBSCRIPTS = dict(
    zip(
        "0123456789+-−=()aehijklmnoprstuvxβγρφχ",
        "₀₁₂₃₄₅₆₇₈₉₊₋₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓᵦᵧᵨᵩᵪ",
        strict=True,
    )
)
_ROOTS = {"2": "√", "3": "∛", "4": "∜"}
_SIZING = frozenset(
    {"left", "right", "middle", "big", "Big", "bigg", "Bigg"}
    | {f"{size}{side}" for size in ("big", "Big", "bigg", "Bigg") for side in "lrm"}
)
_FRACTIONS = frozenset({"frac", "dfrac", "tfrac", "cfrac"})
_OPERATORS = frozenset("+-−±∓=≠<>≤≥≈/·×÷,;:|→←↔⇒⇔∧∨∈∉⊂⊆∪∩")
_OPENING, _CLOSING_BRACKETS = "([{⟨", ")]}⟩"
# Environments whose rows are lines of an equation, and those drawn as a matrix (delimiters).
_LINES_ENVIRONMENTS = frozenset(
    {"aligned", "alignedat", "gathered", "split", "multline", "eqnarray", "align", "gather"}
    | {"equation", "equation*", "align*", "gather*", "multline*", "eqnarray*", "alignat"}
)
_MATRICES = {
    "matrix": ("[", "]"),
    "smallmatrix": ("[", "]"),
    "array": ("[", "]"),
    "bmatrix": ("[", "]"),
    "pmatrix": ("(", ")"),
    "Bmatrix": ("{", "}"),
    "vmatrix": ("|", "|"),
    "Vmatrix": ("‖", "‖"),
}


@lru_cache(maxsize=1024)
def latex_to_unicode(source: str) -> str:
    r"""LaTeX math as readable Unicode text: `e^{i\pi}` → "e^(iπ)", `x_1^2` → "x₁²",
    `\frac{a+b}{c}` → "(a+b)/c", `\sqrt{x+1}` → "√(x+1)", `\sum_{i=1}^n` → "∑ᵢ₌₁ⁿ".

    Rows (`\\`) become lines. Never raises: what cannot be converted is returned as written."""
    if not source.strip() or len(source) > MAX_MATH or _depth(source) > _MAX_DEPTH:
        return source.strip()
    try:
        return _converter().convert(source)
    except Exception:  # pylatexenc's failures are many and undocumented; the source is fine text
        return source.strip()


def _depth(source: str) -> int:
    depth = deepest = 0
    for ch in source:
        if ch == "{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == "}":
            depth -= 1
    return deepest


@lru_cache(maxsize=1)
def _converter() -> Any:
    """The converter, built on first use (importing pylatexenc and building its tables: 7-13 ms)."""
    from pylatexenc import latex2text, latexwalker, macrospec

    walker_db = latexwalker.get_default_latex_context_db()
    walker_db.add_context_category(
        "megachat-math",
        prepend=True,
        macros=[
            macrospec.MacroSpec("binom", "{{"),
            macrospec.MacroSpec("dfrac", "{{"),
            macrospec.MacroSpec("tfrac", "{{"),
            macrospec.MacroSpec("cfrac", "{{"),
            macrospec.MacroSpec("operatorname", "*{"),
            macrospec.MacroSpec("boldsymbol", "{"),
            macrospec.MacroSpec("bm", "{"),
            macrospec.MacroSpec("boxed", "{"),
            macrospec.MacroSpec("cancel", "{"),
            macrospec.MacroSpec("pmod", "{"),
            macrospec.MacroSpec("tag", "*{"),
            macrospec.MacroSpec("overset", "{{"),
            macrospec.MacroSpec("underset", "{{"),
            macrospec.MacroSpec("stackrel", "{{"),
        ],
    )
    text = latex2text.MacroTextSpec
    text_db = latex2text.get_default_latex_context_db()
    text_db.add_context_category(
        "megachat-math",
        prepend=True,
        macros=[
            *(text(name, "", discard=True) for name in sorted(_SIZING)),
            *(text(name, "", discard=True) for name in ("displaystyle", "textstyle")),
            *(text(name, discard=False) for name in ("operatorname", "boldsymbol", "bm")),
            *(text(name, discard=False) for name in ("boxed", "cancel")),
            *(text(name, name) for name in ("det", "Pr", "gcd", "deg", "dim", "ker", "arg")),
            *(text(name, name) for name in ("sinh", "cosh", "tanh", "sec", "csc", "cot")),
            text("ne", "≠"),
            text("iff", "⟺"),
            text("implies", "⟹"),
            text("impliedby", "⟸"),
            text("|", "‖"),
            text("cdotp", "·"),
            text("bmod", "mod"),
            text("mod", "mod"),
            text("pmod", "(mod %s)"),
            text("tag", "(%(2)s)"),
            text("overset", "%(2)s"),
            text("underset", "%(2)s"),
            text("stackrel", "%(2)s"),
            text("overline", lambda node, l2tobj: _over(l2tobj.node_arg_to_text(node, 0))),
        ],
    )
    return _make_converter(latexwalker, latex2text, walker_db, text_db)


def _make_converter(latexwalker: Any, latex2text: Any, walker_db: Any, text_db: Any) -> Any:
    """pylatexenc's LatexNodes2Text with structure kept: the class is defined once pylatexenc is
    imported (it is the base class)."""
    Macro = latexwalker.LatexMacroNode
    Group = latexwalker.LatexGroupNode
    Chars = latexwalker.LatexCharsNode
    Specials = latexwalker.LatexSpecialsNode

    class Converter(latex2text.LatexNodes2Text):  # type: ignore[misc, valid-type]
        def convert(self, source: str) -> str:
            """Raises on malformed LaTeX (an unclosed brace): shown as written, not guessed."""
            source = source.strip()
            trailing = len(source) - len(source.rstrip("\\"))
            if trailing and trailing % 2 == 0:  # a last `\\`: an empty row pylatexenc refuses
                source = source[:-trailing]
            walker = latexwalker.LatexWalker(
                source, latex_context=walker_db, tolerant_parsing=False
            )
            nodes, _, _ = walker.get_latex_nodes()
            text = self.nodelist_to_text(nodes)
            lines = (_tidy(line) for line in text.split("\n"))
            return "\n".join(line for line in lines if line)

        # Every text conversion, pylatexenc's own included (accents, \mathbb), comes here.
        def nodelist_to_text(self, nodelist: list[Any]) -> str:
            atoms = _atoms(nodelist, Chars)
            out: list[str] = []
            i, n = 0, len(atoms)
            while i < n:
                atom = atoms[i]
                i += 1
                if isinstance(atom, str) and atom in "^_":
                    j = i
                    while j < n and _is(atoms[j], " "):
                        j += 1
                    if j == n:
                        out.append(atom)
                        continue
                    argument = atoms[j]
                    out.append(_script(atom, self._atom_text(argument)))
                    if isinstance(argument, Macro) and argument.macro_post_space:
                        out.append(" ")  # `^\infty e`
                    i = j + 1
                elif isinstance(atom, str):
                    out.append(atom)
                elif isinstance(atom, Macro) and self._unknown(atom):
                    out.append(_verbatim_macro(atom))
                    while i < n and isinstance(atoms[i], Group):  # its arguments, as written
                        out.append("{" + self.nodelist_to_text(atoms[i].nodelist) + "}")
                        i += 1
                elif isinstance(atom, Macro) and atom.macroname in _SIZING:
                    if i < n and _is(atoms[i], "."):  # `\left.`: no delimiter at all
                        i += 1
                else:
                    out.append(self.node_to_text(atom))
                    if isinstance(atom, Macro) and atom.macro_post_space:
                        out.append(" ")
            return "".join(out)

        def _atom_text(self, atom: Any) -> str:
            return atom if isinstance(atom, str) else self.node_to_text(atom)

        def _unknown(self, node: Any) -> bool:
            name = node.macroname
            return (
                name not in _FRACTIONS
                and name not in ("sqrt", "binom")
                and self.latex_context.get_macro_spec(name) is None
            )

        def _arg(self, node: Any, k: int) -> str:
            args = node.nodeargd.argnlist if node.nodeargd is not None else []
            arg = args[k] if k < len(args) else None
            return "" if arg is None else self._groupnodecontents_to_text(arg).strip()

        def macro_node_to_text(self, node: Any) -> str:
            name = node.macroname
            if name in _FRACTIONS:
                return f"{_operand(self._arg(node, 0))}/{_operand(self._arg(node, 1))}"
            if name == "sqrt":
                return _root(self._arg(node, 0), self._arg(node, 1))
            if name == "binom":
                return f"C({self._arg(node, 0)},{self._arg(node, 1)})"
            if self._unknown(node):  # pylatexenc would drop it
                return _verbatim_macro(node)
            return str(super().macro_node_to_text(node))

        def specials_node_to_text(self, node: Any) -> str:
            if node.specials_chars == "&":  # an alignment point or a cell: a space
                return " "
            return str(super().specials_node_to_text(node))

        def comment_node_to_text(self, node: Any) -> str:
            return "%" + node.comment + node.comment_post_space  # `50%` is rarely a comment

        def math_node_to_text(self, node: Any) -> str:
            return self.nodelist_to_text(node.nodelist)

        def environment_node_to_text(self, node: Any) -> str:
            name = node.environmentname
            if name in _MATRICES:
                opening, closing = _MATRICES[name]
                rows = self._rows(node.nodelist)
                return f"{opening}{'; '.join(' '.join(row) for row in rows)}{closing}"
            if name == "cases":
                rows = self._rows(node.nodelist)
                return "{ " + "; ".join(", ".join(cell for cell in row if cell) for row in rows)
            if name in _LINES_ENVIRONMENTS:
                return "\n" + self.nodelist_to_text(node.nodelist) + "\n"
            return str(node.latex_verbatim())

        def _rows(self, nodes: list[Any]) -> list[list[str]]:
            rows: list[list[str]] = [[]]
            cell: list[Any] = []
            for node in nodes:
                row_end = isinstance(node, Macro) and node.macroname == "\\"
                if row_end or (isinstance(node, Specials) and node.specials_chars == "&"):
                    rows[-1].append(" ".join(self.nodelist_to_text(cell).split()))
                    cell = []
                    if row_end:
                        rows.append([])
                else:
                    cell.append(node)
            rows[-1].append(" ".join(self.nodelist_to_text(cell).split()))
            return [row for row in rows if any(row)]

    return Converter(latex_context=text_db, math_mode="text")


_INNER_SPACE = re.compile(r"(?<=[(\[{⟨]) | (?=[)\]}⟩])")


def _tidy(line: str) -> str:
    """One space between words, none inside brackets: `\\left( a \\right)` is "(a)"."""
    return _INNER_SPACE.sub("", " ".join(line.split()))


def _atoms(nodes: list[Any], chars_type: type) -> list[Any]:
    """Nodes with their text split into characters (a run of spaces is one " "), so `^` and `_`
    can take the very next character, group or macro as their argument."""
    atoms: list[Any] = []
    for node in nodes:
        if node is None:
            continue
        if isinstance(node, chars_type):
            for part in re.split(r"(\s+)", node.chars):
                if part.isspace():
                    atoms.append(" ")
                else:
                    atoms.extend(part)
        else:
            atoms.append(node)
    return atoms


def _is(atom: Any, char: str) -> bool:
    """`atom == char` (pylatexenc's nodes cannot be compared with a string)."""
    return isinstance(atom, str) and atom == char


def _verbatim_macro(node: Any) -> str:
    return str(node.latex_verbatim()).rstrip() + (" " if node.macro_post_space else "")


def _script(mark: str, text: str) -> str:
    """`^`/`_` with its argument: Unicode super/subscript characters when every character has
    one (x², aᵢⱼ), else `^2`-like for one character and `^(…)` for more."""
    compact = "".join(text.split())
    if not compact:
        return ""
    table = _SUPERSCRIPTS if mark == "^" else _SUBSCRIPTS
    if all(ch in table for ch in compact):
        return "".join(table[ch] for ch in compact)
    if len(compact) == 1:
        return mark + compact
    return f"{mark}({' '.join(text.split())})"


def _over(text: str) -> str:
    """A line over every character: `\\overline{AB}` is A̅B̅."""
    return "".join(ch + "\u0305" for ch in text)


def _simple(text: str) -> bool:
    """One term (no space or operator outside brackets): needs no brackets as an operand."""
    depth = 0
    for n, ch in enumerate(text):
        if ch in _OPENING:
            depth += 1
        elif ch in _CLOSING_BRACKETS:
            depth -= 1
        elif depth == 0 and (ch.isspace() or (ch in _OPERATORS and not (n == 0 and ch in "-−"))):
            return False
    return bool(text)


def _operand(text: str) -> str:
    return text if _simple(text) else f"({text})"


def _root(index: str, radicand: str) -> str:
    """√x, √(x+1), ∛x, ⁿ√x."""
    index = "".join(index.split()) or "2"
    if index in _ROOTS:
        sign = _ROOTS[index]
    elif all(ch in _SUPERSCRIPTS for ch in index):
        sign = "".join(_SUPERSCRIPTS[ch] for ch in index) + "√"
    else:
        sign = f"({index})√"
    return sign + _operand(radicand)
