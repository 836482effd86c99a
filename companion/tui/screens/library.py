"""Library: every track with its tempo and how sure the analysis is; scanning a folder."""

from __future__ import annotations

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
from textual.widgets import DataTable, Footer, Input, Label, Static
from textual.worker import get_current_worker

from companion.core.models import STATUS_ERROR, Track
from companion.tui import format as fmt
from companion.tui.progress import Progress, progress_callback
from companion.tui.screens.base import WorkerScreen
from companion.tui.widgets.bars import JobPanel, TitleBar

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
            self.notify(f"{event.value.strip() or '(empty)'} is not a folder", severity="error")
            return
        self.dismiss(str(folder.resolve()))

    def action_cancel(self) -> None:
        self.dismiss(None)


class LibraryScreen(WorkerScreen):
    """The tracks table; ``s`` scans a folder in the background, ``c`` cancels it."""

    BINDINGS = [
        Binding("s", "scan", "Scan folder", id="scan"),
        Binding("c", "cancel_scan", "Cancel scan", id="cancel-scan"),
        Binding("slash", "tempo(0.5)", "Halve BPM", key_display="/", id="halve"),
        Binding("asterisk", "tempo(2)", "Double BPM", key_display="*", id="double"),
        Binding("u", "tempo_auto", "Analysed BPM", id="tempo-auto"),
        Binding("o", "sort", "Sort", id="sort"),
        Binding("r", "refresh", "Refresh", show=False),
    ]

    @dataclass
    class ScanFinished(Message):
        ok: bool
        cancelled: bool
        summary: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.scanning = False
        self._cancel = Event()
        self.tracks: list[Track] = []  # as the table shows them
        self.sort_by = "folder"

    def compose(self) -> ComposeResult:
        yield TitleBar("Library")
        yield JobPanel(id="scan-panel")
        yield Static("", id="library-summary", classes="muted summary")
        yield DataTable(id="tracks", cursor_type="row")
        yield Static("", id="library-empty", classes="empty")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one("#tracks", DataTable)
        table.add_columns("Title", "Artist", "Length", "BPM", "Confidence", "Note")
        self.refresh_tracks()

    def on_screen_resume(self) -> None:
        if self.is_mounted and not self.scanning:
            self.refresh_tracks()

    def refresh_tracks(self) -> None:
        tracks = sorted(self.app.store.tracks(), key=SORTS[self.sort_by])  # type: ignore[attr-defined]
        self.tracks = tracks
        from companion.core.tempo import UNSURE_CONFIDENCE as threshold  # numpy: not at start-up

        table = self.query_one("#tracks", DataTable)
        row = table.cursor_row
        table.clear()
        unsure = errors = 0
        for t in tracks:
            flag = ""
            if t.status == STATUS_ERROR:
                errors += 1
                flag = f"unreadable: {t.error}"
            elif t.is_manual:
                flag = "set by you"
            elif t.bpm_confidence is not None and t.bpm_confidence < threshold:
                unsure += 1
                flag = "unsure"
            table.add_row(
                t.title, t.artist, fmt.clock(t.duration_s) if t.duration_s else "–",
                fmt.bpm(t.bpm),
                "–" if t.bpm_confidence is None else f"{t.bpm_confidence:.2f}",
                flag, key=t.path,
            )
        if tracks and row:
            table.move_cursor(row=min(row, len(tracks) - 1))
        self.refresh_bindings()
        table.display = bool(tracks)
        empty = self.query_one("#library-empty", Static)
        empty.display = not tracks
        empty.update("No tracks yet. Press [b]s[/b] to scan a folder of music.")
        summary = f"{len(tracks)} tracks, by {self.sort_by}"
        if unsure:
            summary += f" · {unsure} with an unsure tempo"
        if errors:
            summary += f" · {errors} unreadable"
        self.query_one("#library-summary", Static).update(summary)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "scan":
            return not self.scanning
        if action == "cancel_scan":
            return self.scanning
        if action in ("tempo", "tempo_auto"):
            track = self._highlighted()
            if track is None or track.bpm is None or self.scanning:
                return False
            return track.is_manual if action == "tempo_auto" else True
        return True

    def _highlighted(self) -> Track | None:
        table = self.query_one("#tracks", DataTable)
        if not self.tracks or not 0 <= table.cursor_row < len(self.tracks):
            return None
        return self.tracks[table.cursor_row]

    @on(DataTable.RowHighlighted, "#tracks")
    def _row_highlighted(self) -> None:
        self.refresh_bindings()

    def action_sort(self) -> None:
        names = list(SORTS)
        self.sort_by = names[(names.index(self.sort_by) + 1) % len(names)]
        self.refresh_tracks()

    def action_tempo(self, factor: float) -> None:
        """Correct a tempo heard at the wrong level (half or double); rescans keep it."""
        track = self._highlighted()
        if track is None or track.bpm is None:
            return
        _, fixed = self.core(self.app.store.set_manual_bpm, track.path, track.bpm * factor)  # type: ignore[attr-defined]
        self.refresh_tracks()
        if fixed is not None:
            self.notify(f"{fixed.title}: {fmt.bpm(fixed.bpm)} BPM, kept as yours on rescans")

    def action_tempo_auto(self) -> None:
        track = self._highlighted()
        if track is None:
            return
        _, back = self.core(self.app.store.clear_manual_bpm, track.path)  # type: ignore[attr-defined]
        self.refresh_tracks()
        if back is not None:
            self.notify(f"{back.title}: back to the analysed {fmt.bpm(back.bpm)} BPM")

    def action_refresh(self) -> None:
        self.refresh_tracks()

    def action_scan(self) -> None:
        def chosen(folder: str | None) -> None:
            if folder:
                self.start_scan(folder)

        self.app.push_screen(FolderScreen(), chosen)

    def start_scan(self, folder: str) -> None:
        self.scanning = True
        self._cancel.clear()
        self.query_one("#scan-panel", JobPanel).start(f"Scanning {folder}")
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
        from companion.core.scan import scan

        worker = get_current_worker()
        try:
            result = scan(
                [folder], self.app.store,  # type: ignore[attr-defined]
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


def _summary(result: ScanSummary) -> str:
    """One line from the scan's summary, in the words of the library table."""
    text = f"{result.found} files: {result.analysed} analysed, {result.skipped_unchanged} unchanged"
    if result.errors:
        text += f", {result.errors} unreadable"
    if result.removed:
        text += f", {result.removed} gone from disk"
    return text
