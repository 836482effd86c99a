"""Levelling from what the library already knows: the feeder never waits for a measurement.

A playlist entry carries the loudness and peak the scan stored (in the M3U8's
``#COMPANION-TRACK`` line too); the player levels with them and reads no file for it. Only a
track nobody measured is measured, in the background, never by the feeder while a listener
waits.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from companion.core import loudness, playlists
from companion.core.models import (
    AnalysisResult,
    Loudness,
    Playlist,
    PlaylistEntry,
    Tags,
    TempoEstimate,
)
from companion.core.player import NullOutput, Player

SR = 8000


def _tone(path: Path, seconds: float, amp: float, freq: float = 220.0) -> str:
    import soundfile as sf

    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32), SR)
    return str(path)


@pytest.fixture
def measured(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every file the player measures, with the thread that measured it."""
    calls: list[tuple[str, str]] = []
    real = loudness.measure_loudness

    def spy(path: str | Path, **kw: object) -> Loudness:
        calls.append((Path(path).name, threading.current_thread().name))
        return real(path, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(loudness, "measure_loudness", spy)
    return calls


def test_stored_loudness_and_peak_level_the_track_without_reading_it_again(
    tmp_path: Path, measured: list[tuple[str, str]]
) -> None:
    # The library says -30 LUFS, peak -20 dBFS: +10 dB to reach -20 LUFS (whatever the file holds).
    path = _tone(tmp_path / "a.wav", 2.0, 0.1)
    entry = PlaylistEntry(path=path, title="a", loudness_lufs=-30.0, peak_dbfs=-20.0)
    out = NullOutput(keep=True)
    with Player(Playlist("stored", (entry,)), output=out, crossfade_s=0, fade_in_s=0, fade_out_s=0) as p:
        p.start()
        assert p.wait(10)
    assert measured == []
    assert np.abs(out.frames).max() == pytest.approx(0.1 * 10 ** (10 / 20), rel=0.01)


def test_an_unmeasured_track_is_measured_in_the_background_while_a_listener_waits(
    tmp_path: Path, measured: list[tuple[str, str]]
) -> None:
    known = PlaylistEntry(path=_tone(tmp_path / "known.wav", 3.0, 0.1), title="known",  # > the ring
                          loudness_lufs=-30.0, peak_dbfs=-20.0)
    unknown = PlaylistEntry(path=_tone(tmp_path / "unknown.wav", 1.0, 0.1, 330.0), title="unknown")
    out = NullOutput(realtime=True, speed=4.0)
    with Player(Playlist("mixed", (known, unknown)), output=out, crossfade_s=0.2, fade_in_s=0,
                fade_out_s=0) as p:
        p.start()
        assert p.wait(10)
    assert measured == [("unknown.wav", "companion-levels")]  # never the feeder, never twice


def test_a_file_render_measures_unknown_tracks_exactly(tmp_path: Path, measured: list[tuple[str, str]]) -> None:
    quiet = PlaylistEntry(path=_tone(tmp_path / "quiet.wav", 2.0, 0.02), title="quiet")
    out = NullOutput(keep=True)  # not real time: nobody waits, so the render is exact
    with Player(Playlist("render", (quiet,)), output=out, crossfade_s=0, fade_in_s=0, fade_out_s=0) as p:
        p.start()
        assert p.wait(10)
    assert [name for name, _ in measured] == ["quiet.wav"]
    assert loudness.measure_loudness_array(out.frames, SR).lufs == pytest.approx(-20.0, abs=0.3)


def test_the_m3u8_keeps_loudness_and_peak_and_old_files_still_load(tmp_path: Path) -> None:
    entry = PlaylistEntry(path=str(tmp_path / "a.wav"), title="a", duration_s=3.0,
                          loudness_lufs=-23.456, peak_dbfs=-3.21)
    text = playlists.dumps(Playlist("p", (entry,)))
    assert '"peak_dbfs": -3.21' in text and '"loudness_lufs": -23.46' in text
    back = playlists.parse(text, base_dir=tmp_path).entries[0]
    assert (back.loudness_lufs, back.peak_dbfs) == (-23.46, -3.21)
    old = f'#EXTM3U\n#COMPANION-TRACK:{{"bpm": 80.0, "loudness_lufs": -20.0}}\n{entry.path}\n'
    loaded = playlists.parse(old, base_dir=tmp_path).entries[0]
    assert (loaded.bpm, loaded.loudness_lufs, loaded.peak_dbfs) == (80.0, -20.0, None)


def test_loading_with_the_library_fills_in_loudness_and_peak(tmp_path: Path) -> None:
    from companion.core.store import Store

    path = str(tmp_path / "a.wav")
    m3u = tmp_path / "plain.m3u8"
    m3u.write_text(f"#EXTM3U\n{path}\n")
    with Store() as store:
        store.save_analysis([AnalysisResult(path=path, size=1, mtime=1.0,
                                            tags=Tags("a", "", "", "", 3.0),
                                            tempo=TempoEstimate(80.0, 0.9),
                                            loudness=Loudness(-18.5, -2.5))])
        entry = playlists.load(m3u, store=store).entries[0]
    assert (entry.loudness_lufs, entry.peak_dbfs) == (-18.5, -2.5)
