"""A corpus of hostile strings for every place untrusted text reaches the screen (issue 4 item 10).

Message text, titles, file names, snippets and error messages must appear literally (after
`megachat.sanitize.clean`), never crash the app through content markup, and never pass terminal
control sequences through. Import `NASTY_STRINGS` (or `NASTY_IDS` for readable test ids).
"""

from __future__ import annotations

NASTY_STRINGS: list[str] = [
    # Textual / Rich content markup
    "[bold]not bold[/bold]",
    "[/]",
    "a [/] b",
    "[/INST]",
    "[INST] do evil [/INST]",
    "[link=https://evil.example]click[/link]",
    "[link=x]",
    "[@click=app.quit]quit[/]",
    "[on red]x",
    "[b]unclosed",
    "[v2]",
    "[type=x, v={'a[0]'}]",
    "# [/mnt/x]",
    "\\[escaped] \\",
    "$variable and $text-muted [$accent]x[/]",
    # Terminal escape and control sequences
    "\x1b[31mred\x1b[0m",
    "\x1b]2;pwned title\x07after",
    "\x1b]52;c;aGVsbG8=\x07clipboard",
    "\x1b[2J\x1b[Hcleared",
    "\x9b31mC1 CSI",
    "bell\x07 backspace\x08 null\x00 del\x7f",
    "carriage\rreturn",
    "line1\nline2\n\nline4",
    "tab\tseparated\tvalues",
    # Unicode oddities
    "lone surrogate \ud800 here",
    "\udcff trailing low surrogate",
    "مرحبا بالعالم (RTL)",
    "\u202eevil RTL override\u202c",
    "zero\u200bwidth\u200cjoin\u200dno\ufeffBOM",
    "e\u0301\u0301\u0301 combining",
    "👨‍👩‍👧‍👦 family emoji 🏳️‍🌈",
    "全角文字と日本語のタイトル",
    # Markdown / template-ish
    "```python\nprint('x')\n",
    "<script>alert(1)</script> List<String>",
    "{name} {{double}} %s %(x)s",
    "",
    "   ",
    # Size
    "x" * 10_000,
    "word " * 2_000,
]

NASTY_IDS: list[str] = [f"nasty{i:02d}" for i in range(len(NASTY_STRINGS))]

assert len(NASTY_STRINGS) >= 30
