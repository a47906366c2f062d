"""Model lists: Anthropic's paged ``{"data", "has_more", "last_id"}`` and MegaLLM's OpenAI-style
``{"object": "list", "data": [{"id", "context_length", "max_output_tokens"}]}``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelInfo:
    id: str
    display_name: str
    context_window: int | None
    max_output_tokens: int | None


def _int(*values: Any) -> int | None:
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def parse_model(item: Any) -> ModelInfo | None:
    """One entry of either list shape (None when it has no id)."""
    if isinstance(item, str):
        return ModelInfo(item, item, None, None)
    if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
        return None
    name = item.get("display_name") or item.get("name") or item["id"]
    return ModelInfo(
        id=item["id"],
        display_name=str(name),
        context_window=_int(
            item.get("max_input_tokens"), item.get("context_length"), item.get("context_window")
        ),
        max_output_tokens=_int(item.get("max_tokens"), item.get("max_output_tokens")),
    )


def parse_model_page(body: Any) -> tuple[list[ModelInfo], str | None]:
    """(models, after_id for the next page or None)."""
    items = body.get("data") if isinstance(body, dict) else body
    if not isinstance(items, list):
        items = []
    models = [m for m in (parse_model(item) for item in items) if m is not None]
    after = None
    if isinstance(body, dict) and body.get("has_more") and isinstance(body.get("last_id"), str):
        after = body["last_id"]
    return models, after
