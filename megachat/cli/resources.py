"""What commands open from the layers below (settings, store, API client, a conversation),
with each failure turned into a CLIError carrying the right exit status.

Everything heavy is imported inside the functions, so merely parsing arguments stays cheap.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from megachat.cli.errors import CLIError, usage_error
from megachat.cli.output import inform, known_secrets, one_line, remember_secret

if TYPE_CHECKING:
    from megachat.api import MessagesClient
    from megachat.chat.conversation import Conversation
    from megachat.chat.store import Store
    from megachat.config import Settings


def read_settings(*, report: bool = True) -> Settings:
    """Settings from config.toml and the environment; a malformed file is a usage error.

    A bad value in a well-formed file is not: with `report`, each is one warning line on stderr
    and its default is used (the TUI shows them as notifications instead).
    """
    from megachat.config import ConfigError, load_settings

    try:
        settings = load_settings()
    except ConfigError as exc:
        raise usage_error(str(exc)) from None
    if report:
        for warning in settings.warnings:
            inform(f"warning: {one_line(warning)}")
    if settings.api_key:
        remember_secret(settings.api_key)
    return settings


def open_store() -> Store:
    """The conversation database; a corrupt file has been set aside and is reported (exit 1).
    It never stores an API key this run knows of; it opens read-only when it cannot be written."""
    from megachat.chat.store import CorruptDatabaseError, Store, StoreError
    from megachat.config import db_path

    try:
        return Store(db_path(), secrets=known_secrets())
    except CorruptDatabaseError as exc:
        # The damaged file has been moved aside (never overwritten); the next run starts afresh.
        raise CLIError(str(exc)) from None
    except StoreError as exc:
        raise CLIError(str(exc)) from None
    except OSError as exc:
        raise CLIError(f"cannot open the database {db_path()}: {exc.strerror or exc}") from None


def require_key(settings: Settings) -> str:
    """The API key, or a usage error saying how to set one (before anything is sent)."""
    if not settings.api_key:
        raise usage_error(
            "no API key: set MEGALLM_API_KEY or run `megachat key set` (nothing was sent)"
        )
    return settings.api_key


def make_client(settings: Settings) -> MessagesClient:
    """The configured client; exit 2 before any request when there is no key."""
    from megachat import config

    require_key(settings)
    return config.make_client(settings)


def resolve_id(store: Store, conv_id: str) -> str:
    """The full id for an id or unique id prefix; exit 2 when there is none."""
    from megachat.chat.store import ConversationNotFound

    try:
        return store.resolve_id(conv_id)
    except ConversationNotFound as exc:
        raise usage_error(str(exc)) from None


def find_conversation(store: Store, conv_id: str) -> Conversation:
    """The conversation with this id (or unique id prefix); exit 2 when there is none."""
    from megachat.chat.store import ConversationNotFound

    try:
        return store.get(store.resolve_id(conv_id))
    except ConversationNotFound as exc:
        raise usage_error(str(exc)) from None


def run_async(coro: Coroutine[Any, Any, Any]) -> Any:
    """asyncio.run, imported only by the commands that talk to the API."""
    import asyncio

    return asyncio.run(coro)
