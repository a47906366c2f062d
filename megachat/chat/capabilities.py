"""What a model accepts and what it costs, so a request it would reject is refused before sending.

The figures live in data, not code: `megachat/data/models.toml` (read with tomllib the first time
a model is looked up, never at start-up), overridden or extended by the user's `[models."ID"]`
tables in config.toml. Both are checked by the one rule here (`check_model_fields`). A model that
neither knows gets permissive defaults (`known=False`): nothing is refused and nothing is priced.

`refusal` reads a request body as built and names the first thing the model rejects, with the
setting to change (the sidebar field and the `ask` flag), so the API never answers 400 for it.
"""

from __future__ import annotations

import fnmatch
import functools
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast, get_args

Thinking = Literal["budget", "adaptive", "none"]
THINKING_STYLES: tuple[str, ...] = get_args(Thinking)
TABLE_PATH = Path(__file__).resolve().parent.parent / "data" / "models.toml"
MIN_THINKING_BUDGET = 1024  # the API's minimum budget_tokens (protocol.md §10)
THINKING_TOP_P = (0.95, 1.0)  # the top_p range the API allows while thinking
# Anthropic's published cache multipliers of the input price (5-minute write, hit): the default
# for a user's model that gives input and output prices only.
CACHE_WRITE_FACTOR = 1.25
CACHE_READ_FACTOR = 0.1
UNKNOWN_CONTEXT = 1_000_000  # an unknown model: generous, so nothing is refused
UNKNOWN_MAX_OUTPUT = 1_000_000


@dataclass(frozen=True)
class Prices:
    """USD per million tokens."""

    input: float
    output: float
    cache_write: float
    cache_read: float


@dataclass(frozen=True)
class ModelInfo:
    """What one model takes. `known` is False for a model neither the table nor the user knows:
    then everything is allowed and `prices` is None. `sampling` is False for the models that
    answer 400 to temperature, top_p and top_k (Opus 4.7 and later)."""

    id: str
    context: int
    max_output: int
    images: bool
    documents: bool
    prefill: bool
    thinking: Thinking
    prices: Prices | None
    known: bool
    sampling: bool = True


# ---------------------------------------------------------------------------------------------
# The one rule for a model table's fields (shipped file and config.toml alike)

_BOOL_FIELDS = ("images", "documents", "prefill", "sampling")
_INT_FIELDS = ("context", "max_output")
PRICE_FIELDS = ("input", "output", "cache_write", "cache_read")
FIELDS = (*_INT_FIELDS, *_BOOL_FIELDS, "thinking", "prices")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_prices(value: object) -> tuple[dict[str, float], list[str]]:
    if not isinstance(value, Mapping):
        return {}, ["prices must be a table such as { input = 3.0, output = 15.0 }"]
    prices: dict[str, float] = {}
    problems: list[str] = []
    for name, number in value.items():
        if name not in PRICE_FIELDS:
            problems.append(f"prices.{name} is not a price (known: {', '.join(PRICE_FIELDS)})")
        elif not _is_number(number) or not math.isfinite(number) or number < 0:
            problems.append(f"prices.{name} must be a number >= 0 (USD per million tokens)")
        else:
            prices[name] = float(number)
    return prices, problems


def check_model_fields(fields: Mapping[str, object]) -> tuple[dict[str, object], list[str]]:
    """The fields of one `[models."ID"]` table that are right, and one line per field that is not
    (the caller says where). Prices stay a partial dict here: they are completed at look-up."""
    checked: dict[str, object] = {}
    problems: list[str] = []
    for name, value in fields.items():
        if name in _INT_FIELDS:
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
            if ok:
                checked[name] = value
            else:
                problems.append(f"{name} must be a positive integer (tokens)")
        elif name in _BOOL_FIELDS:
            if isinstance(value, bool):
                checked[name] = value
            else:
                problems.append(f"{name} must be true or false")
        elif name == "thinking":
            if value in THINKING_STYLES:
                checked[name] = value
            else:
                problems.append(f"thinking must be one of {', '.join(THINKING_STYLES)}")
        elif name == "prices":
            prices, price_problems = _check_prices(value)
            problems.extend(price_problems)
            if prices:
                checked[name] = prices
        else:
            problems.append(f"unknown field {name!r} (known: {', '.join(FIELDS)})")
    return checked, problems


