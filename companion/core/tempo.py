"""Tempo estimation that gets slow, soft, drumless music right.

The pipeline is plain numpy (no librosa, no numba: nothing to compile or warm up). Its front
end mirrors librosa stage by stage, and tests/unit/test_tempo_librosa.py pins each stage to
librosa's own function: the mel filterbank is ``librosa.filters.mel(htk=True, norm=None)``, the
onset flux ``librosa.onset.onset_strength(S=log-mel, lag=3, max_size=1, aggregate=sum)``, the
autocorrelation ``librosa.autocorrelate`` (normalised), the silence cut ``librosa.effects.trim``
(60 dB, within two 512-sample frames) and the beat tracker ``librosa.beat.beat_track(bpm=...,
tightness=100)`` (Ellis's dynamic programming; within one frame). librosa is not imported at
run time because of what it costs each process: importing it and tracking the beats of 10 s of
audio took 5.1-5.3 s of CPU in a fresh process with numba's cache already warm (its JIT-compiled
functions load and compile), against 0.5 s here; the first run after an install compiles for
~40 s. With numba, llvmlite and scikit-learn it is also ~265 MB that users need not install.

1. log-mel spectral-flux onset envelopes (all 80 bands, and the bass bands) at
   ``ANALYSIS_SR`` Hz, hop 128 (86 frames/s);
2. their autocorrelations, read at any (fractional) lag;
3. the strongest periodicity, then the metrical levels related to it (×¼ … ×4, ×⅓, ×⅔, ×3⁄2);
4. a level model scores each level as "the beat a listener would tap" (``LevelModel``), in two
   parts whose log-odds add up for every pair of levels:

   - a log-linear score (eight features): a log-Gaussian tempo prior; the pulse salience at
     the level, at its subdivision (½ or ⅓, whichever is stronger), at its grouping by two
     and by three (these two, separately, settle most 3⁄2 confusions of compound meter), all
     from the onset autocorrelation; onsets on the beat against halfway between beats (low
     when the level is too slow); the number of onsets per beat (a beat holds a few notes, not
     one in four nor eight); and a fixed penalty for a level whose halfway points are as
     strong as its beats;
   - gradient-boosted trees (300, depth 3) that compare two levels on 28 features each: the
     above, the autocorrelation of all onsets and of the bass at ¼ … 6 times the level's
     period, how the strengths of successive beats group in twos and threes, strong-weak
     alternation, on-beat against the thirds. The trees' log-odds are added to the linear
     part's at weight ``blend`` (0.7): at full weight they read more sparse slow music (a
     long-note melody over a pad) double, which the linear part gets right.

   Each level's score is the sum of log-odds of its wins over the others; their softmax,
   Platt-scaled on cross-validated predictions, is the confidence. Tried and dropped:
   harmonic-change periodicity (it followed the corpus's harmonic rhythm and halved clear fast
   music whose chords change every two bars); SuperFlux-style vibrato suppression, a
   semitone-band pitch flux, a peak-hold reference, per-band whitening, smoothing and other
   log compressions of the onset envelope (none tracked the notes of bowed strings better);
5. the winner is refined to 0.1 BPM (ACF at the period and its double, fine grid and
   parabolic interpolation); then the beats are tracked by dynamic programming (the best
   chain of onsets whose intervals stay near that period, each free to stretch by up to
   25 %: it follows drift, rubato and ritardandi), and their mean tempo (beats per minute
   between the first and last) is the answer when it agrees with the peak within 6 %. The
   periodicity peak follows the a-tempo stretches of rubato and misses the ritardandi: on the
   dev corpus the median error in rubato fell from 0.7 % to 0.1 %. Start and end tempo come
   from the first and last ~30 s.

The level model (``tempo_model.json``, beside this file) was fitted on the development corpus
(``bench/corpus.py``) with ``python bench/tempo.py --fit``; ``python bench/tempo.py`` reports
in-sample and 5-fold cross-validated figures, and held-out ones with other seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from companion.core.errors import CompanionError, UserInputError
from companion.core.models import TempoAlternative, TempoEstimate

__all__ = [
    "ANALYSIS_SR",
    "UNSURE_CONFIDENCE",
    "TempoError",
    "estimate_tempo",
    "tap_tempo",
]

ANALYSIS_SR = 11025  # Hz: the rate analysis wants mono audio at
# Pulse clarity (see pulse_clarity) below NO_PULSE: no tempo at all (the dev corpus's lowest piece
# is 0.02; a drone or a sine reads 0.00); below CLEAR_PULSE the confidence is scaled down.
NO_PULSE = 0.015
CLEAR_PULSE = 0.06
# The same peak measured against what chance gives (pulse_significance, in standard errors of
# the autocorrelation of an unpulsed envelope of that length): below NO_PULSE_Z no tempo at all.
# White, pink and dithered noise, wind and a near-silent hiss read 2-4; of 25 game soundtracks
# (bench/real_corpus.py) all but three ambient ones read over 20. Below CLEAR_PULSE_Z the
# confidence is scaled down (a weak pulse is a guess).
NO_PULSE_Z = 5.0
CLEAR_PULSE_Z = 12.0
# ...but sparse slow music can read as low (25 of 143 synthetic pieces read under 5), so a weak
# pulse means no tempo only when the onsets are noise-like too: the envelope's 99th percentile
# under NOISE_PEAKINESS times its mean (noise, hiss, dither, wind: 5.9-7.8; those 25 pieces:
# 6.5-18.3, 4 of them under 8 and so left without a tempo).
NOISE_PEAKINESS = 8.0

# A level read at 2/3 of another candidate is kept only with triple-grouping evidence: the onsets
# must repeat after two of its beats (a compound bar) more than after 8/3 of them (four beats of
# the faster level: a duple bar) by this much in autocorrelation; else the faster level is the
# beat. Game soundtracks in duple time with 3+3+2 figures read at 2/3 at confidence 0.6-0.99
# without it (see bench/tempo.py --sources). Of 44 synthetic compound-meter pieces, a threshold
# of 0.2 read 6 fewer right, 0.1 two fewer, 0.0 none; on the first 22 decided soundtracks all
# three turned Acc1 63.6 % into 77.3 %.
TRIPLE_EVIDENCE = 0.0
OVERRULED_CONFIDENCE = 0.8

# Tracks whose bpm_confidence is below this are "unsure": `companion tracks --unsure` lists them.
UNSURE_CONFIDENCE = 0.6

MIN_BPM, MAX_BPM = 30.0, 320.0  # what any level may be
TAP_MIN_BPM, TAP_MAX_BPM = 20.0, 300.0
MAX_ANALYSIS_S = 240.0  # longer tracks: the middle 4 minutes decide the tempo
EDGE_S = 30.0  # bpm_start / bpm_end windows
SILENCE_DB = -60.0  # leading and trailing audio this far below the loudest 46 ms is silence
_PHASE_PERIODS = 6  # periods whose onsets choose the beats' phase (few: a tempo 3 % off drifts
# half a beat over 16 periods; on the dev corpus 6 read 1-2 pieces more than 16)
MEAN_AGREES = 0.06  # the beats' mean tempo replaces the periodicity peak within this (relative)
# dynamic-programming beat tracker (beat_times): how far one beat interval may stretch or
# shrink against the tempo, and the cost of doing so (per squared log ratio, in units of the
# onset envelope's standard deviation; Ellis 2007, librosa's default tightness)
_DP_STRETCH = 1.25
_DP_TIGHTNESS = 100.0
_DP_MIN_BEATS = 9  # fewer beats followed: too few to give a mean tempo

_N_FFT = 1024
_HOP = 128
_FLUX_LAG, _PEAK_WIDTH, _ONSET_WIDTH = 3, 5, 7  # frames
_N_MELS = 80
_LOW_HZ = 220.0  # bands centred below this are "bass"

# level ratios to the strongest periodicity that are considered as the beat
_RATIOS = (1 / 4, 1 / 3, 1 / 2, 2 / 3, 1.0, 3 / 2, 2.0, 3.0, 4.0)
# alternatives offered to the user: (ratio to the chosen bpm, label)
_ALTERNATIVES = ((0.5, "1/2"), (2.0, "2"), (2 / 3, "2/3"), (1.5, "3/2"))

# Every feature candidate_levels can compute; the model uses FEATURE_NAMES of them.
ALL_FEATURES = (
    "log2_bpm", "log2_bpm_sq", "r", "r_half", "r_third", "r_double", "r_triple", "on_vs_mid",
    "on_vs_third", "alternation", "log2_onsets_per_beat", "log2_onsets_per_beat_sq", "subdiv",
    "group", "acc_2", "acc_3", "r_quarter", "r_2_3", "r_3_2", "r_4", "r_6", "low_r", "low_half",
    "low_third", "low_double", "low_triple", "r_raw", "low_raw", "pulse",
)
# The level model's inputs, per candidate level (see candidate_levels), in this order.
FEATURE_NAMES = (
    "log2_bpm", "log2_bpm_sq", "r", "subdiv", "r_double", "r_triple", "on_vs_mid",
    "log2_onsets_per_beat_sq", "r_half", "r_third", "r_quarter", "r_2_3", "r_3_2", "r_4", "r_6",
    "low_r", "low_half", "low_third", "low_double", "low_triple", "r_raw", "low_raw", "pulse",
    "alternation", "on_vs_third", "acc_2", "acc_3", "log2_onsets_per_beat",
)
# Fitted by `python bench/tempo.py --fit` on the development corpus (bench/corpus.py).
MODEL_FILE = Path(__file__).with_name("tempo_model.json")


class TempoError(CompanionError):
    """The audio holds no tempo to estimate (silence, or only a few seconds)."""


# The linear part's features (the first of FEATURE_NAMES) and its fixed penalty (not fitted):
# score penalty per 0.1 of on_vs_mid below EQUAL_PULSES (0.5 = on-beat and halfway alike).
LINEAR_FEATURES = FEATURE_NAMES[:8]
EQUAL_PULSES, EQUAL_PULSES_PENALTY = 0.58, 3.0


def linear_scores(feats: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Log-linear level scores: ``weights`` over LINEAR_FEATURES plus the equal-pulses penalty."""
    g = np.asarray(feats)[:, : len(LINEAR_FEATURES)]
    on_mid = g[:, LINEAR_FEATURES.index("on_vs_mid")]
    return g @ weights - EQUAL_PULSES_PENALTY * np.maximum(0.0, EQUAL_PULSES - on_mid) / 0.1


