"""The breathing guide and the beat pulse: on the stored beats, a whole number of beats a
breath, five to seven breaths a minute whatever the tempo, slower down the arc."""

from __future__ import annotations

import numpy as np
import pytest

from companion.core.breathing import (
    MAX_RATE,
    MIN_RATE,
    arc_descent,
    beat_position,
    breath_counts,
    breath_cue,
    pulse_glow,
)


def test_four_in_six_out_at_sixty_bpm_is_six_breaths_a_minute() -> None:
    assert breath_counts(60.0) == (4, 6)
    cue = breath_cue(0.0, 60.0, (4, 6))
    assert (cue.phase, cue.beat, cue.beats, cue.breaths_per_min) == ("in", 1, 4, 6.0)
    assert breath_cue(4.0, 60.0, (4, 6)).phase == "out"
    assert breath_cue(9.5, 60.0, (4, 6)).progress == pytest.approx(5.5 / 6)
    assert breath_cue(10.0, 60.0, (4, 6)).phase == "in"


@pytest.mark.parametrize("bpm", [20, 31, 45, 52.5, 60, 72, 88, 100, 120, 143, 180, 240, 300])
@pytest.mark.parametrize("descent", [0.0, 0.5, 1.0])
def test_breaths_stay_between_five_and_seven_a_minute_with_a_longer_exhale(bpm: float, descent: float) -> None:
    inhale, exhale = breath_counts(bpm, descent)
    assert inhale >= 1 and exhale >= inhale
    assert MIN_RATE <= bpm / (inhale + exhale) <= MAX_RATE


def test_breathing_slows_as_the_arc_descends() -> None:
    top, bottom = breath_counts(90.0, 0.0), breath_counts(90.0, 1.0)
    assert 90.0 / sum(bottom) < 90.0 / sum(top)
    assert arc_descent([90, 80, 70, 60], 90) == 0.0 and arc_descent([90, 80, 70, 60], 60) == 1.0
    assert arc_descent([90, 60, 80], 75) == pytest.approx(0.5)  # a U: back up is less descended
    assert arc_descent([], 70) == 0.0 and arc_descent([70, 70], 70) == 0.0


def test_the_pulse_follows_the_stored_beats_not_a_grid_from_zero() -> None:
    beats = [0.37 + 0.5 * k for k in range(40)]  # 120 BPM, first beat at 0.37 s
    assert pulse_glow(beat_position(beats, 120.0, 0.37)) == pytest.approx(1.0)
    assert pulse_glow(beat_position(beats, 120.0, 0.87)) == pytest.approx(1.0)
    assert pulse_glow(beat_position(beats, 120.0, 0.62)) == pytest.approx(0.125)
    # the old grid (beat 1 at 0 s) would glow fully at 0.5 s, a quarter-beat early
    assert pulse_glow(beat_position(beats, 120.0, 0.5)) < 0.5


def test_beats_are_counted_at_the_level_the_playlist_uses() -> None:
    beats = [0.2 + 0.5 * k for k in range(40)]  # stored at 120 BPM
    assert beat_position(beats, 60.0, 0.2 + 2.0) == pytest.approx(2.0)  # halved: every other
    assert beat_position(beats, 240.0, 0.2 + 0.25) == pytest.approx(1.0)  # doubled: between
    assert beat_position(beats, 80.0, 0.2 + 1.5) == pytest.approx(2.0)  # two-thirds


def test_beats_follow_a_drifting_tempo_and_go_on_past_the_last() -> None:
    times = np.cumsum(np.linspace(1.0, 0.9, 30))  # speeding up a little
    beats = list(times)
    assert beat_position(beats, 63.0, float(times[20])) == pytest.approx(20.0)
    assert beat_position(beats, 63.0, float(times[-1]) + 0.9) == pytest.approx(30.0, abs=0.05)
    assert beat_position([], 60.0, 3.0) == pytest.approx(3.0)  # no beats: a grid from 0 s
    assert beat_position(beats, None, 3.0) is None and pulse_glow(None) == 0.0
