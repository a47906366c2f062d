"""The domain: conversations, images, token estimates, presets, the SQLite store and export.

No Textual and no httpx here; the one send path (turn.py) builds on these. Names below are
re-exported lazily so that importing one submodule (e.g. the store for `megachat list`) does not
pay for all the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "ChatMessage": "conversation",
    "Conversation": "conversation",
    "merge_prefill": "conversation",
    "prefill_sent": "conversation",
    "title_from": "conversation",
    "new_id": "ids",
    "ImageError": "images",
    "PreparedImage": "images",
    "image_block": "images",
    "load_image": "images",
    "load_images": "images",
    "Preset": "presets",
    "PresetError": "presets",
    "load_presets": "presets",
    "resolve_preset": "presets",
    "ConversationNotFound": "store",
    "ConversationSummary": "store",
    "CorruptDatabaseError": "store",
    "SearchHit": "store",
    "Store": "store",
    "StoreError": "store",
    "context_warning": "tokens",
    "context_window": "tokens",
    "estimate_tokens": "tokens",
    "to_json": "export",
    "to_markdown": "export",
}

__all__ = [
    "ChatMessage",
    "Conversation",
    "ConversationNotFound",
    "ConversationSummary",
    "CorruptDatabaseError",
    "ImageError",
    "PreparedImage",
    "Preset",
    "PresetError",
    "SearchHit",
    "Store",
    "StoreError",
    "context_warning",
    "context_window",
    "estimate_tokens",
    "image_block",
    "load_image",
    "load_images",
    "load_presets",
    "merge_prefill",
    "new_id",
    "prefill_sent",
    "resolve_preset",
    "title_from",
    "to_json",
    "to_markdown",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'megachat.chat' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"megachat.chat.{module}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from megachat.chat.conversation import (
        ChatMessage,
        Conversation,
        merge_prefill,
        prefill_sent,
        title_from,
    )
    from megachat.chat.export import to_json, to_markdown
    from megachat.chat.ids import new_id
    from megachat.chat.images import (
        ImageError,
        PreparedImage,
        image_block,
        load_image,
        load_images,
    )
    from megachat.chat.presets import Preset, PresetError, load_presets, resolve_preset
    from megachat.chat.store import (
        ConversationNotFound,
        ConversationSummary,
        CorruptDatabaseError,
        SearchHit,
        Store,
        StoreError,
    )
    from megachat.chat.tokens import context_warning, context_window, estimate_tokens
