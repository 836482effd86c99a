"""The title line at the top of every screen and the panel that shows a background job."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, ProgressBar, Static

from companion.tui import format as fmt


class TitleBar(Horizontal):
    """``companion · <screen>`` on the left, the listener on the right."""

    def __init__(self, screen_name: str) -> None:
        super().__init__(classes="title-bar")
        self.screen_name = screen_name

    def compose(self) -> ComposeResult:
        yield Static(f"[b]companion[/b] · {self.screen_name}", classes="title-left")
        yield Static("", classes="title-right")

    def on_mount(self) -> None:
        listener = getattr(self.app, "listener", "")
        self.query_one(".title-right", Static).update(f"listener: {fmt.escape(listener)}")


class JobPanel(Vertical):
    """What a background job is doing, with a progress bar. Hidden while idle."""

    def __init__(self, *, id: str) -> None:  # noqa: A002 - Textual's own name
        super().__init__(id=id, classes="job-panel")
        self.display = False

    def compose(self) -> ComposeResult:
        yield Label("", classes="job-title")
        yield ProgressBar(total=None, show_eta=False, classes="job-bar")
        yield Label("", classes="job-detail")

    def start(self, title: str) -> None:
        self.query_one(".job-title", Label).update(title)
        self.query_one(".job-detail", Label).update("starting…")
        self.query_one(ProgressBar).update(total=None, progress=0)
        self.display = True

    def advance(self, fraction: float | None, text: str) -> None:
        bar = self.query_one(ProgressBar)
        if fraction is None:
            bar.update(total=None)
        else:
            bar.update(total=100, progress=round(fraction * 100, 1))
        if text:  # file names from a scan: data, never markup
            self.query_one(".job-detail", Label).update(fmt.escape(text))

    def finish(self) -> None:
        self.display = False
