"""What is not music gets no tempo (so it is never planned), and one recording reads the same
tempo whatever format it is saved in."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from companion.core import audio_io
from companion.core.analysis import analyse_file, is_unsure
from companion.core.tempo import ANALYSIS_SR, TempoError, estimate_tempo

SR = 22050
RNG = np.random.default_rng(7)


def _white(seconds: float = 30.0) -> np.ndarray:
    return (0.3 * RNG.standard_normal(int(seconds * SR))).astype(np.float32)


def _pink(seconds: float = 30.0) -> np.ndarray:
    n = int(seconds * SR)
    spec = np.fft.rfft(RNG.standard_normal(n))
    spec[1:] /= np.sqrt(np.arange(1, len(spec)))
    y = np.fft.irfft(spec, n)
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def _dithered_silence(seconds: float = 30.0) -> np.ndarray:
    # triangular dither at 16-bit level: what "silent" tracks on a CD hold
    n = int(seconds * SR)
    return ((RNG.random(n) - RNG.random(n)) / 32768).astype(np.float32)


def _near_silent_hiss(seconds: float = 10.0) -> np.ndarray:
    return (1e-4 * RNG.standard_normal(int(seconds * SR))).astype(np.float32)


def _drone(seconds: float = 30.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    tone = sum(np.sin(2 * np.pi * f * t) for f in (55.0, 110.0, 165.0))
    return (0.1 * tone * (1 + 0.2 * np.sin(2 * np.pi * 0.15 * t))).astype(np.float32)


def _lone_click(seconds: float = 30.0) -> np.ndarray:
    y = _near_silent_hiss(seconds)
    y[len(y) // 3 : len(y) // 3 + 40] += 0.8
    return y


NOT_MUSIC = {"white noise": _white, "pink noise": _pink, "dithered silence": _dithered_silence,
             "near-silent hiss": _near_silent_hiss, "drone": _drone,
             "lone click": _lone_click}


@pytest.mark.parametrize("name", list(NOT_MUSIC))
def test_what_is_not_music_has_no_tempo(name: str) -> None:
    with pytest.raises(TempoError):
        estimate_tempo(NOT_MUSIC[name](), SR)


def test_a_scanned_noise_file_is_listed_unsure_and_has_no_bpm_to_plan_with(tmp_path: Path) -> None:
    from companion.core.models import Track

    path = tmp_path / "hiss.wav"
    sf.write(path, _dithered_silence(), SR, subtype="PCM_16")
    result = analyse_file(path)
    assert result.error == "" and result.tempo is None
    track = Track(path=str(path), title="hiss", bpm=None, bpm_confidence=None)
    assert is_unsure(track)


def groove(bpm: float = 104.0, seconds: float = 30.0, sr: int = 44100) -> np.ndarray:
    """A band in 4/4: kick on 1 and 3, snare on 2 and 4, hi-hat eighths, a bass line and a
    held chord: stereo float32 at ``sr``."""
    n = int(seconds * sr)
    y = np.zeros(n, dtype=np.float32)
    beat = 60.0 / bpm
    t = np.arange(int(0.25 * sr)) / sr
    kick = np.sin(2 * np.pi * (50 + 80 * np.exp(-t / 0.03)) * t) * np.exp(-t / 0.12)
    rng = np.random.default_rng(1)
    snare = rng.standard_normal(len(t)) * np.exp(-t / 0.06) * 0.5
    hat = rng.standard_normal(len(t)) * np.exp(-t / 0.01) * 0.15
    for k in range(int(seconds / beat * 2)):
        i = int(k * beat / 2 * sr)
        if i >= n:
            break
        parts = [hat] + ([kick] if k % 4 == 0 else []) + ([snare] if k % 4 == 2 else [])
        for p in parts:
            m = min(len(p), n - i)
            y[i : i + m] += p[:m].astype(np.float32)
    tt = np.arange(n) / sr
    root = np.where((tt // (4 * beat)) % 2 == 0, 110.0, 98.0)
    y += (0.15 * np.sin(2 * np.pi * np.cumsum(root) / sr)).astype(np.float32)
    y += (0.05 * sum(np.sin(2 * np.pi * f * tt) for f in (220.0, 277.2, 329.6))).astype(np.float32)
    y = 0.5 * y / np.abs(y).max()
    return np.stack([y, 0.9 * y], axis=1)


@pytest.mark.skipif(not audio_io.has_ffmpeg(), reason="ffmpeg is not installed")
def test_the_same_recording_reads_the_same_tempo_in_every_format(tmp_path: Path) -> None:
    wav = tmp_path / "groove.wav"
    sf.write(wav, groove(), 44100, subtype="PCM_16")
    conversions = {"flac": [], "ogg": ["-c:a", "libvorbis", "-q:a", "3"],
                   "mp3": ["-c:a", "libmp3lame", "-b:a", "128k"], "m4a": ["-c:a", "aac", "-b:a", "128k"],
                   "opus": ["-c:a", "libopus", "-b:a", "64k"]}
    readings = {"wav": analyse_file(wav).tempo.bpm}
    for ext, args in conversions.items():
        out = tmp_path / f"groove.{ext}"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), *args, str(out)], check=True)
        result = analyse_file(out)
        assert result.error == "", (ext, result.error)
        readings[ext] = result.tempo.bpm
    assert readings["wav"] == pytest.approx(104.0, rel=0.02)
    for bpm in readings.values():
        assert bpm == pytest.approx(readings["wav"], rel=0.02), readings


def test_music_at_the_analysis_rate_still_has_its_tempo() -> None:
    y = groove(seconds=30.0, sr=ANALYSIS_SR).mean(axis=1)
    est = estimate_tempo(y, ANALYSIS_SR)
    assert est.bpm == pytest.approx(104.0, rel=0.02) and est.confidence > 0.6
