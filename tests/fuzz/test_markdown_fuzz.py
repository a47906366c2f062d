"""Fuzz the Markdown drawing of replies (issue 8, item 10): rendering never hides text.

For nesting-heavy text (quotes, lists and indentation of any depth, blank lines between), every
letter of the source is somewhere in what is drawn, at a wide and at a narrow width. Markdown
legitimately consumes syntax (`>`, `-`, `*`, spaces), so letters are compared, as counts: the
drawing may add some (numbers, link targets) but never lose one. And the blocks come out the same
whether the text arrives whole or in any pieces, so a streamed reply is drawn like the stored one.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rich.console import Console

from megachat.tui.widgets.stream_markdown import _block_lines, split_blocks

NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)  # a failure reports fast
MARKDOWN = settings(
    max_examples=60, deadline=None, phases=NO_SHRINK, suppress_health_check=list(HealthCheck)
)

word = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCXYZ0189", min_size=1, max_size=8)
container = st.sampled_from(["> ", ">", "- ", "* ", "+ ", ">  "])
other = st.sampled_from(["  ", "    ", "\t", "# ", "_", "**", "> - ", ""])
line = st.builds(  # quotes and list items nested on one line, up to far past any limit
    lambda containers, markers, words: "".join(containers) + "".join(markers) + " ".join(words),
    st.lists(container, max_size=60),
    st.lists(other, max_size=3),
    st.lists(word, min_size=1, max_size=4),
)
nested_list = st.builds(  # a list nested by indentation, as models write them
    lambda depth, bullet, words: "\n".join(
        "  " * i + bullet + words[i % len(words)] for i in range(depth)
    ),
    st.integers(1, 30),
    st.sampled_from(["- ", "* ", "+ "]),
    st.lists(word, min_size=1, max_size=5),
)
quote_run = st.builds(lambda depth, text: ">" * depth + " " + text, st.integers(1, 400), word)
nested_text = st.lists(line | nested_list | quote_run | st.just(""), min_size=1, max_size=40).map(
    "\n".join
)
# small windows and budgets, so that cutting blocks in pieces and the plain rest are exercised
limits = st.sampled_from([(16 * 1024, 128 * 1024), (200, 2000), (40, 400), (1, 50)])


def _letters(text: str) -> Counter[str]:
    return Counter(ch for ch in text if ch.isalnum())


def _drawn(blocks: list, width: int) -> str:
    """The blocks' text as drawn at `width` (the blank lines between blocks add no letter)."""
    console = Console(width=width, color_system=None)
    options = console.options.update(height=None)
    return "".join(
        strip.text for block in blocks for strip in _block_lines(console, options, block, "monokai")
    )


@MARKDOWN
@given(nested_text, st.sampled_from([100, 24]))
def test_every_letter_of_nested_markdown_is_drawn(text: str, width: int) -> None:
    missing = _letters(text) - _letters(_drawn(split_blocks(text), width))
    assert not missing, (missing, text)


@MARKDOWN
@given(nested_text, limits, st.lists(st.integers(1, 50), min_size=1, max_size=20))
def test_cut_in_pieces_or_streamed_in_pieces_every_letter_is_drawn_the_same_way(
    text: str, window_budget: tuple[int, int], sizes: list[int]
) -> None:
    from megachat.tui.widgets.stream_markdown import BlockSplitter

    window, budget = window_budget
    whole = split_blocks(text, window=window, budget=budget)
    missing = _letters(text) - _letters(_drawn(whole, 40))
    assert not missing, (missing, text)
    splitter = BlockSplitter(window=window, budget=budget)
    i = 0
    n = 0
    while i < len(text):
        size = sizes[n % len(sizes)]
        splitter.append(text[i : i + size])
        i += size
        n += 1
        # an update re-parses the open tail only: never more than a window (code aside)
        assert sum(len(b.source) for b in splitter.tail if not b.is_code) <= window
    splitter.finish()
    signature = [(b.kind, b.source, b.gap) for b in whole]
    assert [(b.kind, b.source, b.gap) for b in splitter.blocks] == signature
