"""A small form for a new playlist: arc, start and target tempo, minutes, name.

The form plans in a thread worker and stays open until the planner has made the playlist, so
when the library cannot satisfy the request (PlanError) the reason is shown and the person can
change a value and try again without typing everything anew.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Select, Static

from companion.core.models import Playlist
from companion.tui.screens.base import ReportsErrors

HINT = "enter or ctrl+s builds · escape cancels"


@dataclass(frozen=True)
class BuildRequest:
    """What the person asked for; the planner decides whether the library allows it."""

    name: str
    arc: str
    start_bpm: float | None  # None: the planner picks one from the library
    target_bpm: float
    minutes: float
    nearest: bool = False  # if the library cannot, build the nearest plan it allows


def arcs_on_offer() -> dict[str, str]:
    """name -> description of every arc (bundled and the user's own presets), step-down first."""
    from companion.core.arcs import BUILTIN_ARCS, list_arcs

    found = {a.name: a.description for a in list_arcs()}
    order = [n for n in BUILTIN_ARCS if n in found] + sorted(n for n in found if n not in BUILTIN_ARCS)
    return {n: found[n] for n in order} or dict.fromkeys(BUILTIN_ARCS, "")


class BuildScreen(ReportsErrors, ModalScreen[Playlist | None]):
    """Ask for the plan's inputs and build it; dismiss with the saved Playlist or None."""

    @dataclass
    class Built(Message):
        playlist: Playlist

    @dataclass
    class Failed(Message):
        """The planner said no (its reason is shown by the app's worker error handler)."""

    def __init__(self) -> None:
        super().__init__()
        self.building = False
        self.refused = False  # the planner said no: offer the nearest plan

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "submit" and parameters:
            return self.refused and not self.building
        return True

    BINDINGS = [
        Binding("ctrl+s", "submit", "Build", priority=True),
        Binding("ctrl+n", "submit(True)", "Nearest plan", priority=True, id="nearest"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def compose(self) -> ComposeResult:
        self.arcs = arcs_on_offer()
        first = next(iter(self.arcs))
        with Vertical(id="build-dialog", classes="dialog"):
            yield Label("Build a playlist", classes="dialog-title")
            yield Static(
                "The playlist meets you at the start tempo and moves towards the target, "
                "step by step.", classes="muted",
            )
            with Grid(id="build-form"):
                yield Label("Arc")
                yield Select([(a, a) for a in self.arcs], value=first, allow_blank=False, id="arc")
                yield Static("")
                yield Static(self.arcs[first], id="arc-about", classes="muted")
                yield Label("Start BPM")
                yield Input("", id="start", type="number", placeholder="blank: from your library")
                yield Label("Target BPM")
                yield Input("60", id="target", type="number", placeholder="e.g. 60")
                yield Label("Minutes")
                yield Input("20", id="minutes", type="number", placeholder="e.g. 20")
                yield Label("Name")
                yield Input("", id="name", placeholder="e.g. evening")
            yield Static(HINT, id="build-hint", classes="muted hint")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    @on(Select.Changed, "#arc")
    def _arc_changed(self, event: Select.Changed) -> None:
        self.query_one("#arc-about", Static).update(self.arcs.get(str(event.value), ""))

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_submit()

    def action_cancel(self) -> None:
        if not self.building:
            self.dismiss(None)

    def action_submit(self, nearest: bool = False) -> None:
        try:
            start = self._number("start", "start BPM", 20, 250, blank_ok=True)
            target = self._number("target", "target BPM", 20, 250)
            minutes = self._number("minutes", "minutes", 1, 600)
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        name = self.query_one("#name", Input).value.strip()
        if not name:
            self.notify("give the playlist a name", severity="error")
            self.query_one("#name", Input).focus()
            return
        arc = str(self.query_one("#arc", Select).value)
        assert target is not None and minutes is not None
        if self.building:
            return
        self.building = True
        self.query_one("#build-hint", Static).update(f"building {name}…")
        self.build(BuildRequest(name, arc, start, target, minutes, nearest))

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan")
    def build(self, request: BuildRequest) -> None:
        from companion.core.planner import build

        try:
            playlist = build(
                self.app.store, name=request.name, arc=request.arc, start_bpm=request.start_bpm,
                target_bpm=request.target_bpm, minutes=request.minutes, nearest=request.nearest,
            )
        except BaseException:
            self.post_message(self.Failed())
            raise
        self.post_message(self.Built(playlist))

    @on(Built)
    def _built(self, message: Built) -> None:
        self.dismiss(message.playlist)

    @on(Failed)
    def _failed(self) -> None:
        self.building = False
        self.refused = True
        self.query_one("#build-hint", Static).update(
            "change a value and build again, or ctrl+n for the nearest plan your library allows"
        )
        self.refresh_bindings()

    def _number(
        self, field: str, label: str, low: float, high: float, *, blank_ok: bool = False
    ) -> float | None:
        text = self.query_one(f"#{field}", Input).value.strip()
        if blank_ok and not text:
            return None
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{label} {text!r} is not a number") from None
        if not low <= value <= high:
            raise ValueError(f"{label} {text} is out of range; give {low}–{high}")
        return value
