"""A small form for a new playlist: arc, start and target tempo, minutes, max step, crossfade
(0: gapless), the shortest track to use, focus (folders, artists, genres), plan number (ctrl+r: another plan), name.

An existing name is replaced only after the person confirms (its edits would be lost).

The form plans in a thread worker and stays open until the planner has made the playlist. When
the library cannot satisfy the request (PlanError), the form says why in plain words and offers
the nearby requests the planner tried and found to work as numbered buttons: one key (1, 2 ...)
fills in the changed values and builds. ctrl+n builds the nearest of them. Nothing here names command-line
flags: the error's ``reason`` and ``options`` are shown, never its one-line CLI message.

The form only turns text into numbers; whether a value is in range is the planner's to say
(``UserInputError`` with the setting's ``field``), in the same place as a refusal: at the top
of the form, which is scrolled there, so the reason is on screen at 80×24 too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Select, Static

from companion.core.errors import CompanionError, PlanError, PlanOption, UserInputError
from companion.core.models import Playlist
from companion.tui import format as fmt
from companion.tui.screens.base import ReportsErrors
from companion.tui.widgets.dialogs import ConfirmScreen

HINT = "enter or ctrl+s builds · ctrl+r another plan · escape cancels"

#: The form field that holds each setting a PlanOption may change.
FIELD_OF = {"start_bpm": "start", "target_bpm": "target", "minutes": "minutes",
            "max_step_pct": "max-step", "crossfade_s": "crossfade", "min_length_s": "min-length"}


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
    crossfade_s: float | None = None  # None: the planner's default; 0: gapless
    min_length_s: float | None = None  # None: the planner's default (shorter tracks are jingles)
    seed: int = 0
    filters: dict[str, list[str]] = field(default_factory=dict)  # the planner's focus filters

    def plan_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``playlists.build`` for this request."""
        kwargs: dict[str, Any] = dict(
            name=self.name, arc=self.arc, start_bpm=self.start_bpm, target_bpm=self.target_bpm,
            minutes=self.minutes, max_step_pct=self.max_step_pct, nearest=self.nearest,
            seed=self.seed, filters=self.filters or None)
        if self.crossfade_s is not None:
            kwargs["crossfade_s"] = self.crossfade_s
        if self.min_length_s is not None:
            kwargs["min_length_s"] = self.min_length_s
        return kwargs


#: The focus fields of the form and the planner's filter each one fills (several: comma-separated).
FOCUS_FIELDS = {"folder": "Folder", "artist": "Artist", "genre": "Genre"}


def arcs_on_offer() -> dict[str, str]:
    """name -> description of every arc (bundled and the user's own presets), step-down first."""
    from companion.core.arcs import BUILTIN_ARCS, list_arcs

    found = {a.name: a.description for a in list_arcs()}
    order = [n for n in BUILTIN_ARCS if n in found] + sorted(n for n in found if n not in BUILTIN_ARCS)
    return {n: found[n] for n in order} or dict.fromkeys(BUILTIN_ARCS, "")


def refusal_text(error: PlanError | UserInputError) -> str:
    """Why there is no plan, as the app says it: the planner's reason, no flags."""
    if isinstance(error, UserInputError):
        return f"{str(error)[:1].upper()}{str(error)[1:].rstrip('.')}."
    reason = error.reason.strip().rstrip(".")
    return f"Your library cannot make this playlist: {reason}."


class OptionButton(Button):
    """A nearby request that works: pressing it (or its number) fills in its value and builds."""

    def __init__(self, option: PlanOption, number: int) -> None:
        label = option.label[:1].upper() + option.label[1:]
        super().__init__(fmt.escape(f"{number} · {label}"), compact=True, classes="plan-option")
        self.option = option


