"""History: every session with its stress before and after, and what the history says so far."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Footer, Static

from companion.core.models import Session
from companion.tui import format as fmt
from companion.tui.screens.base import WorkerScreen
from companion.tui.widgets.bars import TitleBar


class HistoryScreen(WorkerScreen):
    """The listener's sessions, newest first, under a plain-language headline."""

    BINDINGS = [Binding("r", "refresh", "Refresh", show=False)]

    @dataclass
    class Headline(Message):
        text: str

    def compose(self) -> ComposeResult:
        yield TitleBar("History")
        yield Static("", id="insight", classes="panel insight")
        yield DataTable(id="sessions", cursor_type="row")
        yield Static("", id="history-empty", classes="empty")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#sessions", DataTable)
        table.add_column("Date", key="date")
        table.add_column("Playlist", key="playlist")
        table.add_column("Minutes", key="minutes")
        table.add_column("Outcome", key="outcome")
        table.add_column("Stress before → after", key="stress")
        self.refresh_history()

    def on_screen_resume(self) -> None:
        if self.is_mounted:
            self.refresh_history()

    def action_refresh(self) -> None:
        self.refresh_history()

    def refresh_history(self) -> None:
        store = self.app.store  # type: ignore[attr-defined]
        listener = self.app.listener  # type: ignore[attr-defined]
        sessions = store.sessions(listener=listener)
        table = self.query_one("#sessions", DataTable)
        table.clear()
        for s in reversed(sessions):
            table.add_row(*_row(s), key=str(s.id))
        table.display = bool(sessions)
        empty = self.query_one("#history-empty", Static)
        empty.display = not sessions
        empty.update(
            "No sessions yet. Choose a playlist (p) and listen: your stress before and after "
            "each session will be kept here, on this machine only."
        )
        self.summarize(sessions)

    @work(thread=True, exclusive=True, exit_on_error=False, group="insights")
    def summarize(self, sessions: list[Session]) -> None:
        """The statistics import scipy: worked out off the UI thread."""
        self.post_message(self.Headline(headline(sessions)))

    @on(Headline)
    def _headline(self, message: Headline) -> None:
        self.query_one("#insight", Static).update(message.text)


def _row(s: Session) -> tuple[str, str, str, str, str]:
    return (
        fmt.date_time(s.started_at),
        s.playlist,
        f"{s.minutes_listened:.1f}",
        fmt.OUTCOME_LABELS.get(s.outcome, s.outcome),
        fmt.stress_change(s.value("before"), s.value("after")),
    )


def headline(sessions: list[Session]) -> str:
    """What the history says so far, in the words of ``companion stats``, and the gentle streak."""
    from companion.core import insights

    if not sessions:
        return "Your history will show here after your first session."
    summary = insights.summary_sentence(insights.scale_stats(sessions, "stress"))
    return f"{summary}\n{insights.streak(sessions)['text']}"
