"""The main screen's request settings: the sidebar's changes, the models list, the token
figures (a mixin of MainScreen). Settings apply to the conversation from the next turn on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import work

from megachat.tui.widgets.attachments import AttachmentsStrip
from megachat.tui.widgets.prompt_input import PromptInput
from megachat.tui.widgets.sidebar import Sidebar

if TYPE_CHECKING:
    from megachat.tui.screens.main import MainScreen

    _Base = MainScreen
else:
    _Base = object


class SettingsActions(_Base):
    """The sidebar's settings applied to the open conversation, and its figures."""

    _models: list[Any]
    _history_tokens: int

    # -- figures --------------------------------------------------------------------------------

    def _recount_history(self) -> None:
        from megachat.chat.tokens import estimate_tokens

        if self.conversation is not None:
            self._history_tokens = estimate_tokens(self.conversation.build_request(stream=False))
            self._update_figures()

    def _update_figures(self) -> None:
        from megachat.chat.tokens import context_warning, context_window, estimate_tokens

        conversation = self.conversation
        if conversation is None:
            return
        blocks: list[dict] = [{"type": "text", "text": self.query_one(PromptInput).text}]
        for image in self.query_one(AttachmentsStrip).images:
            blocks.append({"type": "image", "width": image.width, "height": image.height})
        draft = estimate_tokens(blocks)
        window = context_window(conversation.model, self._models)
        warning = context_warning(self._history_tokens + draft, conversation.max_tokens, window)
        self.query_one(Sidebar).set_figures(
            draft_tokens=draft, usage=self._last_usage, warning=warning
        )

    @work(group="models", exclusive=True, exit_on_error=False)
    async def load_models(self) -> None:
        """Fill the model list from the server; the configured model stays as the fallback."""
        if not self.mc_app.has_api_key:
            return
        from megachat.api import APIError

        try:
            models = await self.mc_app.client().list_models()
        except APIError as exc:
            self.log.warning(f"models list unavailable: {exc}")
            return
        self._models = list(models)
        current = self.conversation.model if self.conversation else None
        self.query_one(Sidebar).set_models([m.id for m in models], current=current)
        self._update_figures()

    # -- settings -------------------------------------------------------------------------------

    def on_sidebar_changed(self, event: Sidebar.Changed) -> None:
        """A sidebar setting applies to the conversation from the next turn on."""
        conversation = self.conversation
        if conversation is None or event.setting == "prefill":
            return  # the prefill is read at each send
        if event.setting == "system":
            conversation.system = event.value
            if self._save_timer is not None:  # saved half a second after the last keystroke
                self._save_timer.stop()
            self._save_timer = self.set_timer(0.5, self._save_settings)
            return
        if getattr(conversation, event.setting) != event.value:
            setattr(conversation, event.setting, event.value)
            self._save_settings()
            self._update_figures()

    def _apply_sidebar(self) -> None:
        """Take the sidebar's values for the next turn; ValueError when one is invalid."""
        conversation, sidebar = self.conversation, self.query_one(Sidebar)
        assert conversation is not None
        conversation.temperature = sidebar.temperature()
        conversation.max_tokens = sidebar.max_tokens()
        conversation.system = sidebar.system
        conversation.model = sidebar.model or conversation.model

    def _save_settings(self) -> None:
        """Save the conversation's settings, once it is in the store (new chats: on first send)."""
        from megachat.chat.store import ConversationDeleted, StoreError

        if self.session is None:
            return
        try:
            self.session.save_settings()
        except ConversationDeleted:
            pass  # said when it was found (the turn stopped, or a send was refused)
        except StoreError as exc:
            self.mc_app.notify_error(f"Settings not saved: {exc}")
