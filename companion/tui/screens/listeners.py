"""Listeners: who uses this companion, which scales each is asked, and forgetting one.

The app's side of ``companion listeners set NAME --scales ...`` and ``companion forget --listener
NAME``: the same core calls, the same typed confirmation before anything is deleted.
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, OptionList, Static
from textual.widgets.option_list import Option

from companion.core import sessions
from companion.tui import format as fmt
from companion.tui.screens.base import ReportsErrors
from companion.tui.widgets.dialogs import AskScreen


class ListenersScreen(ReportsErrors, ModalScreen[None]):
    """Every listener with their sessions and scales; ``enter`` switches to one, ``s`` chooses
    scales, ``x`` forgets one (never the listener now: switch first)."""

    BINDINGS = [
        Binding("enter", "switch", "Switch to"),
        Binding("s", "scales", "Scales asked"),
        Binding("x", "forget", "Forget"),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide-dialog"):
            yield Label("Listeners", classes="dialog-title")
            yield Static("Each listener's sessions, scales and settings are kept apart. Stress is "
                         "always asked. To forget the listener now, switch to another first.",
                         classes="muted dialog-note")
            yield OptionList(id="listeners")
            yield Static("enter switches · s scales asked · x forgets · escape closes",
                         classes="muted hint")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.show_listeners()
        self.query_one("#listeners", OptionList).focus()

    def show_listeners(self, select: str | None = None) -> None:
        app: Any = self.app
        ok, rows = self.core(app.store.listener_summaries)
        counts = {r["name"]: r["sessions"] for r in rows or []}
        counts.setdefault(app.listener, 0)
        self.names = sorted(counts)
        options = self.query_one("#listeners", OptionList)
        options.clear_options()
        for name in self.names:
            ok, scales = self.core(sessions.listener_scales, app.store, name)
            you = " (listening now)" if name == app.listener else ""
            options.add_option(Option(fmt.cell(
                f"{name}{you} · {fmt.count(counts[name], 'session')} · {', '.join(scales or ())}")))
        target = select if select in self.names else app.listener
        options.highlighted = self.names.index(target)
        self.refresh_bindings()

    def _highlighted(self) -> str | None:
        index = self.query_one("#listeners", OptionList).highlighted
        return self.names[index] if index is not None and 0 <= index < len(self.names) else None

    @on(OptionList.OptionHighlighted)
    def _moved(self) -> None:
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "forget":
            name = self._highlighted()
            return name is not None and name != self.app.listener  # type: ignore[attr-defined]
        return True

    @on(OptionList.OptionSelected)
    def _selected(self) -> None:
        self.action_switch()

    def action_switch(self) -> None:
        """Listen (and see the history) as the highlighted listener, as ctrl+l in a session."""
        name = self._highlighted()
        app: Any = self.app
        if name is None or name == app.listener:
            return
        app.listener = name
        self.notify(fmt.escape(f"Listening as {name}."))
        self.show_listeners(select=name)

    def action_scales(self) -> None:
        """Type the scales as the CLI takes them (``stress,vas,stai6``); the core checks them."""
        name = self._highlighted()
        if name is None:
            return
        app: Any = self.app
        _, now = self.core(sessions.listener_scales, app.store, name)

        def chosen(text: str | None) -> None:
            if text is None:
                return
            ok, scales = self.core(sessions.set_listener_scales, app.store, name, text.split(","))
            if ok:
                self.notify(fmt.escape(f"{name} will be asked: {', '.join(scales or ())}"))
                self.show_listeners(select=name)

        self.app.push_screen(AskScreen(
            f"Scales asked of {name}",
            f"Comma-separated, from {', '.join(sessions.SCALE_NAMES)}. Stress is always asked.",
            value=",".join(now or ("stress",)),
        ), chosen)

    def action_forget(self) -> None:
        """Delete one listener's sessions and ratings, after their name is typed (never the
        listener of this app: switch first)."""
        name = self._highlighted()
        app: Any = self.app
        if name is None or name == app.listener:
            return
        count = len(app.store.sessions(listener=name))

        def typed(text: str | None) -> None:
            if text is None:
                return
            if text != name:
                self.notify("The name did not match: nothing deleted.", severity="warning")
                return
            ok, deleted = self.core(app.store.forget_listener, name)
            if ok:
                self.notify(fmt.escape(f"Deleted {name!r} with {fmt.count(deleted or 0, 'session')}."),
                            title="Forgotten")
                self.show_listeners()

        self.app.push_screen(AskScreen(
            f"Forget {name}?",
            f"This deletes {fmt.count(count, 'session')} and every rating of {name}, for good. "
            f"Type {name} to confirm.",
        ), typed)

    def action_close(self) -> None:
        self.dismiss(None)