def check_models(tables: object) -> tuple[dict[str, dict[str, object]], list[str]]:
    """A whole `models` table: {id or pattern: checked fields}, and one warning per bad entry."""
    if not isinstance(tables, Mapping):
        return {}, ["'models' must be a table of [models.\"ID\"] tables"]
    models: dict[str, dict[str, object]] = {}
    warnings: list[str] = []
    for key, fields in tables.items():
        if not isinstance(fields, Mapping):
            warnings.append(f"models.{key!r} must be a table of fields; ignored")
            continue
        checked, problems = check_model_fields(fields)
        warnings.extend(f"models.{key!r}: {problem}; ignored" for problem in problems)
        models[str(key)] = checked
    return models, warnings


# ---------------------------------------------------------------------------------------------
# Looking a model up


@functools.cache
def shipped_models() -> dict[str, dict[str, object]]:
    """The shipped table, read once. A broken shipped file is a bug: the test suite checks it."""
    with TABLE_PATH.open("rb") as fh:
        data = tomllib.load(fh)
    models, problems = check_models(data.get("models", {}))
    if problems:
        raise ValueError(f"{TABLE_PATH}: {'; '.join(problems)}")
    return models


def _normal(name: str) -> str:
    """MegaLLM writes `claude-3.5-sonnet` where Anthropic writes `claude-3-5-sonnet`."""
    return name.replace(".", "-")


def _specificity(pattern: str) -> int:
    return sum(ch not in "*?[]" for ch in pattern)


def best_match(model: str, keys: list[str]) -> str | None:
    """The key (id or fnmatch pattern) that fits `model` best: an exact id, else the pattern
    with the most non-wildcard characters, the first in order on a tie; None when none fits."""
    wanted = _normal(model)
    best: str | None = None
    best_rank = -1
    for key in keys:
        pattern = _normal(key)
        if pattern == wanted:
            return key
        if fnmatch.fnmatchcase(wanted, pattern) and _specificity(pattern) > best_rank:
            best, best_rank = key, _specificity(pattern)
    return best


def _prices(fields: Mapping[str, float] | None) -> Prices | None:
    if not fields or "input" not in fields or "output" not in fields:
        return None
    return Prices(
        input=fields["input"],
        output=fields["output"],
        cache_write=fields.get("cache_write", round(fields["input"] * CACHE_WRITE_FACTOR, 9)),
        cache_read=fields.get("cache_read", round(fields["input"] * CACHE_READ_FACTOR, 9)),
    )


def model_info(
    model: str, overrides: Mapping[str, Mapping[str, object]] | None = None
) -> ModelInfo:
    """The shipped table's entry for `model`, with the user's `[models."ID"]` fields over it (a
    user's entry alone defines a model); permissive defaults when neither knows the model."""
    table = shipped_models()
    base_key = best_match(model, list(table))
    fields: dict[str, object] = dict(table[base_key]) if base_key is not None else {}
    user_key = best_match(model, list(overrides or {})) if overrides else None
    if overrides and user_key is not None:
        user, _ = check_model_fields(overrides[user_key])  # Settings already warned about these
        base_prices = cast(dict[str, float], fields.get("prices", {}))
        user_prices = cast(dict[str, float], user.get("prices", {}))
        fields.update(user)
        fields["prices"] = {**base_prices, **user_prices}
    known = base_key is not None or user_key is not None
    return ModelInfo(
        id=model,
        context=cast(int, fields.get("context", UNKNOWN_CONTEXT)),
        max_output=cast(int, fields.get("max_output", UNKNOWN_MAX_OUTPUT)),
        images=cast(bool, fields.get("images", True)),
        documents=cast(bool, fields.get("documents", True)),
        prefill=cast(bool, fields.get("prefill", True)),
        thinking=cast(Thinking, fields.get("thinking", "budget")),
        prices=_prices(cast("dict[str, float] | None", fields.get("prices"))),
        known=known,
        sampling=cast(bool, fields.get("sampling", True)),
    )


# ---------------------------------------------------------------------------------------------
# Refusing before sending

# The setting behind each request field, as the user knows it: the sidebar field / the ask flag.
# megachat.api.errors names them the same way in its 400 hints (a test keeps the two equal).
SETTING = {
    "temperature": "Temperature / -t",
    "top_p": "Top p / --top-p",
    "top_k": "Top k / --top-k",
    "thinking": "Thinking / --thinking",
    "effort": "Effort / --effort",
    "stop_sequences": "Stop sequences / --stop",
    "max_tokens": "Max tokens / --max-tokens",
    "prefill": "the Prefill field / --prefill",
    "attachment": "the attachment / -a",
}


