"""A small form for a new playlist: arc, start and target tempo, minutes, max step, name.

The form plans in a thread worker and stays open until the planner has made the playlist. When
the library cannot satisfy the request (PlanError), the form says why in plain words and offers
the nearby requests the planner tried and found to work as buttons: one press fills in the
changed value and builds. ctrl+n builds the nearest of them. Nothing here names command-line
flags: the error's ``reason`` and ``options`` are shown, never its one-line CLI message.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Select, Static

from companion.core.errors import PlanError, PlanOption
from companion.core.models import Playlist
from companion.tui.screens.base import ReportsErrors

HINT = "enter or ctrl+s builds · escape cancels"

#: The form field that holds each setting a PlanOption may change.
FIELD_OF = {"start_bpm": "start", "target_bpm": "target", "minutes": "minutes",
            "max_step_pct": "max-step"}


@dataclass(frozen=True)
class BuildRequest:
    """What the person asked for; the planner decides whether the library allows it."""

    name: str
    arc: str
    start_bpm: float | None  # None: the planner picks one from the library
    target_bpm: float
    minutes: float
    max_step_pct: float
    nearest: bool = False  # if the library cannot, build the nearest plan it allows


def arcs_on_offer() -> dict[str, str]:
    """name -> description of every arc (bundled and the user's own presets), step-down first."""
    from companion.core.arcs import BUILTIN_ARCS, list_arcs

    found = {a.name: a.description for a in list_arcs()}
    order = [n for n in BUILTIN_ARCS if n in found] + sorted(n for n in found if n not in BUILTIN_ARCS)
    return {n: found[n] for n in order} or dict.fromkeys(BUILTIN_ARCS, "")


def refusal_text(error: PlanError) -> str:
    """Why there is no plan, as the app says it: the planner's reason, no flags."""
    reason = error.reason.strip().rstrip(".")
    return f"Your library cannot make this playlist: {reason}."


class OptionButton(Button):
    """A nearby request that works: pressing it fills in its value and builds."""

    def __init__(self, option: PlanOption) -> None:
        label = option.label[:1].upper() + option.label[1:]
        super().__init__(label, compact=True, classes="plan-option")
        self.option = option


class BuildScreen(ReportsErrors, ModalScreen[Playlist | None]):
    """Ask for the plan's inputs and build it; dismiss with the saved Playlist or None."""

    DEFAULT_CSS = """
    BuildScreen #build-dialog { max-height: 100%; overflow-y: auto; }
    BuildScreen #build-refusal { height: auto; margin-top: 1; display: none; }
    BuildScreen #build-refusal.shown { display: block; }
    BuildScreen #refusal-reason { color: $warning; }
    BuildScreen #refusal-options { height: auto; margin-top: 1; }
    BuildScreen .plan-option { margin-right: 2; }
    """

    @dataclass
    class Built(Message):
        playlist: Playlist

    @dataclass
    class Failed(Message):
        """The planner said no (``error``: shown in the form) or the build failed otherwise
        (``error`` None: the app's worker error handler shows it)."""

        error: PlanError | None = None

    def __init__(self) -> None:
        super().__init__()
        self.building = False
        self.refused = False  # the planner said no and offered a nearest plan
        self.options: tuple[PlanOption, ...] = ()

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
        from companion.core import planner  # its defaults fill the form (imported when it opens)

        self.arcs = arcs_on_offer()
        first = next(iter(self.arcs))
        with Vertical(id="build-dialog", classes="dialog"):
            yield Label("Build a playlist", classes="dialog-title")
            yield Static(
                "The playlist meets you at the start tempo and moves towards the target, "
                "step by step.", classes="muted", id="build-about",
            )
            with Grid(id="build-form"):
                yield Label("Arc")
                yield Select([(a, a) for a in self.arcs], value=first, allow_blank=False, id="arc")
                yield Static("")
                yield Static(self.arcs[first], id="arc-about", classes="muted")
                yield Label("Start BPM")
                yield Input("", id="start", type="number", placeholder="blank: from your library")
                yield Label("Target BPM")
                yield Input(f"{planner.DEFAULT_TARGET_BPM:g}", id="target", type="number",
                            placeholder="e.g. 60")
                yield Label("Minutes")
                yield Input(f"{planner.DEFAULT_MINUTES:g}", id="minutes", type="number",
                            placeholder="e.g. 20")
                yield Label("Max step %")
                yield Input(f"{planner.DEFAULT_MAX_STEP_PCT:g}", id="max-step", type="number",
                            placeholder="largest tempo change between tracks, e.g. 8")
                yield Label("Name")
                yield Input("", id="name", placeholder="e.g. evening")
            with Vertical(id="build-refusal"):
                yield Static("", id="refusal-reason")
                yield Static("", id="refusal-offer", classes="muted")
                yield Horizontal(id="refusal-options")
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
            start = self._number("start", "start BPM", 20, 300, blank_ok=True)
            target = self._number("target", "target BPM", 20, 300)
            minutes = self._number("minutes", "minutes", 1, 24 * 60)
            max_step = self._number("max-step", "max step %", 0.5, 50)
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        name = self.query_one("#name", Input).value.strip()
        if not name:
            self.notify("give the playlist a name", severity="error")
            self.query_one("#name", Input).focus()
            return
        arc = str(self.query_one("#arc", Select).value)
        assert target is not None and minutes is not None and max_step is not None
        if self.building:
            return
        self.building = True
        self.query_one("#build-hint", Static).update(f"building {name}…")
        self.build(BuildRequest(name, arc, start, target, minutes, max_step, nearest))

    def apply_option(self, option: PlanOption) -> None:
        """Put ``option``'s values in their fields and build: the form shows what was built."""
        if self.building:
            return
        for field, value in option.changes.items():
            self.query_one(f"#{FIELD_OF[field]}", Input).value = f"{value:g}"
        self.action_submit()

    @on(Button.Pressed, ".plan-option")
    def _option_pressed(self, event: Button.Pressed) -> None:
        assert isinstance(event.button, OptionButton)
        self.apply_option(event.button.option)

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan")
    def build(self, request: BuildRequest) -> None:
        from companion.core.playlists import build

        try:
            playlist = build(
                self.app.store, name=request.name, arc=request.arc, start_bpm=request.start_bpm,
                target_bpm=request.target_bpm, minutes=request.minutes,
                max_step_pct=request.max_step_pct, nearest=request.nearest,
            )
        except PlanError as exc:  # shown in the form, in plain words, with what would work
            self.post_message(self.Failed(exc))
            return
        except BaseException:
            self.post_message(self.Failed())
            raise
        self.post_message(self.Built(playlist))

    @on(Built)
    def _built(self, message: Built) -> None:
        self.dismiss(message.playlist)

    @on(Failed)
    async def _failed(self, message: Failed) -> None:
        self.building = False
        error = message.error
        self.options = error.options if error is not None else ()
        self.refused = bool(self.options)
        hint = "change a value and build again"
        if error is not None:
            await self._show_refusal(error)
            if self.options:
                hint = ("tab to an option and press enter, ctrl+n for the nearest plan, "
                        "or change a value and build again")
        self.query_one("#build-hint", Static).update(hint)
        self.refresh_bindings()

    async def _show_refusal(self, error: PlanError) -> None:
        self.query_one("#build-about").display = False  # room for the reason and the options
        self.query_one("#refusal-reason", Static).update(refusal_text(error))
        self.query_one("#refusal-offer", Static).update(
            "These would work; press one to build it:" if error.options
            else "Change a value and build again."
        )
        row = self.query_one("#refusal-options", Horizontal)
        await row.remove_children()
        buttons = [OptionButton(o) for o in error.options]
        await row.mount_all(buttons)
        self.query_one("#build-refusal").add_class("shown")
        if buttons:
            buttons[0].focus()

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
            raise ValueError(f"{label} {text} is out of range; give {low:g}–{high:g}")
        return value
