r"""LaTeX math as readable Unicode text (`latex_to_unicode`), for markdown_math.

pylatexenc parses it and knows the symbols (`\alpha` α, `\le` ≤, `\mathbb{R}` ℝ), but its own
text conversion loses the structure (`\frac{a+b}{c}` gives "a+b/c", `e^{i\pi}` "e^iπ"), so
scripts, fractions and roots are written here over its node tree. Loaded with the first formula
drawn: its tables and pattern are not start-up's business.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

__all__ = ["MAX_MATH", "latex_to_unicode"]

MAX_MATH = 4 * 1024  # characters of a formula converted (~50 ms at most); longer: shown as written
_MAX_DEPTH = 64  # brace nesting converted; deeper is shown as written (pylatexenc recurses)

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