def _blocks(messages: object) -> list[Mapping[str, object]]:
    """Every content block of the messages, tool results' inner blocks included."""
    found: list[Mapping[str, object]] = []
    pending: list[object] = list(messages) if isinstance(messages, list) else []
    while pending:
        item = pending.pop()
        if not isinstance(item, Mapping):
            continue
        content = item.get("content")
        if isinstance(content, list):
            pending.extend(content)
        if "type" in item:
            found.append(item)
    return found


def _ends_with_prefill(messages: object) -> bool:
    if not isinstance(messages, list) or not messages:
        return False
    last = messages[-1]
    return isinstance(last, Mapping) and last.get("role") == "assistant"


def refusal(info: ModelInfo, body: Mapping[str, object]) -> str | None:
    """One line naming the first thing `info`'s model rejects in this request body and the
    setting to change; None when the model takes it all. Always None for an unknown model: a
    gateway's other models have rules of their own, and the API's answer is then the judge."""
    if not info.known:
        return None
    name = info.id
    messages = body.get("messages")
    thinking = body.get("thinking")
    style = thinking.get("type") if isinstance(thinking, Mapping) else None
    thinking_on = style in ("enabled", "adaptive")
    prefill = _ends_with_prefill(messages)
    if prefill and not info.prefill:
        return f"{name} does not accept a prefill (clear {SETTING['prefill']})"
    if not info.sampling:
        for field in ("temperature", "top_p", "top_k"):
            if body.get(field) is not None:
                return f"{name} does not accept {field} (clear {SETTING[field]})"
    effort = body.get("output_config")
    if info.thinking == "none" and isinstance(effort, Mapping) and "effort" in effort:
        return f"{name} takes no effort level (clear {SETTING['effort']})"
    if thinking_on:
        if info.thinking == "none":
            return f"{name} has no extended thinking (turn off {SETTING['thinking']})"
        if style == "enabled" and info.thinking == "adaptive":
            return (
                f"{name} takes adaptive thinking only, not a budget "
                f"(set {SETTING['thinking']} to adaptive)"
            )
        if style == "adaptive" and info.thinking == "budget":
            return (
                f"{name} takes a thinking budget, not adaptive thinking "
                f"(set {SETTING['thinking']} to a number of tokens, at least "
                f"{MIN_THINKING_BUDGET})"
            )
        if problem := _thinking_conflict(body, style, prefill):
            return problem
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, int) and max_tokens > info.max_output:
        return (
            f"{name} writes at most {info.max_output:,} tokens per reply "
            f"(lower {SETTING['max_tokens']} to {info.max_output})"
        )
    types = {block.get("type") for block in _blocks(messages)}
    if "image" in types and not info.images:
        return f"{name} does not take images (remove {SETTING['attachment']})"
    if "document" in types and not info.documents:
        return f"{name} does not take documents (PDFs, text files; remove {SETTING['attachment']})"
    return None


def _thinking_conflict(body: Mapping[str, object], style: object, prefill: bool) -> str | None:
    """What every thinking model rejects beside thinking (protocol.md §10)."""
    thinking = cast(Mapping[str, object], body["thinking"])
    turn_off = f"or turn off {SETTING['thinking']}"
    if style == "enabled":
        budget = thinking.get("budget_tokens")
        max_tokens = body.get("max_tokens")
        if not isinstance(budget, int) or budget < MIN_THINKING_BUDGET:
            return (
                f"a thinking budget must be at least {MIN_THINKING_BUDGET} tokens, not {budget} "
                f"(raise {SETTING['thinking']})"
            )
        if isinstance(max_tokens, int) and budget >= max_tokens:
            return (
                f"the thinking budget ({budget}) must be below max_tokens ({max_tokens}) "
                f"(raise {SETTING['max_tokens']} or lower {SETTING['thinking']})"
            )
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        return (
            f"temperature cannot be changed with thinking on "
            f"(clear {SETTING['temperature']} {turn_off})"
        )
    if body.get("top_k") is not None:
        return f"top_k cannot be set with thinking on (clear {SETTING['top_k']} {turn_off})"
    top_p = body.get("top_p")
    low, high = THINKING_TOP_P
    if top_p is not None and not (_is_number(top_p) and low <= cast(float, top_p) <= high):
        return (
            f"top_p must be between {low} and {high:g} with thinking on "
            f"(change {SETTING['top_p']} {turn_off})"
        )
    if prefill:
        return f"a prefill cannot be sent with thinking on (clear {SETTING['prefill']} {turn_off})"
    return None
