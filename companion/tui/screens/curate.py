"""Curate one playlist with keys: move, remove, lock, replace from the best few, re-plan.

Every change goes through ``companion.core.playlists`` (pure functions returning a new
Playlist) and is saved at once, as ``companion playlist move|remove|lock|replace|replan`` do:
there is no unsaved state to lose. Steps larger than the plan's max step are named in the notes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Footer, Static

from companion.core import playlists as core_playlists
from companion.core.models import Playlist, Track
from companion.core.playlists import played_s
from companion.tui import format as fmt
from companion.tui.screens.base import WorkerScreen
from companion.tui.widgets.bars import TitleBar
from companion.tui.widgets.chart import Chart, ChartData, plan_chart
from companion.tui.widgets.dialogs import ChooseScreen
from companion.tui.widgets.table import RowTable

ARC_SAMPLES = 48


def arc_points(pl: Playlist) -> list[tuple[float, float]]:
    """The tempo the playlist's arc asks for over the session (minutes, BPM), to draw behind it;
    the planned tempo of each slot when the arc itself cannot be read."""
    from companion.core.arcs import load_arc
    from companion.core.errors import CompanionError

    m = pl.meta
    start, target, minutes = m.get("start_bpm"), m.get("target_bpm"), m.get("minutes")
    try:
        arc = load_arc(str(pl.arc or m.get("arc_file") or ""))
        if start and target and minutes:
            total = float(minutes)
            return [(total * i / ARC_SAMPLES, arc.bpm_at(i / ARC_SAMPLES, float(start), float(target)))
                    for i in range(ARC_SAMPLES + 1)]
    except (CompanionError, TypeError, ValueError):
        pass
    return [((e.start_s + e.duration_s / 2) / 60.0, e.planned_bpm) for e in pl.entries
            if not e.is_silence and e.planned_bpm]


def plan_chart_of(pl: Playlist) -> ChartData:
    """The playlist's tempo against time with its arc behind (see :func:`plan_chart`)."""
    return plan_chart(pl.entries, arc_points(pl))