@dataclass(frozen=True)
class LevelModel:
    """Which candidate level is the beat, in two parts whose log-odds add up for each pair of
    levels:

    - a log-linear score per level (``linear``: weights over LINEAR_FEATURES; a log-Gaussian
      tempo prior, salience at the level, its subdivision and its groupings, on-beat against
      halfway onsets, onsets per beat), less a fixed penalty for a level whose halfway points
      are as strong as its beats (it is too slow);
    - ``blend`` × gradient-boosted trees that compare two levels (FEATURE_NAMES of the first,
      then of the second), evaluated with numpy. Trees are stored as padded arrays, shape
      (trees, nodes): the feature and threshold of each split (``x <= threshold`` goes left),
      its children, whether a node is a leaf, and its value.

    The linear part is the backbone that carries over to music unlike the corpus; the trees
    add what the corpus shows beyond it (see bench/tempo.py for how ``blend`` is chosen).
    """

    features: tuple[str, ...]
    base: float
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    leaf: np.ndarray
    value: np.ndarray
    depth: int
    calibration: tuple[float, float]  # Platt scaling (a, b) of the level probability
    linear: np.ndarray  # weights over LINEAR_FEATURES
    blend: float  # weight of the trees

    @classmethod
    def from_dict(cls, d: dict) -> LevelModel:
        trees = d["trees"]
        width = max(len(t["value"]) for t in trees)

        def padded(key: str, dtype: type, fill: float) -> np.ndarray:
            out: np.ndarray = np.full((len(trees), width), fill, dtype=dtype)
            for i, t in enumerate(trees):
                out[i, : len(t[key])] = t[key]
            return out

        return cls(
            features=tuple(d["features"]), base=float(d["base"]),
            feature=padded("feature", np.intp, 0), threshold=padded("threshold", np.float64, 0.0),
            left=padded("left", np.intp, 0), right=padded("right", np.intp, 0),
            leaf=padded("leaf", bool, True), value=padded("value", np.float64, 0.0),
            depth=int(d["depth"]), calibration=(float(d["calibration"][0]), float(d["calibration"][1])),
            linear=np.asarray(d["linear"], dtype=np.float64), blend=float(d["blend"]),
        )

    def decision(self, x: np.ndarray) -> np.ndarray:
        """Log-odds that the first level of each row of ``x`` (pairs of feature rows) is the beat."""
        n, trees = len(x), np.arange(self.feature.shape[0])[None, :]
        rows = np.arange(n)[:, None]
        node = np.zeros((n, len(trees[0])), dtype=np.intp)
        for _ in range(self.depth):
            go_left = x[rows, self.feature[trees, node]] <= self.threshold[trees, node]
            step = np.where(go_left, self.left[trees, node], self.right[trees, node])
            node = np.where(self.leaf[trees, node], node, step)
        return self.base + self.value[trees, node].sum(axis=1)

    def probabilities(self, feats: np.ndarray) -> np.ndarray:
        """Probability of each candidate level (rows of ``feats``) being the beat: every pair
        compared both ways (antisymmetric log-odds), each level scored by the log of its wins."""
        k = len(feats)
        if k == 1:
            return np.ones(1)
        feats = np.nan_to_num(np.asarray(feats, dtype=np.float64))
        lin = linear_scores(feats, self.linear)
        z = lin[:, None] - lin[None, :]
        if self.blend:
            i, j = np.nonzero(~np.eye(k, dtype=bool))
            t = np.zeros((k, k))
            t[i, j] = self.decision(np.hstack([feats[i], feats[j]]))
            z += self.blend * 0.5 * (t - t.T)  # antisymmetric: "i over j" = not "j over i"
        scores = -np.logaddexp(0.0, -z).sum(axis=1)  # sum of log sigmoid (the diagonal adds
        # the same log ½ to every level)
        return _softmax(scores)

    def calibrated(self, p: float) -> float:
        """The probability of the chosen level, mapped to the observed hit rate."""
        p = min(max(p, 1e-4), 1 - 1e-4)
        a, b = self.calibration
        return 1.0 / (1.0 + math.exp(-(a * math.log(p / (1 - p)) + b)))


