"""History: every session with its stress before and after, a chart of them over time, and what
the history says so far — per arc too, with the honesty of ``companion stats``: no arc is called
the one that helps most unless each has enough sessions and their intervals say so.

Filters (``f`` playlist, ``a`` arc) narrow the table, the chart and the statistics alike; notes
(``n``) are kept as the session's note; ``x`` exports what is shown through the core's export.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, Static

from companion.core import sessions
from companion.core.models import OUTCOME_IN_PROGRESS, Session
from companion.tui import format as fmt
from companion.tui.screens.base import WorkerScreen
from companion.tui.widgets.bars import TitleBar
from companion.tui.widgets.chart import Chart, ChartData, Series
from companion.tui.widgets.dialogs import AskScreen
from companion.tui.widgets.rating import RatingPrompt
from companion.tui.widgets.table import RowTable

ALL = None  # no filter


class HistoryScreen(WorkerScreen):
    """The listener's sessions, newest first, under a chart and a plain-language headline."""

    help_title = "History"
    BINDINGS = [
        Binding("r", "rate_late", "Rate now", id="rate-late"),
        Binding("n", "note", "Note", id="note"),
        Binding("f", "filter('playlist')", "Playlist filter", id="filter-playlist"),
        Binding("a", "filter('arc')", "Arc filter", show=False, id="filter-arc"),
        Binding("x", "export", "Export", show=False, id="export"),
        Binding("i", "import_history", "Import", show=False, id="import"),
        Binding("ctrl+l", "listeners", "Listeners", show=False, id="listeners"),
        Binding("f5", "refresh", "Refresh", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.found: list[Session] = []  # every session of the listener, oldest first
        self.shown: list[Session] = []  # the filtered ones, newest first, as the table shows them
        self.filters: dict[str, str | None] = {"playlist": ALL, "arc": ALL}

    @dataclass
    class Headline(Message):
        text: str

    def compose(self) -> ComposeResult:
        yield TitleBar("History")
        yield Static("", id="history-filters", classes="muted summary")
        yield Chart(id="history-chart")
        yield Static("", id="insight", classes="insight")
        yield RowTable(id="sessions")
        yield Static("", id="session-note", classes="muted summary")
        yield Static("", id="history-empty", classes="empty")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one("#sessions", RowTable)
        table.add_columns("Date", "Playlist", "Min", "Outcome", "Stress before → after", "Note")
        self.refresh_history()

    def on_screen_resume(self) -> None:
        if self.is_mounted:
            self.refresh_history()

    def action_refresh(self) -> None:
        self.refresh_history()

    def refresh_history(self) -> None:
        store = self.app.store  # type: ignore[attr-defined]
        listener = self.app.listener  # type: ignore[attr-defined]
        self.found = store.sessions(listener=listener)
        from companion.core.insights import filter_sessions

        selected = filter_sessions(self.found, playlist=self.filters["playlist"], arc=self.filters["arc"])
        self.shown = selected[::-1]
        table = self.query_one("#sessions", RowTable)
        row = table.cursor_row
        table.clear()
        for s in self.shown:
            table.add_row(*_row(s), key=str(s.id))
        if self.shown and row:
            table.move_cursor(row=min(row, len(self.shown) - 1))
        self.refresh_bindings()
        has = bool(self.found)
        for widget in ("#sessions", "#history-chart", "#history-filters", "#session-note"):
            self.query_one(widget).display = has
        empty = self.query_one("#history-empty", Static)
        empty.display = not has
        empty.update(
            "No sessions yet. Choose a playlist (p) and listen: your stress before and after "
            "each session will be kept here, on this machine only."
        )
        self.query_one("#history-filters", Static).update(fmt.escape(self._filter_text(selected)))
        self.query_one("#history-chart", Chart).set_data(stress_chart(selected))
        self._show_note()
        self.summarize(selected)

    def _filter_text(self, selected: list[Session]) -> str:
        playlist, arc = self.filters["playlist"] or "all", self.filters["arc"] or "all"
        return (f"{fmt.count(len(selected), 'session')} · playlist: {playlist} (f) · arc: {arc} (a)")

    def _highlighted(self) -> Session | None:
        row = self.query_one("#sessions", RowTable).cursor_row
        return self.shown[row] if self.shown and 0 <= row < len(self.shown) else None

    def _show_note(self) -> None:
        s = self._highlighted()
        note = s.rating("after", "note") or s.rating("before", "note") if s else None
        self.query_one("#session-note", Static).update(
            fmt.escape(f"note: {note.text}") if note else "n adds a note to the highlighted session")

    @on(RowTable.RowHighlighted, "#sessions")
    def _row_highlighted(self) -> None:
        self._show_note()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "rate_late":
            return _can_rate_late(self._highlighted())
        if action == "note":
            s = self._highlighted()
            return s is not None and s.outcome != OUTCOME_IN_PROGRESS
        if action in ("filter", "export"):
            return bool(self.found)
        return True

    # -- actions ----------------------------------------------------------------------------

    def action_filter(self, key: str) -> None:
        """Cycle the playlist (or arc) filter through all, then each one in the history."""
        values = sorted({(s.playlist if key == "playlist" else s.arc) or "" for s in self.found})
        cycle: list[str | None] = [ALL, *values]
        now = self.filters[key]
        self.filters[key] = cycle[(cycle.index(now) + 1) % len(cycle)] if now in cycle else ALL
        self.query_one("#sessions", RowTable).move_cursor(row=0)
        self.refresh_history()

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

    def action_note(self) -> None:
        """Write (or rewrite) the session's note: kept with its ratings, exported with them."""
        session = self._highlighted()
        if session is None:
            return
        old = session.rating("after", "note")

        def written(text: str | None) -> None:
            if text is None:
                return
            store = self.app.store  # type: ignore[attr-defined]
            ok, _ = self.core(lambda: sessions.rate_late(
                store, session.id, [sessions.make_rating("note", "after", text)], replace_existing=True))
            if ok:
                self.notify("Note saved.")
            self.refresh_history()

        self.app.push_screen(AskScreen(
            f"Note · {session.playlist}, {fmt.date_time(session.started_at)}",
            "A few words for later: how it went, what was going on.",
            value=old.text if old else "",
        ), written)

    def action_export(self) -> None:
        """Write the sessions shown (as filtered) to a CSV or JSON file readable by you only."""
        selected = self.shown[::-1]

        def chosen(target: str | None) -> None:
            if not target:
                return
            ok, path = self.core(_export, selected, target)
            if ok:
                self.notify(fmt.escape(f"{fmt.count(len(selected), 'session')} written to {path}"),
                            title="Exported")

        self.app.push_screen(AskScreen(
            "Export the history shown",
            "A .csv or .json file, readable by you only (the filters apply).",
            value=str(Path.home() / "companion-history.csv"),
        ), chosen)

    def action_import_history(self) -> None:
        """Restore a history export (CSV or JSON) into this listener's sessions, as
        ``companion history import FILE`` does: sessions already here are left as they were."""

        def chosen(source: str | None) -> None:
            if source:
                self.import_file(str(Path(source).expanduser()))

        self.app.push_screen(AskScreen(
            "Import a history export",
            "A .csv or .json file written by export (x) or `companion history`. Sessions already "
            "here are left as they were.",
            value=str(Path.home() / "companion-history.csv"),
        ), chosen)

    @dataclass
    class Imported(Message):
        source: str
        added: int = 0
        skipped: int = 0
        error: str = ""

    @work(thread=True, exclusive=True, exit_on_error=False, group="import")
    def import_file(self, source: str) -> None:
        """Read and store the file off the UI thread: a large export takes a moment."""
        from companion.core.errors import CompanionError

        try:
            added, skipped = sessions.import_history(
                self.app.store, source, listener=self.app.listener)  # type: ignore[attr-defined]
        except CompanionError as exc:
            self.post_message(self.Imported(source, error=str(exc)))
            return
        self.post_message(self.Imported(source, added, skipped))

    @on(Imported)
    def _imported(self, message: Imported) -> None:
        if message.error:
            self.notify(fmt.escape(message.error), title="Could not import", severity="error", timeout=10)
            return
        text = f"{fmt.count(message.added, 'session')} imported from {message.source}"
        if message.skipped:
            text += f"; {message.skipped} already here, left as they were"
        self.notify(fmt.escape(text + "."), title="Imported")
        self.refresh_history()

    def action_listeners(self) -> None:
        """Who listens here: the scales each is asked, and forgetting one (typed confirmation)."""
        from companion.tui.screens.listeners import ListenersScreen

        self.app.push_screen(ListenersScreen(), lambda _: self.refresh_history())

    @work(thread=True, exclusive=True, exit_on_error=False, group="insights")
    def summarize(self, found: list[Session]) -> None:
        """The statistics import scipy: worked out off the UI thread."""
        self.post_message(self.Headline(headline(found)))

    @on(Headline)
    def _headline(self, message: Headline) -> None:
        self.query_one("#insight", Static).update(fmt.escape(message.text))


def _export(selected: list[Session], target: str) -> Path:
    """The sessions as CSV (or JSON for a .json name), owner-only, as ``history --output`` writes."""
    from companion.core.safefile import write_file

    fmt_name = "json" if target.lower().endswith(".json") else "csv"
    return write_file(target, sessions.export_history(selected, fmt_name), private=True)


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
                fmt.escape(f"{s.playlist}, {fmt.date_time(s.started_at)}, "
                           f"{fmt.OUTCOME_LABELS.get(s.outcome, s.outcome)}, has no rating after yet. "
                           "What you give now is kept, marked as given later."),
                classes="muted dialog-note",
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


def _row(s: Session) -> tuple[Any, ...]:
    after = s.rating("after")
    stress = fmt.stress_change(s.value("before"), s.value("after"))
    if after is not None and after.late:
        stress += " · given later"
    note = s.rating("after", "note") or s.rating("before", "note")
    return (
        fmt.date_time(s.started_at),
        fmt.cell(s.playlist),
        fmt.clock(s.minutes_listened * 60),
        fmt.OUTCOME_LABELS.get(s.outcome, s.outcome),
        stress,
        fmt.cell(" ".join(note.text.split())[:40] if note else ""),
    )


#: Sessions the chart shows at most: one column each at 80 columns.
CHART_SESSIONS = 70


def stress_chart(found: list[Session]) -> ChartData:
    """Stress before (○) and after (●) each session, oldest on the left, on the 0–10 scale; the
    most recent :data:`CHART_SESSIONS` when there are more (each keeps its own column)."""
    before, after = [], []
    recent = found[-CHART_SESSIONS:]
    for i, s in enumerate(recent, start=len(found) - len(recent) + 1):
        b, a = s.value("before"), s.value("after")
        if b is not None:
            before.append((float(i), b))
        if a is not None:
            after.append((float(i), a))
    return ChartData(series=(Series("before", tuple(before), mark="○", style="#d08770"),
                             Series("after", tuple(after), mark="●", style="bold #88c0d0")),
                     y_range=(0.0, 10.0),
                     x_label=(f"→ the last {len(recent)} sessions" if len(recent) < len(found)
                              else "→ sessions, oldest first") + " (stress 0–10)")


def headline(found: list[Session]) -> str:
    """What the history says so far, in the words of ``companion stats``, per arc, and the streak."""
    from companion.core import insights

    if not found:
        return "Your history will show here after your first session."
    lines = [insights.summary_sentence(insights.scale_stats(found, "stress"))]
    lines.append(arc_comparison(insights.group_stats(found, lambda s: s.arc or "(no arc)")))
    lines.append(insights.streak(found)["text"])
    return "\n".join(line for line in lines if line)


def arc_comparison(per_arc: dict[str, dict[str, Any]]) -> str:
    """Which arc helps you most, only as far as the numbers allow.

    Each arc's mean change is shown with its n. An arc is named as the one where stress fell most
    only when at least two arcs have ``SMALL_N`` paired sessions each; and it is said to stand
    apart only when its 95 % interval does not overlap the next one's. Never a cause: these are
    before/after changes without a comparison.
    """
    from companion.core.insights import SMALL_N

    rated = {name: st for name, st in per_arc.items() if st["n"]}
    if len(rated) < 2:
        return ""
    parts = [f"{name} {fmt.signed(st['mean_change'])} (n={st['n']}{', few' if st['n'] < SMALL_N else ''})"
             for name, st in sorted(rated.items(), key=lambda kv: kv[1]["mean_change"])]
    text = "By arc (mean change, after − before): " + " · ".join(parts) + ". "
    enough = {n: st for n, st in rated.items() if st["n"] >= SMALL_N and st["ci95"] is not None}
    if len(enough) < 2:
        return text + f"Too few sessions per arc (fewer than {SMALL_N}) to say which helps you most."
    (best, b), (_, second) = sorted(enough.items(), key=lambda kv: kv[1]["mean_change"])[:2]
    if b["mean_change"] >= 0:
        return text + "Stress did not fall on average with any arc so far."
    if b["ci95"][1] < second["ci95"][0]:
        return text + (f"So far stress fell most with {best}, and the 95 % intervals do not overlap; "
                       "without a comparison this shows a difference, not a cause.")
    return text + (f"{best} shows the largest fall so far, but the 95 % intervals overlap: "
                   "the difference could be chance.")
