"""Previewing a track: 20 s from its middle, faded in and out, through the ordinary player."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from companion.core import audio_io
from companion.core.models import Track
from companion.core.player import NullOutput
from companion.core.preview import FADE_S, PREVIEW_S, Preview, excerpt_start_s

SR = 22050


def middle_only_track(path: Path, seconds: float = 60.0) -> Track:
    """A tone only between 20 s and 40 s: silence where an excerpt from the start would be."""
    t = np.arange(int(seconds * SR)) / SR
    tone = (0.2 * np.sin(2 * np.pi * 330 * t) * ((t >= 20) & (t < 40))).astype(np.float32)
    audio_io.write(path, np.stack([tone, tone], axis=1), SR)
    return Track(path=str(path), title="Middle", duration_s=seconds, bpm=70.0, loudness_lufs=-20.0)


def rms_per_second(frames: np.ndarray, sr: int) -> np.ndarray:
    n = len(frames) // sr
    return np.sqrt((frames[: n * sr, 0].reshape(n, sr) ** 2).mean(axis=1))


def test_the_preview_plays_20_seconds_from_the_middle_faded(tmp_path: Path):
    track = middle_only_track(tmp_path / "middle.wav")
    out = NullOutput(keep=True)
    preview = Preview(track, output=out)
    preview.start()
    assert preview.player.wait(20)
    preview.close()
    level = rms_per_second(out.frames, out.sample_rate)
    assert level[int(FADE_S) + 1: int(PREVIEW_S - FADE_S) - 1].min() > 0.05  # the middle: heard
    sr = out.sample_rate
    tail = out.frames[int((PREVIEW_S - 0.25) * sr):int(PREVIEW_S * sr), 0]
    assert level[0] < level[5] / 2 and np.sqrt((tail**2).mean()) < level[10] / 4  # faded in and out
    assert abs(len(out.frames) / sr - PREVIEW_S) < 0.1  # it ends with the excerpt (a file gets 20 s)
    assert preview.done


def test_a_short_track_is_previewed_from_its_start():
    assert excerpt_start_s(12.0) == 0.0
    assert excerpt_start_s(200.0) == 90.0
