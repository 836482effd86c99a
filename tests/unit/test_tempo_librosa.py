"""The numpy front end of the tempo estimator mirrors librosa stage by stage; each stage is
pinned here to librosa's own function (librosa is a test dependency, never imported at run
time: see companion/core/tempo.py)."""

from __future__ import annotations

import numpy as np
import pytest

from companion.core import tempo

librosa = pytest.importorskip("librosa")

SR = tempo.ANALYSIS_SR


def test_mel_filterbank_is_librosas_htk_filterbank() -> None:
    ours, _ = tempo._mel_filterbank(SR, tempo._N_FFT, tempo._N_MELS, 40.0, 5000.0)
    theirs = librosa.filters.mel(sr=SR, n_fft=tempo._N_FFT, n_mels=tempo._N_MELS, fmin=40.0,
                                 fmax=5000.0, htk=True, norm=None)
    assert ours == pytest.approx(theirs, abs=1e-6)


def test_onset_flux_is_librosas_onset_strength_of_the_same_spectrogram() -> None:
    logmel = np.log1p(10 * np.random.default_rng(0).random((400, tempo._N_MELS)))
    lag = tempo._FLUX_LAG
    ours = np.zeros_like(logmel)
    ours[lag:] = np.maximum(logmel[lag:] - logmel[:-lag], 0.0)
    theirs = librosa.onset.onset_strength(S=logmel.T, lag=lag, max_size=1, aggregate=np.sum,
                                          center=False, detrend=False)
    assert ours.sum(axis=1) == pytest.approx(theirs[: len(ours)], abs=1e-9)


def test_onset_envelopes_use_that_flux(monkeypatch: pytest.MonkeyPatch) -> None:
    """onset_envelopes sums exactly that flux before detrending (checked by turning the
    detrend off): the pinned stage is the one the estimator runs."""
    monkeypatch.setattr(tempo, "_detrend", lambda x, fps: x.astype(np.float64))
    y = (0.2 * np.random.default_rng(1).standard_normal(5 * SR)).astype(np.float32)
    env = tempo.onset_envelopes(y, SR)
    fb, _ = tempo._mel_filterbank(SR, tempo._N_FFT, tempo._N_MELS, 40.0, 5000.0)
    spec = np.abs(librosa.stft(y, n_fft=tempo._N_FFT, hop_length=tempo._HOP, window="hann",
                               center=True, pad_mode="constant"))
    mel = (fb @ spec).T
    logmel = np.log1p(100.0 * mel / np.percentile(mel, 99))
    theirs = librosa.onset.onset_strength(S=logmel.T, lag=tempo._FLUX_LAG, max_size=1,
                                          aggregate=np.sum, center=False, detrend=False)
    n = min(len(env.full), len(theirs))
    # np.hanning is symmetric, librosa's hann periodic: the same to within a fraction of a %
    assert np.corrcoef(env.full[:n], theirs[:n])[0, 1] > 0.999


def test_autocorrelation_is_librosas_autocorrelate_normalised() -> None:
    x = np.random.default_rng(2).random(700)
    theirs = librosa.autocorrelate(x - x.mean(), max_size=151)
    assert tempo._acf(x, 150) == pytest.approx(theirs / theirs[0], abs=1e-12)


def test_silence_trim_matches_librosas_trim_within_two_frames() -> None:
    y = np.zeros(12 * SR, dtype=np.float32)
    t = np.arange(5 * SR) / SR
    y[3 * SR : 8 * SR] = 0.3 * np.sin(2 * np.pi * 440 * t) * np.minimum(1, t)  # a 1 s fade-in
    first, last = tempo.audible_span(y, SR)
    _, (lo, hi) = librosa.effects.trim(y, top_db=-tempo.SILENCE_DB, frame_length=512, hop_length=512)
    assert lo - 1024 <= first <= lo and hi <= last <= hi + 1024


def test_dp_beats_are_librosas_beat_tracker_at_the_same_tempo() -> None:
    rng = np.random.default_rng(3)
    bpm = 96.0
    y = np.zeros(30 * SR, dtype=np.float32)
    n = int(0.01 * SR)
    t = np.arange(n) / SR
    click = (np.sin(2 * np.pi * 1000 * t) * np.exp(-t / 0.002)).astype(np.float32)
    onsets = np.arange(0.5, 29.5, 60 / bpm)
    for k, o in enumerate(onsets + rng.normal(0, 0.004, len(onsets))):
        if k % 7 != 3:  # a few missing beats for the tracker to bridge
            y[int(o * SR) : int(o * SR) + n] += click
    env = tempo.onset_envelopes(y, SR)
    ours = tempo.beat_times(env.full, env.fps, bpm)
    _, theirs = librosa.beat.beat_track(onset_envelope=env.full, sr=SR, hop_length=tempo._HOP,
                                        bpm=bpm, tightness=100, trim=True, units="time")
    assert abs(len(ours) - len(theirs)) <= 1
    assert max(np.min(np.abs(theirs - b)) for b in ours) <= 1.01 / env.fps
