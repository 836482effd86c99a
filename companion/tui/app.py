"""The companion app: playlists, a listening session, the library and the history.

Threading model (after harlequin): blocking work — demo synthesis, scans, planning, opening the
audio output — runs in ``@work(thread=True, exclusive=True, exit_on_error=False, group=...)``
workers that never touch widgets; they post small message dataclasses and ``@on`` handlers on
the main thread change state. A worker that raises is reported here, in one place
(:meth:`CompanionApp.on_worker_state_changed`), as an error notification; the app never crashes
on a worker error.

Heavy libraries (scipy, soundfile, sounddevice) are imported only where they are used, so the
app opens in well under two seconds. C libraries' notes on fd 2 are kept off the screen
(:mod:`companion.tui.terminal`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.theme import Theme
from textual.worker import Worker, WorkerState

from companion.core.errors import CompanionError
from companion.core.store import DEFAULT_LISTENER, Store
from companion.tui import format as fmt
from companion.tui.progress import JobCancelled
from companion.tui.screens.history import HistoryScreen
from companion.tui.screens.library import LibraryScreen
from companion.tui.screens.playlists import PlaylistsScreen

#: Builds the audio output a Player plays into; ``None`` means the player's default (the device).
OutputFactory = Callable[[], Any]

# Actions that leave the current screen: not offered while a session is running (ctrl+q still
# quits; the session is then stored as stopped early).
_NAVIGATION = {"switch_mode", "leave"}

CALM_THEME = "nord"  # cool, low-contrast colours: calm to look at for twenty minutes
#: For low vision or a washed-out screen: white on black, yellow accents, no muted greys.
CONTRAST_THEME = Theme(
    name="companion-contrast", primary="#ffff00", secondary="#00ffff", accent="#ffff00",
    foreground="#ffffff", background="#000000", surface="#000000", panel="#1a1a1a",
    warning="#ffaf00", error="#ff5f5f", success="#5fff5f", dark=True,
    variables={"text-muted": "#ffffff", "footer-key-foreground": "#ffff00",
               "block-cursor-background": "#ffff00", "block-cursor-foreground": "#000000"},
)
THEMES = (CALM_THEME, CONTRAST_THEME.name)


class CompanionApp(App[int]):
    """A calm, keyboard-driven listening companion."""

    TITLE = "companion"
    CSS_PATH = "app.tcss"
    COMMAND_PALETTE_BINDING = "ctrl+p"
    MODES = {
        "playlists": PlaylistsScreen,
        "library": LibraryScreen,
        "history": HistoryScreen,
    }
    DEFAULT_MODE = "playlists"
    BINDINGS = [
        Binding("p", "switch_mode('playlists')", "Playlists", id="go-playlists"),
        Binding("l", "switch_mode('library')", "Library", id="go-library"),
        Binding("h", "switch_mode('history')", "History", id="go-history"),
        Binding("q", "leave", "Quit", id="quit"),
        Binding("question_mark", "keys", "Keys", key_display="?", id="keys"),
        Binding("ctrl+t", "toggle_theme", "Calm / high-contrast colours", show=False, id="theme"),
    ]

    def __init__(
        self,
        *,
        listener: str = DEFAULT_LISTENER,
        store: Store | None = None,
        output_factory: OutputFactory | None = None,
        auto_demo: bool = True,
    ) -> None:
        super().__init__()
        self._listener = listener
        self.store = store if store is not None else Store()
        self.output_factory = output_factory
        self.auto_demo = auto_demo
        self.register_theme(CONTRAST_THEME)
        self.theme = self._remembered_theme()

    @property
    def listener(self) -> str:
        """Whose sessions, ratings and settings the app shows now."""
        return self._listener

    @listener.setter
    def listener(self, name: str) -> None:
        """Switch listener (ctrl+l): their own colours come with them."""
        self._listener = name
        self.theme = self._remembered_theme()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide navigation during a session (stop it first); dim the screen we are on."""
        from companion.tui.screens.session import SessionScreen

        if action in _NAVIGATION and isinstance(self.screen, SessionScreen):
            return False
        if action == "keys" and isinstance(self.screen, SessionScreen):
            return False  # the session's own keys fill its footer at 80 columns
        if action == "switch_mode" and parameters and parameters[0] == self.current_mode:
            return None  # where we are already: shown dimmed
        return True

    async def action_leave(self) -> None:
        await self.action_quit()

    # -- keys, palette, colours ------------------------------------------------------------

    def action_keys(self) -> None:
        """``?``: every key of this screen, the footer's and the others."""
        from companion.tui.screens.help import HelpScreen, keys_of

        if isinstance(self.screen, HelpScreen):
            return
        title = getattr(self.screen, "help_title", "") or type(self.screen).__name__.removesuffix("Screen")
        self.push_screen(HelpScreen(title, keys_of(self.screen, self)))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The command palette holds every action of the screen it was opened on, by name."""
        done = set()
        for key, active in screen.active_bindings.items():
            b = active.binding
            if not active.enabled or not b.description or b.action in done:
                continue
            if b.action.startswith(("option(", "pick(")):
                continue
            done.add(b.action)
            yield SystemCommand(b.description, f"key: {b.key_display or key}",
                                partial(self.run_action, b.action, active.node))
        yield SystemCommand("Quit the app", "key: q (ctrl+q during a session)", self.action_quit)

    def action_toggle_theme(self) -> None:
        """Switch between the calm and the high-contrast colours; remembered per listener."""
        self.theme = THEMES[(THEMES.index(self.theme) + 1) % 2] if self.theme in THEMES else CALM_THEME
        try:
            settings = self.store.listener_settings(self.listener)
            self.store.set_listener_settings(self.listener, {**settings, "theme": self.theme})
        except CompanionError as exc:
            self.notify(fmt.escape(exc), title="Could not remember the colours", severity="warning")
        label = "high-contrast" if self.theme == CONTRAST_THEME.name else "calm"
        self.notify(f"{label.capitalize()} colours (ctrl+t switches back).", timeout=4)

    def _remembered_theme(self) -> str:
        try:
            theme = self.store.listener_settings(self.listener).get("theme")
        except CompanionError:
            theme = None
        return theme if theme in THEMES else CALM_THEME

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker failures are reported: a notification, never a crash."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if isinstance(error, JobCancelled):
            return  # stopped on purpose (the app is closing)
        if isinstance(error, CompanionError):
            self.notify(fmt.escape(error), title="Could not finish", severity="error", timeout=10)
        else:
            self.log.error(repr(error))
            self.notify(
                fmt.escape(f"{type(error).__name__}: {error}"), title="Something went wrong", severity="error",
                timeout=10,
            )

    def on_mount(self) -> None:
        # Sessions a killed process left open become "interrupted", keeping what was listened.
        from companion.core.sessions import recover_interrupted

        mine = [s for s in recover_interrupted(self.store) if s.listener == self.listener]
        if mine:
            self.notify(
                f"Your session with {fmt.escape(mine[-1].playlist)} was interrupted after "
                f"{fmt.minutes_phrase(mine[-1].minutes_listened)}. In History (h), press r to say "
                "how you feel now.", title="Welcome back", timeout=12,
            )


def make_app(
    listener: str | None = None,
    *,
    store: Store | None = None,
    output_factory: OutputFactory | None = None,
    auto_demo: bool = True,
) -> CompanionApp:
    """Build the app; tests pass their own store and a null audio output."""
    return CompanionApp(
        listener=listener or DEFAULT_LISTENER,
        store=store,
        output_factory=output_factory,
        auto_demo=auto_demo,
    )


def run_app(listener: str | None = None) -> int:
    """Run the app in this terminal until the person quits. Returns the exit code."""
    from companion.tui.terminal import decoder_chatter_off_screen

    _start_resource_tracker()
    with decoder_chatter_off_screen():
        app = make_app(listener)
        try:
            app.run()
        finally:
            app.store.close()
    return app.return_code or 0


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker while ``sys.stderr`` is still the terminal.

    Scans analyse in spawned worker processes; spawning starts the tracker and hands it
    ``sys.stderr.fileno()``, which is -1 under Textual's print capture ("bad value(s) in
    fds_to_keep"). Started here, before the app runs, it is already there when a scan needs it.
    """
    from multiprocessing import resource_tracker

    try:
        resource_tracker.ensure_running()
    except Exception:  # no tracker: only process-pool scans are affected, and they say so
        pass
