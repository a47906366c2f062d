"""The model table (shipped data + the user's overrides) and the refusals made before sending."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from megachat.api.errors import setting_hint
from megachat.chat.capabilities import (
    MIN_THINKING_BUDGET,
    SETTING,
    TABLE_PATH,
    ModelInfo,
    Prices,
    best_match,
    model_info,
    refusal,
    shipped_models,
)

REPO = Path(__file__).resolve().parents[2]

# The ids MegaLLM's docs use (reference/megallm-messages-api.zh.md, protocol.md §7) and the
# current Claude families: each must be in the table, priced.
MEGALLM_IDS = [
    "claude-3-opus-20240229",
    "claude-3-sonnet-20240229",
    "claude-3-haiku-20240307",
    "claude-3.5-sonnet",
    "claude-3.7-sonnet",
    "claude-sonnet-4",
    "claude-opus-4-1-20250805",
]
CLAUDE_IDS = [
    "claude-3-5-sonnet-20241022",
    "claude-3-7-sonnet-20250219",
    "claude-3-5-haiku-20241022",
    "claude-haiku-4-5-20251001",
    "claude-sonnet-4-20250514",
    "claude-sonnet-4-5-20250929",
    "claude-opus-4-20250514",
    "claude-opus-4-1",
    "claude-opus-4-5-20251101",
    "claude-opus-4-6",
    "claude-sonnet-4-6",
    "claude-opus-4-7",
    "claude-opus-4-8",
    "claude-opus-5",
    "claude-opus-5-5",
    "claude-sonnet-5",
    "claude-sonnet-5-5",
    "claude-haiku-5-5",
    "claude-fable-5-1",
]


def test_the_shipped_table_is_valid_and_covers_megallm_and_current_claude_ids() -> None:
    assert shipped_models()  # raises on any bad field in the shipped file
    for model in MEGALLM_IDS + CLAUDE_IDS:
        info = model_info(model)
        assert info.known, model
        assert info.prices is not None, model
        assert info.context >= 200_000 and 4096 <= info.max_output <= info.context, model


@pytest.mark.parametrize(
    ("model", "context", "max_output", "thinking", "prefill", "sampling", "prices"),
    [
        # as published on Anthropic's pricing page and model pages (see models.toml)
        ("claude-3-haiku-20240307", 200_000, 4096, "none", True, True, (0.25, 1.25, 0.30, 0.03)),
        ("claude-3.5-sonnet", 200_000, 8192, "none", True, True, (3, 15, 3.75, 0.30)),
        ("claude-3-5-haiku-latest", 200_000, 8192, "none", True, True, (0.8, 4, 1, 0.08)),
        ("claude-3.7-sonnet", 200_000, 64_000, "budget", True, True, (3, 15, 3.75, 0.30)),
        ("claude-sonnet-4", 200_000, 64_000, "budget", True, True, (3, 15, 3.75, 0.30)),
        ("claude-opus-4-1-20250805", 200_000, 32_000, "budget", True, True, (15, 75, 18.75, 1.5)),
        ("claude-opus-4-5", 200_000, 64_000, "budget", True, True, (5, 25, 6.25, 0.5)),
        ("claude-haiku-4-5", 200_000, 64_000, "budget", True, True, (1, 5, 1.25, 0.1)),
        ("claude-opus-4-6", 1_000_000, 128_000, "adaptive", False, True, (5, 25, 6.25, 0.5)),
        ("claude-opus-4-7", 1_000_000, 128_000, "adaptive", False, False, (5, 25, 6.25, 0.5)),
        ("claude-opus-5-5", 1_000_000, 128_000, "adaptive", False, False, (4, 20, 5, 0.2)),
        ("claude-sonnet-5-5", 1_000_000, 128_000, "adaptive", False, False, (2, 10, 2.5, 0.1)),
    ],
)
def test_figures_for_a_model_come_from_its_most_specific_entry(
    model: str,
    context: int,
    max_output: int,
    thinking: str,
    prefill: bool,
    sampling: bool,
    prices: tuple[float, float, float, float],
) -> None:
    info = model_info(model)
    assert (info.id, info.context, info.max_output) == (model, context, max_output)
    assert (info.thinking, info.prefill, info.sampling) == (thinking, prefill, sampling)
    assert info.prices == Prices(*map(float, prices))


def test_matching_exact_beats_patterns_and_the_most_specific_pattern_wins() -> None:
    keys = ["claude-sonnet-4*", "claude-sonnet-4-5*", "claude-*", "claude-sonnet-4-5-20250929"]
    assert best_match("claude-sonnet-4-5-20250929", keys) == "claude-sonnet-4-5-20250929"
    assert best_match("claude-sonnet-4-5", keys) == "claude-sonnet-4-5*"
    assert best_match("claude-sonnet-4-20250514", keys) == "claude-sonnet-4*"
    assert best_match("claude-haiku-9", keys) == "claude-*"
    assert best_match("gpt-4o", keys) is None
    # "." reads as "-": MegaLLM's dotted aliases find Anthropic's ids, both ways
    assert best_match("claude-3.5-sonnet", ["claude-3-5-sonnet*"]) == "claude-3-5-sonnet*"
    assert best_match("claude-sonnet-4-5", ["claude-sonnet-4.5"]) == "claude-sonnet-4.5"
    assert best_match("Claude-Sonnet-4", ["claude-sonnet-4*"]) is None  # ids are case-sensitive


def test_an_unknown_model_gets_permissive_defaults_and_no_price() -> None:
    info = model_info("gpt-4o")
    assert not info.known and info.prices is None
    assert info.images and info.documents and info.prefill and info.sampling
    assert info.context >= 1_000_000 and info.max_output >= 1_000_000
    body = _body(
        model="gpt-4o",
        max_tokens=900_000,
        thinking={"type": "enabled", "budget_tokens": 10},
        temperature=0.2,
        top_k=3,
        prefill=True,
    )
    assert refusal(info, body) is None


def test_user_overrides_change_fields_of_a_known_model_and_keep_the_rest() -> None:
    overrides = {"claude-sonnet-4*": {"max_output": 8192, "prefill": False}}
    info = model_info("claude-sonnet-4-20250514", overrides)
    assert (info.max_output, info.prefill, info.thinking) == (8192, False, "budget")
    assert info.prices == Prices(3.0, 15.0, 3.75, 0.30)
    # a price given alone replaces that price only
    info = model_info("claude-sonnet-4", {"claude-sonnet-4": {"prices": {"output": 12.0}}})
    assert info.prices == Prices(3.0, 12.0, 3.75, 0.30)
    # the override of another model changes nothing here
    assert model_info("claude-opus-4-5", overrides) == model_info("claude-opus-4-5")


def test_a_user_model_is_known_and_priced_with_the_published_cache_multipliers() -> None:
    overrides = {"my-proxy-*": {"thinking": "adaptive", "prices": {"input": 2.0, "output": 8.0}}}
    info = model_info("my-proxy-large", overrides)
    assert info.known and info.thinking == "adaptive"
    assert info.prices == Prices(2.0, 8.0, 2.5, 0.2)  # writes 1.25x, hits 0.1x the input price
    # without an input and an output price a model is not priced
    assert model_info("x", {"x": {"prices": {"input": 1.0}}}).prices is None
    # bad fields (Settings warned about them when reading config.toml) are ignored here too
    info = model_info("x", {"x": {"prefill": "no", "context": 0, "images": False}})
    assert (info.prefill, info.context, info.images) == (True, 1_000_000, False)


def test_the_table_is_read_lazily_and_once() -> None:
    """Importing the module reads nothing; the first look-up reads the file, later ones don't."""
    probe = subprocess.run(
        [sys.executable, "-c",
         "from megachat.chat import capabilities as c;"
         "print(c.shipped_models.cache_info().misses);"
         "c.model_info('claude-sonnet-4'); c.model_info('claude-opus-4-7');"
         "print(c.shipped_models.cache_info().misses)"],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == ["0", "1"]


def _body(
    *,
    model: str = "m",
    max_tokens: int = 4096,
    prefill: bool = False,
    content: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": content or "hi"}]
    if prefill:
        messages.append({"role": "assistant", "content": "Sure:"})
    return {"model": model, "max_tokens": max_tokens, "messages": messages, **extra}


IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}}
PDF = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf"}}
TOOL_RESULT_IMAGE = {"type": "tool_result", "tool_use_id": "t1", "content": [IMAGE]}
BUDGET = {"type": "enabled", "budget_tokens": 2048}
ADAPTIVE = {"type": "adaptive"}
OLD = ModelInfo("old-1", 200_000, 4096, False, False, True, "none", None, True)
BUDGETED = ModelInfo("mid-1", 200_000, 64_000, True, True, True, "budget", None, True)
NEWEST = ModelInfo("new-1", 1_000_000, 128_000, True, True, False, "adaptive", None, True, False)
ADAPTIVE_SAMPLING = ModelInfo("a-1", 1_000_000, 128_000, True, True, False, "adaptive", None, True)

