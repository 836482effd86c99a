"""A breathing guide paced to the music, and the beat it follows: pure functions of time.

Slow breathing near six breaths a minute calms (it is the pace of most paced-breathing
protocols, and where heart rate and breath fall into step); music that asks for it on its
own beat makes the two one thing to follow. So each breath lasts a whole number of beats of
the track playing — inhale a little shorter than exhale (about 2 : 3, e.g. 4 in and 6 out at
60 BPM) — with the count chosen so that a breath lasts 60/5 … 60/7 s whatever the tempo, and a
little slower as the arc descends (:data:`START_RATE` → :data:`END_RATE` breaths a minute).

The beats are the ones stored by the analysis (``Store.beat_times``), so the guide and the
pulse fall on the beats a listener hears, not on a grid that assumes beat 1 at 0 s. The
tempo a playlist uses may be another level of those beats (halved, doubled, ⅔, 3⁄2 by the
listener or the plan): the stored beats are then counted at that level.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "MIN_RATE", "MAX_RATE", "START_RATE", "END_RATE", "BreathCue", "beat_position", "pulse_glow",
    "breath_counts", "arc_descent", "breath_cue",
]

MIN_RATE, MAX_RATE = 5.0, 7.0  # breaths a minute the guide keeps to
START_RATE, END_RATE = 6.0, 5.2  # breaths a minute aimed at: top of the arc, bottom of it
INHALE_SHARE = 0.4  # of a breath: in 2, out 3


def beat_position(beats: Sequence[float], bpm: float | None, position_s: float) -> float | None:
    """How many beats (at ``bpm``) have passed at ``position_s`` s into the track; the whole
    part counts beats, the fraction is the way to the next one. None without a tempo.

    beats : stored beat times, seconds from the track's start, ascending (may be empty: then a
        grid from 0 s at ``bpm``).
    bpm : the tempo the playlist uses for this track (beats per minute > 0).
    Beat 0 is the first stored beat; before it and after the last, the nearest beat interval
    goes on.
    """
    if not bpm or bpm <= 0 or not math.isfinite(bpm):
        return None
    if len(beats) < 2:
        origin = beats[0] if beats else 0.0
        return (position_s - origin) * bpm / 60.0
    intervals = sorted(b - a for a, b in zip(beats, beats[1:], strict=False))
    step = intervals[len(intervals) // 2]
    if step <= 0:
        return (position_s - beats[0]) * bpm / 60.0
    ratio = _level(bpm / (60.0 / step))
    i = bisect.bisect_right(beats, position_s) - 1
    if i < 0:
        stored = (position_s - beats[0]) / max(beats[1] - beats[0], 1e-3)
    elif i >= len(beats) - 1:
        stored = len(beats) - 1 + (position_s - beats[-1]) / max(beats[-1] - beats[-2], 1e-3)
    else:
        stored = i + (position_s - beats[i]) / (beats[i + 1] - beats[i])
    return stored * ratio


def _level(ratio: float) -> float:
    """The stored beats' level to the used tempo: a simple ratio (1, 2, ½, ⅔, 3⁄2, 3, ⅓) when
    it is within 4 % of one, else the ratio itself (a hand-set tempo not related to them)."""
    for simple in (1.0, 2.0, 0.5, 2 / 3, 1.5, 3.0, 1 / 3):
        if abs(ratio / simple - 1.0) <= 0.04:
            return simple
    return ratio


def pulse_glow(beats_passed: float | None) -> float:
    """0–1: 1 on the beat, decaying over it (a soft swell a listener can follow)."""
    if beats_passed is None:
        return 0.0
    return (1.0 - beats_passed % 1.0) ** 3


def arc_descent(tempos: Sequence[float | None], bpm: float | None) -> float:
    """0 at the playlist's first tempo, 1 at its slowest: how far down the arc ``bpm`` is."""
    known = [t for t in tempos if t]
    if not known or not bpm:
        return 0.0
    top, bottom = known[0], min(known)
    if top - bottom < 1e-6:
        return 0.0
    return min(1.0, max(0.0, (top - bpm) / (top - bottom)))


def breath_counts(bpm: float, descent: float = 0.0) -> tuple[int, int]:
    """(beats in, beats out) for one breath at ``bpm``: a whole number of beats each, about
    2 : 3, a breath of 60/MAX_RATE … 60/MIN_RATE s, aimed at START_RATE → END_RATE breaths a
    minute as ``descent`` goes 0 → 1. At 60 BPM from the top: (4, 6), six breaths a minute."""
    if not bpm > 0:
        raise ValueError(f"bpm must be > 0, not {bpm!r}")
    aim = START_RATE + (END_RATE - START_RATE) * min(1.0, max(0.0, descent))
    total = max(2, round(bpm / aim))
    while bpm / total > MAX_RATE:
        total += 1
    while total > 2 and bpm / total < MIN_RATE:
        total -= 1
    inhale = max(1, round(total * INHALE_SHARE))
    return inhale, total - inhale


@dataclass(frozen=True)
class BreathCue:
    """Where the breath is now: ``phase`` "in" or "out", ``progress`` 0–1 through it, the
    ``beat`` of the phase (1-based) of ``beats`` in it, and the pace in breaths a minute."""

    phase: str
    progress: float
    beat: int
    beats: int
    inhale: int
    exhale: int
    breaths_per_min: float


def breath_cue(beats_passed: float, bpm: float, counts: tuple[int, int]) -> BreathCue:
    """The breath at ``beats_passed`` (from :func:`beat_position`): each breath begins with an
    inhale on a beat whose number is a multiple of the breath's length, so it starts on the
    track's first beat and stays on the beat."""
    inhale, exhale = counts
    total = inhale + exhale
    into = beats_passed % total
    if into < inhale:
        phase, start, length = "in", 0.0, inhale
    else:
        phase, start, length = "out", float(inhale), exhale
    progress = (into - start) / length
    return BreathCue(phase, progress, int(into - start) + 1, length, inhale, exhale, bpm / total)
