"""Asking for a stress rating: the question, the scale 0–10 and an input for the number."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Input, Label, Static

from companion.core.errors import UserInputError
from companion.core.sessions import STRESS_MAX, STRESS_MIN, parse_stress

SCALE_HINT = "0 = completely calm … 10 = the most stressed you can imagine"


class StressScale(Static):
    """The numbers 0–10 in a row, the one typed so far lit."""

    value: reactive[int | None] = reactive(None)

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


class RatingPrompt(Vertical):
    """A question, the 0–10 scale and an input; posts :class:`RatingPrompt.Rated` when valid.

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
        try:
            value: int | None = parse_stress(event.value) if event.value.strip() else None
        except UserInputError:
            value = None
        self.query_one(StressScale).value = value

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
