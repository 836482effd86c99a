"""What a track feels like: measured at scan time, stored, shown, and used to find duplicates."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from companion.core import character, duplicates, scan
from companion.core.analysis import analyse_file
from companion.core.store import Store

SR = 22050
ROOT = Path(__file__).resolve().parents[2]


def soft_pad(seconds: float = 70.0, *, seed: int = 0) -> np.ndarray:
    """Music whose calm is not in doubt: a quiet sustained chord, swelling slowly."""
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(seed)
    y = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) * (0.6 + 0.4 * np.sin(2 * np.pi * t / 13 + i))
            for i, f in enumerate((196.0, 246.9, 293.7, 392.0)))
    return (0.03 * y * np.minimum(1.0, t / 3)).astype(np.float32)


def busy_loop(seconds: float = 70.0, *, bpm: float = 126.0, seed: int = 0) -> np.ndarray:
    """Music whose energy is not in doubt: loud kick, snare and bright sixteenth hi-hats."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    y = np.zeros(n)
    step = int(SR * 60 / bpm / 4)
    hit = np.arange(SR // 20)
    for k, i in enumerate(range(0, n - SR // 4, step)):
        y[i : i + hit.size] += 0.5 * np.diff(rng.standard_normal(hit.size + 1)) * np.exp(-hit / (SR * 0.01))
        if k % 4 == 0:
            t = np.arange(SR // 5) / SR
            y[i : i + t.size] += 0.9 * np.sin(2 * np.pi * (50 + 100 * np.exp(-t * 30)) * t) * np.exp(-t * 12)
        if k % 8 == 4:
            m = SR // 8
            y[i : i + m] += 0.6 * rng.standard_normal(m) * np.exp(-np.arange(m) / (SR * 0.04))
    return np.clip(y, -1, 1).astype(np.float32)


def write(path: Path, y: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y, SR)
    return path


def test_a_soft_slow_pad_is_calm_and_a_dense_bright_loop_energetic(tmp_path: Path) -> None:
    calm = analyse_file(write(tmp_path / "pad.wav", soft_pad())).character
    lively = analyse_file(write(tmp_path / "loop.wav", busy_loop())).character
    assert calm is not None and lively is not None
    assert calm.arousal < 0.3 < 0.7 < lively.arousal
    # each measure points the same way
    assert calm.onset_density < 1.0 < 4.0 < lively.onset_density
    assert calm.percussive_share < 0.3 < 0.6 < lively.percussive_share
    assert calm.centroid_hz < lively.centroid_hz
    assert len(calm.timbre) == character.TIMBRE_SIZE


def test_arousal_orders_pieces_by_how_busy_and_loud_they_are(tmp_path: Path) -> None:
    pad = soft_pad()
    mixes = [pad, pad + 0.15 * busy_loop(bpm=70), pad + 0.5 * busy_loop(bpm=110), busy_loop(bpm=140)]
    scores = [analyse_file(write(tmp_path / f"{i}.wav", np.clip(y, -1, 1))).character.arousal
              for i, y in enumerate(mixes)]
    assert scores == sorted(scores) and scores[-1] - scores[0] > 0.4


def test_a_silent_file_has_no_character_and_no_fingerprint(tmp_path: Path) -> None:
    r = analyse_file(write(tmp_path / "silence.wav", np.zeros(SR * 70, dtype=np.float32)))
    assert not r.error and r.character is None and r.fingerprint == b""


def test_the_same_recording_in_two_formats_and_levels_is_one_recording(tmp_path: Path) -> None:
    y = np.clip(soft_pad(seed=1) * 8 + 0.2 * busy_loop(bpm=90, seed=1), -1, 1)
    a = analyse_file(write(tmp_path / "a/song.wav", y))
    sf.write(str(tmp_path / "song.ogg"), y * 0.5, SR)  # lossy, 6 dB quieter, another path
    b = analyse_file(tmp_path / "song.ogg")
    other = analyse_file(write(tmp_path / "other.wav", np.clip(busy_loop(bpm=90, seed=2) * 0.7, -1, 1)))
    assert duplicates.bit_error(a.fingerprint, b.fingerprint) < 0.15
    assert duplicates.bit_error(a.fingerprint, other.fingerprint) > 0.35
    with Store() as store:
        store.save_analysis([a, b, other])
        tracks = store.tracks(fingerprints=True)
    ids = duplicates.recording_ids(tracks)
    by_path = {t.path: int(i) for t, i in zip(tracks, ids, strict=True)}
    assert by_path[a.path] == by_path[b.path] != by_path[other.path]


def test_features_are_stored_and_shown_by_tracks(tmp_path: Path) -> None:
    write(tmp_path / "music/pad.wav", soft_pad())
    with Store() as store:
        scan.scan([tmp_path / "music"], store, jobs=1)
        t = store.tracks(fingerprints=True)[0]
    assert t.character is not None and 0 <= t.arousal <= 1 and t.fingerprint
    out = subprocess.run([sys.executable, "-m", "companion", "tracks", "--format", "json"],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    row = json.loads(out.stdout)[0]
    assert row["arousal"] == pytest.approx(t.arousal)
    assert {"onset_density", "percussive_share", "centroid_hz", "rolloff_hz", "dynamic_range_db"} <= set(row)
    table = subprocess.run([sys.executable, "-m", "companion", "tracks"], capture_output=True, text=True,
                           cwd=ROOT, check=True).stdout
    assert "arousal" in table.splitlines()[0] and f"{t.arousal:.2f}" in table


def test_a_rescan_fills_in_the_character_of_an_old_library(tmp_path: Path, companion_home: Path) -> None:
    write(tmp_path / "music/pad.wav", soft_pad())
    with Store() as store:
        first = scan.scan([tmp_path / "music"], store, jobs=1)
    assert first.analysed == 1
    # as a library from before characters were measured: the columns empty, version 0
    with sqlite3.connect(companion_home / "companion.db") as db:
        db.execute("UPDATE tracks SET c_arousal = NULL, fingerprint = NULL, character_version = 0")
    with Store() as store:
        assert store.tracks()[0].character is None
        again = scan.scan([tmp_path / "music"], store, jobs=1)
        assert again.analysed == 1 and again.skipped_unchanged == 0
        assert store.tracks()[0].character is not None
        third = scan.scan([tmp_path / "music"], store, jobs=1)
    assert third.skipped_unchanged == 1  # measured now: unchanged files are skipped again
