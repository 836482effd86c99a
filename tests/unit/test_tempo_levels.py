"""The metrical level a listener taps: clear fast music reads fast, slow soft music reads slow.

Each case is a short piece synthesised here with numpy (plucked, bell and pad tones, a soft
shaker), at a tempo where estimators tend to halve, double or pick the 3/2 level.
"""

from __future__ import annotations

import numpy as np
import pytest

from companion.core.tempo import ANALYSIS_SR, estimate_tempo

SR = ANALYSIS_SR
A_MAJOR = (0, 2, 4, 5, 7, 9, 11)
PROGRESSION = ((0, 4, 7), (9, 12, 16), (5, 9, 12), (7, 11, 14))  # I vi IV V, semitones


def _hz(semitone: float, base: float = 220.0) -> float:
    return base * 2 ** (semitone / 12)


def _tone(kind: str, f: float, dur: float, rng: np.random.Generator) -> np.ndarray:
    if kind == "shaker":
        n = int(0.04 * SR)
        noise = rng.normal(0, 1, n)
        noise = np.diff(noise, prepend=0.0)  # brighter
        return noise * np.exp(-np.arange(n) / (0.01 * SR))
    length = dur + {"pluck": 0.8, "bell": 1.8, "pad": 0.4}[kind]
    t = np.arange(int(length * SR)) / SR
    if kind == "pluck":
        env = np.exp(-t / 0.35) * np.minimum(t / 0.003, 1)
        partials = ((1, 1.0), (2, 0.5), (3, 0.3), (4, 0.15))
    elif kind == "bell":
        env = np.exp(-t / 1.0) * np.minimum(t / 0.002, 1)
        partials = ((1, 1.0), (2.76, 0.4), (5.4, 0.2), (8.93, 0.08))
    else:  # pad: slow attack, held, released
        env = np.minimum(t / 0.35, 1) * np.where(t < dur, 1.0, np.exp(-(t - dur) / 0.15))
        partials = ((1, 1.0), (2, 0.35), (3, 0.2))
    out = sum(a * np.sin(2 * np.pi * f * k * t + rng.uniform(0, 6.3)) for k, a in partials)
    return out * env


def _render(notes: list[tuple[float, str, float, float, float]], seconds: float,
            seed: int) -> np.ndarray:
    """notes: (onset s, kind, Hz, duration s, amplitude) -> mono audio with a little timing jitter."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int((seconds + 3) * SR))
    for onset, kind, f, dur, amp in notes:
        i = max(0, int(round((onset + rng.normal(0, 0.006)) * SR)))
        tone = amp * _tone(kind, f, dur, rng)
        seg = y[i : i + len(tone)]
        seg += tone[: len(seg)]
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def _broken_chords(bpm: float, seconds: float, per_beat: int, chord_beats: int, bass_every: int,
                   shaker: bool, seed: int) -> list[tuple[float, str, float, float, float]]:
    """Plucked broken chords, ``per_beat`` notes a beat (the first accented), a bass note every
    ``bass_every`` beats, a chord change every ``chord_beats`` beats, an optional soft shaker."""
    beat = 60.0 / bpm
    notes = []
    for k in range(int(seconds / beat * per_beat)):
        t, b = k * beat / per_beat, k // per_beat
        chord = PROGRESSION[(b // chord_beats) % 4]
        on_beat = k % per_beat == 0
        notes.append((t, "pluck", _hz(chord[k % 3] + 12), beat / per_beat, 0.5 if on_beat else 0.3))
        if on_beat and b % bass_every == 0:
            notes.append((t, "pluck", _hz(chord[0] - 12), beat, 0.7 if b % 4 == 0 else 0.55))
        if shaker:
            notes.append((t, "shaker", 0.0, 0.0, 0.08 if on_beat else 0.05))
    return notes


def plucked_with_shaker(bpm: float = 110.0, seconds: float = 40.0) -> np.ndarray:
    """4/4: plucked broken chords in eighths, bass on 1 and 3, a soft shaker on the eighths,
    a chord change every two bars (slow harmony must not halve the beat)."""
    return _render(_broken_chords(bpm, seconds, 2, 8, 2, True, 1), seconds, 1)


def bell_piece(bpm: float = 90.0, seconds: float = 40.0) -> np.ndarray:
    """4/4 bells, no percussion: broken chords in eighths under a melody in quarter and half
    notes, a chord change every two bars."""
    rng = np.random.default_rng(2)
    beat = 60.0 / bpm
    notes = [(t, "bell", f, d, 0.6 * a)
             for t, _, f, d, a in _broken_chords(bpm, seconds, 2, 8, 4, False, 2)]
    b = 0
    while b < int(seconds / beat):
        length = 2 if rng.random() < 0.3 and b % 2 == 0 else 1
        notes.append((b * beat, "bell", _hz(A_MAJOR[rng.integers(7)] + 12), length * beat,
                      0.45 if b % 4 == 0 else 0.35))
        b += length
    return _render(notes, seconds, 2)


def pad_and_melody(bpm: float = 60.0, seconds: float = 48.0) -> np.ndarray:
    """4/4, soft: held pad chords (one per bar), a bass note per bar, a plucked melody in
    quarters with the odd pair of eighths."""
    rng = np.random.default_rng(3)
    beat = 60.0 / bpm
    notes = []
    for bar in range(int(seconds / beat / 4)):
        t0 = bar * 4 * beat
        chord = PROGRESSION[bar % 4]
        for s in chord:
            notes.append((t0, "pad", _hz(s), 4 * beat, 0.12))
        notes.append((t0, "pad", _hz(chord[0] - 12), 4 * beat, 0.2))
        for q in range(4):
            accent = 0.5 if q == 0 else (0.42 if q == 2 else 0.36)
            if rng.random() < 0.2 and q in (1, 3):
                for e in (0, 1):
                    notes.append((t0 + (q + e / 2) * beat, "pluck",
                                  _hz(A_MAJOR[rng.integers(7)] + 12), beat / 2, accent * 0.8))
            else:
                notes.append((t0 + q * beat, "pluck", _hz(chord[q % 3] + 12), beat, accent))
    return _render(notes, seconds, 3)


def six_eight(bpm: float = 66.0, seconds: float = 44.0) -> np.ndarray:
    """6/8 at ``bpm`` dotted quarters: plucked eighths in threes, the bass on each dotted
    quarter, the first eighth of each group accented."""
    return _render(_broken_chords(bpm, seconds, 3, 4, 1, False, 4), seconds, 4)


@pytest.mark.parametrize(
    ("make", "bpm"),
    [
        pytest.param(plucked_with_shaker, 110.0, id="plucked-shaker-110"),
        pytest.param(bell_piece, 90.0, id="bells-90"),
        pytest.param(pad_and_melody, 60.0, id="pad-melody-60"),
        pytest.param(six_eight, 66.0, id="six-eight-66-dotted-quarter"),
    ],
)
def test_the_beat_a_listener_taps(make, bpm: float) -> None:
    est = estimate_tempo(make(bpm), SR)
    assert est.bpm == pytest.approx(bpm, rel=0.04), est
