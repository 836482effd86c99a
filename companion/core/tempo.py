"""Tempo estimation. FIRST DRAFT: librosa's beat tracker; to be replaced by the slow-music estimator."""

from __future__ import annotations

import numpy as np

from companion.core.models import TempoEstimate

ANALYSIS_SR = 22050  # Hz: the rate analysis wants mono audio at


def estimate_tempo(y: np.ndarray, sr: int) -> TempoEstimate:
    """Tempo of mono audio ``y`` (float32, shape (n,)) at ``sr`` Hz."""
    import librosa

    tempo, beats = librosa.beat.beat_track(y=y, sr=sr)
    bpm = float(np.atleast_1d(tempo)[0])
    times = librosa.frames_to_time(beats, sr=sr)
    return TempoEstimate(bpm=round(bpm, 1), confidence=0.5, beat_times=tuple(float(t) for t in times))

# Tracks whose bpm_confidence is below this are "unsure": `companion tracks --unsure` lists them.
UNSURE_CONFIDENCE = 0.6
