"""History: every session with its stress before and after, and what the history says so far."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Label, Static

from companion.core import sessions
from companion.core.models import OUTCOME_IN_PROGRESS, Session
from companion.tui import format as fmt
from companion.tui.screens.base import WorkerScreen
from companion.tui.widgets.bars import TitleBar
from companion.tui.widgets.rating import RatingPrompt


class HistoryScreen(WorkerScreen):
    """The listener's sessions, newest first, under a plain-language headline."""

    BINDINGS = [
        Binding("r", "rate_late", "Rate how you feel now", id="rate-late"),
        Binding("f5", "refresh", "Refresh", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.shown: list[Session] = []  # newest first, as the table shows them

    @dataclass
    class Headline(Message):
        text: str

    def compose(self) -> ComposeResult:
        yield TitleBar("History")
        yield Static("", id="insight", classes="panel insight")
        yield DataTable(id="sessions", cursor_type="row")
        yield Static("", id="history-empty", classes="empty")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one("#sessions", DataTable)
        table.add_columns("Date", "Playlist", "Minutes", "Outcome", "Stress before → after")
        self.refresh_history()

    def on_screen_resume(self) -> None:
        if self.is_mounted:
            self.refresh_history()

    def action_refresh(self) -> None:
        self.refresh_history()

    def refresh_history(self) -> None:
        store = self.app.store  # type: ignore[attr-defined]
        listener = self.app.listener  # type: ignore[attr-defined]
        found = store.sessions(listener=listener)
        self.shown = found[::-1]
        table = self.query_one("#sessions", DataTable)
        row = table.cursor_row
        table.clear()
        for s in self.shown:
            table.add_row(*_row(s), key=str(s.id))
        if self.shown and row:
            table.move_cursor(row=min(row, len(self.shown) - 1))
        self.refresh_bindings()
        table.display = bool(found)
        empty = self.query_one("#history-empty", Static)
        empty.display = not found
        empty.update(
            "No sessions yet. Choose a playlist (p) and listen: your stress before and after "
            "each session will be kept here, on this machine only."
        )
        self.summarize(found)

    def _highlighted(self) -> Session | None:
        row = self.query_one("#sessions", DataTable).cursor_row
        return self.shown[row] if self.shown and 0 <= row < len(self.shown) else None

    @on(DataTable.RowHighlighted, "#sessions")
    def _row_highlighted(self) -> None:
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "rate_late":
            return _can_rate_late(self._highlighted())
        return True

    def action_rate_late(self) -> None:
        """A session that ended without a rating after (interrupted, or skipped): add it now."""
        session = self._highlighted()
        if not _can_rate_late(session):
            return
        assert session is not None

        def rated(value: int | None) -> None:
            if value is None:
                return
            rating = sessions.make_rating("stress", "after", value)
            store = self.app.store  # type: ignore[attr-defined]
            saved, _ = self.core(sessions.rate_late, store, session.id, [rating])
            if saved:
                self.notify("Saved, marked as given later.", title="Rating after")
            self.refresh_history()

        self.app.push_screen(LateRatingScreen(session), rated)

    @work(thread=True, exclusive=True, exit_on_error=False, group="insights")
    def summarize(self, found: list[Session]) -> None:
        """The statistics import scipy: worked out off the UI thread."""
        self.post_message(self.Headline(headline(found)))

    @on(Headline)
    def _headline(self, message: Headline) -> None:
        self.query_one("#insight", Static).update(message.text)


def _can_rate_late(session: Session | None) -> bool:
    return (session is not None and session.outcome != OUTCOME_IN_PROGRESS
            and session.value("after") is None)


class LateRatingScreen(ModalScreen[int | None]):
    """Ask how the person feels now about a session that has no rating after."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    def compose(self) -> ComposeResult:
        s = self.session
        with Vertical(classes="dialog wide-dialog"):
            yield Label("How do you feel now?", classes="dialog-title")
            yield Static(
                f"{s.playlist}, {fmt.date_time(s.started_at)}, "
                f"{fmt.OUTCOME_LABELS.get(s.outcome, s.outcome)}, has no rating after yet. "
                "What you give now is kept, marked as given later.", classes="muted dialog-note",
            )
            yield RatingPrompt("Stress now", begins=False, id="rate-late")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(RatingPrompt).focus_input()

    @on(RatingPrompt.Rated)
    def _rated(self, message: RatingPrompt.Rated) -> None:
        self.dismiss(message.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


def _row(s: Session) -> tuple[str, str, str, str, str]:
    after = s.rating("after")
    stress = fmt.stress_change(s.value("before"), s.value("after"))
    if after is not None and after.late:
        stress += " · given later"
    return (
        fmt.date_time(s.started_at),
        s.playlist,
        f"{s.minutes_listened:.1f}",
        fmt.OUTCOME_LABELS.get(s.outcome, s.outcome),
        stress,
    )


def headline(found: list[Session]) -> str:
    """What the history says so far, in the words of ``companion stats``, and the gentle streak."""
    from companion.core import insights

    if not found:
        return "Your history will show here after your first session."
    lines = [insights.summary_sentence(insights.scale_stats(found, "stress"))]
    per_playlist = {name: st for name, st in insights.group_stats(found, lambda s: s.playlist).items()
                    if st["n"]}
    if len(per_playlist) > 1:
        lines.append("By playlist (mean change in stress, after − before): " + " · ".join(
            f"{name} {fmt.signed(st['mean_change'])} (n={st['n']})"
            for name, st in per_playlist.items()
        ))
    lines.append(insights.streak(found)["text"])
    return "\n".join(lines)
