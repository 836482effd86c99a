"""Home: the listener's playlists, the way into a session, building, curating and filing them.

On the first run, with an empty library, the bundled demo library is synthesised here in a thread
worker with its progress on screen, so one command opens the app on music ready to play.

Renaming, copying, exporting, importing and deleting call ``companion.core.playlists`` as the
``playlist`` verbs of the command line do; curation happens in :class:`CurateScreen`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from companion.core import playlists as core_playlists
from companion.core.models import Playlist
from companion.core.playlists import crossfade_of, list_playlists, played_s
from companion.tui import format as fmt
from companion.tui.progress import Progress, progress_callback
from companion.tui.screens.base import WorkerScreen
from companion.tui.screens.build import BuildScreen
from companion.tui.screens.curate import CurateScreen, plan_chart_of
from companion.tui.widgets.bars import JobPanel, TitleBar
from companion.tui.widgets.chart import Chart
from companion.tui.widgets.dialogs import AskScreen, ConfirmScreen
from companion.tui.widgets.table import RowTable

#: Actions that need a playlist under the cursor.
_ON_SELECTED = {"listen", "curate", "rename", "duplicate", "export", "delete"}


class PlaylistsScreen(WorkerScreen):
    """Choose a playlist to listen to; build, curate, rename, copy, export, import or delete."""

    BINDINGS = [
        Binding("enter", "listen", "Listen", priority=True, id="listen"),
        Binding("b", "build", "Build", id="build"),
        Binding("c", "curate", "Curate", id="curate"),
        Binding("n", "rename", "Rename", show=False, id="rename"),
        Binding("y", "duplicate", "Copy", show=False, id="duplicate"),
        Binding("e", "export", "Export", show=False, id="export"),
        Binding("i", "import", "Import", show=False, id="import"),
        Binding("x", "delete", "Delete", show=False, id="delete"),
        Binding("delete", "delete", "Delete", show=False),
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
                yield RowTable(id="playlists")
                yield Static("", id="playlists-empty", classes="empty")
            with Vertical(id="playlist-detail", classes="panel"):
                yield Static("", id="detail-meta", classes="muted")
                yield Chart(id="detail-chart")
                yield RowTable(id="detail-tracks")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one("#playlists", RowTable)
        table.border_title = "Your playlists"
        table.add_columns("Playlist", "Length", "BPM")  # the arc: in the panel beside it
        detail = self.query_one("#detail-tracks", RowTable)
        detail.cursor_type = "none"
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
        table = self.query_one("#playlists", RowTable)
        current = select or self._selected_name()
        table.clear()
        for p in self.playlists:
            table.add_row(
                fmt.cell(p.name), fmt.clock(played_s(p)), fmt.tempo_span(p, unit=False), key=p.name,
            )
        names = [p.name for p in self.playlists]
        if current in names:
            table.move_cursor(row=names.index(current))
        self._show_empty_state()
        self._show_detail()
        self.refresh_bindings()

    def _selected(self) -> Playlist | None:
        table = self.query_one("#playlists", RowTable)
        if not self.playlists or table.cursor_row is None:
            return None
        row = table.cursor_row
        return self.playlists[row] if 0 <= row < len(self.playlists) else None

    def _selected_name(self) -> str | None:
        p = self._selected()
        return p.name if p else None

    def _show_empty_state(self) -> None:
        empty = self.query_one("#playlists-empty", Static)
        table = self.query_one("#playlists", RowTable)
        has = bool(self.playlists)
        table.display = has
        empty.display = not has
        if self.demo_running:
            empty.update("Preparing the demo library. Your playlists will appear here.")
        elif self.track_count == 0:
            failed = (f"The demo library could not be created: {fmt.escape(self.demo_error)}\n\n"
                      if self.demo_error else "")
            empty.update(
                failed + "There is no music in your library yet.\n\n"
                "Press [b]d[/b] to create the bundled demo library, or [b]l[/b] to scan a folder "
                "of your own music."
            )
        else:
            empty.update(
                f"{fmt.count(self.track_count, 'track')} in your library and no playlists yet.\n\n"
                "Press [b]b[/b] to build one: choose an arc, a start and a target tempo, "
                "and how long you want to listen. [b]i[/b] imports an M3U file."
            )

    def _show_detail(self) -> None:
        p = self._selected()
        panel = self.query_one("#playlist-detail")
        panel.display = p is not None
        if p is None:
            return
        panel.border_title = fmt.escape(p.name)
        xf = crossfade_of(p)  # what the session will play with
        meta = [f"{p.arc or 'no arc'} · {fmt.count(len(p.tracks), 'track')} · "
                f"{fmt.clock(played_s(p))} · {fmt.tempo_span(p)}",
                "gapless" if xf == 0 else f"{xf:g} s crossfades · {fmt.clock(p.total_s)} of music"]
        meta += list(p.notes)
        self.query_one("#detail-meta", Static).update(fmt.escape("\n".join(meta)))
        self.query_one("#detail-chart", Chart).set_data(plan_chart_of(p))
        tracks = self.query_one("#detail-tracks", RowTable)
        tracks.clear()
        n = 0
        for e in p.entries:
            if e.is_silence:
                tracks.add_row("", "", fmt.clock(e.silence_s), "· silence ·")
                continue
            n += 1
            tracks.add_row(str(n), fmt.bpm(e.used_bpm or e.bpm), fmt.clock(e.duration_s),
                           fmt.cell(e.display_name))

    @on(RowTable.RowHighlighted, "#playlists")
    def _row_highlighted(self) -> None:
        self._show_detail()
        self.refresh_bindings()

    @on(RowTable.RowSelected, "#playlists")
    def _row_selected(self) -> None:
        self.action_listen()

    # -- actions ----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in _ON_SELECTED:
            return self._selected() is not None and not self.demo_running
        if action == "demo":
            return self.track_count == 0 and not self.demo_running
        if action in ("build", "import"):
            return not self.demo_running
        return True

    def action_listen(self) -> None:
        from companion.tui.screens.session import SessionScreen

        playlist = self._selected()
        if playlist is None:
            return
        if not playlist.tracks:
            self.notify(f"{fmt.escape(playlist.name)} has no tracks to play", severity="warning")
            return
        self.app.push_screen(SessionScreen(playlist))

    def action_refresh(self) -> None:
        self.refresh_playlists()

    def action_curate(self) -> None:
        playlist = self._selected()
        if playlist is not None:
            self.app.push_screen(CurateScreen(playlist.name))

    def action_build(self) -> None:
        def built(playlist: Playlist | None) -> None:
            if playlist is not None:
                self.refresh_playlists(select=playlist.name)
                # The planner's notes are in the detail panel beside the list.
                self.notify(fmt.escape(f"{playlist.name}: {fmt.count(len(playlist.tracks), 'track')}, "
                                       f"{fmt.clock(played_s(playlist))}, {fmt.tempo_span(playlist)}"),
                            title="Playlist built")

        self.app.push_screen(BuildScreen(), built)

    def action_rename(self, keep_old: bool = False) -> None:
        """Rename the playlist (or copy it, ``keep_old``) under a name the person types."""
        playlist = self._selected()
        if playlist is None:
            return
        verb = "Copy" if keep_old else "Rename"

        def named(new: str | None) -> None:
            if not new or new == playlist.name:
                return
            ok, _ = self.core(self._rename, playlist, new, keep_old)
            if ok:
                self.refresh_playlists(select=new)
                self.notify(fmt.escape(f"{'Copied' if keep_old else 'Renamed'} {playlist.name!r} "
                                       f"to {new!r}"))

        self.app.push_screen(AskScreen(
            f"{verb} {playlist.name}", "New name: letters, digits, spaces, - _ .",
            value=f"{playlist.name} copy" if keep_old else playlist.name,
        ), named)

    @staticmethod
    def _rename(playlist: Playlist, new: str, keep_old: bool) -> None:
        from companion.core.errors import UserInputError

        core_playlists.validate_name(new)
        if core_playlists.exists(new):
            raise UserInputError(f"a playlist named {new!r} already exists: choose another name")
        pl = core_playlists.load(playlist.name)
        core_playlists.save((core_playlists.duplicate if keep_old else core_playlists.rename)(pl, new))
        if not keep_old:
            core_playlists.delete(playlist.name)

    def action_duplicate(self) -> None:
        self.action_rename(keep_old=True)

    def action_export(self) -> None:
        playlist = self._selected()
        if playlist is None:
            return

        def chosen(target: str | None) -> None:
            if not target:
                return
            ok, path = self.core(core_playlists.export, core_playlists.load(playlist.name), target)
            if ok:
                self.notify(fmt.escape(f"Wrote {path}"), title="Exported")

        self.app.push_screen(AskScreen(
            f"Export {playlist.name}",
            "An M3U8 file that VLC, mpv and other players open (a folder: the file goes in it).",
            value=str(Path.home() / f"{playlist.name}.m3u8"),
        ), chosen)

    def action_import(self) -> None:
        def chosen(source: str | None) -> None:
            if not source:
                return
            ok, pl = self.core(self._import, source)
            if ok and pl is not None:
                self.refresh_playlists(select=pl.name)
                extra = "".join(f"\n{n}" for n in pl.notes)
                self.notify(fmt.escape(f"{pl.name}: {fmt.count(len(pl.tracks), 'track')}{extra}"),
                            title="Imported", timeout=10)

        self.app.push_screen(AskScreen(
            "Import a playlist", "The path of an M3U or M3U8 file; its name becomes the playlist's.",
            placeholder="/path/to/playlist.m3u8",
        ), chosen)

    def _import(self, source: str) -> Playlist:
        from companion.core.errors import UserInputError

        pl = core_playlists.import_m3u(source, store=self.app.store)  # type: ignore[attr-defined]
        if core_playlists.exists(pl.name):
            raise UserInputError(f"a playlist named {pl.name!r} already exists: rename it first")
        core_playlists.save(pl)
        return pl

    def action_delete(self) -> None:
        playlist = self._selected()
        if playlist is None:
            return

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            ok, _ = self.core(core_playlists.delete, playlist.name)
            if ok:
                self.refresh_playlists()
                self.notify(fmt.escape(f"Deleted {playlist.name!r}"))

        self.app.push_screen(ConfirmScreen(
            "Delete this playlist?",
            f"{playlist.name} ({fmt.count(len(playlist.tracks), 'track')}) will be deleted for good. "
            "Your music files and your history stay.",
        ), answered)

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
                f"The demo library is ready: {fmt.count(self.track_count, 'track')} and the "
                "playlist 'demo'. Press enter to listen.",
                title="Ready",
            )