_MODEL: LevelModel | None = None


def level_model() -> LevelModel:
    """The shipped level model (loaded once from MODEL_FILE)."""
    global _MODEL
    if _MODEL is None:
        import json

        data = json.loads(MODEL_FILE.read_text(encoding="utf-8"))
        if tuple(data["features"]) != FEATURE_NAMES:
            raise RuntimeError(f"{MODEL_FILE} was fitted on other features; refit it "
                               "(python bench/tempo.py --fit)")
        _MODEL = LevelModel.from_dict(data)
    return _MODEL


# -- public API ----------------------------------------------------------------------------------


def tap_tempo(timestamps_s: Sequence[float]) -> float:
    """BPM from the times (seconds) a listener tapped, to 0.1.

    Uses the median interval between consecutive taps, so one hesitant tap does not
    skew it. Raises UserInputError for fewer than two taps, unordered or non-finite
    times, or a tempo outside 20–300 BPM.
    """
    try:
        t = np.asarray([float(x) for x in timestamps_s], dtype=float)
    except (TypeError, ValueError) as exc:
        raise UserInputError("tap times must be numbers of seconds") from exc
    if len(t) < 2:
        raise UserInputError("tap at least twice to set a tempo")
    if not np.all(np.isfinite(t)):
        raise UserInputError("tap times must be finite numbers of seconds")
    d = np.diff(t)
    if np.any(d <= 0):
        raise UserInputError("tap times must increase; tap again")
    bpm = 60.0 / float(np.median(d))
    if not TAP_MIN_BPM <= bpm <= TAP_MAX_BPM:
        raise UserInputError(
            f"taps give {bpm:.0f} BPM, outside {TAP_MIN_BPM:.0f}–{TAP_MAX_BPM:.0f}; tap again"
        )
    return round(bpm, 1)


