"""Small choices asked from the Session screen: who is listening, and which sound output."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option


class ListenerScreen(ModalScreen[str | None]):
    """Type a name (a new listener) or pick one; escape keeps the listener."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]
    DEFAULT_CSS = """
    ListenerScreen > Vertical { width: 60; max-width: 100%; height: auto; padding: 1 2;
                                border: round $accent; background: $surface; }
    ListenerScreen OptionList { height: auto; max-height: 8; margin-top: 1; }
    """

    def __init__(self, current: str, known: list[str]) -> None:
        super().__init__()
        self.current = current
        self.known = known

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Who is listening?", classes="rating-question")
            yield Static("Each listener's sessions, scales and settings are kept apart.",
                         classes="muted")
            yield Input(value=self.current, placeholder="a name", max_length=64, id="listener-name")
            if self.known:
                yield OptionList(*[Option(name, id=name) for name in self.known], id="listeners")

    @on(Input.Submitted)
    def _typed(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(str(event.option.id))


class DeviceScreen(ModalScreen[str | None]):
    """The sound outputs PortAudio sees; enter plays on the one highlighted."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]
    DEFAULT_CSS = """
    DeviceScreen > Vertical { width: 70; max-width: 100%; height: auto; padding: 1 2;
                              border: round $accent; background: $surface; }
    DeviceScreen OptionList { height: auto; max-height: 12; margin-top: 1; }
    """

    def __init__(self, devices: list[tuple[str, str]]) -> None:
        super().__init__()
        self.devices = devices  # (index as text, name)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Play on which output?", classes="rating-question")
            yield OptionList(*[Option(f"{name}  ({index})", id=index) for index, name in self.devices],
                             id="devices")

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(str(event.option.id))
