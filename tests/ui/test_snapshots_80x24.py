"""The main screens at 80×24, the smallest terminal the app promises to be usable in
(``pytest --snapshot-update`` to accept, after looking at the SVG)."""

from __future__ import annotations

from textual.pilot import Pilot

from companion.core.models import AnalysisResult, Loudness, Playlist, Tags, TempoEstimate
from companion.core.store import Store
from companion.tui.app import make_app
from tests.ui.conftest import add_past_sessions
from tests.ui.test_snapshots import settle

SIZE = (80, 24)


def fixed_library(store: Store) -> None:
    """Tracks at fixed paths (the Library shows paths), one unsure, one set by hand."""
    store.save_analysis(AnalysisResult(
        path=f"/music/{folder}/{i:02d} {title}.flac", size=1, mtime=1.0,
        tags=Tags(title=title, artist=artist, album="", genre="", duration_s=180.0 + i),
        tempo=TempoEstimate(bpm=bpm, confidence=0.4 if i == 2 else 0.9),
        loudness=Loudness(lufs=-20.0, peak_dbfs=-3.0),
    ) for i, (folder, title, artist, bpm) in enumerate((
        ("calm", "Harbour Lights", "Ada Lune", 84.0), ("calm", "Slow Tide", "Ben Orrin", 78.0),
        ("calm", "Evening Fern", "Ada Lune", 72.0), ("night", "Low Moon", "Cara Vell", 66.0),
        ("night", "Still Water", "Ben Orrin", 61.0),
    )))


def pressing(*keys: str):
    """A run_before that presses ``keys`` and lets the app settle."""

    async def run_before(pilot: Pilot) -> None:
        await pilot.press(*keys)
        await settle(pilot)

    return run_before


def test_playlists_at_80x24(snap_compare, store: Store, library: Playlist) -> None:
    assert snap_compare(make_app(store=store), run_before=settle, terminal_size=SIZE)


def test_curate_at_80x24(snap_compare, store: Store, library: Playlist) -> None:
    assert snap_compare(make_app(store=store), run_before=pressing("c", "down", "space"), terminal_size=SIZE)


def test_build_form_at_80x24(snap_compare, store: Store, library: Playlist) -> None:
    assert snap_compare(make_app(store=store), run_before=pressing("b"), terminal_size=SIZE)


def test_library_at_80x24(snap_compare, store: Store) -> None:
    fixed_library(store)

    assert snap_compare(make_app(store=store, auto_demo=False), run_before=pressing("l"),
                        terminal_size=SIZE)


def test_history_at_80x24(snap_compare, store: Store, library: Playlist) -> None:
    add_past_sessions(store)

    assert snap_compare(make_app(store=store), run_before=pressing("h"), terminal_size=SIZE)


def test_keys_at_80x24(snap_compare, store: Store, library: Playlist) -> None:
    assert snap_compare(make_app(store=store), run_before=pressing("question_mark"), terminal_size=SIZE)