def estimate_tempo(y: np.ndarray, sr: int) -> TempoEstimate:
    """Tempo of the beat a listener would tap.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (n, channels)]
        Audio samples, float; channels are averaged.
    sr : int > 0
        Sample rate of ``y`` in Hz; ``ANALYSIS_SR`` avoids a resampling step.

    Returns
    -------
    TempoEstimate
        bpm to 0.1, calibrated confidence, the ½×, 2×, ⅔×, 3⁄2× alternatives with scores,
        tempo of the first and last ~30 s, and beat times in seconds.

    Raises
    ------
    TempoError
        when the audio is shorter than about 4 seconds or silent.
    """
    a = analyse(y, sr)
    env, acf = a.env, a.acf
    pulse = pulse_clarity(acf.full, env.fps)
    z = pulse_significance(acf.full, env.fps, len(a.window.full))
    window = a.window.full
    noise_like = float(np.percentile(window, 99)) < NOISE_PEAKINESS * float(window.mean())
    if pulse < NO_PULSE or (z < NO_PULSE_Z and noise_like):
        raise TempoError("no steady beat found (a drone, noise or ambience?); set a tempo by hand "
                         "if it has one")
    cands, feats = candidate_levels(a.window, acf)
    model = level_model()
    probs = model.probabilities(feats)
    best = int(np.argmax(probs))
    chosen = _without_triple_evidence(cands, best, acf.full, env.fps)
    overruled = chosen != best
    if overruled:  # the model's level and the one it is 2/3 of trade places
        probs = probs.copy()
        probs[chosen], probs[best] = probs[best], probs[chosen]
        best = chosen
    # Which level is the beat is one question; whether there is a beat at all is another. Weak
    # periodicity (rubato, ambience) makes any reading a guess: on the dev corpus, pieces whose
    # pulse clarity was under 0.05 were read right only a third of the time.
    confidence = (model.calibrated(float(probs[best])) * min(1.0, pulse / CLEAR_PULSE)
                  * min(1.0, max(z, NO_PULSE_Z) / CLEAR_PULSE_Z))
    if overruled:  # the model was overruled: never "sure" (>= 0.9) of the result
        confidence = min(confidence, OVERRULED_CONFIDENCE)
    bpm, beats = settle(a, cands[best])
    alternatives = []
    for ratio, label in _ALTERNATIVES:
        target = float(bpm * ratio)
        near = [i for i, c in enumerate(cands) if abs(math.log(c / target)) < 0.04]
        score = float(max(probs[i] for i in near)) if near else 0.0
        if MIN_BPM <= target <= MAX_BPM:
            alternatives.append(TempoAlternative(bpm=round(target, 1), score=round(score, 3), ratio=label))

    # tempo near the start and the end, for smooth transitions (halves of short tracks)
    edge = int(min(EDGE_S, 0.5 * a.seconds) * env.fps)
    bpm_start = bpm_end = None
    if edge >= 10 * env.fps:
        bpm_start = _local_bpm(env.full[:edge], env.fps, bpm)
        bpm_end = _local_bpm(env.full[-edge:], env.fps, bpm)
    return TempoEstimate(
        bpm=round(float(bpm), 1),
        confidence=round(confidence, 3),
        alternatives=tuple(alternatives),
        bpm_start=bpm_start,
        bpm_end=bpm_end,
        beat_times=tuple(round(float(b) + a.offset_s, 3) for b in beats),
    )


@dataclass(frozen=True)
class Analysed:
    """What the estimate reads from a piece of audio (see :func:`analyse`)."""

    offset_s: float  # where the audible part begins in the file
    seconds: float  # how long the audible part lasts
    env: Envelopes  # onset envelopes of the audible part
    window: Envelopes  # the part that decides the tempo (the middle MAX_ANALYSIS_S)
    acf: Autocorrelations  # of ``window``


def analyse(y: np.ndarray, sr: int) -> Analysed:
    """Onset envelopes and autocorrelations of the audible part of ``y`` (``sr`` Hz, resampled
    to ANALYSIS_SR). Raises TempoError when it is silent or under 4 seconds long."""
    y, sr = _prepare(y, sr)
    # silence before and after the music is not part of it: a 10-20 s silent lead-in read a
    # click track at 80 BPM as 46 (the onset density and threshold count the silent frames)
    first, last = audible_span(y, sr)
    if last <= first:
        raise TempoError("silent: no tempo to estimate; set it by hand")
    y = y[first:last]
    if len(y) < 4 * sr:
        raise TempoError("too short to estimate a tempo (under 4 seconds of sound); set it by hand")
    env = onset_envelopes(y, sr)
    if not np.any(env.full > 0):
        raise TempoError("silent: no tempo to estimate; set it by hand")
    window = env.window(MAX_ANALYSIS_S)
    return Analysed(first / sr, len(y) / sr, env, window, window.autocorrelations())


