"""The main screen's palette entries, copy actions and presets (a mixin of MainScreen).

Kept apart from the screen's turn handling so each file reads in one sitting; everything here
goes through the screen's session, sidebar and prompt, never a widget's children.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from megachat.sanitize import clean
from megachat.tui.widgets.prompt_input import PromptInput
from megachat.tui.widgets.sidebar import Sidebar

if TYPE_CHECKING:
    from textual.worker import Worker

    from megachat.tui.screens.main import MainScreen

    _Base = MainScreen
else:
    _Base = object


class MainCommands(_Base):
    """Palette, copy and preset actions of the main screen."""

    _code_index: dict[int, int]

    def reset_code_index(self) -> None:
        """A new conversation is shown: copy_code starts again at each message's first block."""
        self._code_index = {}

    # -- copy -----------------------------------------------------------------------------------

    def action_copy(self) -> None:
        """Copy the focused message (or, from the prompt, the last reply)."""
        from megachat.tui.widgets.message import plain_text

        target = self._focused_message()
        if target is not None:
            text, what = target.plain_text(), "message"
        else:
            last = self.conversation.last("assistant") if self.conversation else None
            if last is None:
                self.notify("Nothing to copy yet.", markup=False)
                return
            text, what = plain_text(last), "last reply"
        self.app.copy_to_clipboard(text)  # the app sanitizes every copy
        self.notify(f"Copied the {what} ({len(text):,} characters).", markup=False)

    def action_copy_code(self) -> None:
        """Copy a code block of the focused message; pressing again takes the next one."""
        from megachat.tui.widgets.message import code_blocks

        target = self._focused_message()
        if target is None:
            last = self.conversation.last("assistant") if self.conversation else None
            blocks, key = (code_blocks(last) if last is not None else []), -1
        else:
            blocks, key = list(target.code_blocks()), id(target)
        if not blocks:
            self.notify("No code block to copy.", markup=False)
            return
        index = self._code_index.get(key, 0) % len(blocks)
        self._code_index[key] = index + 1
        self.app.copy_to_clipboard(blocks[index])
        self.notify(f"Copied code block {index + 1} of {len(blocks)}.", markup=False)

    # -- math -----------------------------------------------------------------------------------

    def action_toggle_math(self) -> None:
        """Draw LaTeX math as Unicode or as written, in the messages shown and those to come
        (for this session; the `render_math` setting decides at start)."""
        from megachat.tui.widgets.markdown_math import math_rendering, set_math_rendering
        from megachat.tui.widgets.stream_markdown import StreamingMarkdown

        set_math_rendering(not math_rendering())
        for widget in self.query(StreamingMarkdown):
            widget.reparse()
        shown = "as Unicode" if math_rendering() else "as written (LaTeX)"
        self.notify(f"Math is shown {shown}.", markup=False)

    def _focused_message(self) -> Any:
        """The message widget holding the focus, if any."""
        from megachat.tui.widgets.message import MessageWidget

        node = self.focused
        while node is not None and node is not self:
            if isinstance(node, MessageWidget):
                return node
            node = node.parent
        return None

    # -- presets --------------------------------------------------------------------------------

    def apply_preset(self, name: str) -> Worker:
        """Fill the system prompt, temperature and prefill from a preset (asking for values)."""
        return self.run_worker(
            self._preset_flow(name), group="preset", exclusive=True, exit_on_error=False
        )

    async def _preset_flow(self, name: str) -> None:
        from megachat.tui.screens import TextPromptScreen

        preset = self.mc_app.presets().get(name)
        conversation = self.conversation
        if preset is None or conversation is None:
            return
        values: dict[str, str] = {}
        for variable in getattr(preset, "variables", ()):
            if variable.default is not None:
                continue
            question = f"{name}: {variable.name}"
            if variable.description:
                question += f" ({variable.description})"
            if variable.choices:
                question += " — one of " + ", ".join(variable.choices)
            answer = await self.app.push_screen_wait(
                TextPromptScreen(question, title="Preset", confirm_label="Apply")
            )
            if answer is None:
                return
            values[variable.name] = answer
        try:
            rendered = preset.render(values)
        except ValueError as exc:  # PresetError, or a value out of range
            self.mc_app.notify_error(str(exc))
            return
        self.query_one(Sidebar).apply_preset(
            system=rendered.system, temperature=rendered.temperature, prefill=rendered.prefill
        )
        conversation.system = rendered.system
        conversation.temperature = rendered.temperature
        self._save_settings()
        self.notify(f"Preset {clean(name)} applied.", markup=False)
        self.query_one(PromptInput).focus()

    # -- palette --------------------------------------------------------------------------------

    def command_entries(self) -> list[tuple[str, str, Any]]:
        """Every action of this screen for the command palette."""
        entries: list[tuple[str, str, Any]] = [
            ("Send message", "Send the prompt", self._send_from_palette),
            ("Cancel reply", "Stop the reply in progress, keep its text", self.action_cancel),
            (
                "Attach file",
                "Pick an image, a PDF or a text file for the next message",
                self.action_attach,
            ),
            ("Remove attachments", "Drop the pending attachments", self.action_remove_attachments),
            ("Regenerate reply", "Ask again for the last reply", self.action_regenerate),
            ("Retry", "Send again after an error", self.action_retry),
            (
                "Continue reply",
                "Continue the last reply, cut at max_tokens",
                self.continue_reply,
            ),
            ("Edit last message", "Edit and resend your last message", self.action_edit_last),
            ("Conversations", "Open, rename or delete saved chats", self.action_conversations),
            ("New chat", "Start a new conversation", self.action_new_chat),
            ("Copy message", "Copy the focused message (or the last reply)", self.action_copy),
            ("Copy code block", "Copy a code block of the focused message", self.action_copy_code),
            (
                "Toggle math rendering",
                "Show LaTeX math as Unicode or as written",
                self.action_toggle_math,
            ),
            ("Toggle sidebar", "Show or hide the settings", self.action_toggle_sidebar),
            ("Edit system prompt", "Focus the system prompt editor", self.action_focus_system),
            ("Focus prompt", "Move the cursor to the prompt", self.action_focus_prompt),
        ]
        for name in sorted(self.mc_app.presets()):
            entries.append(
                (
                    f"Preset: {name}",
                    "Fill system prompt, temperature, prefill",
                    self._preset_applier(name),
                )
            )
        return entries

    def _send_from_palette(self) -> None:
        prompt = self.query_one(PromptInput)
        if not self._refuse_while_busy() and not prompt.held:
            prompt.submit()  # the same path as Enter

    def _preset_applier(self, name: str) -> Any:
        def apply() -> None:
            self.apply_preset(name)

        return apply