# (model, body, the line expected: None when the model takes the request)
REFUSALS: list[tuple[ModelInfo, dict[str, Any], str | None]] = [
    (BUDGETED, _body(), None),
    (BUDGETED, _body(prefill=True, temperature=0.3, top_p=0.5, top_k=5), None),
    (BUDGETED, _body(thinking=BUDGET, temperature=1, top_p=0.95), None),
    (BUDGETED, _body(thinking=BUDGET, top_p=1.0, stop_sequences=["x"]), None),
    (BUDGETED, _body(thinking={"type": "disabled"}, temperature=0.2, prefill=True), None),
    (BUDGETED, _body(content=[IMAGE, PDF, {"type": "text", "text": "?"}]), None),
    (BUDGETED, _body(max_tokens=64_000), None),
    (NEWEST, _body(thinking=ADAPTIVE, output_config={"effort": "high"}), None),
    (ADAPTIVE_SAMPLING, _body(temperature=0.5), None),
    (OLD, _body(prefill=True, temperature=0.5, top_k=10), None),
    # prefill
    (NEWEST, _body(prefill=True), "new-1 does not accept a prefill (clear the Prefill field"),
    # sampling settings on the models that take none
    (NEWEST, _body(temperature=1.0), "new-1 does not accept temperature (clear Temperature"),
    (NEWEST, _body(top_p=0.99), "new-1 does not accept top_p (clear Top p / --top-p)"),
    (NEWEST, _body(top_k=1), "new-1 does not accept top_k (clear Top k / --top-k)"),
    # thinking on a model without it, or in the style the model does not take
    (OLD, _body(thinking=BUDGET), "old-1 has no extended thinking (turn off Thinking"),
    (OLD, _body(thinking=ADAPTIVE), "old-1 has no extended thinking"),
    (OLD, _body(output_config={"effort": "low"}), "old-1 takes no effort level (clear Effort"),
    (NEWEST, _body(thinking=BUDGET), "new-1 takes adaptive thinking only, not a budget (set"),
    (BUDGETED, _body(thinking=ADAPTIVE), "mid-1 takes a thinking budget, not adaptive thinking"),
    # the budget's own limits
    (
        BUDGETED,
        _body(thinking={"type": "enabled", "budget_tokens": MIN_THINKING_BUDGET - 1}),
        "a thinking budget must be at least 1024 tokens, not 1023 (raise Thinking",
    ),
    (
        BUDGETED,
        _body(max_tokens=2048, thinking=BUDGET),
        "the thinking budget (2048) must be below max_tokens (2048) (raise Max tokens",
    ),
    # what thinking excludes
    (BUDGETED, _body(thinking=BUDGET, temperature=0.7), "temperature cannot be changed with"),
    (ADAPTIVE_SAMPLING, _body(thinking=ADAPTIVE, temperature=0), "temperature cannot be changed"),
    (BUDGETED, _body(thinking=BUDGET, top_k=40), "top_k cannot be set with thinking on (clear"),
    (BUDGETED, _body(thinking=BUDGET, top_p=0.9), "top_p must be between 0.95 and 1 with"),
    (BUDGETED, _body(thinking=BUDGET, prefill=True), "a prefill cannot be sent with thinking"),
    # max_tokens over the model's output
    (OLD, _body(max_tokens=4097), "old-1 writes at most 4,096 tokens per reply (lower Max"),
    # attachments the model cannot take, in a message or in a tool result
    (OLD, _body(content=[IMAGE, {"type": "text", "text": "?"}]), "old-1 does not take images"),
    (OLD, _body(content=[TOOL_RESULT_IMAGE]), "old-1 does not take images (remove the"),
    (
        ModelInfo("pic-1", 200_000, 4096, True, False, True, "none", None, True),
        _body(content=[PDF]),
        "pic-1 does not take documents (PDFs, text files; remove the attachment",
    ),
]


