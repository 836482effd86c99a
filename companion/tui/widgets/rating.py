"""Asking for the listener's ratings: stress 0–10, anxiety as a slider, STAI-6 as six quick
items, heart rate and a note — whichever scales the listener chose. The form only collects the
answers; ``ListeningSession.ratings_from`` (the core) checks them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Input, Label, Static

from companion.core.errors import UserInputError
from companion.core.sessions import SCALES, STAI6_ITEMS, STRESS_MAX, STRESS_MIN, parse_stress

SCALE_HINT = "0 = completely calm … 10 = the most stressed you can imagine"


class StressScale(Static):
    """The numbers 0–10 in a row, the one typed so far lit."""

    value: reactive[int | None] = reactive(None)

    def show_typed(self, typed: str) -> None:
        """Light the number typed so far; none while it is not (yet) a stress rating."""
        try:
            self.value = parse_stress(typed) if typed.strip() else None
        except UserInputError:
            self.value = None

    def render(self) -> Text:
        text = Text()
        for n in range(STRESS_MIN, STRESS_MAX + 1):
            style = "bold reverse" if n == self.value else "dim"
            text.append(f" {n} ", style=style)
            if n < STRESS_MAX:
                text.append(" ")
        return text


class BeginInput(Input):
    """The rating before: enter begins the session (and says so in the footer)."""

    BINDINGS = [Binding("enter", "submit", "Begin")]


class SaveInput(Input):
    """The rating after: enter saves it."""

    BINDINGS = [Binding("enter", "submit", "Save rating")]


class NextInput(Input):
    """A field with more questions after it: enter goes on to the next."""

    BINDINGS = [Binding("enter", "submit", "Next")]


class Advance(Message):
    """A field is answered (enter): the form moves on, or submits after the last field."""

    def __init__(self, field: Widget) -> None:
        super().__init__()
        self.field = field


class VasSlider(Widget, can_focus=True):
    """Anxiety 0–100 as a slider: ←/→ move by 1, shift or page keys by 10, home/end to the
    ends, a click sets it. Untouched, the scale is skipped."""

    DEFAULT_CSS = "VasSlider { height: 1; width: 100%; } VasSlider:focus { text-style: bold; }"
    BINDINGS = [
        Binding("left", "move(-1)", show=False), Binding("right", "move(1)", show=False),
        Binding("shift+left,pagedown", "move(-10)", show=False),
        Binding("shift+right,pageup", "move(10)", show=False),
        Binding("home", "set(0)", show=False), Binding("end", "set(100)", show=False),
        Binding("backspace,delete", "clear", show=False),
        Binding("enter", "advance", "Next"),
    ]
    value: reactive[float | None] = reactive(None)
    _LEFT, _RIGHT = "not at all 0 ", " 100 as anxious as can be"

    def action_move(self, step: int) -> None:
        start = 50.0 if self.value is None else self.value
        self.value = float(min(100.0, max(0.0, start + step)))

    def action_set(self, value: float) -> None:
        self.value = float(value)

    def action_clear(self) -> None:
        self.value = None

    def action_advance(self) -> None:
        self.post_message(Advance(self))

    def _track_width(self) -> int:
        return max(10, self.size.width - len(self._LEFT) - len(self._RIGHT) - 5)

    def on_click(self, event: events.Click) -> None:
        x = event.x - len(self._LEFT)
        width = self._track_width()
        if 0 <= x < width:
            self.value = float(round(100 * x / (width - 1)))

    def render(self) -> Text:
        width = self._track_width()
        text = Text(self._LEFT, style="dim")
        at = None if self.value is None else round(self.value / 100 * (width - 1))
        for i in range(width):
            if i == at:
                text.append("●", style="bold")
            else:
                text.append("━" if at is not None and i < at else "─", style="dim" if at is None or i > at else "")
        text.append(self._RIGHT, style="dim")
        text.append(f"  {self.value:3.0f}" if self.value is not None else "   –", style="bold")
        return text


class StaiItems(Widget, can_focus=True):
    """The six STAI-6 statements; 1–4 answers the one lit and moves on, ↑/↓ choose another,
    backspace clears. All six or none."""

    DEFAULT_CSS = "StaiItems { height: 6; width: 100%; }"
    BINDINGS = [
        Binding("up", "go(-1)", show=False), Binding("down", "go(1)", show=False),
        Binding("backspace,delete", "clear", show=False),
        Binding("enter", "advance", "Next"),
    ]
    ANSWERS = ("not at all", "somewhat", "moderately", "very much")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.answers: list[int | None] = [None] * len(STAI6_ITEMS)
        self.current = 0

    def on_key(self, event: events.Key) -> None:
        if event.character in ("1", "2", "3", "4"):
            event.stop()
            self.answers[self.current] = int(event.character)
            if self.current < len(STAI6_ITEMS) - 1:
                self.current += 1
            elif all(a is not None for a in self.answers):
                self.post_message(Advance(self))
            self.refresh()

    def action_go(self, step: int) -> None:
        self.current = min(len(STAI6_ITEMS) - 1, max(0, self.current + step))
        self.refresh()

    def action_clear(self) -> None:
        self.answers[self.current] = None
        self.refresh()

    def action_advance(self) -> None:
        self.post_message(Advance(self))

    @property
    def value(self) -> list[int] | str:
        """The six answers; "" when none is given; a partial list as it is (the core says why)."""
        if all(a is None for a in self.answers):
            return ""
        return [a if a is not None else 0 for a in self.answers]

    def render(self) -> Text:
        text = Text()
        for i, name in enumerate(STAI6_ITEMS):
            lit = i == self.current and self.has_focus
            text.append(("▸ " if lit else "  ") + f"I feel {name:<8}", style="bold" if lit else "")
            for n in range(1, 5):
                chosen = self.answers[i] == n
                text.append(f" {n} {self.ANSWERS[n - 1]} " if chosen else f" {n} ",
                            style="bold reverse" if chosen else "dim")
            if i < len(STAI6_ITEMS) - 1:
                text.append("\n")
        return text

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()


class RatingPrompt(Vertical):
    """Stress alone (the History screen's late rating): a question, the 0–10 scale and an input; posts :class:`RatingPrompt.Rated` when valid.

    An invalid entry is answered with a notification naming the value; nothing is posted, so
    nothing is stored.
    """

    @dataclass
    class Rated(Message):
        prompt: RatingPrompt
        value: int

        @property
        def control(self) -> RatingPrompt:
            return self.prompt

    def __init__(self, question: str, *, begins: bool, id: str) -> None:  # noqa: A002
        super().__init__(id=id, classes="rating-prompt")
        self.question = question
        self.input_type = BeginInput if begins else SaveInput

    def compose(self) -> ComposeResult:
        yield Label(self.question, classes="rating-question")
        yield Static(SCALE_HINT, classes="muted rating-hint")
        yield StressScale(classes="rating-scale")
        yield self.input_type(placeholder="a whole number, 0–10", max_length=6,
                              classes="rating-input")

    def focus_input(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self.query_one(StressScale).show_typed(event.value)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        """Check what was typed: post :class:`Rated`, or explain what is wrong."""
        event.stop()
        try:
            value = parse_stress(event.value)
        except UserInputError as exc:
            self.notify(str(exc), title="Not a rating", severity="error")
            return
        self.post_message(self.Rated(self, value))


_INPUT_HINTS = {
    "heart_rate": "beats per minute, 30–220 (enter skips)",
    "note": "a few words, if you like (enter skips)",
}


class RatingForm(Vertical):
    """The listener's scales for one phase, stress first. Enter answers a field and goes on;
    after the last one the form posts :class:`RatingForm.Submitted` with the raw answers."""

    DEFAULT_CSS = """
    RatingForm { height: auto; width: 100%; }
    RatingForm .rating-field-label { margin-top: 1; text-style: bold; }
    """

    @dataclass
    class Submitted(Message):
        form: RatingForm
        answers: dict[str, Any]

        @property
        def control(self) -> RatingForm:
            return self.form

    def __init__(self, question: str, scales: tuple[str, ...], *, begins: bool, id: str) -> None:  # noqa: A002
        super().__init__(id=id, classes="rating-prompt")
        self.question = question
        self.scales = scales
        self.begins = begins

    def compose(self) -> ComposeResult:
        last = self.scales[-1]
        for scale in self.scales:
            if scale == "stress":
                yield Label(self.question, classes="rating-question")
                yield Static(SCALE_HINT, classes="muted rating-hint")
                yield StressScale(classes="rating-scale")
                yield self._input_type(scale == last)(
                    placeholder="a whole number, 0–10", max_length=6, classes="rating-input",
                    id="answer-stress")
            elif scale == "vas":
                yield Label("Anxiety now (←/→ to move, shift for tens; enter skips)",
                            classes="rating-field-label")
                yield VasSlider(id="answer-vas")
            elif scale == "stai6":
                yield Label("How you feel right now: 1–4 for each (enter skips all six)",
                            classes="rating-field-label")
                yield StaiItems(id="answer-stai6")
            else:
                yield Label(SCALES[scale].prompt, classes="rating-field-label")
                yield self._input_type(scale == last)(
                    placeholder=_INPUT_HINTS.get(scale, ""), max_length=2000 if scale == "note" else 8,
                    id=f"answer-{scale}")

    def _input_type(self, is_last: bool) -> type[Input]:
        if not is_last:
            return NextInput
        return BeginInput if self.begins else SaveInput

    def focus_input(self) -> None:
        self.query_one(f"#answer-{self.scales[0]}").focus()

    def answers(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for scale in self.scales:
            field = self.query_one(f"#answer-{scale}")
            out[scale] = field.value if not isinstance(field, Input) else field.value.strip()
        return out

    @on(Input.Changed, "#answer-stress")
    def _stress_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.query_one(StressScale).show_typed(event.value)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._advance(event.input)

    @on(Advance)
    def _advanced(self, event: Advance) -> None:
        event.stop()
        self._advance(event.field)

    def _advance(self, field: Widget | None) -> None:
        """Enter in a field: the next field, or (after the last) the answers are submitted."""
        ids = [f"answer-{s}" for s in self.scales]
        at = ids.index(field.id) if field is not None and field.id in ids else len(ids) - 1
        if at + 1 < len(ids):
            # At once, not after the next refresh (Widget.focus): a second enter typed quickly
            # would reach the field just answered and be lost.
            self.screen.set_focus(self.query_one(f"#{ids[at + 1]}"))
            return
        self.post_message(self.Submitted(self, self.answers()))

    def clear(self) -> None:
        """Empty every field (the form is asked again, for another listener)."""
        for field in self.query(Input):
            field.value = ""
        for slider in self.query(VasSlider):
            slider.value = None
        for items in self.query(StaiItems):
            items.answers = [None] * len(STAI6_ITEMS)
            items.refresh()
