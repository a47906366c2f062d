"""The megachat Textual application: themes, keymap, the API client, the store, the palette.

The app owns what outlives a screen (settings, one MessagesClient, one Store) and the main
screen owns the conversation. Everything the first frame does not need (httpx, Pillow, the store,
other screens) is imported on first use, so the prompt is usable as soon as possible.
"""

from __future__ import annotations

import contextlib
import gc
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.screen import Screen

from megachat.tui.keymap import APP_KEYS, bindings, check_keymap, help_rows
from megachat.tui.widgets.markdown_math import set_math_rendering

if TYPE_CHECKING:
    from megachat.api import MessagesClient
    from megachat.chat.store import Store
    from megachat.config import Settings


def _command_provider() -> type:
    from megachat.tui.commands import MegachatCommands

    return MegachatCommands


class MegachatApp(App[int]):
    """`megachat`: a chat with the MegaLLM Messages API."""

    CSS_PATH = "app.tcss"
    TITLE = "megachat"
    BINDINGS = bindings(APP_KEYS)
    COMMANDS = {_command_provider}

    def __init__(
        self,
        settings: Settings,
        *,
        conversation_id: str | None = None,
        continue_last: bool = False,
        pick: bool = False,
        store_path: Path | None = None,
        presets_dir: Path | None = None,
        themes_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.start_conversation_id = conversation_id
        self.start_continue_last = continue_last
        self.start_pick = pick
        self._store_path = store_path
        self._presets_dir = presets_dir
        self._themes_dir = themes_dir
        self._client: MessagesClient | None = None
        self._store: Store | None = None
        self._presets: dict[str, Any] | None = None
        self._theme_ready = False
        self.keymap_overrides, self.keymap_warnings = check_keymap(settings.keymap or {})
        set_math_rendering(settings.render_math)
        self.theme_warnings: list[str] = []
        self._install_themes()
        if self.keymap_overrides:
            self.set_keymap(self.keymap_overrides)

    # -- start-up -----------------------------------------------------------------------------

    def _install_themes(self) -> None:
        from megachat.tui.themes import DARK_THEME, load_themes

        themes_dir = self._themes_dir
        if themes_dir is None:
            from megachat.config import user_themes_dir

            themes_dir = user_themes_dir()
        themes, self.theme_warnings = load_themes(themes_dir)
        for theme in themes:
            self.register_theme(theme)
        wanted = self.settings.theme or DARK_THEME
        if wanted not in self.available_themes:
            if wanted:
                self.theme_warnings.append(f"theme {wanted!r} is not installed; using another")
            wanted = DARK_THEME if DARK_THEME in self.available_themes else "textual-dark"
        self._initial_theme = wanted

    def get_default_screen(self) -> Screen:
        from megachat.tui.screens.main import MainScreen

        return MainScreen(
            conversation_id=self.start_conversation_id,
            continue_last=self.start_continue_last,
            pick=self.start_pick,
        )

    def on_mount(self) -> None:
        self.theme = self._initial_theme
        self.settings.theme = self._initial_theme
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self._theme_ready = True
        from megachat.sanitize import clean

        # Bad values in config.toml were left out (defaults used): say which, never refuse to start.
        for warning in [*self.settings.warnings, *self.theme_warnings, *self.keymap_warnings]:
            self.notify(clean(warning), severity="warning", markup=False)

    def _theme_changed(self, theme: Any) -> None:
        """Save the chosen theme in config.toml (however it was chosen)."""
        name = getattr(theme, "name", None)
        if not self._theme_ready or not name or name == self.settings.theme:
            return
        self.settings.theme = name
        try:
            from megachat.config import save_setting

            save_setting("theme", name)
        except Exception as exc:  # a malformed config is never overwritten: say so, go on
            self.notify(f"Theme not saved: {exc}", severity="warning", markup=False)

    async def _drop_client(self) -> None:
        """Close the HTTP client; the next request builds a new one (with the current key)."""
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()

    async def on_unmount(self) -> None:
        await self._drop_client()
        store, self._store = self._store, None
        close = getattr(store, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                pass

    # -- shared services ----------------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The conversation store, opened on first use."""
        if self._store is None:
            from megachat.chat.store import Store

            path = self._store_path
            if path is None:
                from megachat.config import db_path

                path = db_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            self._store = Store(path, secrets=[self.settings.api_key])  # never stores the key
        return self._store

    @property
    def has_api_key(self) -> bool:
        return bool(self.settings.api_key)

    def client(self) -> MessagesClient:
        """The one MessagesClient (httpx is imported here, after the first frame)."""
        if self._client is None:
            from megachat.config import make_client

            self._client = make_client(self.settings)
        return self._client

    async def set_api_key(self, key: str, *, save: bool = True) -> None:
        """Use `key` from now on (and store it in config.toml, mode 0600)."""
        self.settings.api_key = key
        if self._store is not None:
            self._store.secrets.add(key)  # redacted from what is stored, like the first key
        if save:
            try:
                from megachat.config import store_api_key

                store_api_key(key)
            except Exception as exc:
                self.notify(f"The key was not saved: {exc}", severity="warning", markup=False)
        await self._drop_client()

    def presets(self) -> dict[str, Any]:
        """Presets (shipped + user), loaded on first use; a bad file is reported, not fatal."""
        if self._presets is None:
            from megachat.chat.presets import load_presets

            presets_dir = self._presets_dir
            if presets_dir is None:
                from megachat.config import user_presets_dir

                presets_dir = user_presets_dir()
            try:
                self._presets = load_presets(presets_dir)
            except Exception as exc:
                self.notify(f"Presets: {exc}", severity="warning", markup=False)
                self._presets = {}
        return self._presets

    # -- actions ------------------------------------------------------------------------------

    def action_command_palette(self) -> None:
        """ctrl+p: Textual's palette, safe against a double Enter (tui/command_palette.py)."""
        from textual.command import CommandPalette

        from megachat.tui.command_palette import SteadyCommandPalette

        if self.use_command_palette and not CommandPalette.is_open(self):
            self.push_screen(SteadyCommandPalette(id="--command-palette"))

    def action_help(self) -> None:
        from megachat.tui.screens import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(help_rows(self.keymap_overrides)))

    def command_entries(self, screen: Screen) -> list[tuple[str, str, Any]]:
        """(title, help, callback) for the palette: the screen's actions, then the app's."""
        entries: list[tuple[str, str, Any]] = []
        screen_entries = getattr(screen, "command_entries", None)
        if screen_entries is not None:
            entries.extend(screen_entries())
        entries.append(("Help", "Show the keys and what they do", self.action_help))
        for name in sorted(self.available_themes):
            entries.append(
                (f"Theme: {name}", "Switch to this theme (saved)", self._theme_setter(name))
            )
        return entries

    def _theme_setter(self, name: str) -> Any:
        def set_theme() -> None:
            self.theme = name

        return set_theme

    def copy_to_clipboard(self, text: str) -> None:
        """Put `text` on the clipboard (OSC 52), made safe by `sanitize.for_clipboard` first.

        Every copy ends here: ours (messages, code blocks, the last reply) and Textual's own
        (selections, inputs, text areas). Sanitizing at this one entry point means no caller can
        forget it: a reply's `\\x1b[201~` would end a shell's bracketed paste early and run the
        rest of the paste as commands."""
        from megachat.sanitize import for_clipboard

        super().copy_to_clipboard(for_clipboard(text))

    def notify_error(self, message: str, *, title: str = "") -> None:
        """An error toast with untrusted text shown literally (never markup)."""
        from megachat.sanitize import clean

        self.notify(clean(message), title=title, severity="error", markup=False, timeout=10)


def resume_gc() -> None:
    """Collect garbage again after start-up (the CLI pauses it for the first frame): the objects
    made so far (modules, classes, the first widgets) are frozen first, so they are not traversed
    by every later full collection, and the first collection is not one of all of them at once."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def run_app(
    settings: Settings,
    *,
    conversation_id: str | None = None,
    continue_last: bool = False,
    pick: bool = False,
) -> int:
    """Run the TUI until the user quits; the exit status for the CLI."""
    app = MegachatApp(
        settings, conversation_id=conversation_id, continue_last=continue_last, pick=pick
    )
    result = app.run()
    if app.return_code not in (None, 0):
        return int(app.return_code)
    return int(result or 0)
