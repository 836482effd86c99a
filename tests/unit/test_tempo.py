"""Tempo estimation: resolution on click tracks, the metrical level of slow music, tap tempo."""

from __future__ import annotations

import numpy as np
import pytest

from companion.core.errors import CompanionError, UserInputError
from companion.core.tempo import (
    ANALYSIS_SR,
    TempoError,
    estimate_tempo,
    prepare_numba_cache,
    tap_tempo,
)

SR = ANALYSIS_SR


def click_track(bpm: float, seconds: float = 40.0, sr: int = SR) -> np.ndarray:
    y = np.zeros(int(seconds * sr), dtype=np.float32)
    n = int(0.01 * sr)
    t = np.arange(n) / sr
    click = (np.sin(2 * np.pi * 1000 * t) * np.exp(-t / 0.002)).astype(np.float32)
    for onset in np.arange(0.25, seconds - 0.05, 60.0 / bpm):
        i = int(round(onset * sr))
        y[i : i + n] += click[: len(y) - i]
    return 0.5 * y


@pytest.mark.parametrize(("bpm", "lo", "hi"), [(120.0, 119.5, 120.5), (63.0, 62.5, 63.5)])
def test_click_track_reads_to_a_tenth_of_a_bpm(bpm: float, lo: float, hi: float) -> None:
    est = estimate_tempo(click_track(bpm), SR)
    assert lo <= est.bpm <= hi
    assert est.bpm == round(est.bpm, 1)


def test_estimate_gives_alternatives_edges_and_beats() -> None:
    est = estimate_tempo(click_track(90.0, seconds=75.0), SR)
    assert {a.ratio for a in est.alternatives} == {"1/2", "2", "2/3", "3/2"}
    by_ratio = {a.ratio: a for a in est.alternatives}
    assert by_ratio["1/2"].bpm == pytest.approx(est.bpm / 2, abs=0.1)
    assert all(0.0 <= a.score <= 1.0 for a in est.alternatives)
    assert 0.0 <= est.confidence <= 1.0
    assert est.bpm_start == pytest.approx(90.0, abs=1.0) and est.bpm_end == pytest.approx(90.0, abs=1.0)
    beats = np.array(est.beat_times)
    assert len(beats) == pytest.approx(75 * 1.5, abs=4)
    assert np.median(np.diff(beats)) == pytest.approx(60 / 90, abs=0.02)


def test_other_sample_rates_and_stereo_are_accepted() -> None:
    y = click_track(100.0, sr=22050)
    est = estimate_tempo(np.stack([y, y], axis=1), 22050)
    assert 99.5 <= est.bpm <= 100.5


@pytest.mark.parametrize("y", [np.zeros(SR * 20, dtype=np.float32), np.ones(SR * 2, dtype=np.float32)])
def test_silence_or_a_short_clip_has_no_tempo(y: np.ndarray) -> None:
    with pytest.raises(TempoError) as err:
        estimate_tempo(y, SR)
    assert isinstance(err.value, CompanionError) and "\n" not in str(err.value)


def test_tap_tempo_uses_the_median_interval() -> None:
    assert tap_tempo([0.0, 1.0, 2.0, 3.0]) == 60.0
    assert tap_tempo([10.0, 10.5]) == 120.0
    # one hesitant tap does not drag the tempo
    assert tap_tempo([0.0, 0.8, 1.6, 2.7, 3.5, 4.3]) == 75.0


@pytest.mark.parametrize("taps", [[], [1.0], [2.0, 1.0], [1.0, 1.0], [0.0, 10.0], [0.0, 0.1], ["a", "b"],
                                  [0.0, float("nan")]])
def test_tap_tempo_rejects_bad_taps(taps: list) -> None:
    with pytest.raises(UserInputError) as err:
        tap_tempo(taps)
    assert "\n" not in str(err.value)


def test_numba_cache_dir_is_set_once(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = prepare_numba_cache()
    assert folder is not None and folder.is_dir()
    import os

    assert os.environ["NUMBA_CACHE_DIR"] == str(folder)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert str(prepare_numba_cache()) == str(tmp_path / "mine")
