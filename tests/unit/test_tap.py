"""Tap tempo as a person taps: unevenly, with a missed tap now and then."""

from __future__ import annotations

import random

from companion.core.tap import MIN_TAPS, RESET_S, TapTempo, tap_bpm


def taps(bpm: float, n: int, *, jitter_s: float = 0.0, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    period = 60.0 / bpm
    return [i * period + rng.uniform(-jitter_s, jitter_s) for i in range(n)]


def test_steady_taps_give_their_tempo():
    assert tap_bpm(taps(72, 8)) == 72.0


def test_uneven_human_taps_land_within_two_percent():
    for bpm in (48, 63, 90, 140):
        got = tap_bpm(taps(bpm, 10, jitter_s=0.02, seed=bpm))
        assert got is not None and abs(got - bpm) / bpm < 0.02, (bpm, got)


def test_a_missed_tap_does_not_halve_the_tempo():
    times = taps(80, 9)
    del times[5]  # one beat not tapped: one interval twice as long
    assert tap_bpm(times) == 80.0


def test_too_few_taps_give_no_tempo_yet():
    assert tap_bpm(taps(60, MIN_TAPS - 1)) is None
    assert tap_bpm(taps(60, MIN_TAPS)) == 60.0


def test_a_long_pause_starts_a_new_tapping():
    tapper = TapTempo()
    for t in taps(120, 6):
        tapper.tap(t)
    later = max(tapper.times) + RESET_S + 1
    results = [tapper.tap(later + t) for t in taps(60, 5)]
    assert tapper.count == 5 and results[-1] == 60.0
