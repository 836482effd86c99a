"""Loudness (EBU R128) as the player will use it to level tracks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from companion.core.loudness import LoudnessMeter, measure_loudness, measure_loudness_array

SR = 48000


def _sine(amplitude: float, seconds: float = 5.0, sr: int = SR, freq: float = 997.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_a_minus_20_lufs_reference_reads_minus_20() -> None:
    # BS.1770: a 997 Hz sine at -20 dBFS peak in both stereo channels is -20 LUFS
    # (each channel reads -23.01, the two add +3.01 LU).
    y = _sine(0.1)
    stereo = np.stack([y, y], axis=1)
    loud = measure_loudness_array(stereo, SR)
    assert loud.lufs == pytest.approx(-20.0, abs=0.5)
    assert loud.peak_dbfs == pytest.approx(-20.0, abs=0.05)


def test_mono_is_measured_as_heard_on_two_speakers() -> None:
    y = _sine(0.1)
    assert measure_loudness_array(y, SR).lufs == pytest.approx(-20.0, abs=0.5)
    assert measure_loudness_array(y, SR, dual_mono=False).lufs == pytest.approx(-23.0, abs=0.5)


@pytest.mark.parametrize(("sr", "channels"), [(44100, 2), (22050, 1), (48000, 2), (11025, 1)])
def test_agrees_with_pyloudnorm(sr: int, channels: int) -> None:
    import pyloudnorm

    rng = np.random.default_rng(sr + channels)
    n = sr * 6
    # noise swelling from quiet to loud, then a near-silent tail the gate must ignore
    x = rng.standard_normal((n, channels)) * np.linspace(0.01, 0.3, n)[:, None]
    x[-sr:] *= 1e-4
    x[: sr // 2] += 0.2 * np.sin(2 * np.pi * 45 * np.arange(sr // 2) / sr)[:, None]  # a bass swell
    ref = pyloudnorm.Meter(sr).integrated_loudness(x)
    got = measure_loudness_array(x, sr, dual_mono=False).lufs
    assert got == pytest.approx(ref, abs=0.05)


def test_blockwise_feeding_gives_the_same_answer() -> None:
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((SR * 4, 2)) * 0.1).astype(np.float32)
    meter = LoudnessMeter(SR, 2)
    for i in range(0, len(x), 1234):
        meter.feed(x[i : i + 1234])
    whole = measure_loudness_array(x, SR)
    assert meter.result().lufs == pytest.approx(whole.lufs, abs=0.011)
    assert meter.result().peak_dbfs == whole.peak_dbfs


def test_silence_has_no_loudness() -> None:
    quiet = measure_loudness_array(np.zeros((SR * 3, 2), dtype=np.float32), SR)
    assert quiet.lufs is None
    assert quiet.peak_dbfs <= -100
    assert measure_loudness_array(np.zeros((100, 2)), SR).lufs is None  # shorter than a block


def test_measure_loudness_reads_a_file(tmp_path: Path) -> None:
    y = _sine(0.1, seconds=3.0, sr=44100)
    path = tmp_path / "ref.flac"
    sf.write(str(path), np.stack([y, y], axis=1), 44100)
    assert measure_loudness(path).lufs == pytest.approx(-20.0, abs=0.5)


@pytest.mark.parametrize("sr", [8000, 22050, 44100, 48000, 96000])
def test_k_weighting_is_pyloudnorms(sr: int) -> None:
    from pyloudnorm.iirfilter import IIRfilter

    from companion.core.loudness import k_weighting_sos

    stages = (IIRfilter(4.0, 1 / np.sqrt(2), 1500.0, sr, "high_shelf"),
              IIRfilter(0.0, 0.5, 38.0, sr, "high_pass"))
    ref = np.array([np.concatenate([s.b, s.a]) for s in stages])
    np.testing.assert_allclose(k_weighting_sos(sr), ref, rtol=1e-12, atol=1e-12)


def test_the_directly_loaded_filter_is_scipys() -> None:
    from scipy.signal import sosfilt

    from companion.core.loudness import _direct_sosfilt, k_weighting_sos

    direct = _direct_sosfilt()
    assert direct is not None  # else every scan pays for importing scipy.signal
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5000, 2)).astype(np.float32)
    zi = rng.standard_normal((2, 2, 2))
    sos = k_weighting_sos(SR)
    want_y, want_z = sosfilt(sos, x, axis=0, zi=zi)
    got_y, got_z = direct(sos, x, zi)
    np.testing.assert_allclose(got_y, want_y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got_z, want_z, rtol=1e-12, atol=1e-12)


def test_measuring_loudness_does_not_import_scipy_signal() -> None:
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "from companion.core.loudness import measure_loudness_array\n"
            "print(measure_loudness_array(np.full((48000, 2), 0.1, np.float32), 48000).lufs)\n"
            "print('scipy.signal' in sys.modules, 'pyloudnorm' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[1:] == ["False", "False"]


def _music_like(sr: int, seconds: float, seed: int) -> np.ndarray:
    """Stereo: a bass line, a chord with harmonics, bright decorrelated 'air' and a swell."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    bass = 0.3 * np.sin(2 * np.pi * 55 * t) * (1 + np.sin(2 * np.pi * 0.5 * t)) / 2
    chord = sum(0.1 / k * np.sin(2 * np.pi * f * k * t) for f in (220, 277, 330) for k in (1, 2, 3, 5))
    air = rng.standard_normal((len(t), 2)) * 0.02  # flat to the top: the band above 5.5 kHz
    swell = np.linspace(0.2, 1.0, len(t))[:, None]
    return ((bass + chord)[:, None] * swell + air).astype(np.float32)


@pytest.mark.parametrize(
    ("sr", "signal"),
    [(44100, "music"), (48000, "music"), (96000, "music"), (22050, "music"), (44100, "45 Hz"),
     (44100, "8 kHz"), (48000, "15 kHz")],
)
def test_split_band_meter_agrees_with_the_full_filter(sr: int, signal: str) -> None:
    import soxr

    from companion.core.loudness import SplitBandLoudnessMeter

    if signal == "music":
        x = _music_like(sr, 8.0, sr)
    else:
        y = _sine(0.2, 6.0, sr, float(signal.split()[0]) * (1000 if "k" in signal else 1))
        x = np.stack([y, 0.5 * y], axis=1)
    low_rate = 11025
    full = LoudnessMeter(sr, 2)
    split = SplitBandLoudnessMeter(sr, 2, low_rate)
    down = soxr.ResampleStream(sr, low_rate, 2, dtype="float32")
    for i in range(0, len(x), 40000):
        block = np.ascontiguousarray(x[i : i + 40000])
        full.feed(block)
        split.feed(block)
        split.feed_low(down.resample_chunk(block))
    split.feed_low(down.resample_chunk(np.zeros((0, 2), np.float32), last=True))
    want, got = full.result(), split.result()
    assert want.lufs is not None and got.lufs == pytest.approx(want.lufs, abs=0.1)
    assert got.peak_dbfs == want.peak_dbfs