def settle(a: Analysed, level_bpm: float) -> tuple[float, np.ndarray]:
    """(final BPM, beat times in s from the audible start) when ``level_bpm`` is the chosen
    level: refined on the periodicity peak, then the beats followed (see follow_beats)."""
    return follow_beats(a.env.full, a.env.fps, refine_bpm(a.acf.full, a.env.fps, level_bpm))


# -- onset envelopes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Envelopes:
    """Onset-strength envelopes at ``fps`` frames per second."""

    full: np.ndarray  # log-mel spectral flux, all bands
    low: np.ndarray  # the same, bass bands only
    fps: float

    def window(self, max_s: float) -> Envelopes:
        n = int(max_s * self.fps)
        if len(self.full) <= n:
            return self
        a = (len(self.full) - n) // 2
        return Envelopes(self.full[a : a + n], self.low[a : a + n], self.fps)

    def autocorrelations(self) -> Autocorrelations:
        max_lag = int(8.2 * 60 * self.fps / MIN_BPM) + 2
        return Autocorrelations(_acf(self.full, max_lag), _acf(self.low, max_lag))


@dataclass(frozen=True)
class Autocorrelations:
    full: np.ndarray
    low: np.ndarray


def _prepare(y: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 2:
        y = y.mean(axis=1) if y.shape[1] <= 8 else y.mean(axis=0)
    if sr <= 0:
        raise ValueError(f"sample rate must be positive, got {sr}")
    if sr != ANALYSIS_SR:
        import soxr

        y = soxr.resample(y, sr, ANALYSIS_SR).astype(np.float32)
        sr = ANALYSIS_SR
    return (y if np.isfinite(y).all() else np.nan_to_num(y)), sr  # one pass when clean


def audible_span(y: np.ndarray, sr: int, *, floor_db: float = SILENCE_DB) -> tuple[int, int]:
    """(first, last) sample of the audible part of ``y``: from the first to the last 46 ms frame
    whose RMS is within ``floor_db`` dB of the loudest frame's (a frame of margin kept each
    side); (0, 0) for digital silence. Quiet passages inside the music are kept."""
    hop = 512
    n = len(y) // hop
    if n == 0:
        return 0, len(y)
    frames = y[: n * hop].reshape(n, hop)
    power = np.einsum("ij,ij->i", frames, frames)
    top = float(power.max())
    if top <= 0:
        return 0, 0
    loud = np.nonzero(power > top * 10 ** (floor_db / 10))[0]
    first = max(0, (int(loud[0]) - 1) * hop)
    last = len(y) if loud[-1] >= n - 2 else (int(loud[-1]) + 2) * hop
    return first, last


def _mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> tuple[np.ndarray, np.ndarray]:
    """Triangular filters on the mel scale, shape (n_mels, n_fft // 2 + 1); also centre Hz."""

    def mel(f: np.ndarray | float) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    edges = hz(np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    fb = np.zeros((n_mels, len(freqs)), dtype=np.float32)
    for i in range(n_mels):
        lo, c, hi = edges[i : i + 3]
        up = (freqs - lo) / max(c - lo, 1e-9)
        down = (hi - freqs) / max(hi - c, 1e-9)
        fb[i] = np.maximum(0, np.minimum(up, down))
    return fb, edges[1:-1]


def onset_envelopes(y: np.ndarray, sr: int) -> Envelopes:
    """Onset-strength envelopes of mono audio at ``sr`` Hz (all bands and the bass)."""
    fb, centres = _mel_filterbank(sr, _N_FFT, _N_MELS, 40.0, min(5000.0, sr / 2))
    low_bands = centres < _LOW_HZ
    pad = _N_FFT // 2
    yp = np.pad(y, (pad, pad))
    frames = np.lib.stride_tricks.sliding_window_view(yp, _N_FFT)[::_HOP]
    win = np.hanning(_N_FFT).astype(np.float32)
    from scipy import fft

    mel = np.empty((len(frames), _N_MELS), dtype=np.float32)
    fbt = np.ascontiguousarray(fb.T)
    # in chunks of 256 frames (1 MB of windowed audio): bounded memory for long tracks, and the
    # working arrays stay in cache (4096-frame chunks took a third longer)
    for i in range(0, len(frames), 256):
        mel[i : i + 256] = np.abs(fft.rfft(frames[i : i + 256] * win, axis=1)) @ fbt
    # loudness-independent log compression: soft music gets the same treatment as loud
    ref = float(np.percentile(mel, 99)) or 1.0
    logmel = np.log1p(100.0 * mel / ref)
    lag = _FLUX_LAG
    flux = np.zeros_like(logmel)  # the first ``lag`` frames have no flux
    np.maximum(np.subtract(logmel[lag:], logmel[:-lag], out=flux[lag:]), 0.0, out=flux[lag:])
    full = flux.sum(axis=1)
    low = flux[:, low_bands].sum(axis=1) if low_bands.any() else full
    fps = sr / _HOP
    return Envelopes(_detrend(full, fps), _detrend(low, fps), fps)


def _detrend(x: np.ndarray, fps: float) -> np.ndarray:
    from scipy.ndimage import uniform_filter1d

    x = x.astype(np.float64)
    return np.maximum(0.0, x - uniform_filter1d(x, int(fps)))


def _acf(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Autocorrelation at lags 0..max_lag, normalised so lag 0 is 1."""
    x = x - x.mean()
    n = len(x)
    size = 1 << int(math.ceil(math.log2(2 * n)))
    spec = np.fft.rfft(x, size)
    r = np.fft.irfft(spec * np.conj(spec), size)[: max_lag + 1]
    if len(r) < max_lag + 1:
        r = np.pad(r, (0, max_lag + 1 - len(r)))
    return r / r[0] if r[0] > 0 else r


def _at(r: np.ndarray, lag: float | np.ndarray) -> np.ndarray:
    """r at fractional lags (linear interpolation); 0 beyond its end."""
    return np.interp(lag, np.arange(len(r)), r, right=0.0)


# -- metrical levels -----------------------------------------------------------------------------


def _period(bpm: float | np.ndarray, fps: float) -> float | np.ndarray:
    return 60.0 * fps / bpm


def _comb(r: np.ndarray, fps: float, bpm: np.ndarray, k: int = 4) -> np.ndarray:
    lag = np.asarray(_period(bpm, fps))
    return np.mean([_at(r, lag * m) for m in range(1, k + 1)], axis=0)


def _peak_near(r: np.ndarray, fps: float, bpm: float, width: float = 0.05) -> float:
    """The bpm within ±width (relative) of ``bpm`` where the ACF peaks."""
    grid = bpm * np.exp(np.linspace(-width, width, 41))
    vals = _at(r, _period(grid, fps))
    return float(grid[int(np.argmax(vals))])


def _peaks(s: np.ndarray, grid: np.ndarray, n: int) -> list[float]:
    """The ``n`` highest local maxima of ``s`` over ``grid``."""
    i = np.nonzero((s[1:-1] > s[:-2]) & (s[1:-1] >= s[2:]))[0] + 1
    return [float(grid[j]) for j in i[np.argsort(-s[i])][:n]]


def candidate_levels(
    env: Envelopes, acf: Autocorrelations, names: Sequence[str] = FEATURE_NAMES
) -> tuple[list[float], np.ndarray]:
    """Candidate beat tempi (BPM) and their feature rows (``names``, see ALL_FEATURES).

    Candidates: the metrical family of the strongest periodicity, plus the highest peaks of
    the onset and bass periodicities (rubato can blur the family).
    """
    fps = env.fps
    grid = np.exp(np.linspace(math.log(40.0), math.log(250.0), 600))
    salience = _comb(acf.full, fps, grid)
    b0 = float(grid[int(np.argmax(salience))])
    seeds = [b0 * ratio for ratio in _RATIOS]
    wide = np.exp(np.linspace(math.log(MIN_BPM), math.log(MAX_BPM), 900))
    lags = _period(wide, fps)
    seeds += _peaks(_at(acf.full, lags), wide, 4)
    seeds += _peaks(_at(acf.low, lags), wide, 2)
    cands: list[float] = []
    for b in seeds:
        if not MIN_BPM <= b <= MAX_BPM:
            continue
        b = _peak_near(acf.full, fps, b, 0.03)
        if all(abs(math.log(b / c)) > 0.04 for c in cands):
            cands.append(b)
    onsets_per_s = len(_onsets(env.full)) / (len(env.full) / fps)
    raw = np.array([_level_evidence(acf, fps, b) for b in cands])
    # relative to the strongest candidate: the ACF scale varies a lot between tracks
    rel = raw / np.maximum(np.abs(raw).max(axis=0), 1e-6)
    rows = []
    pulse = float(np.max(np.abs(raw[:, 0])))
    for b, ev, raw_i in zip(cands, rel, raw, strict=True):
        lb = math.log2(b / 80.0)
        dens = math.log2(max(onsets_per_s * 60.0 / b, 1e-3))
        on_mid, on_third, alternation, acc_2, acc_3 = _pulse_evidence(env, b)
        f = {
            "log2_bpm": lb, "log2_bpm_sq": lb * lb,
            "r": ev[0], "r_half": ev[1], "r_third": ev[2], "r_double": ev[3], "r_triple": ev[4],
            # salience of the level's subdivision and of its grouping, in twos or threes
            "subdiv": max(ev[1], ev[2]), "group": max(ev[3], ev[4]),
            "r_quarter": ev[5], "r_2_3": ev[6], "r_3_2": ev[7], "r_4": ev[8], "r_6": ev[9],
            "low_r": ev[10], "low_half": ev[11], "low_third": ev[12], "low_double": ev[13],
            "low_triple": ev[14], "r_raw": raw_i[0], "low_raw": raw_i[10], "pulse": pulse,
            "on_vs_mid": on_mid, "on_vs_third": on_third, "alternation": alternation,
            "acc_2": acc_2, "acc_3": acc_3,
            "log2_onsets_per_beat": dens, "log2_onsets_per_beat_sq": dens * dens,
        }
        rows.append([f[n] for n in names])
    return cands, np.array(rows)


def _pulse_evidence(env: Envelopes, bpm: float) -> list[float]:
    """Beat-synchronous contrasts of a pulse at ``bpm`` that follows the music.

    on/mid: onsets on the beats against halfway between them (low when the real beats fall
    in between, i.e. the pulse is too slow); on/third: against the thirds (compound
    subdivision); alternation: strong-weak alternation of successive beats (high when every
    other pulse is an off-beat, i.e. the pulse is too fast).
    """
    fps = env.fps
    period = float(_period(bpm, fps))
    beats = np.round(track_beats(env.full, fps, bpm) * fps).astype(int)
    if len(beats) < 4:
        return [0.0] * 5
    from scipy.ndimage import maximum_filter1d

    xm = maximum_filter1d(env.full, _PEAK_WIDTH)
    n = len(xm) - 1
    eps = 1e-3 * (float(xm.mean()) + 1e-9)
    on = xm[beats]

    def contrast(offsets: tuple[float, ...]) -> float:
        off = np.mean([xm[np.clip(np.round(beats + o).astype(int), 0, n)].mean() for o in offsets])
        # bounded (0..1): clean synthetic audio has silence between onsets
        return float((on.mean() + eps) / (on.mean() + off + 2 * eps))

    even, odd = on[0::2].mean(), on[1::2].mean()
    return [contrast((period / 2,)), contrast((period / 3, 2 * period / 3)),
            float(abs(even - odd) / (even + odd + 1e-9)), *_accent_grouping(on)]


def _accent_grouping(strength: np.ndarray) -> list[float]:
    """How the strengths of successive beats group in twos and in threes: the autocorrelation
    of the beat-strength sequence (phrase swells removed) at lags 2 and 3, less the one at lag 1.
    Phase-free, so a pulse that slips by a beat now and then still shows its accents."""
    from scipy.ndimage import uniform_filter1d

    if len(strength) < 12:
        return [0.0, 0.0]
    s = np.log(strength + 1e-3 * (float(strength.mean()) + 1e-9))
    s = s - uniform_filter1d(s, 12, mode="nearest")
    den = float(s @ s) or 1.0
    r = [float(s[:-k] @ s[k:]) / den for k in (1, 2, 3)]
    return [r[1] - r[0], r[2] - r[0]]


def _level_evidence(acf: Autocorrelations, fps: float, bpm: float) -> list[float]:
    """Onset periodicity at the level's period ×1, ×½, ×⅓, ×2, ×3."""
    lag = float(_period(bpm, fps))
    full = [float(_at(acf.full, lag * m)) for m in (1, 0.5, 1 / 3, 2, 3, 0.25, 2 / 3, 1.5, 4, 6)]
    return full + [float(_at(acf.low, lag * m)) for m in (1, 0.5, 1 / 3, 2, 3)]


def _onsets(x: np.ndarray) -> np.ndarray:
    """Frames of detected onsets: local maxima well above the median."""
    from scipy.ndimage import maximum_filter1d

    if not len(x):
        return np.array([], dtype=int)
    thr = float(np.median(x)) + 0.5 * float(np.std(x))
    return np.nonzero((x == maximum_filter1d(x, _ONSET_WIDTH)) & (x > thr))[0]


def refine_bpm(r: np.ndarray, fps: float, bpm: float) -> float:
    """The ACF peak near ``bpm`` (period and its double) to better than 0.1 BPM: a fine grid
    and parabolic interpolation. Two multiples, not more: drift and rubato pull later ones."""
    grid = bpm * np.exp(np.linspace(-0.02, 0.02, 81))
    vals = _comb(r, fps, grid, 2)
    i = int(np.argmax(vals))
    if 0 < i < len(grid) - 1:
        a, b, c = vals[i - 1], vals[i], vals[i + 1]
        den = a - 2 * b + c
        shift = 0.5 * (a - c) / den if den < 0 else 0.0
        return float(grid[i] * math.exp(shift * (grid[1] / grid[0] - 1)))
    return float(grid[i])


def _local_bpm(x: np.ndarray, fps: float, bpm: float) -> float:
    r = _acf(x, int(4.2 * _period(bpm, fps) * 1.1) + 2)
    return round(refine_bpm(r, fps, _peak_near(r, fps, bpm, 0.08)), 1)


def follow_beats(x: np.ndarray, fps: float, bpm: float) -> tuple[float, np.ndarray]:
    """(final BPM, beat times in s) for a tempo read at ``bpm`` from the periodicity peak.

    The beats are tracked by :func:`beat_times`; their mean tempo replaces ``bpm`` when the two
    agree within MEAN_AGREES (else the peak stands: the beats took another level or slipped).
    """
    beats = beat_times(x, fps, bpm)
    if len(beats) >= _DP_MIN_BEATS:
        mean_bpm = 60.0 * (len(beats) - 1) / (beats[-1] - beats[0])
        if abs(mean_bpm / bpm - 1) < MEAN_AGREES:
            return mean_bpm, beats
    if len(beats) < 2:
        beats = track_beats(x, fps, bpm)
    return bpm, beats


def beat_times(x: np.ndarray, fps: float, bpm: float) -> np.ndarray:
    """Beat times (s) by dynamic programming (Ellis 2007): the chain of frames that collects the
    most onset strength, less a cost for each interval that strays from the period of ``bpm``
    (TIGHTNESS x squared log ratio; intervals from 1/STRETCH to STRETCH periods). The chain
    ends at the best-scoring frame near the last onset (not in a trailing silence), and weak
    beats at either end (fade-in, held last chord) are dropped. Empty when there is no onset.

    Beats are at least period/STRETCH apart, so the frames of one such stretch depend only on
    earlier ones: each stretch is computed at once, about one numpy step per beat.
    """
    n = len(x)
    sd = float(np.std(x)) if n else 0.0
    if sd <= 0 or not np.any(x > 0):
        return np.array([])
    o = np.asarray(x, dtype=np.float64) / sd
    period = float(_period(bpm, fps))
    dmin = max(1, int(period / _DP_STRETCH))
    lags = np.arange(dmin, int(math.ceil(period * _DP_STRETCH)) + 1)
    cost = _DP_TIGHTNESS * np.log(lags / period) ** 2
    score = o.copy()
    back = np.full(n, -1)
    for t0 in range(dmin, n, dmin):
        t = np.arange(t0, min(n, t0 + dmin))
        prev = t[:, None] - lags[None, :]
        gain = np.where(prev >= 0, score[np.maximum(prev, 0)] - cost, -np.inf)
        j = np.argmax(gain, axis=1)
        rows = np.arange(len(t))
        best = gain[rows, j]
        chained = best > 0  # else the chain starts afresh here
        score[t] += np.where(chained, best, 0.0)
        back[t] = np.where(chained, prev[rows, j], -1)
    onsets = np.nonzero(o > 0.5 * float(np.median(o[o > 0])))[0]
    last = int(onsets[-1])
    first = max(0, last - int(2 * period))
    chain = [first + int(np.argmax(score[first : last + 1]))]
    while back[chain[-1]] >= 0:
        chain.append(int(back[chain[-1]]))
    frames = np.array(chain[::-1])
    strength = o[frames]
    kept = np.nonzero(strength >= 0.5 * math.sqrt(float(np.mean(strength**2))))[0]
    if len(kept) < 2:
        return np.array([])
    return frames[kept[0] : kept[-1] + 1] / fps


def track_beats(x: np.ndarray, fps: float, bpm: float) -> np.ndarray:
    """Beat times (s): a pulse at ``bpm`` that locks on to onsets and follows gentle drift
    (never more than 5 % from ``bpm``). Held that close, it tells how well *this* level fits,
    so the level model's on-beat features use it (the model was fitted on them); the beats a
    user sees, and the final tempo, come from :func:`beat_times`, which follows rubato."""
    period = float(_period(bpm, fps))
    n = len(x)
    if n < 2 * period:
        return np.array([])
    # phase: the offset within the first periods whose pulse train collects most onset energy
    k = int(n // period) - 1
    offsets = np.arange(int(period))
    idx = (offsets[:, None] + period * np.arange(min(k, _PHASE_PERIODS))[None, :]).astype(int)
    start = int(offsets[int(np.argmax(x[np.minimum(idx, n - 1)].sum(axis=1)))])
    beats = [start]
    half = max(1, int(0.1 * period))
    weights = np.exp(-0.5 * (np.arange(-half, half + 1) / (0.5 * half)) ** 2)
    p = period
    while beats[-1] + p + half + 1 < n:
        guess = int(round(beats[-1] + p))
        seg = x[guess - half : guess + half + 1] * weights
        i = int(np.argmax(seg))
        nxt = guess - half + i if seg[i] > 0 else guess
        # follow drift slowly, never more than 5 % from the global tempo (floats: no numpy calls
        # in this per-beat loop)
        p = min(max(0.9 * p + 0.1 * (nxt - beats[-1]), 0.95 * period), 1.05 * period)
        beats.append(nxt)
    return np.array(beats) / fps


def pulse_clarity(r: np.ndarray, fps: float) -> float:
    """How periodic the onsets are: the highest normalised autocorrelation at any tempo between
    30 and 300 BPM (0 for a drone or a steady tone; about 0.4 for the median piece of music)."""
    grid = np.exp(np.linspace(math.log(30.0), math.log(300.0), 400))
    return float(np.max(_at(r, _period(grid, fps))))


def _without_triple_evidence(cands: list[float], best: int, r: np.ndarray, fps: float) -> int:
    """``best``, or the candidate at 3/2 of it when ``best`` is a 2/3 reading of duple music: its
    onsets repeat after 8/3 beats (a bar of the faster level) at least as much as after two (see
    TRIPLE_EVIDENCE)."""
    level = cands[best]
    faster = [i for i, c in enumerate(cands) if abs(math.log(c / (1.5 * level))) < 0.04]
    if not faster:
        return best
    lag = float(_period(level, fps))
    triple = float(_at(r, 2 * lag)) - float(_at(r, 8 / 3 * lag))
    return best if triple >= TRIPLE_EVIDENCE else faster[0]


def pulse_significance(r: np.ndarray, fps: float, n_frames: int) -> float:
    """pulse_clarity in standard errors of chance: noise, hiss and dither have onset envelopes
    whose autocorrelation wanders by about 1/sqrt(frames) at every lag, so their strongest
    peak among hundreds of lags reads 0.06-0.2 (a tempo at confidence 0.6-0.9 before this
    test). The standard error is Bartlett's, for an envelope correlated over short lags (up to
    0.2 s, faster than any beat): sqrt((1 + 2 * sum r_k^2) / frames)."""
    short = r[1 : max(2, int(0.2 * fps))]
    se = math.sqrt((1.0 + 2.0 * float(short @ short)) / max(n_frames, 1))
    return pulse_clarity(r, fps) / se


def _softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max())
    return e / e.sum()
