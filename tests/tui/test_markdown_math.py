r"""LaTeX math in replies drawn as Unicode, and inline images' alt text in place (issue 11).

Math: `$…$`, `\(…\)`, `$$…$$` and `\[…\]` are drawn as readable Unicode (`e^{i\pi}` as e^(iπ));
code spans, fences and prices stay as written; the `render_math` setting (and the palette's
"Toggle math rendering") shows the source instead; copying gives the source. Images: the alt text
stays where the image was, `before [image: alt] after`.
"""

from __future__ import annotations

import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from rich.console import Console
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll

from megachat.tui.widgets.latex_unicode import latex_to_unicode
from megachat.tui.widgets.markdown_math import math_rendering, set_math_rendering
from megachat.tui.widgets.stream_markdown import (
    BlockSplitter,
    StreamingMarkdown,
    _block_lines,
    _token_text,
    split_blocks,
)
from tests.fakeserver import sse_text_reply
from tests.tui.conftest import ready, settle, type_text

ROOT = Path(__file__).resolve().parents[2]
SIZE = (100, 30)


@pytest.fixture(autouse=True)
def math_on() -> Iterator[None]:
    """Every test starts with math drawn as Unicode and leaves it so (it is app-wide state)."""
    set_math_rendering(True)
    yield
    set_math_rendering(True)


# ---- LaTeX to Unicode ------------------------------------------------------------------------

TABLE = [
    # Greek and symbols
    (r"\alpha + \beta = \gamma", "α + β = γ"),
    (r"\Gamma(n) = (n-1)!", "Γ(n) = (n-1)!"),
    (r"x \le y \ne z", "x ≤ y ≠ z"),
    (r"a \cdot b \times c", "a · b × c"),
    (r"\nabla f \approx 0", "∇ f ≈ 0"),
    # super- and subscripts: Unicode when every character has one, else ^(…) / _(…)
    (r"x^2", "x²"),
    (r"x_1", "x₁"),
    (r"x^n", "xⁿ"),
    (r"x^{n+1}", "xⁿ⁺¹"),
    (r"x^{-1}", "x⁻¹"),
    (r"a_{ij}", "aᵢⱼ"),
    (r"a_{i,j}", "a_(i,j)"),
    (r"e^{i\pi}", "e^(iπ)"),
    (r"e^{x^2}", "e^(x²)"),
    (r"x_{\text{max}}", "xₘₐₓ"),
    (r"90^\circ", "90°"),
    (r"A^T", "Aᵀ"),
    (r"f^{\prime}(x)", "f′(x)"),
    # fractions and roots
    (r"\frac{a+b}{c}", "(a+b)/c"),
    (r"\frac{1}{2}", "1/2"),
    (r"\frac{x}{y+1}", "x/(y+1)"),
    (r"\frac{\pi}{2}", "π/2"),
    (r"\frac{\frac{a}{b}}{c}", "(a/b)/c"),
    (r"\frac{\sqrt{2}}{2}", "√2/2"),
    (r"\sqrt{x}", "√x"),
    (r"\sqrt{x+1}", "√(x+1)"),
    (r"\sqrt{x^2+y^2}", "√(x²+y²)"),
    (r"\sqrt[3]{x}", "∛x"),
    (r"\sqrt[n]{x}", "ⁿ√x"),
    # sums, products, integrals, limits
    (r"\sum_{i=1}^n i", "∑ᵢ₌₁ⁿ i"),
    (r"\sum_{k=0}^{\infty} \frac{x^k}{k!}", "∑ₖ₌₀^∞ xᵏ/k!"),
    (r"\prod_{k=1}^{n} k", "∏ₖ₌₁ⁿ k"),
    (r"\int_0^1 f(x)\,dx", "∫₀¹ f(x) dx"),
    (r"\int_0^\infty e^{-x^2} dx", "∫₀^∞ e^(-x²) dx"),
    (r"\lim_{x \to 0} \frac{\sin x}{x} = 1", "lim_(x → 0) (sin x)/x = 1"),
    # fonts, text, delimiters, environments
    (r"\mathbb{R}", "ℝ"),
    (r"f: \mathbb{N} \to \mathbb{Z}", "f: ℕ → ℤ"),
    (r"\text{if } x > 0", "if x > 0"),
    (r"\left( \frac{a}{b} \right)^2", "(a/b)²"),
    (r"\{ x \mid x > 0 \}", "{x | x > 0}"),
    (r"\begin{pmatrix} a & b \\ c & d \end{pmatrix}", "(a b; c d)"),
    (r"a &= b \\ c &= d", "a = b\nc = d"),
    (r"50\%", "50%"),
    # unknown or malformed: kept as written, never dropped
    (r"\foo{x^2}", r"\foo{x²}"),
    (r"\unknownmacro + 1", r"\unknownmacro + 1"),
    (r"x^\unknownmacro", r"x^(\unknownmacro)"),
    (r"\begin{tikzcd} A \end{tikzcd}", r"\begin{tikzcd} A \end{tikzcd}"),
    (r"\frac{a}{", r"\frac{a}{"),
    (r"x}", r"x}"),
]


