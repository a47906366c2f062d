"""The store's exceptions: every SQLite failure reaches callers as one of these."""

from __future__ import annotations

from pathlib import Path


class StoreError(Exception):
    """The store cannot do what was asked (locked too long, schema too new, ...)."""


class ConversationNotFound(StoreError):
    """No conversation with that id (or the id prefix is ambiguous)."""


class MessageNotFound(StoreError):
    """The conversation exists but holds no message with that id."""


class ConversationDeleted(StoreError):
    """The conversation was deleted elsewhere (`megachat delete`, another window) while this
    process still held it: nothing more is written to it, so the delete is never undone."""

    def __init__(self, conversation_id: str | None = None) -> None:
        self.conversation_id = conversation_id
        what = f"conversation {conversation_id}" if conversation_id else "the conversation"
        super().__init__(f"{what} was deleted elsewhere")


class ReadOnlyStoreError(StoreError):
    """The database can be read but not written (its directory or file is not writable)."""


class CorruptDatabaseError(StoreError):
    """The database file is not a readable SQLite database. It has been moved aside (never
    overwritten) to `moved_to`; opening the same path again starts a new, empty database."""

    def __init__(self, path: Path, moved_to: Path | None, detail: str) -> None:
        self.path = path
        self.moved_to = moved_to
        if moved_to is not None:
            msg = (
                f"{path} is not a readable megachat database ({detail}); it was moved to "
                f"{moved_to} and a new database will be started"
            )
        else:
            msg = f"{path} is not a readable megachat database ({detail}) and could not be moved"
        super().__init__(msg)
