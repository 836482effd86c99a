"""A small real library for the app: short synthetic WAVs in the store and a saved playlist."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from textual.pilot import Pilot

from companion.core import audio_io, playlists
from companion.core.models import (
    AnalysisResult,
    Loudness,
    Playlist,
    PlaylistEntry,
    Rating,
    Session,
    Tags,
    TempoEstimate,
)
from companion.core.store import Store


@pytest.fixture(autouse=True)
def short_pieces_are_music(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pieces here last seconds, a session's tracks at least a minute: plan from them anyway."""
    monkeypatch.setattr("companion.core.planner.DEFAULT_MIN_LENGTH_S", 0.0)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests in a fresh event loop (no async plugin needed for Pilot tests)."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(pyfuncitem.obj(**args))
    return True


SR = 22050
# (title, artist, bpm, seconds): a short step-down from 84 to 72 BPM
PIECES = (
    ("Harbour Lights", "Ada Lune", 84.0, 6.0),
    ("Slow Tide", "Ben Orrin", 78.0, 6.0),
    ("Evening Fern", "Ada Lune", 72.0, 6.0),
)


def soft_piece(bpm: float, seconds: float, pitch_hz: float) -> np.ndarray:
    """A quiet sine chord with a soft swell on each beat: stereo float32 at :data:`SR`."""
    t = np.arange(int(seconds * SR)) / SR
    tone = sum(np.sin(2 * np.pi * pitch_hz * k * t) / k for k in (1, 1.5, 2))
    beat = 0.6 + 0.4 * np.exp(-((t * bpm / 60.0) % 1.0) * 6)
    mono = (0.1 * tone * beat).astype(np.float32)
    return np.stack([mono, mono], axis=1)


def add_library(store: Store, folder: Path, pieces=PIECES) -> list[PlaylistEntry]:
    """Write the pieces as WAVs, put them in the store as analysed, return playlist entries."""
    folder.mkdir(parents=True, exist_ok=True)
    results, entries, start = [], [], 0.0
    for i, (title, artist, bpm, seconds) in enumerate(pieces):
        path = (folder / f"{i + 1:02d} {title}.wav").resolve()
        audio_io.write(path, soft_piece(bpm, seconds, 220.0 * (1 + i / 5)), SR)
        st = path.stat()
        results.append(AnalysisResult(
            path=str(path), size=st.st_size, mtime=st.st_mtime,
            tags=Tags(title=title, artist=artist, album="Test", genre="", duration_s=seconds),
            tempo=TempoEstimate(bpm=bpm, confidence=0.9 if i != 1 else 0.4),
            loudness=Loudness(lufs=-24.0, peak_dbfs=-12.0),
        ))
        entries.append(PlaylistEntry(
            path=str(path), title=title, artist=artist, duration_s=seconds, bpm=bpm,
            planned_bpm=bpm, used_bpm=bpm, start_s=start, loudness_lufs=-24.0,
        ))
        start += seconds
    store.save_analysis(results)
    return entries


def save_playlist(name: str, entries: list[PlaylistEntry], arc: str = "step-down") -> Playlist:
    pl = Playlist(name=name, entries=tuple(entries), arc=arc,
                  meta={"start_bpm": entries[0].bpm, "target_bpm": entries[-1].bpm, "minutes": 1})
    playlists.save(pl)
    return pl


def add_past_sessions(store: Store, listener: str = "me") -> None:
    """Three ended sessions at fixed times (long ago, so 'this week' never changes)."""
    for i, (day, playlist, before, after, minutes, outcome) in enumerate((
        ("2025-03-03T20:10:00+00:00", "evening", 7, 4, 20.0, "completed"),
        ("2025-03-05T21:30:00+00:00", "before sleep", 6, 5, 8.5, "stopped_early"),
        ("2025-03-08T19:45:00+00:00", "evening", 8, 3, 20.0, "completed"),
    )):
        store.save_session(Session(
            id=0, listener=listener, playlist=playlist, arc="step-down", started_at=day,
            ended_at=day, minutes_listened=minutes, outcome=outcome, uid=f"fixed-{i}",
            ratings=(Rating("stress", "before", float(before), recorded_at=day),
                     Rating("stress", "after", float(after), recorded_at=day)),
        ))


@pytest.fixture(autouse=True)
def quick_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stopping fades out over 2 s for a listener; a few tenths are enough for a test."""
    from companion.core import listening

    monkeypatch.setattr(listening, "STOP_FADE_S", 0.3)


@pytest.fixture
def store(companion_home: Path) -> Store:
    s = Store()
    yield s
    s.close()


@pytest.fixture
def library(store: Store, tmp_path: Path) -> Playlist:
    """Three short tracks in the store and the playlist 'evening' that plays them."""
    return save_playlist("evening", add_library(store, tmp_path / "music"))


async def wait_until(pilot: Pilot, condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Let the app run until ``condition()`` holds (workers, timers, the player's threads)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the app did not get there in time")
        await pilot.pause(0.05)


def row_text(table, row: int) -> list[str]:
    """The cells of a table's row as the person reads them (cells may be Text or str)."""
    return [str(c) for c in table.get_row_at(row)]