class BuildScreen(ReportsErrors, ModalScreen[Playlist | None]):
    """Ask for the plan's inputs and build it; dismiss with the saved Playlist or None."""

    DEFAULT_CSS = """
    BuildScreen #build-dialog { max-height: 100%; overflow-y: auto; width: 72; }
    BuildScreen #build-refusal { height: auto; margin-bottom: 1; display: none; }
    BuildScreen #build-refusal.shown { display: block; }
    BuildScreen #refusal-reason { color: $warning; }
    BuildScreen #refusal-options { height: auto; margin-top: 1; }
    BuildScreen .plan-option { margin-bottom: 0; }
    """

    @dataclass
    class Built(Message):
        playlist: Playlist

    @dataclass
    class Failed(Message):
        """The planner said no or refused a value (``error``: shown in the form) or the build
        failed otherwise (``error`` None: the app's worker error handler shows it)."""

        error: PlanError | UserInputError | None = None

    def __init__(self) -> None:
        super().__init__()
        self.building = False
        self.refused = False  # the planner said no and offered a nearest plan
        self.options: tuple[PlanOption, ...] = ()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "submit" and parameters and parameters[0]:
            return self.refused and not self.building
        if action == "option":
            return bool(parameters) and int(parameters[0]) <= len(self.options) and not self.building
        return True

    BINDINGS = [
        Binding("ctrl+s", "submit", "Build", priority=True),
        Binding("ctrl+r", "another", "Another plan", priority=True, id="another"),
        Binding("ctrl+n", "submit(True)", "Nearest plan", priority=True, id="nearest"),
        Binding("escape", "cancel", "Cancel"),
    ] + [Binding(str(n), f"option({n})", f"Option {n}", show=False) for n in range(1, 6)]

    def compose(self) -> ComposeResult:
        from companion.core import planner  # its defaults fill the form (imported when it opens)

        self.arcs = arcs_on_offer()
        first = next(iter(self.arcs))
        with Vertical(id="build-dialog", classes="dialog"):
            yield Label("Build a playlist", classes="dialog-title")
            with Vertical(id="build-refusal"):  # first: on screen whatever the terminal's height
                yield Static("", id="refusal-reason")
                yield Static("", id="refusal-offer", classes="muted")
                yield Vertical(id="refusal-options")
            yield Static(
                "The playlist meets you at the start tempo and moves towards the target, "
                "step by step.", classes="muted", id="build-about",
            )
            with Grid(id="build-form"):
                yield Label("Arc")
                yield Select([(fmt.escape(a), a) for a in self.arcs], value=first,
                             allow_blank=False, id="arc", compact=True)
                yield Static("")
                yield Static(fmt.escape(self.arcs[first]), id="arc-about", classes="muted")
                yield from _field("Start BPM", "start", "", "blank: from your library")
                yield from _field("Target BPM", "target", f"{planner.DEFAULT_TARGET_BPM:g}", "e.g. 60")
                yield from _field("Minutes", "minutes", f"{planner.DEFAULT_MINUTES:g}", "e.g. 20")
                yield from _field("Max step %", "max-step", f"{planner.DEFAULT_MAX_STEP_PCT:g}",
                                  "largest tempo change between tracks")
                yield from _field("Crossfade s", "crossfade", f"{planner.DEFAULT_CROSSFADE_S:g}",
                                  "0 = gapless")
                yield from _field("Min length s", "min-length", f"{planner.DEFAULT_MIN_LENGTH_S:g}",
                                  "shorter tracks are left out")
                for key, label in FOCUS_FIELDS.items():
                    yield from _field(label, key, "", f"only these {key}s (blank: all)", number=False)
                yield from _field("Plan no.", "seed", "0", "another number, another plan")
                yield from _field("Name", "name", "", "e.g. evening", number=False)
            yield Static(HINT, id="build-hint", classes="muted hint")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    @on(Select.Changed, "#arc")
    def _arc_changed(self, event: Select.Changed) -> None:
        self.query_one("#arc-about", Static).update(fmt.escape(self.arcs.get(str(event.value), "")))

    @on(Input.Submitted)
    async def _submitted(self) -> None:
        await self.action_submit()

    def action_cancel(self) -> None:
        if not self.building:
            self.dismiss(None)

    async def action_another(self) -> None:
        """Another plan of the same request: the next plan number, built at once."""
        seed = self.query_one("#seed", Input)
        try:
            seed.value = str(int(float(seed.value or 0)) + 1)
        except ValueError:
            seed.value = "1"
        await self.action_submit()

    async def action_option(self, number: int) -> None:
        if 1 <= number <= len(self.options):
            await self.apply_option(self.options[number - 1])

    async def action_submit(self, nearest: bool = False, replace: bool = False) -> None:
        if self.building:
            return
        try:
            request = self._request(nearest)
        except UserInputError as exc:
            await self._show_refusal(exc)
            return
        from companion.core import playlists

        exists = False
        try:
            exists = playlists.exists(request.name)
        except UserInputError as exc:  # a name the core refuses: said now, in its words
            await self._show_refusal(UserInputError(str(exc), field="name"))
            return
        except CompanionError as exc:
            self.notify(fmt.escape(str(exc)), severity="error")
            return
        if exists and not replace:
            def answered(yes: bool | None) -> None:
                if yes:
                    self._start(request)

            self.app.push_screen(ConfirmScreen(
                "Replace this playlist?",
                f"A playlist named {request.name} already exists. Building replaces it, with any "
                "changes you made to it. Replace it?"), answered)
            return
        self._start(request)

    def _start(self, request: BuildRequest) -> None:
        self.building = True
        self.query_one("#build-hint", Static).update(fmt.escape(f"building {request.name}…"))
        self.refresh_bindings()
        self.build(request)

    def _request(self, nearest: bool) -> BuildRequest:
        """The form's values as numbers; UserInputError (with its field) when one is not."""
        start = self._number("start_bpm", blank_ok=True)
        target = self._number("target_bpm")
        minutes = self._number("minutes")
        max_step = self._number("max_step_pct")
        crossfade = self._number("crossfade_s", blank_ok=True)
        min_length = self._number("min_length_s", blank_ok=True)
        seed = self._number("seed", blank_ok=True)
        name = self.query_one("#name", Input).value.strip()
        if not name:
            raise UserInputError("give the playlist a name", field="name")
        filters = {key: [v.strip() for v in self.query_one(f"#{key}", Input).value.split(",")
                         if v.strip()] for key in FOCUS_FIELDS}
        arc = str(self.query_one("#arc", Select).value)
        assert target is not None and minutes is not None and max_step is not None
        if seed is not None and seed != int(seed):
            raise UserInputError(f"plan number {seed:g} is not a whole number", field="seed")
        return BuildRequest(name, arc, start, target, minutes, max_step, nearest,
                            crossfade_s=crossfade, min_length_s=min_length, seed=int(seed or 0),
                            filters={k: v for k, v in filters.items() if v})

    async def apply_option(self, option: PlanOption) -> None:
        """Put ``option``'s values in their fields and build: the form shows what was built."""
        if self.building:
            return
        for name, value in option.changes.items():
            self.query_one(f"#{FIELD_OF[name]}", Input).value = f"{value:g}"
        await self.action_submit()

    @on(Button.Pressed, ".plan-option")
    async def _option_pressed(self, event: Button.Pressed) -> None:
        assert isinstance(event.button, OptionButton)
        await self.apply_option(event.button.option)

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan")
    def build(self, request: BuildRequest) -> None:
        from companion.core.playlists import build

        try:
            playlist = build(self.app.store, **request.plan_kwargs())
        except (PlanError, UserInputError) as exc:  # shown in the form, in plain words
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
        self.options = error.options if isinstance(error, PlanError) else ()
        self.refused = bool(self.options)
        hint = "change a value and build again"
        if error is not None:
            await self._show_refusal(error)
            if self.options:
                hint = (f"press 1–{len(self.options)} for an option, ctrl+n for the nearest plan, "
                        "or change a value and build again")
        self.query_one("#build-hint", Static).update(hint)
        self.refresh_bindings()

    async def _show_refusal(self, error: PlanError | UserInputError) -> None:
        """Why not, at the top of the form (scrolled into view), then where to go on: the first
        option that works, or the field whose value was refused."""
        options = error.options if isinstance(error, PlanError) else ()
        self.query_one("#build-about").display = False  # room for the reason and the options
        self.query_one("#refusal-reason", Static).update(fmt.escape(refusal_text(error)))
        offer = self.query_one("#refusal-offer", Static)
        offer.update("These would work; press a number to build it:" if options else "")
        row = self.query_one("#refusal-options", Vertical)
        offer.display = row.display = bool(options)
        await row.remove_children()
        buttons = [OptionButton(o, n) for n, o in enumerate(options, start=1)]
        await row.mount_all(buttons)
        self.query_one("#build-refusal").add_class("shown")
        dialog = self.query_one("#build-dialog")
        dialog.scroll_home(animate=False, immediate=True)
        field = getattr(error, "field", None)
        if buttons:
            buttons[0].focus(scroll_visible=False)
        elif field in FIELD_OF or field in ("name", "seed"):
            self.query_one(f"#{FIELD_OF.get(field, field)}", Input).focus(scroll_visible=False)

    def _number(self, field: str, *, blank_ok: bool = False) -> float | None:
        """The number typed for a setting (``None`` for a blank that may be blank); whether it
        is in range is the planner's to say."""
        from companion.core.planner import SETTING_WORDS

        text = self.query_one(f"#{FIELD_OF.get(field, field)}", Input).value.strip()
        if blank_ok and not text:
            return None
        words = SETTING_WORDS.get(field, "plan number")
        try:
            value = float(text)
        except ValueError:
            raise UserInputError(f"{words} {text!r} is not a number" if text else f"give the {words}",
                                 field=field) from None
        if value != value or value in (float("inf"), float("-inf")):
            raise UserInputError(f"{words} {text!r} is not a number", field=field)
        return value


def _field(label: str, key: str, value: str, placeholder: str, *, number: bool = True) -> ComposeResult:
    """A label and its one-line input, for the form's grid."""
    yield Label(label)
    yield Input(value, id=key, type="number" if number else "text", placeholder=placeholder,
                compact=True)
