"""Tempo estimation: resolution on click tracks, the metrical level of slow music, tap tempo."""

from __future__ import annotations

import numpy as np
import pytest

from companion.core.errors import CompanionError, UserInputError
from companion.core.tempo import (
    ANALYSIS_SR,
    TempoError,
    estimate_tempo,
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


@pytest.mark.parametrize("lead_s", [10.0, 20.0])
def test_silence_before_and_after_the_music_changes_nothing(lead_s: float) -> None:
    # a hidden-track style lead-in (and as much after) once read 80 BPM clicks as 46
    quiet = np.zeros(int(lead_s * SR), dtype=np.float32)
    est = estimate_tempo(np.concatenate([quiet, click_track(80.0, seconds=45.0), quiet]), SR)
    assert 79.5 <= est.bpm <= 80.5
    # beat times stay on the file's clock: the first click is at lead_s + 0.25 s
    assert est.beat_times[0] == pytest.approx(lead_s + 0.25, abs=0.03)
    assert est.beat_times[-1] < lead_s + 45.0


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


def _tone(freq_hz: float, dur_s: float, *, attack_s: float = 0.01, decay_s: float | None = None,
          harmonics: int = 4) -> np.ndarray:
    t = np.arange(int(dur_s * SR)) / SR
    env = np.minimum(t / attack_s, 1.0)
    env = env * (np.exp(-t / decay_s) if decay_s else np.minimum(1.0, (dur_s - t) / 0.1))
    return (env * sum(np.sin(2 * np.pi * freq_hz * k * t) / k**2 for k in range(1, harmonics + 1))).astype(
        np.float32
    )


def _hz(midi: int) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def soft_piece(bpm: float, beats_per_bar: int, compound: bool, melody: list[tuple[float, float]],
               seconds: float = 45.0, seed: int = 0) -> np.ndarray:
    """Pad chords (slow attack) changing every bar, a bass note on each downbeat, a plucked
    melody with mixed note lengths over two-bar phrases (``melody``: beat offset, beats),
    and in compound time an eighth-note arpeggio. No drums."""
    rng = np.random.default_rng(seed)
    beat = 60.0 / bpm
    bar_s = beats_per_bar * beat
    y = np.zeros(int((seconds + 3) * SR), dtype=np.float32)

    def add(start_s: float, sig: np.ndarray, gain: float) -> None:
        i = int(start_s * SR)
        seg = y[i : i + len(sig)]
        seg += gain * sig[: len(seg)]

    chords = [[48, 52, 55], [45, 48, 52], [41, 45, 48], [43, 47, 50]]
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    for bar in range(int(seconds / bar_s)):
        t0 = bar * bar_s
        chord = chords[bar % 4]
        for p in chord:
            add(t0, _tone(_hz(p), bar_s, attack_s=0.3, harmonics=2), 0.05)
        add(t0, _tone(_hz(chord[0] - 12), bar_s * 0.9, decay_s=1.5), 0.12)
        if compound:
            for e in range(beats_per_bar * 3):
                add(t0 + e * beat / 3, _tone(_hz(chord[e % 3] + 12), beat, decay_s=0.4),
                    0.05 if e % 3 == 0 else 0.025)
        if bar % 2 == 0:
            for off, dur in melody:
                note = _tone(_hz(scale[int(rng.integers(0, len(scale)))]), dur * beat, decay_s=0.8)
                add(t0 + off * beat + rng.normal(0, 0.01), note, 0.1 if off == int(off) else 0.06)
    return 0.5 * y


@pytest.mark.parametrize("bpm", [58.0, 63.0])
def test_slow_drumless_pad_and_melody_is_not_read_double(bpm: float) -> None:
    melody = [(0, 1), (1, 0.5), (1.5, 0.5), (2, 1.5), (3.5, 0.5), (4, 2), (6, 1), (7, 0.5), (7.5, 0.5)]
    est = estimate_tempo(soft_piece(bpm, 4, False, melody, seed=int(bpm)), SR)
    assert est.bpm == pytest.approx(bpm, rel=0.04)


def test_compound_six_eight_reads_the_dotted_quarter() -> None:
    third = 1 / 3
    melody = [(0, 2 * third), (2 * third, third), (1, 1), (2, third), (2 + third, third),
              (2 + 2 * third, third), (3, 1)]
    est = estimate_tempo(soft_piece(55.0, 2, True, melody, seed=5), SR)
    assert est.bpm == pytest.approx(55.0, rel=0.04)  # not the eighths (165) nor the bar (27.5)
    assert "3/2" in {a.ratio for a in est.alternatives}


def rubato_piece(bpm: float, bars: int = 24, per_bar: int = 4) -> tuple[np.ndarray, float, np.ndarray]:
    """Plucked quarter notes over a bass on each downbeat, played with rubato: the tempo swells
    by +-5 % over four bars and slows by up to 12 % into every eighth bar. Returns the audio,
    the mean tempo actually played (beats per minute between the first and last beat), and the
    beat times (s)."""
    b = np.arange(bars * per_bar + 1)
    factor = 1 + 0.05 * np.sin(2 * np.pi * b / (per_bar * 4) + 1.0)
    factor *= 1 - 0.12 * np.clip(((b % (8 * per_bar)) / (8 * per_bar) - 0.8) / 0.2, 0, 1) ** 2
    times = 0.5 + np.concatenate([[0.0], np.cumsum(60.0 / (bpm * factor[:-1]))])
    y = np.zeros(int((times[-1] + 3) * SR), dtype=np.float32)
    chords = [[48, 52, 55], [45, 48, 52], [41, 45, 48], [43, 47, 50]]
    for k, t in enumerate(times[:-1]):
        i = int(t * SR)
        chord = chords[(k // per_bar) % 4]
        note = _tone(_hz(chord[k % 3] + 24), 60 / bpm, decay_s=0.5)
        y[i : i + len(note)] += (0.12 if k % per_bar == 0 else 0.08) * note[: len(y) - i]
        if k % per_bar == 0:
            bass = _tone(_hz(chord[0] - 12), 2.5 * 60 / bpm, decay_s=1.2)
            y[i : i + len(bass)] += 0.1 * bass[: len(y) - i]
    return y, 60 * (len(times) - 1) / (times[-1] - times[0]), times


@pytest.mark.parametrize("bpm", [52.0, 66.0, 88.0])
def test_rubato_reads_the_tempo_played_and_its_beats_follow_the_ritardandi(bpm: float) -> None:
    # The periodicity peak follows the a-tempo stretches and reads rubato ~1 % fast; the
    # beats, followed through every slowing, give the tempo actually played.
    y, played, times = rubato_piece(bpm)
    est = estimate_tempo(y, SR)
    assert est.bpm == pytest.approx(played, rel=0.005)
    beats = np.array(est.beat_times)
    assert len(beats) >= 0.9 * len(times)
    assert np.median([np.min(np.abs(times - b)) for b in beats]) < 0.02  # s


def _drone(seconds: float = 60.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    chord = sum(np.sin(2 * np.pi * f * t) for f in (110.0, 165.0, 220.0, 277.2))
    return (0.1 * chord * (0.7 + 0.3 * np.sin(2 * np.pi * t / 23.0))).astype(np.float32)


@pytest.mark.parametrize("make", [_drone, lambda: (0.3 * np.sin(2 * np.pi * 220 * np.arange(40 * SR) / SR)).astype(np.float32)])
def test_a_drone_or_a_steady_tone_has_no_tempo_rather_than_a_confident_guess(make) -> None:
    with pytest.raises(TempoError, match="no steady beat"):
        estimate_tempo(make(), SR)


def test_a_clear_pulse_keeps_its_confidence() -> None:
    assert estimate_tempo(click_track(72.0), SR).confidence > 0.8


def test_the_shipped_level_model_ranks_levels_whatever_order_they_come_in() -> None:
    from companion.core.tempo import FEATURE_NAMES, candidate_levels, level_model, onset_envelopes

    model = level_model()
    assert model.features == FEATURE_NAMES
    env = onset_envelopes(click_track(72.0), SR)
    cands, feats = candidate_levels(env, env.autocorrelations())
    p = model.probabilities(feats)
    assert p.sum() == pytest.approx(1.0)
    assert cands[int(np.argmax(p))] == pytest.approx(72.0, rel=0.04)
    order = np.random.default_rng(0).permutation(len(cands))
    assert model.probabilities(feats[order]) == pytest.approx(p[order])


def test_a_level_model_fitted_on_other_features_is_refused(tmp_path, monkeypatch) -> None:
    import json

    from companion.core import tempo

    stale = json.loads(tempo.MODEL_FILE.read_text())
    stale["features"] = stale["features"][:-1]
    path = tmp_path / "tempo_model.json"
    path.write_text(json.dumps(stale))
    monkeypatch.setattr(tempo, "MODEL_FILE", path)
    monkeypatch.setattr(tempo, "_MODEL", None)
    with pytest.raises(RuntimeError, match="refit"):
        tempo.level_model()