@pytest.mark.parametrize(("source", "expected"), TABLE, ids=[s for s, _ in TABLE])
def test_latex_becomes_readable_unicode(source: str, expected: str) -> None:
    assert latex_to_unicode(source) == expected


LATEX_PIECES = [
    *(rf"\{name}" for name in ("frac", "sqrt", "alpha", "sum", "int", "text", "mathbb", "left")),
    *(rf"\{name}" for name in ("right", "begin{pmatrix}", "end{pmatrix}", "begin{cases}")),
    *("{", "}", "{", "}", "^", "_", "[", "]", "&", "\\\\", "%", "~", "'", "$", "\\", " ", "\n"),
    *("x", "1", "ab", r"\{", r"\}", r"\zzq", r"\end{cases}", r"\begin{zz}", r"\end{zz}"),
]
FUZZ = settings(
    max_examples=300,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=list(HealthCheck),
)


@FUZZ
@given(st.lists(st.sampled_from(LATEX_PIECES), max_size=40).map("".join) | st.text(max_size=60))
@example(r"'\~\zzq_\sqrt\left\sum")  # an accent over an unknown macro: "\̃z̃z̃q̃"
@example(r"\}\'\zzq")  # ... or "\źźq"
def test_any_latex_gives_text_and_keeps_unknown_macros(source: str) -> None:
    shown = latex_to_unicode(source)
    assert isinstance(shown, str)
    if r"\zzq" in source and r"\mathbb" not in source:  # \mathbb restyles the letters it gets
        # an accent (\~, \^, \') puts its combining mark on each letter of what follows
        decomposed = unicodedata.normalize("NFD", shown)  # ź is z and a combining acute
        letters = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
        assert "zzq" in letters


# ---- math in a reply --------------------------------------------------------------------------

REPLY = (
    "Inline $e^{i\\pi}$ and \\(x^2\\).\n\n"
    "$$\n\\frac{a+b}{c}\n$$\n\n"
    "\\[\n\\sum_{i=1}^n i\n\\]\n\n"
    "END"
)


class _Host(App[None]):
    def compose(self) -> ComposeResult:
        yield VerticalScroll(id="pane")


async def _drawn(text: str, *, streaming: bool = False) -> list[str]:
    """`text` drawn by StreamingMarkdown in an app, as its lines."""
    app = _Host()
    async with app.run_test(size=SIZE) as pilot:
        widget = StreamingMarkdown(text, streaming=streaming)
        await app.query_one("#pane").mount(widget)
        await pilot.pause()
        return widget.rendered_lines(widget.size.width)


