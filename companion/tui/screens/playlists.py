"""Home: the listener's playlists, the way into a session, building a new playlist.

On the first run, with an empty library, the bundled demo library is synthesised here in a thread
worker with its progress on screen, so one command opens the app on music ready to play.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Footer, Static
from textual.worker import get_current_worker

from companion.core.models import Playlist
from companion.core.playlists import crossfade_of, list_playlists, played_s
from companion.tui import format as fmt
from companion.tui.progress import Progress, progress_callback
from companion.tui.screens.base import WorkerScreen
from companion.tui.screens.build import BuildScreen
from companion.tui.widgets.arc import TempoArc
from companion.tui.widgets.bars import JobPanel, TitleBar


class PlaylistsScreen(WorkerScreen):
    """Choose a playlist to listen to, or build a new one."""

    BINDINGS = [
        Binding("enter", "listen", "Listen", priority=True, id="listen"),
        Binding("b", "build", "Build new", id="build"),
        Binding("d", "demo", "Create demo library", id="demo"),
        Binding("r", "refresh", "Refresh", show=False),
    ]

    @dataclass
    class DemoFinished(Message):
        """The demo library worker ended; ``error`` says why when it failed."""

        ok: bool
        error: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.playlists: list[Playlist] = []
        self.track_count = 0
        self.demo_running = False
        self.demo_error = ""  # why the last demo attempt failed, shown until one succeeds

    def compose(self) -> ComposeResult:
        yield TitleBar("Playlists")
        yield JobPanel(id="demo-panel")
        with Horizontal(id="playlists-body"):
            with Vertical(id="playlists-left"):
                yield DataTable(id="playlists", cursor_type="row", zebra_stripes=False)
                yield Static("", id="playlists-empty", classes="empty")
            with Vertical(id="playlist-detail", classes="panel"):
                yield Static("", id="detail-meta", classes="muted")
                yield TempoArc(id="detail-arc")
                yield DataTable(id="detail-tracks", cursor_type="none", show_cursor=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#playlists", DataTable)
        table.border_title = "Your playlists"
        table.add_columns("Playlist", "Length", "BPM", "Arc")
        detail = self.query_one("#detail-tracks", DataTable)
        detail.add_columns("#", "BPM", "Length", "Title")
        self.refresh_playlists()
        if self.track_count == 0 and getattr(self.app, "auto_demo", True):
            self.action_demo()

    def on_screen_resume(self) -> None:
        if self.is_mounted and not self.demo_running:
            self.refresh_playlists()

    # -- state ------------------------------------------------------------------------------

    def refresh_playlists(self, select: str | None = None) -> None:
        """Read the playlists and the library size again and show them."""
        self.track_count = self.app.store.track_count()  # type: ignore[attr-defined]
        self.playlists = list_playlists()
        table = self.query_one("#playlists", DataTable)
        current = select or self._selected_name()
        table.clear()
        for p in self.playlists:
            table.add_row(
                p.name, fmt.clock(played_s(p)), fmt.tempo_span(p, unit=False), p.arc or "–",
                key=p.name,
            )
        names = [p.name for p in self.playlists]
        if current in names:
            table.move_cursor(row=names.index(current))
        self._show_empty_state()
        self._show_detail()
        self.refresh_bindings()

    def _selected(self) -> Playlist | None:
        table = self.query_one("#playlists", DataTable)
        if not self.playlists or table.cursor_row is None:
            return None
        row = table.cursor_row
        return self.playlists[row] if 0 <= row < len(self.playlists) else None

    def _selected_name(self) -> str | None:
        p = self._selected()
        return p.name if p else None

    def _show_empty_state(self) -> None:
        empty = self.query_one("#playlists-empty", Static)
        table = self.query_one("#playlists", DataTable)
        has = bool(self.playlists)
        table.display = has
        empty.display = not has
        if self.demo_running:
            empty.update("Preparing the demo library. Your playlists will appear here.")
        elif self.track_count == 0:
            failed = (f"The demo library could not be created: {self.demo_error}\n\n"
                      if self.demo_error else "")
            empty.update(
                failed + "There is no music in your library yet.\n\n"
                "Press [b]d[/b] to create the bundled demo library, or [b]l[/b] to scan a folder "
                "of your own music."
            )
        else:
            empty.update(
                f"{self.track_count} tracks in your library and no playlists yet.\n\n"
                "Press [b]b[/b] to build one: choose an arc, a start and a target tempo, "
                "and how long you want to listen."
            )

    def _show_detail(self) -> None:
        p = self._selected()
        panel = self.query_one("#playlist-detail")
        panel.display = p is not None
        if p is None:
            return
        panel.border_title = p.name
        xf = crossfade_of(p)  # what the session will play with
        meta = [f"{p.arc or 'no arc'} · {len(p.tracks)} tracks · {fmt.clock(played_s(p))} · "
                f"{fmt.tempo_span(p)}",
                "gapless" if xf == 0 else f"{xf:g} s crossfades · {fmt.clock(p.total_s)} of music"]
        meta += list(p.notes)
        self.query_one("#detail-meta", Static).update("\n".join(meta))
        self.query_one("#detail-arc", TempoArc).set_playlist(p)
        tracks = self.query_one("#detail-tracks", DataTable)
        tracks.clear()
        n = 0
        for e in p.entries:
            if e.is_silence:
                tracks.add_row("", "", fmt.clock(e.silence_s), "· silence ·")
                continue
            n += 1
            tracks.add_row(str(n), fmt.bpm(e.used_bpm or e.bpm), fmt.clock(e.duration_s),
                           e.display_name)

    @on(DataTable.RowHighlighted, "#playlists")
    def _row_highlighted(self) -> None:
        self._show_detail()

    @on(DataTable.RowSelected, "#playlists")
    def _row_selected(self) -> None:
        self.action_listen()

    # -- actions ----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "listen":
            return bool(self.playlists) and not self.demo_running
        if action == "demo":
            return self.track_count == 0 and not self.demo_running
        if action == "build":
            return not self.demo_running
        return True

    def action_listen(self) -> None:
        from companion.tui.screens.session import SessionScreen

        playlist = self._selected()
        if playlist is None:
            return
        if not playlist.tracks:
            self.notify(f"{playlist.name} has no tracks to play", severity="warning")
            return
        self.app.push_screen(SessionScreen(playlist))

    def action_refresh(self) -> None:
        self.refresh_playlists()

    def action_build(self) -> None:
        def built(playlist: Playlist | None) -> None:
            if playlist is not None:
                self.refresh_playlists(select=playlist.name)
                # The planner's notes are in the detail panel beside the list.
                self.notify(f"{playlist.name}: {len(playlist.tracks)} tracks, "
                            f"{fmt.clock(played_s(playlist))}, {fmt.tempo_span(playlist)}",
                            title="Playlist built")

        self.app.push_screen(BuildScreen(), built)

    def action_demo(self) -> None:
        self.demo_running = True
        self.query_one("#demo-panel", JobPanel).start(
            "Setting up the bundled demo library: calm pieces synthesised on this machine, "
            "then analysed. This happens once."
        )
        self._show_empty_state()
        self.refresh_bindings()
        self.create_demo()

    # -- workers ----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="demo")
    def create_demo(self) -> None:
        worker = get_current_worker()
        try:
            from companion.core.demo import ensure_demo

            progress = progress_callback("demo", self.post_message,
                                         cancelled=lambda: worker.is_cancelled)
            ensure_demo(self.app.store, progress=progress)  # type: ignore[attr-defined]
            self.post_message(self.DemoFinished(ok=True))
        except BaseException as exc:
            self.post_message(self.DemoFinished(ok=False, error=str(exc)))
            raise

    @on(Progress)
    def _progress(self, message: Progress) -> None:
        if message.key == "demo":
            self.query_one("#demo-panel", JobPanel).advance(message.fraction, message.text)

    @on(DemoFinished)
    def _demo_finished(self, message: DemoFinished) -> None:
        self.demo_running = False
        self.demo_error = message.error
        self.query_one("#demo-panel", JobPanel).finish()
        self.refresh_playlists(select="demo")
        if message.ok:
            self.notify(
                f"The demo library is ready: {self.track_count} tracks and the playlist 'demo'. "
                "Press enter to listen.",
                title="Ready",
            )