@pytest.mark.parametrize(("info", "body", "expected"), REFUSALS)
def test_refusal(info: ModelInfo, body: dict[str, Any], expected: str | None) -> None:
    line = refusal(info, body)
    if expected is None:
        assert line is None
        return
    assert line is not None and line.startswith(expected)
    assert "\n" not in line
    assert any(setting in line for setting in SETTING.values())  # it names what to change


def test_refusals_of_the_shipped_table_for_the_newest_models() -> None:
    """The cases protocol.md §10 and the 4.6 / 4.7 migration notes name, on real ids."""
    assert refusal(model_info("claude-opus-4-6"), _body(prefill=True)) == (
        "claude-opus-4-6 does not accept a prefill (clear the Prefill field / --prefill)"
    )
    assert refusal(model_info("claude-opus-4-7"), _body(temperature=0.5)) == (
        "claude-opus-4-7 does not accept temperature (clear Temperature / -t)"
    )
    line = refusal(model_info("claude-opus-4-8"), _body(max_tokens=64_000, thinking=BUDGET))
    assert line is not None and line.startswith("claude-opus-4-8 takes adaptive thinking only")
    line = refusal(model_info("claude-3.5-sonnet"), _body(thinking=BUDGET))
    assert line is not None and line.startswith("claude-3.5-sonnet has no extended thinking")
    assert refusal(model_info("claude-sonnet-4"), _body(thinking=BUDGET, prefill=False)) is None


@pytest.mark.parametrize("parameter", ["temperature", "top_p", "top_k", "thinking", "effort"])
def test_400_hints_name_settings_as_the_refusals_do(parameter: str) -> None:
    hint = setting_hint(f"`{parameter}` is not supported for this model")
    assert hint is not None and SETTING[parameter] in hint


def test_the_wheel_ships_the_model_table(tmp_path: Path) -> None:
    """A non-editable install finds models.toml inside the package."""
    out = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = out.glob("megachat-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        assert "megachat/data/models.toml" in archive.namelist()
        archive.extractall(site)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    probe = subprocess.run(
        [sys.executable, "-I", "-c",
         "import sys; sys.path.insert(0, sys.argv[1]);"
         "from megachat.chat.capabilities import TABLE_PATH, model_info;"
         "print(TABLE_PATH); print(model_info('claude-sonnet-4').known)",
         str(site)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.split() == [str(site / "megachat" / "data" / "models.toml"), "True"]
    assert TABLE_PATH == REPO / "megachat" / "data" / "models.toml"