def _lines(text: str, width: int = 80) -> list[str]:
    """`text` drawn block by block, as lines (blocks separated by a blank line)."""
    console = Console(width=width, color_system=None)
    options = console.options.update(height=None)
    out: list[str] = []
    for n, block in enumerate(split_blocks(text)):
        if n and block.gap:
            out.append("")
        out.extend(s.text.rstrip() for s in _block_lines(console, options, block, "monokai"))
    return out


async def test_the_four_delimiters_are_drawn_as_unicode() -> None:
    assert await _drawn(REPLY) == [
        "Inline e^(iπ) and x².",
        "",
        "(a+b)/c",
        "",
        "∑ᵢ₌₁ⁿ i",
        "",
        "END",
    ]


async def test_with_math_rendering_off_the_source_is_shown_as_written() -> None:
    set_math_rendering(False)
    assert await _drawn(REPLY) == [
        "Inline $e^{i\\pi}$ and \\(x^2\\).",
        "",
        "$$",
        "\\frac{a+b}{c}",
        "$$",
        "",
        "\\[",
        "\\sum_{i=1}^n i",
        "\\]",
        "",
        "END",
    ]


def test_code_spans_and_code_blocks_are_left_alone() -> None:
    text = "Code `$x^2$` and `\\(y_1\\)` stay.\n\n```\n$$\n\\frac{a}{b}\n$$\n\\(x^2\\)\n```\n"
    lines = _lines(text)
    assert lines[0] == "Code $x^2$ and \\(y_1\\) stay."
    assert [line.strip() for line in lines[2:]] == ["", "$$", "\\frac{a}{b}", "$$", "\\(x^2\\)", ""]
    (fence,) = [b for b in split_blocks(text) if b.is_code]
    assert fence.code() == ["$$\n\\frac{a}{b}\n$$\n\\(x^2\\)\n"]


@pytest.mark.parametrize(
    "text",
    [
        "It costs $5 and $10 in total.",
        "Between $5-$10, or $20.",
        "Pay $ 5 now and $ 6 later.",
        "A lone $ sign.",
        "Escaped \\$x\\$ dollars.",
    ],
)
def test_prices_and_lone_dollars_stay_text(text: str) -> None:
    assert _lines(text) == [text.replace("\\$", "$")]


def test_display_math_with_a_label_and_rows() -> None:
    assert _lines("$$\na &= b \\\\\nc &= d\n$$ (1)") == ["a = b", "c = d    (1)"]


def test_math_inside_a_paragraph_quote_list_and_table() -> None:
    text = "> quote $\\alpha$\n\n- item $x_1$\n\n| a | b |\n|---|---|\n| $\\beta$ | $$y^2$$ |\n"
    drawn = "\n".join(_lines(text))
    for shown in ("quote α", "item x₁", "β", "y²"):
        assert shown in drawn
    assert "$" not in drawn


MATH_LINES = [
    "$$",
    "\\[",
    "\\]",
    "$$ (2)",
    "$x^2$ and $5",
    "text $5 and $10",
    "\\(a\\) b \\(",
    "a $$b$$ c",
    "- item $y$",
    "> q \\[z\\]",
    "```",
    "# h $\\alpha$",
    "\\frac{1}{2}",
    "x_1^2",
    "",
]


@settings(
    max_examples=150,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=list(HealthCheck),
)
@given(
    st.lists(st.sampled_from(MATH_LINES), min_size=1, max_size=25).map("\n".join),
    st.lists(st.integers(1, 12), min_size=1, max_size=10),
)
def test_math_streamed_in_pieces_is_cut_and_drawn_like_the_whole_text(
    text: str, sizes: list[int]
) -> None:
    """An unclosed `$$` or `\\[` in the open tail never changes blocks already frozen."""
    whole = split_blocks(text)
    splitter = BlockSplitter()
    i = n = 0
    while i < len(text):
        splitter.append(text[i : i + sizes[n % len(sizes)]])
        i += sizes[n % len(sizes)]
        n += 1
    splitter.finish()

    def signature(blocks: list) -> list:
        return [(b.kind, b.source, b.gap, _token_text(b.tokens)) for b in blocks]

    assert signature(splitter.blocks) == signature(whole)


