"""Library: every track with its tempo and how sure the analysis is; scanning a folder."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from threading import Event
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from companion.core.models import STATUS_ERROR, Track
from companion.tui import format as fmt
from companion.tui.progress import Progress, progress_callback
from companion.tui.screens.base import WorkerScreen
from companion.tui.widgets.bars import JobPanel, TitleBar
from companion.tui.widgets.table import RowTable

if TYPE_CHECKING:
    from companion.core.scan import ScanSummary

# How the tracks table can be ordered (``o`` cycles): by where the files are, by tempo (fastest
# first, as a step-down reads), or least sure tempo first (the ones worth checking).
SORTS: dict[str, Callable[[Track], Any]] = {
    "folder": lambda t: t.path,
    "tempo": lambda t: (t.bpm is None, -(t.bpm or 0.0), t.path),
    "confidence": lambda t: (t.bpm_confidence is None, t.bpm_confidence or 0.0, t.path),
}


class FolderScreen(ModalScreen[str | None]):
    """Ask which folder to scan."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="folder-dialog", classes="dialog"):
            yield Label("Scan a music folder", classes="dialog-title")
            yield Static(
                "Files already scanned and unchanged are skipped. One unreadable file never "
                "stops the scan.", classes="muted",
            )
            yield Input(str(Path.home() / "Music"), id="folder", placeholder="/path/to/music")
            yield Static("enter scans · escape cancels", classes="muted hint")
        yield Footer(show_command_palette=False)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        folder = Path(event.value.strip()).expanduser()
        if not event.value.strip() or not folder.is_dir():
            self.notify(fmt.escape(f"{event.value.strip() or '(empty)'} is not a folder"),
                        severity="error")
            return
        self.dismiss(str(folder.resolve()))

    def action_cancel(self) -> None:
        self.dismiss(None)


class FoldersScreen(ModalScreen[tuple[str, str] | None]):
    """The library's folders with their track counts; ``a`` adds one, ``x`` removes the one
    highlighted. Dismisses with ("add", "") or ("remove", path): the Library screen does it."""

    BINDINGS = [
        Binding("a", "add", "Add a folder"),
        Binding("x", "remove", "Remove"),
        Binding("escape", "cancel", "Close"),
    ]

    def __init__(self, folders: list[Any]) -> None:
        super().__init__()
        self.folders = folders  # core.library.Folder rows

    def compose(self) -> ComposeResult:
        from companion.core.library import DEMO

        with Vertical(classes="dialog wide-dialog"):
            yield Label("Library folders", classes="dialog-title")
            if self.folders:
                yield OptionList(*[Option(fmt.cell(
                    f"{f.path or '(scanned outside any folder)'} · {fmt.count(f.tracks, 'track')}"
                    + (" · demo" if f.kind == DEMO else ""))) for f in self.folders], id="folders")
            else:
                yield Static("No folders yet.", classes="muted dialog-note")
            yield Static("a adds a folder (and scans it) · x removes one · escape closes",
                         classes="muted hint")
        yield Footer(show_command_palette=False)

    def _highlighted(self) -> Any:
        if not self.folders:
            return None
        index = self.query_one("#folders", OptionList).highlighted
        return self.folders[index] if index is not None else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "remove":
            folder = self._highlighted()
            return folder is not None and bool(folder.path)
        return True

    @on(OptionList.OptionHighlighted)
    def _moved(self) -> None:
        self.refresh_bindings()

    def action_add(self) -> None:
        self.dismiss(("add", ""))

    def action_remove(self) -> None:
        folder = self._highlighted()
        if folder is not None and folder.path:
            self.dismiss(("remove", folder.path))

    def action_cancel(self) -> None:
        self.dismiss(None)


#: Rows shown at once: a 100 000-track library is paged, so the table stays quick to fill.
PAGE = 1000