class CurateScreen(WorkerScreen):
    """One playlist's entries, with keys that change and save it."""

    help_title = "Curate a playlist"
    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("u", "move(-1)", "Move up", show=False, id="move-up"),
        Binding("d", "move(1)", "Move down", show=False, id="move-down"),
        Binding("x", "remove", "Remove", show=False, id="remove"),
        Binding("delete", "remove", "Remove", show=False),
        Binding("space", "lock", "Lock", show=False, id="lock"),
        Binding("r", "replace", "Replace", id="replace"),
        Binding("a", "replan", "Re-plan", id="replan"),
    ]

    class Replanned(Message):
        def __init__(self, playlist: Playlist | None, error: Exception | None = None) -> None:
            super().__init__()
            self.playlist, self.error = playlist, error

    class Alternatives(Message):
        def __init__(self, index: int, found: list[Track]) -> None:
            super().__init__()
            self.index, self.found = index, found

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name_ = name
        self.playlist = Playlist(name=name, entries=())
        self.busy = False
        self.seed = 0

    def compose(self) -> ComposeResult:
        yield TitleBar("Curate")
        yield Static("", id="curate-meta", classes="muted summary")
        yield Chart(id="curate-chart")
        yield RowTable(id="entries")
        yield Static("", id="curate-notes", classes="muted summary")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#entries", RowTable)
        table.add_columns("#", "Lock", "BPM", "Planned", "Length", "Title")
        ok, pl = self.core(core_playlists.load, self.name_, store=self.app.store)  # type: ignore[attr-defined]
        if ok and pl is not None:
            self.seed = int(pl.meta.get("seed", 0) or 0)
            self.show(pl)
        table.focus()

    # -- state ------------------------------------------------------------------------------

    def show(self, pl: Playlist, cursor: int | None = None) -> None:
        self.playlist = pl
        table = self.query_one("#entries", RowTable)
        row = table.cursor_row if cursor is None else cursor
        table.clear()
        for i, e in enumerate(pl.entries, start=1):
            if e.is_silence:
                table.add_row(str(i), "", "", "", fmt.clock(e.silence_s), "· silence ·")
                continue
            table.add_row(str(i), "lock" if e.locked else "", fmt.bpm(e.used_bpm or e.bpm),
                          fmt.bpm(e.planned_bpm), fmt.clock(e.duration_s), fmt.cell(e.display_name))
        if pl.entries:
            table.move_cursor(row=min(max(row, 0), len(pl.entries) - 1))
        self.query_one("#curate-meta", Static).update(fmt.escape(
            f"{pl.name} · {pl.arc or 'no arc'} · {fmt.count(len(pl.tracks), 'track')} · "
            f"{fmt.clock(played_s(pl))} · {fmt.tempo_span(pl)}"))
        self.query_one("#curate-chart", Chart).set_data(plan_chart_of(pl))
        notes = "\n".join(pl.notes) or "u/d move · x removes · space locks · r replaces · a re-plans · ? keys"
        self.query_one("#curate-notes", Static).update(fmt.escape(notes))
        self.refresh_bindings()

    def _index(self) -> int | None:
        row = self.query_one("#entries", RowTable).cursor_row
        return row if self.playlist.entries and 0 <= row < len(self.playlist.entries) else None

    def _change(self, edit: Callable[..., Playlist], *args: Any, cursor: int | None = None) -> None:
        """Apply a core curation function to the playlist, save it, show it."""
        ok, pl = self.core(lambda: _saved(edit(self.playlist, *args)))
        if ok and pl is not None:
            self.show(pl, cursor)

    @on(RowTable.RowHighlighted, "#entries")
    def _row_highlighted(self) -> None:
        self.refresh_bindings()

    # -- actions ----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back":
            return True
        if self.busy:
            return False
        i = self._index()
        if action in ("lock", "replace"):
            return i is not None and not self.playlist.entries[i].is_silence
        if action in ("move", "remove"):
            return i is not None
        return True

    def action_back(self) -> None:
        self.dismiss(None)

    def action_move(self, delta: int) -> None:
        i = self._index()
        if i is not None:
            self._change(core_playlists.move, i, delta,
                         cursor=min(max(i + delta, 0), len(self.playlist.entries) - 1))

    def action_remove(self) -> None:
        i = self._index()
        if i is not None:
            self._change(core_playlists.remove, i, cursor=i)

    def action_lock(self) -> None:
        i = self._index()
        if i is None:
            return
        fn = core_playlists.unlock if self.playlist.entries[i].locked else core_playlists.lock
        self._change(fn, i, cursor=i)

    def action_replace(self) -> None:
        i = self._index()
        if i is not None:
            self.busy = True
            self.refresh_bindings()
            self.find_alternatives(i)

    def action_replan(self) -> None:
        """Plan again around the locked tracks, with another seed each time: another plan."""
        self.busy = True
        self.seed += 1
        self.refresh_bindings()
        self.query_one("#curate-notes", Static).update("re-planning around the locked tracks…")
        self.replan(self.seed)

    # -- workers ----------------------------------------------------------------------------

    def _library(self) -> list[Track]:
        """The tracks this playlist was built from (the demo left out as it was)."""
        return core_playlists.library_for(self.playlist, self.app.store)  # type: ignore[attr-defined]

    @work(thread=True, exclusive=True, exit_on_error=False, group="curate")
    def find_alternatives(self, index: int) -> None:
        try:
            found = core_playlists.replace_candidates(self._library(), self.playlist, index, k=5)
        except Exception:
            self.post_message(self.Alternatives(index, []))
            raise
        self.post_message(self.Alternatives(index, found))

    @work(thread=True, exclusive=True, exit_on_error=False, group="curate")
    def replan(self, seed: int) -> None:
        from companion.core.errors import CompanionError

        try:
            pl = _saved(core_playlists.replan_around_locks(self.playlist, self._library(), seed=seed))
        except CompanionError as exc:
            self.post_message(self.Replanned(None, exc))
            return
        except BaseException:
            self.post_message(self.Replanned(None))
            raise
        self.post_message(self.Replanned(pl))

    @on(Replanned)
    def _replanned(self, message: Replanned) -> None:
        self.busy = False
        if message.playlist is not None:
            self.show(message.playlist, 0)
            self.notify(f"Another plan (seed {self.seed}), locked tracks kept.", title="Re-planned")
        else:
            self.show(self.playlist)
            if message.error is not None:
                self.notify(fmt.escape(getattr(message.error, "reason", str(message.error))),
                            title="Could not re-plan", severity="error", timeout=10)

    @on(Alternatives)
    def _alternatives(self, message: Alternatives) -> None:
        self.busy = False
        self.refresh_bindings()
        i, found = message.index, message.found
        if not found:
            self.notify("No track of your library fits here within the max step; remove this one "
                        "or scan more music.", severity="warning")
            return
        rows = [f"{fmt.bpm(t.bpm):>4} BPM  {fmt.clock(t.duration_s):>5}  {t.display_name}" for t in found]

        def chosen(k: int | None) -> None:
            if k is not None:
                self._change(core_playlists.replace, i, found[k], cursor=i)

        entry = self.playlist.entries[i]
        self.app.push_screen(ChooseScreen(
            f"Replace track {i + 1}", f"Instead of {entry.display_name} "
            f"({fmt.bpm(entry.used_bpm or entry.bpm)} BPM), the best fits for this place:", rows,
        ), chosen)


def _saved(pl: Playlist) -> Playlist:
    core_playlists.save(pl)
    return pl
