from __future__ import annotations

import dataclasses
import os
import sqlite3
import stat

import pytest

from companion.core.errors import NotFoundError, StoreError
from companion.core.models import AnalysisResult, Rating, Tags, TempoEstimate
from companion.core.store import SCHEMA_VERSION, Store
from tests.records import record


def _result(path: str, bpm: float = 72.0, error: str = "") -> AnalysisResult:
    if error:
        return AnalysisResult(path=path, size=10, mtime=1.0, error=error)
    return AnalysisResult(
        path=path, size=10, mtime=1.0,
        tags=Tags(title="Dusk", artist="Ana", album="", genre="", duration_s=90.0),
        tempo=TempoEstimate(bpm=bpm, confidence=0.8),
    )


def test_database_is_private_and_versioned(companion_home) -> None:
    with Store() as store:
        store.listener_id("me")
    db = companion_home / "companion.db"
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_manual_bpm_survives_a_rescan(tmp_path) -> None:
    path = str((tmp_path / "a.wav").resolve())
    with Store() as store:
        store.save_analysis([_result(path, 120.0)])
        store.set_manual_bpm(path, 60.0)
        store.save_analysis([_result(path, 121.0)])
        track = store.track(path)
    assert (track.bpm, track.bpm_source, track.bpm_auto) == (60.0, "manual", 121.0)


def test_a_failed_file_keeps_its_error_row(tmp_path) -> None:
    with Store() as store:
        store.save_analysis([_result("/x/bad.mp3", error="cannot read audio")])
        [track] = store.tracks()
    assert (track.status, track.error, track.title) == ("error", "cannot read audio", "bad")


def test_the_track_count_counts_every_file_without_reading_them(tmp_path) -> None:
    with Store() as store:
        assert store.track_count() == 0
        store.save_analysis([_result("/x/bad.mp3", error="cannot read audio"), _result("/x/good.flac")])
        assert store.track_count() == len(store.tracks()) == 2


def test_a_failed_write_keeps_what_was_saved() -> None:
    with Store() as store:
        s = record(store, playlist="p", before=[Rating("stress", "before", 6)])
        with pytest.raises(StoreError):
            store.add_ratings(s.id, [Rating("stress", "after", 3), Rating("stress", "sideways", 1)])
        # the listening session's own write: the whole record, all or nothing
        broken = dataclasses.replace(s, minutes_listened=99.0, ratings=(
            *s.ratings, Rating("stress", "after", 3), Rating("stress", "sideways", 1)))
        with pytest.raises(StoreError):
            store.save_session(broken)
        s = store.session(s.id)
    assert s.value("before") == 6 and s.value("after") is None and s.minutes_listened == 20.0


def test_unknown_track_is_a_clear_error(tmp_path) -> None:
    with Store() as store, pytest.raises(NotFoundError, match="companion scan"):
        store.track(tmp_path / "nope.wav")


def test_a_corrupt_database_is_a_clear_error(companion_home) -> None:
    companion_home.mkdir(parents=True, exist_ok=True)
    (companion_home / "companion.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="move the file aside"):
        Store()


def test_back_to_the_analysed_tempo_restores_its_confidence(tmp_path) -> None:
    path = str((tmp_path / "a.wav").resolve())
    with Store() as store:
        store.save_analysis([_result(path, 120.0)])
        store.set_manual_bpm(path, 60.0)
        track = store.clear_manual_bpm(path)
    assert (track.bpm, track.bpm_confidence, track.bpm_source) == (120.0, 0.8, "auto")


def test_a_version_1_database_is_migrated(companion_home, tmp_path) -> None:
    companion_home.mkdir(parents=True, exist_ok=True)
    db = companion_home / "companion.db"
    from companion.core import store as store_mod

    conn = sqlite3.connect(db)
    conn.executescript(store_mod._SCHEMA)
    conn.execute(
        "INSERT INTO tracks (path, size, mtime, bpm, bpm_confidence, bpm_auto) "
        "VALUES ('/m/a.flac', 1, 1, 70, 0.7, 70)"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with Store() as store:
        store.set_manual_bpm("/m/a.flac", 35)
        track = store.clear_manual_bpm("/m/a.flac")
    assert (track.bpm, track.bpm_confidence) == (70, 0.7)


def _open_at(args: tuple[str, float]) -> str:
    """In a worker process: wait for the common start time, open the store, list sessions."""
    import time

    home, start = args
    while time.time() < start:
        pass
    os.environ["COMPANION_HOME"] = home
    try:
        with Store() as store:
            store.sessions()
        return ""
    except StoreError as exc:
        return str(exc)


def test_processes_opening_a_new_database_at_once_all_succeed(tmp_path) -> None:
    # The app, `companion play` and a scan can open a new database together; both used to read
    # schema version 0 and add the same column ("duplicate column name"), or fail switching to
    # WAL ("database is locked"). Before the fix 88 of 120 such opens failed.
    import multiprocessing
    import time

    errors: list[str] = []
    with multiprocessing.get_context("fork").Pool(4) as pool:
        for i in range(8):
            home = tmp_path / f"home-{i}"
            home.mkdir()
            errors += [e for e in pool.map(_open_at, [(str(home), time.time() + 0.2)] * 4) if e]
    assert errors == []
    with Store(tmp_path / "home-0" / "companion.db") as store:
        assert store.sessions() == []
