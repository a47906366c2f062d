"""The main screen's branch keys (a mixin of MainScreen): walk and delete versions of a turn.

A focused MessageWidget posts `SwitchBranch` (`[` / `]`) or `DeleteBranch` (`delete`); this maps
them to the session (`switch_branch`, `delete_branch`, which persist the active path) and shows
the new active path, keeping the focus on the message switched. A reply streaming into a branch
switched away from keeps streaming there (the view hides it until its branch is shown again);
sending stays refused until it ends, whichever branch is on screen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work

if TYPE_CHECKING:
    from megachat.chat.conversation import ChatMessage, Conversation
    from megachat.tui.screens.main import MainScreen
    from megachat.tui.widgets.message import Branch, MessageWidget  # after the first frame

    _Base = MainScreen
else:
    _Base = object


def branch_of(conversation: Conversation | None, message: ChatMessage) -> Branch | None:
    """Which version of its turn `message` is: (position from 1, count); None when alone."""
    if conversation is None:
        return None
    siblings = conversation.siblings(message)
    ids = [m.id for m in siblings]
    if len(ids) < 2 or message.id not in ids:
        return None
    return ids.index(message.id) + 1, len(ids)


def subtree_size(conversation: Conversation, message: ChatMessage) -> int:
    """How many messages follow `message` in its branch, every sub-branch included."""
    under = {message.id}
    for other in conversation.all_messages():  # creation order: parents before children
        if other.parent_id in under:
            under.add(other.id)
    return len(under) - 1


class BranchActions(_Base):
    """`[` / `]` / `delete` on a focused message."""

    def branch_position(self, message: ChatMessage) -> Branch | None:
        """For the view's headers: `‹ n/m ›` of `message` in the open conversation."""
        return branch_of(self.conversation, message)

    # Named handlers, not @on: a plain mixin's decorated handlers are not collected by Textual.
    async def on_message_widget_switch_branch(self, event: MessageWidget.SwitchBranch) -> None:
        """`[` / `]` on a focused message: show its previous / next version."""
        event.stop()
        from megachat.chat.outcomes import SessionBusy
        from megachat.chat.store import StoreError

        session, view = self.session, self.view
        if session is None or view is None:
            return
        try:
            target = session.switch_branch(event.message, event.step)
        except SessionBusy as exc:  # the reply has not begun yet
            self.notify(str(exc), markup=False)
            return
        except KeyError:  # a message no longer in the conversation
            return
        except StoreError as exc:  # shown anyway: only remembering it failed
            self.mc_app.notify_error(f"The version shown was not saved: {exc}")
            parent = event.message.parent_id
            target = next((m for m in session.conversation.messages if m.parent_id == parent), None)
        if target is None:
            return  # already the first / last version
        await self.show_active_path(focus=target)

    async def show_active_path(self, *, focus: ChatMessage | None = None) -> None:
        """Re-show the active path after the session changed it (a switch, a delete, an edit):
        what it shares with the path on screen stays, the rest is replaced; and its figures."""
        view, conversation = self.view, self.conversation
        if view is None or conversation is None:
            return
        await view.show_path(conversation.messages)
        self._take_last_usage()
        self._recount_history()
        self._update_title()
        self._say_where_the_reply_streams()
        widget = view.widget_for(focus.id) if focus is not None else None
        if widget is not None:
            widget.focus()
        elif focus is not None:
            self.action_focus_prompt()

    def _say_where_the_reply_streams(self) -> None:
        """While a reply streams, the status line says whether it is on screen."""
        from megachat.tui.widgets.status_line import StatusLine

        reply = self.session.streaming_reply if self.session is not None else None
        if reply is None or self.conversation is None:
            return
        on_screen = any(m.id == reply.id for m in self.conversation.messages)
        self.query_one(StatusLine).show(
            "Replying… (Esc cancels)"
            if on_screen
            else "Replying in another version, off screen (Esc cancels it)"
        )

    def on_message_widget_delete_branch(self, event: MessageWidget.DeleteBranch) -> None:
        """`delete` on a focused message: delete that version, once confirmed."""
        event.stop()
        if not self._refuse_while_busy():
            self._delete_branch_flow(event.message)

    @work(group="branches", exclusive=True, exit_on_error=False)
    async def _delete_branch_flow(self, message: ChatMessage) -> None:
        from megachat.chat.outcomes import SessionBusy
        from megachat.chat.store import StoreError
        from megachat.tui.screens import ConfirmScreen

        session, conversation = self.session, self.conversation
        if session is None or conversation is None or conversation.get(message.id) is None:
            return
        what = "message" if message.role == "user" else "reply"
        position = branch_of(conversation, message)
        if position is not None:
            what += f" (version {position[0]} of {position[1]})"
        under = subtree_size(conversation, message)
        more = f" and the {under} more under it" if under else ""
        question = f"Delete this {what}{more}? This cannot be undone."
        confirmed = await self.app.push_screen_wait(
            ConfirmScreen(
                question,
                title="Delete version",
                confirm_label="Delete",
                cancel_label="Keep",
                destructive=True,
            )
        )
        if not confirmed:
            return
        try:
            removed = session.delete_branch(message)
        except SessionBusy as exc:
            self.notify(str(exc), markup=False)
            return
        except StoreError as exc:
            self.mc_app.notify_error(f"Not deleted: {exc}")
            return
        path = conversation.messages
        # The focus goes to the version that took its place, else to the prompt.
        focus = next((m for m in path if m.parent_id == message.parent_id), None)
        await self.show_active_path(focus=focus)
        if focus is None:
            self.action_focus_prompt()
        count = len(removed)
        self.notify(f"Deleted {count} message{'s' if count != 1 else ''}.", markup=False)