#: The core's tempo corrections (models.TEMPO_CORRECTIONS) as the person reads them.
CORRECTIONS = {"halve": "halved", "double": "doubled", "two-thirds": "× ⅔", "three-halves": "× 3⁄2"}


class TrackTable(RowTable):
    """The tracks: Home/End go to the first/last track of the whole list, across pages."""

    def action_first_row(self) -> None:
        self.screen.jump_to(0)  # type: ignore[attr-defined]

    def action_last_row(self) -> None:
        self.screen.jump_to(-1)  # type: ignore[attr-defined]


class TapScreen(ModalScreen[float | None]):
    """Tap the beat with space; enter keeps the tempo as the track's own."""

    BINDINGS = [
        Binding("space", "tap", "Tap"),
        Binding("v", "preview", "Preview"),
        Binding("enter", "keep", "Keep this tempo"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, track: Track, preview: Callable[[], None] | None = None) -> None:
        super().__init__()
        from companion.core.tap import TapTempo

        self.preview = preview  # starts or stops hearing the track, to tap along

        self.track, self.tapper, self.bpm = track, TapTempo(), None
        self.clock = time.monotonic  # seconds; tests tap on their own clock

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Tap the beat", classes="dialog-title")
            yield Static(fmt.escape(f"{self.track.display_name}: now {fmt.bpm(self.track.bpm)} BPM. "
                                    "Press space on each beat you hear; v plays 20 s of it to tap along."),
                         classes="muted dialog-note")
            yield Static("tap at least 4 times", id="tap-bpm")
            yield Static("space taps · enter keeps it · escape cancels", classes="muted hint")
        yield Footer(show_command_palette=False)

    def action_tap(self) -> None:
        self.bpm = self.tapper.tap(self.clock())
        shown = (f"[b]{self.bpm:g} BPM[/b] from {self.tapper.count} taps" if self.bpm is not None
                 else f"{self.tapper.count} taps: keep going")
        self.query_one("#tap-bpm", Static).update(shown)

    def action_preview(self) -> None:
        if self.preview is not None:
            self.preview()

    def action_keep(self) -> None:
        if self.bpm is not None:
            self.dismiss(self.bpm)

    def action_cancel(self) -> None:
        self.dismiss(None)


class LibraryScreen(WorkerScreen):
    """The tracks table: filter as you type, preview, tap, correct tempi, scan folders."""

    help_title = "Library"
    AUTO_FOCUS = "#tracks"  # keys act on the tracks; f moves to the filter
    BINDINGS = [
        Binding("f", "filter", "Filter", id="filter"),
        Binding("v", "preview", "Preview", id="preview"),
        Binding("t", "tap", "Tap tempo", show=False, id="tap"),
        Binding("slash", "tempo('halve')", "Halve BPM", key_display="/", show=False,
                id="halve"),
        Binding("asterisk", "tempo('double')", "Double BPM", key_display="*", show=False,
                id="double"),
        Binding("less_than_sign", "tempo('two-thirds')", "BPM × ⅔", key_display="<", show=False,
                id="two-thirds"),
        Binding("greater_than_sign", "tempo('three-halves')", "BPM × 3⁄2", key_display=">",
                show=False, id="three-halves"),
        Binding("z", "undo", "Undo tempo change", show=False, id="undo"),
        Binding("u", "tempo_auto", "Analysed BPM", show=False, id="tempo-auto"),
        Binding("s", "scan", "Scan", id="scan"),
        Binding("F", "folders", "Folders", key_display="F", show=False, id="folders"),
        Binding("c", "cancel_scan", "Cancel scan", id="cancel-scan"),
        Binding("o", "sort", "Sort", show=False, id="sort"),
        Binding("right_square_bracket", "page(1)", "Next page", key_display="]", show=False),
        Binding("left_square_bracket", "page(-1)", "Previous page", key_display="[", show=False),
        Binding("r", "refresh", "Refresh", show=False),
    ]

    @dataclass
    class ScanFinished(Message):
        ok: bool
        cancelled: bool
        summary: str = ""

    @dataclass
    class Loaded(Message):
        """The library as read from the store, sorted and filtered, off the UI thread."""

        tracks: list[Track]
        matching: list[Track]
        unsure: int
        errors: int
        query_error: str = ""
        generation: int = 0  # which request: an older one finishing late is dropped

    @dataclass
    class PreviewEnded(Message):
        error: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.scanning = False
        self._cancel = Event()
        self.all_tracks: list[Track] = []
        self.tracks: list[Track] = []  # the tracks the filter keeps, sorted: the table pages them
        self.page = 0
        self.sort_by = "folder"
        self.loading = False
        self.unsure_count = self.error_count = 0
        self.undo: list[tuple[str, float | None, bool]] = []  # path, bpm before, was it manual
        self.preview: Any = None
        self._wanted_row: int | None = None
        self._threshold: float | None = None
        self.generation = 0  # of the latest load asked for

    def compose(self) -> ComposeResult:
        yield TitleBar("Library")
        yield JobPanel(id="scan-panel")
        yield Input("", id="filter", compact=True,
                    placeholder="f filters: words, bpm:60-80, unsure, error, manual")
        yield Static("reading your library…", id="library-summary", classes="muted summary")
        yield TrackTable(id="tracks")
        yield Static("", id="track-path", classes="muted summary")
        yield Static("", id="library-empty", classes="empty")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one("#tracks", TrackTable)
        table.add_columns("Title", "Artist", "BPM", "Sure", "Note", "Folder", "Path")
        self.refresh_tracks()
        table.focus()

    def on_screen_resume(self) -> None:
        if self.is_mounted and not self.scanning:
            self.refresh_tracks()

    def on_screen_suspend(self) -> None:
        if not isinstance(self.app.screen, ModalScreen):  # the tap dialog: keep listening
            self.stop_preview()

    # -- loading, filtering, paging -----------------------------------------------------------

    def refresh_tracks(self) -> None:
        """Read, sort and filter the library in a worker; the table is filled when it is back."""
        self.loading = True
        self.generation += 1
        self.load(self.query_one("#filter", Input).value, self.sort_by, self.generation)

    @work(thread=True, exclusive=True, exit_on_error=False, group="library")
    def load(self, query_text: str, sort_by: str, generation: int) -> None:
        from companion.core.errors import UserInputError
        from companion.core.tempo import UNSURE_CONFIDENCE as threshold
        from companion.core.trackfilter import filter_tracks, parse_query

        worker = get_current_worker()
        tracks = sorted(self.app.store.tracks(), key=SORTS[sort_by])  # type: ignore[attr-defined]
        unsure = sum(1 for t in tracks if _unsure(t, threshold))
        errors = sum(1 for t in tracks if t.status == STATUS_ERROR)
        try:
            matching = filter_tracks(tracks, parse_query(query_text), unsure_below=threshold)
            problem = ""
        except UserInputError as exc:
            matching, problem = tracks, str(exc)
        self._threshold = threshold
        if not worker.is_cancelled:
            self.post_message(self.Loaded(tracks, matching, unsure, errors, problem, generation))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        if message.generation != self.generation:
            return  # a filter typed since: its own load is on its way
        self.loading = False
        self.all_tracks, self.tracks = message.tracks, message.matching
        self.unsure_count, self.error_count = message.unsure, message.errors
        if message.query_error:
            self.notify(fmt.escape(message.query_error), severity="warning", timeout=5)
        row = self._wanted_row
        self._wanted_row = None
        if row is None:
            row = self.page * PAGE + max(self.query_one("#tracks", TrackTable).cursor_row, 0)
        self.show_at(min(row, max(len(self.tracks) - 1, 0)), refill=True)

    def show_at(self, index: int, *, refill: bool = False) -> None:
        """Show the page holding track ``index`` of the filtered list, cursor on it."""
        table = self.query_one("#tracks", TrackTable)
        page = index // PAGE if self.tracks else 0
        if refill or page != self.page:
            self.page = page
            self._fill(table)
        if self.tracks:
            table.move_cursor(row=index - self.page * PAGE)
        self._show_summary()
        self._show_path()
        self.refresh_bindings()

    def _page_tracks(self, page: int) -> list[Track]:
        return self.tracks[page * PAGE:(page + 1) * PAGE]

    def _fill(self, table: TrackTable) -> None:
        threshold = self._threshold if self._threshold is not None else 0.0
        table.clear()
        table.add_rows(_row(t, threshold) for t in self._page_tracks(self.page))
        has = bool(self.all_tracks)
        table.display = has
        self.query_one("#filter", Input).display = has
        if not has:
            self.set_focus(None)  # the screen's keys (s scans) work at once
        elif self.focused is None:
            table.focus()
        empty = self.query_one("#library-empty", Static)
        empty.display = not has
        empty.update("No tracks yet. Press [b]s[/b] to scan a folder of music.")

    def _show_summary(self) -> None:
        n, total = len(self.tracks), len(self.all_tracks)
        shown = f"{fmt.count(total, 'track')}, by {self.sort_by}"
        if n != total:
            shown = f"{n} of {shown}"
        if n > PAGE:
            first = self.page * PAGE
            shown += f" · rows {first + 1}–{min(first + PAGE, n)} ([ ] pages)"
        if self.unsure_count:
            shown += f" · {self.unsure_count} unsure"
        if self.error_count:
            shown += f" · {self.error_count} unreadable"
        if self.preview is not None:
            shown += f" · ▶ previewing {self.preview.track.display_name} (v stops)"
        self.query_one("#library-summary", Static).update(fmt.escape(shown))

    def _show_path(self) -> None:
        track = self._highlighted()
        self.query_one("#track-path", Static).update(fmt.escape(track.path) if track else "")

    def jump_to(self, index: int) -> None:
        """Home/End: the first or last track of the whole (filtered) list."""
        if self.tracks:
            self.show_at(index % len(self.tracks))

    def action_page(self, delta: int) -> None:
        if self.tracks:
            last_page = (len(self.tracks) - 1) // PAGE
            self.show_at(min(max(self.page + delta, 0), last_page) * PAGE)

    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        self.page = 0
        self._wanted_row = 0
        self.refresh_tracks()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one("#tracks", TrackTable).focus()

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    # -- the highlighted track ---------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("scan", "folders"):
            return not self.scanning
        if action == "cancel_scan":
            return self.scanning
        if action == "undo":
            return bool(self.undo) and not self.scanning
        if action in ("tempo", "tempo_auto", "tap", "preview"):
            track = self._highlighted()
            if track is None or self.scanning or track.status == STATUS_ERROR:
                return False
            if action == "tempo_auto":
                return track.is_manual
            return track.bpm is not None if action == "tempo" else True
        return True

    def _highlighted(self) -> Track | None:
        table = self.query_one("#tracks", TrackTable)
        page = self._page_tracks(self.page)
        if not page or not 0 <= table.cursor_row < len(page):
            return None
        return page[table.cursor_row]

    @on(TrackTable.RowHighlighted, "#tracks")
    def _row_highlighted(self) -> None:
        self._show_path()
        self.refresh_bindings()

    def action_sort(self) -> None:
        names = list(SORTS)
        self.sort_by = names[(names.index(self.sort_by) + 1) % len(names)]
        self._wanted_row = 0
        self.refresh_tracks()

    def _changed(self, before: Track, after: Track | None, what: str) -> None:
        """A tempo was changed: remember how to undo it, show the table again, say so."""
        if after is None:
            return
        self.undo.append((before.path, before.bpm, before.is_manual))
        self._wanted_row = self.page * PAGE + self.query_one("#tracks", TrackTable).cursor_row
        self.refresh_tracks()
        self.notify(fmt.escape(f"{after.display_name}: {what} to {fmt.bpm(after.bpm)} BPM, kept as "
                               "yours on rescans (z undoes)"))

    def action_tempo(self, correction: str) -> None:
        """Hear the beat at another level: halve, double, ⅔ or 3⁄2 (the core checks the range)."""
        track = self._highlighted()
        if track is None or track.bpm is None:
            return
        store = self.app.store  # type: ignore[attr-defined]
        _, fixed = self.core(store.scale_manual_bpm, track.path, correction)
        self._changed(track, fixed, CORRECTIONS[correction])

    def action_tempo_auto(self) -> None:
        track = self._highlighted()
        if track is None:
            return
        _, back = self.core(self.app.store.clear_manual_bpm, track.path)  # type: ignore[attr-defined]
        self._changed(track, back, "back to the analysed tempo,")

    def action_undo(self) -> None:
        if not self.undo:
            return
        path, bpm, was_manual = self.undo.pop()
        store = self.app.store  # type: ignore[attr-defined]
        if was_manual and bpm is not None:
            ok, track = self.core(store.set_manual_bpm, path, bpm)
        else:
            ok, track = self.core(store.clear_manual_bpm, path)
        if ok and track is not None:
            self.refresh_tracks()
            self.notify(fmt.escape(f"Undone: {track.display_name} is {fmt.bpm(track.bpm)} BPM again"))

    def action_tap(self) -> None:
        track = self._highlighted()
        if track is None:
            return

        def tapped(bpm: float | None) -> None:
            if bpm is not None:
                _, fixed = self.core(self.app.store.set_manual_bpm, track.path, bpm)  # type: ignore[attr-defined]
                self._changed(track, fixed, "tapped")

        self.app.push_screen(TapScreen(track, self.action_preview), tapped)

    # -- preview ------------------------------------------------------------------------------

    def action_preview(self) -> None:
        """Play 20 s from the middle of the track (v again stops)."""
        if self.preview is not None:
            self.stop_preview()
            return
        track = self._highlighted()
        if track is None:
            return
        from companion.core.preview import Preview

        factory = getattr(self.app, "output_factory", None)
        self.preview = Preview(track, output=factory() if factory else None)
        self._show_summary()
        self.play_preview(self.preview)

    @work(thread=True, exclusive=True, exit_on_error=False, group="preview")
    def play_preview(self, preview: Any) -> None:
        """Open the output (slow: sounddevice) and wait for the excerpt to end, off the UI."""
        from companion.core.errors import CompanionError

        worker = get_current_worker()
        try:
            preview.start()
            while not preview.done and not worker.is_cancelled and self.preview is preview:
                time.sleep(0.1)
        except CompanionError as exc:
            self.post_message(self.PreviewEnded(str(exc)))
            return
        finally:
            preview.close()
        self.post_message(self.PreviewEnded())

    @on(PreviewEnded)
    def _preview_ended(self, message: PreviewEnded) -> None:
        self.preview = None
        self._show_summary()
        if message.error:
            self.notify(fmt.escape(message.error), title="Cannot preview", severity="error", timeout=8)

    def stop_preview(self) -> None:
        preview, self.preview = self.preview, None
        if preview is not None:
            for worker in self.workers:
                if worker.group == "preview":
                    worker.cancel()
            if self.is_mounted:
                self._show_summary()

    # -- scanning -----------------------------------------------------------------------------

    def action_refresh(self) -> None:
        self.refresh_tracks()

    def action_scan(self) -> None:
        def chosen(folder: str | None) -> None:
            if folder:
                self.start_scan(folder)

        self.app.push_screen(FolderScreen(), chosen)

    def action_folders(self) -> None:
        """The library's folders: add one (scanned here), or remove one after asking."""
        from companion.core import library

        ok, found = self.core(library.folders, self.app.store)  # type: ignore[attr-defined]
        if ok:
            self.app.push_screen(FoldersScreen(found or []), self._folder_chosen)

    def _folder_chosen(self, choice: tuple[str, str] | None) -> None:
        if choice is None:
            return
        what, path = choice
        if what == "add":
            self.action_scan()
            return

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            from companion.core import library

            ok, result = self.core(library.remove, self.app.store, path)  # type: ignore[attr-defined]
            if ok and result is not None:
                removed, kept = result
                kept_text = f"; {fmt.count(kept, 'hand-set tempo')} kept for its return" if kept else ""
                self.notify(fmt.escape(f"{path}: {fmt.count(removed, 'track')} left the library{kept_text}."),
                            title="Folder removed")
                self.refresh_tracks()

        from companion.tui.widgets.dialogs import ConfirmScreen

        self.app.push_screen(ConfirmScreen(
            "Remove this folder from the library?",
            f"{path}: its tracks leave the library and plans. The files stay on disk; tempos you "
            "set by hand are kept and come back if you add the folder again.",
        ), answered)

    def start_scan(self, folder: str) -> None:
        self.scanning = True
        self._cancel.clear()
        self.query_one("#scan-panel", JobPanel).start(fmt.escape(f"Scanning {folder}"))
        self.refresh_bindings()
        self.scan_folder(folder)

    def action_cancel_scan(self) -> None:
        self._cancel.set()
        for worker in self.workers:
            if worker.group == "scan":
                worker.cancel()
        self.query_one("#scan-panel", JobPanel).advance(None, "cancelling after the current file…")

    @work(thread=True, exclusive=True, exit_on_error=False, group="scan")
    def scan_folder(self, folder: str) -> None:
        from companion.core import library

        worker = get_current_worker()
        try:  # through the library: the folder is kept as one of its folders (F lists them)
            result = library.add(
                self.app.store, folder,  # type: ignore[attr-defined]
                progress=progress_callback("scan", self.post_message),
                cancel=lambda: self._cancel.is_set() or worker.is_cancelled,
            )
        except BaseException:
            self.post_message(self.ScanFinished(ok=False, cancelled=self._cancel.is_set()))
            raise
        self.post_message(
            self.ScanFinished(ok=True, cancelled=self._cancel.is_set(), summary=_summary(result))
        )

    @on(Progress)
    def _progress(self, message: Progress) -> None:
        if message.key == "scan" and self.scanning:
            self.query_one("#scan-panel", JobPanel).advance(message.fraction, message.text)

    @on(ScanFinished)
    def _scan_finished(self, message: ScanFinished) -> None:
        self.scanning = False
        self.query_one("#scan-panel", JobPanel).finish()
        self.refresh_tracks()
        self.refresh_bindings()
        if message.cancelled:
            self.notify("Scan cancelled; what was analysed is kept.", severity="warning")
        elif message.ok:
            self.notify(message.summary or "Scan finished.", title="Scan finished")


def _unsure(t: Track, threshold: float) -> bool:
    return (t.status != STATUS_ERROR and not t.is_manual and t.bpm_confidence is not None
            and t.bpm_confidence < threshold)


def _row(t: Track, threshold: float) -> tuple[Any, ...]:
    if t.status == STATUS_ERROR:
        note = f"unreadable: {t.error}"
    elif t.is_manual:
        note = "set by you"
    else:
        note = "unsure" if _unsure(t, threshold) else ""
    path = Path(t.path)
    return (fmt.cell(t.title), fmt.cell(t.artist), fmt.bpm(t.bpm),
            "–" if t.bpm_confidence is None else f"{t.bpm_confidence:.2f}", fmt.cell(note),
            fmt.cell(path.parent.name), fmt.cell(t.path))


def _summary(result: ScanSummary) -> str:
    """One line from the scan's summary, in the words of the library table."""
    text = f"{result.found} files: {result.analysed} analysed, {result.skipped_unchanged} unchanged"
    if result.errors:
        text += f", {result.errors} unreadable"
    if result.removed:
        text += f", {result.removed} gone from disk"
    return text
