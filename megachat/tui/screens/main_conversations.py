"""The main screen's conversations: which one opens at start, the conversations screen, a new
chat (a mixin of MainScreen). Opening goes through the screen's ChatSession; one opened from a
search hit shows the hit's message at the top, not the end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work

from megachat.tui.widgets.prompt_input import PromptInput

if TYPE_CHECKING:
    from megachat.chat.conversation import Conversation
    from megachat.tui.screens.main import MainScreen

    _Base = MainScreen
else:
    _Base = object


class ConversationActions(_Base):
    """Open, pick and start conversations."""

    async def _open_initial(self) -> None:
        session = self.session
        assert session is not None
        chosen: str | None = self._start_id
        hit: str | None = None  # a search hit's message: its branch opens
        if self._start_pick:
            from megachat.tui.screens import NEW_CHAT, ConversationsScreen

            picker = ConversationsScreen(session.store)
            picked = await self.app.push_screen_wait(picker)
            chosen = str(picked) if picked and picked != NEW_CHAT else None
            hit = picker.chosen_message_id
        elif chosen is None and self._start_continue:
            chosen = session.store.latest_id() if session.store is not None else None
            if chosen is None:
                self.notify("No saved conversation yet: a new one is open.", markup=False)
        if chosen is None or not self._open(chosen, message_id=hit):
            session.new()
            hit = None
        await self.refresh_conversation(at=hit)

    def _open(self, conversation_id: str, *, message_id: str | None = None) -> bool:
        """Open a stored conversation in the session (with `message_id`, a search hit: on the
        branch holding that message); a failure is said, and False."""
        from megachat.chat.store import ConversationNotFound, StoreError

        assert self.session is not None
        try:
            self.session.open(conversation_id, message_id=message_id)
        except ConversationNotFound:
            self.mc_app.notify_error(f"No conversation with id {conversation_id}")
            return False
        except StoreError as exc:
            self.mc_app.notify_error(f"Could not open conversation {conversation_id}: {exc}")
            return False
        return True

    def _new_conversation(self) -> Conversation:
        from megachat.chat.conversation import Conversation

        settings = self.mc_app.settings
        return Conversation(
            model=settings.model,
            system=settings.system_prompt or "",
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
        )

    def action_conversations(self) -> None:
        """Open the saved conversations (open, new, rename, delete)."""
        if not self._refuse_while_busy():
            self._conversations_worker()

    @work(group="conversations", exclusive=True, exit_on_error=False)
    async def _conversations_worker(self) -> None:
        from megachat.tui.screens import NEW_CHAT, ConversationsScreen

        session = self.session
        if session is None:
            return
        current = session.conversation
        screen = ConversationsScreen(session.store, current_id=current.id)
        chosen = await self.app.push_screen_wait(screen)
        if chosen and chosen != NEW_CHAT:
            if self._open(str(chosen), message_id=screen.chosen_message_id):
                await self.refresh_conversation(at=screen.chosen_message_id)
        elif chosen == NEW_CHAT or current.id in screen.deleted_ids:
            session.new()
            await self.refresh_conversation()
        elif current.id in screen.renamed:
            current.title = screen.renamed[current.id]
            self._update_title()
        self.query_one(PromptInput).focus()

    def action_new_chat(self) -> None:
        if not self._refuse_while_busy():
            self._new_chat_worker()

    @work(group="conversations", exclusive=True, exit_on_error=False)
    async def _new_chat_worker(self) -> None:
        if self.session is not None:
            self.session.new()
            await self.refresh_conversation()
        self.query_one(PromptInput).focus()
