"""Small modal questions every screen uses: yes/no, a line of text, a choice from a short list."""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from companion.tui import format as fmt


class ConfirmScreen(ModalScreen[bool]):
    """A question answered with ``y`` (yes) or ``n``/escape (no). Untrusted text is escaped."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "No", show=False),
    ]

    def __init__(self, title: str, question: str) -> None:
        super().__init__()
        self.title_text, self.question = title, question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(fmt.escape(self.title_text), classes="dialog-title")
            yield Static(fmt.escape(self.question), classes="dialog-note")
            yield Static("y yes · n no", classes="muted")
        yield Footer(show_command_palette=False)

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class AskScreen(ModalScreen[str | None]):
    """Ask for one line of text (a name, a path, a note); escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, note: str, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.title_text, self.note, self.value, self.placeholder = title, note, value, placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide-dialog"):
            yield Label(fmt.escape(self.title_text), classes="dialog-title")
            if self.note:
                yield Static(fmt.escape(self.note), classes="muted dialog-note")
            yield Input(self.value, placeholder=self.placeholder, id="ask")
            yield Static("enter confirms · escape cancels", classes="muted hint")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#ask", Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if text:
            self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ChooseScreen(ModalScreen[int | None]):
    """Choose one of a few rows (1–9 or enter); dismiss with its index, None on escape."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")] + [
        Binding(str(n), f"pick({n - 1})", str(n), show=False) for n in range(1, 10)
    ]

    def __init__(self, title: str, note: str, rows: Sequence[str]) -> None:
        super().__init__()
        self.title_text, self.note, self.rows = title, note, list(rows)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide-dialog"):
            yield Label(fmt.escape(self.title_text), classes="dialog-title")
            if self.note:
                yield Static(fmt.escape(self.note), classes="muted dialog-note")
            yield OptionList(*[Option(fmt.cell(f"{i}  {r}")) for i, r in enumerate(self.rows, 1)],
                             id="choices")
            yield Static("1–9 or enter chooses · escape cancels", classes="muted hint")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#choices", OptionList).focus()

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option_index)

    def action_pick(self, index: int) -> None:
        if 0 <= index < len(self.rows):
            self.dismiss(index)

    def action_cancel(self) -> None:
        self.dismiss(None)