async def test_a_streamed_math_reply_ends_up_drawn_like_the_stored_one() -> None:
    app = _Host()
    async with app.run_test(size=SIZE) as pilot:
        streamed = StreamingMarkdown("", streaming=True)
        await app.query_one("#pane").mount(streamed)
        for n in range(0, len(REPLY), 3):
            streamed.append(REPLY[n : n + 3])
            if n % 12 == 0:
                await pilot.pause()  # drawn mid-stream, with `$` and `\[` still open
        streamed.finish()
        await pilot.pause()
        width = streamed.size.width
        assert streamed.rendered_lines(width) == await _drawn(REPLY)


# ---- images ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("before ![alt text](u.png) after", "before [image: alt text] after"),
        ("![a](x.png) and ![b](y.png) end", "[image: a] and [image: b] end"),
        ("see [![logo](i.png)](https://e.com) here", "see [image: logo] (https://e.com) here"),
        ("x ![](u.png) y", "x [image] y"),
        ("an ![*emphasis* and `code`](u.png) alt", "an [image: emphasis and code] alt"),
        ("math ![$x^2$](u.png) alt", "math [image: x²] alt"),
        ("- item ![alt](u.png) in a list", "• item [image: alt] in a list"),
    ],
)
def test_an_inline_image_shows_its_alt_text_in_place(text: str, expected: str) -> None:
    assert [line.strip() for line in _lines(text)] == [expected]


# ---- the app: setting, palette, copy ------------------------------------------------------------

MATH_REPLY = "Euler: $e^{i\\pi} + 1 = 0$."


def _reply_lines(main) -> list[str]:
    widget = list(main.query(StreamingMarkdown))[-1]
    return widget.rendered_lines(widget.size.width)


async def _ask_for_math(pilot, fake_server):
    fake_server.enqueue(sse_text_reply(MATH_REPLY))
    main = await ready(pilot)
    await type_text(pilot, "math please")
    await pilot.press("enter")
    await settle(pilot)
    return main


async def test_copy_gives_the_latex_source_while_the_screen_shows_unicode(make_app, fake_server):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        main = await _ask_for_math(pilot, fake_server)
        assert _reply_lines(main) == ["Euler: e^(iπ) + 1 = 0."]
        await pilot.press("shift+tab")
        while main._focused_message() is None:
            await pilot.press("shift+tab")
        await pilot.press("c")
        assert app.clipboard == MATH_REPLY


async def test_the_setting_off_shows_math_as_written(make_app, settings, fake_server):
    settings.render_math = False
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        main = await _ask_for_math(pilot, fake_server)
        assert _reply_lines(main) == [MATH_REPLY]


async def test_the_palette_toggles_math_rendering_in_the_shown_messages(make_app, fake_server):
    from tests.tui.test_app import run_palette_command

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        main = await _ask_for_math(pilot, fake_server)
        assert _reply_lines(main) == ["Euler: e^(iπ) + 1 = 0."]
        await run_palette_command(pilot, "Toggle math rendering")
        assert not math_rendering()
        assert _reply_lines(main) == [MATH_REPLY]
        await run_palette_command(pilot, "Toggle math rendering")
        assert _reply_lines(main) == ["Euler: e^(iπ) + 1 = 0."]


def test_start_up_modules_import_neither_pylatexenc_nor_mdit_py_plugins() -> None:
    """Math costs nothing until a reply is drawn: the parser plugins load with the Markdown
    machinery (after start-up) and pylatexenc with the first formula."""
    probe = (
        "import sys\n"
        "import megachat.tui.app, megachat.tui.screens.main\n"
        "import megachat.tui.widgets.message, megachat.tui.widgets.stream_markdown\n"
        "import megachat.tui.widgets.conversation_view\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('pylatexenc', 'mdit_py_plugins')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == "[]"
