"""The main screen's request settings: the sidebar's changes, the models list, the token
figures (a mixin of MainScreen). Settings apply to the conversation from the next turn on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import work

from megachat.tui.widgets.attachments import AttachmentsStrip
from megachat.tui.widgets.prompt_input import PromptInput
from megachat.tui.widgets.sidebar import Sidebar

COUNT_DELAY = 0.6  # seconds of no typing before the draft is counted by the server

if TYPE_CHECKING:
    from textual.timer import Timer

    from megachat.chat.capabilities import ModelInfo
    from megachat.tui.screens.main import MainScreen
    from megachat.tui.widgets.sidebar import Costs

    _Base = MainScreen
else:
    _Base = object


class SettingsActions(_Base):
    """The sidebar's settings applied to the open conversation, and its figures."""

    _models: list[Any]
    _history_tokens: int
    _count_timer: Timer | None = None
    _spent: tuple[float | None, float | None] = (None, None)  # last reply's, all replies' cost
    # ((model, draft text, path length) counted, its input tokens): the last exact count
    _exact_count: tuple[tuple[str, str, int] | None, int | None] = (None, None)

    # -- figures --------------------------------------------------------------------------------

    def _recount_history(self) -> None:
        from megachat.chat.tokens import estimate_tokens

        conversation = self.conversation
        if conversation is not None:
            self._history_tokens = estimate_tokens(conversation.build_request(stream=False))
            # what the replies cost, summed here (a turn, a load, a switch), not per keystroke
            replies = [m for m in conversation.all_messages() if m.role == "assistant"]
            priced = [m.cost_usd for m in replies if m.cost_usd is not None]
            last = next((m for m in reversed(conversation.messages) if m.role == "assistant"), None)
            self._spent = (last.cost_usd if last else None, sum(priced) if priced else None)
            self._update_figures()

    def _update_figures(self) -> None:
        from megachat.chat.documents import PreparedDocument, document_block
        from megachat.chat.tokens import context_warning, context_window, estimate_tokens

        conversation = self.conversation
        if conversation is None:
            return
        blocks: list[dict] = [{"type": "text", "text": self.query_one(PromptInput).text}]
        for item in self.query_one(AttachmentsStrip).images:
            if isinstance(item, PreparedDocument):
                if item.kind == "text":  # a PDF's tokens are not estimated (chat.tokens)
                    blocks.append(document_block(item))
            else:
                blocks.append({"type": "image", "width": item.width, "height": item.height})
        draft = estimate_tokens(blocks)
        window = context_window(conversation.model, self._models)
        warning = context_warning(self._history_tokens + draft, conversation.max_tokens, window)
        self.query_one(Sidebar).set_figures(
            draft_tokens=draft,
            usage=self._last_usage,
            warning=warning,
            costs=self._costs(self._history_tokens + draft),
        )
        self._count_later()

    # -- the exact count (count_tokens), where the server serves it ----------------------------

    def _count_later(self) -> None:
        """Count the request exactly once typing pauses (not on every key: each is a request)."""
        if self._count_timer is not None:
            self._count_timer.stop()
        self._count_timer = self.set_timer(COUNT_DELAY, self.count_draft)

    def count_draft(self) -> None:
        """Ask the server for the input tokens of the request the draft would send; the figures
        then show them without "≈". Not for a draft with attachments (counted as estimated)."""
        conversation, text = self.conversation, self.query_one(PromptInput).text
        if (
            conversation is None
            or not text.strip()
            or self.query_one(AttachmentsStrip).images
            or not self.mc_app.has_api_key
            or self._exact_count[0] == (conversation.model, text, len(conversation.messages))
        ):
            return
        tool_use = self.session.tool_use if self.session is not None else None
        tools = tool_use.toolbox.definitions() if tool_use is not None else None
        request = conversation.build_request(stream=False, tools=tools or None)
        messages = request["messages"]
        turn = {"type": "text", "text": text}
        if messages and messages[-1]["role"] == "user":
            messages[-1]["content"].append(turn)
        else:
            messages.append({"role": "user", "content": [turn]})
        self._count_exactly(request, (conversation.model, text, len(conversation.messages)))

    @work(group="count-tokens", exclusive=True, exit_on_error=False)
    async def _count_exactly(self, request: dict, key: tuple[str, str, int]) -> None:
        from megachat.chat.tokens import count_input_tokens

        tokens, exact = await count_input_tokens(self.mc_app.client(), request)
        if exact:
            self._exact_count = (key, tokens)
            self._update_figures()

    def _model_info(self) -> ModelInfo | None:
        from megachat.chat.capabilities import model_info

        conversation = self.conversation
        if conversation is None:
            return None
        return model_info(conversation.model, self.mc_app.settings.models)

    def _costs(self, request_tokens: int) -> Costs:
        """The draft's estimated cost (the whole request it would send, at the input price),
        the last reply's and the conversation's (every reply of every branch: each was paid)."""
        from megachat.chat.cost import estimate_cost
        from megachat.tui.widgets.sidebar import Costs

        conversation, info = self.conversation, self._model_info()
        if conversation is None or info is None:
            return Costs()
        key, counted = self._exact_count
        text = self.query_one(PromptInput).text
        exact = key == (conversation.model, text, len(conversation.messages))
        if exact and counted is not None:
            request_tokens = counted
        return Costs(
            draft=estimate_cost(request_tokens, info.prices),
            draft_exact=exact,
            request_tokens=request_tokens,
            last_reply=self._spent[0],
            conversation=self._spent[1],
        )

    def update_model_limits(self) -> None:
        """Grey out in the sidebar what the conversation's model cannot take (or not with
        thinking on); an unknown model is offered everything."""
        conversation, info = self.conversation, self._model_info()
        if conversation is None or info is None:
            return
        self.query_one(Sidebar).set_model_limits(
            prefill=info.prefill,
            thinking=info.thinking if info.known else "any",
            thinking_on=conversation.thinking is not None,
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
            if event.setting in ("model", "thinking"):
                self.update_model_limits()

    def _apply_sidebar(self) -> None:
        """Take the sidebar's values for the next turn; ValueError when one is invalid."""
        conversation, sidebar = self.conversation, self.query_one(Sidebar)
        assert conversation is not None
        conversation.temperature = sidebar.temperature()
        conversation.max_tokens = sidebar.max_tokens()
        conversation.system = sidebar.system
        conversation.model = sidebar.model or conversation.model
        conversation.thinking = sidebar.thinking  # type: ignore[assignment]
        conversation.effort = sidebar.effort
        conversation.stop_sequences = sidebar.stop_sequences
        conversation.top_p, conversation.top_k = sidebar.sampling()

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
