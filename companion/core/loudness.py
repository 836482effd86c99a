"""EBU R128 / ITU-R BS.1770-4 integrated loudness (LUFS) and sample peak (dBFS), blockwise.

The K-weighting filter is pyloudnorm's (the maintained reference implementation; its two biquads
are designed here with the same formulas, a test checks they match), run as a streaming IIR filter
whose state carries across blocks; the gating is done here over 100 ms hops
so that memory stays bounded however long the file: a two-hour track keeps one float per channel
per 100 ms, never the audio itself. (Weighting each hop's spectrum instead would spare the
scipy.signal import, but leaks bass across bins: up to 0.4 LU off on a steady 45 Hz tone.)

Mono is measured as *dual mono*: the player plays a one-channel file on both speakers, so that is
the loudness a listener hears and the level the player must correct (+3.01 LU over a strict
single-channel measurement). Files with two or more channels are measured on their own channels.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from companion.core.models import Loudness

if TYPE_CHECKING:
    from companion.core.audio_io import AudioInfo

__all__ = ["SILENT_PEAK_DBFS", "LoudnessMeter", "SplitBandLoudnessMeter", "k_weighting_sos", "measure_loudness",
           "measure_loudness_array", "native_stream"]

# Peak reported for digital silence, instead of -inf (JSON and SQLite stay plain numbers).
SILENT_PEAK_DBFS = -120.0

_ABSOLUTE_GATE_LUFS = -70.0
_RELATIVE_GATE_LU = -10.0
_HOP_S = 0.1  # 400 ms gating blocks with 75 % overlap = 4 consecutive 100 ms hops
_HOPS_PER_BLOCK = 4
# BS.1770 channel weights: L, R, C, Ls, Rs (more channels count with weight 1).
_CHANNEL_GAINS = (1.0, 1.0, 1.0, 1.41, 1.41)


class _HopSums:
    """Sums of squares per channel over consecutive 100 ms hops of one stream at ``rate`` Hz."""

    def __init__(self, rate: int, channels: int) -> None:
        self.rate = rate
        self.channels = channels
        self._done: list[np.ndarray] = []  # (hops, channels) arrays of finished hops, in order
        self.count = 0  # finished hops
        self._partial = np.zeros(channels)  # the hop being filled
        self._frames = 0

    def _hop_end(self, hop_index: int) -> int:
        # Hop boundaries as pyloudnorm places its blocks: int(k * 0.1 s * rate).
        return int((hop_index + 1) * _HOP_S * self.rate)

    def add(self, x: np.ndarray, *, squared_in_place: bool = False) -> None:
        """Add the next frames, shape (frames, channels)."""
        n = len(x)
        if not n:
            return
        cuts = [0]
        hop = self.count
        while (end := self._hop_end(hop) - self._frames) < n:
            cuts.append(end)
            hop += 1
        sq = np.square(x, out=x) if squared_in_place else np.square(x)
        sums = np.add.reduceat(sq, cuts, axis=0, dtype=np.float64)
        if len(sums) > 1:
            sums[0] += self._partial
            self._done.append(sums[:-1])
            self.count += len(sums) - 1
            self._partial = sums[-1].copy()
        else:
            self._partial = self._partial + sums[-1]
        self._frames += n

    def mean_squares(self, n_hops: int) -> np.ndarray:
        """(n_hops, channels): each finished hop's sum of squares per second of audio."""
        if len(self._done) > 1:
            self._done = [np.concatenate(self._done)]
        done = self._done[0] if self._done else np.zeros((0, self.channels))
        return done[:n_hops] / self.rate


class LoudnessMeter:
    """Feed blocks of audio in order, then read :meth:`result`.

    sample_rate : Hz of the audio fed.
    channels : number of channels of every block fed (shape (frames, channels)).
    dual_mono : count a single channel twice, as heard when it plays on two speakers.
    """

    def __init__(self, sample_rate: int, channels: int, *, dual_mono: bool = True) -> None:
        if sample_rate <= 0 or channels <= 0:
            raise ValueError(f"sample_rate and channels must be positive, got {sample_rate}, {channels}")
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        gains = [_CHANNEL_GAINS[c] if c < len(_CHANNEL_GAINS) else 1.0 for c in range(channels)]
        if channels == 1 and dual_mono:
            gains = [2.0]
        self._gains = np.asarray(gains)
        self._sos = k_weighting_sos(self.sample_rate)
        self._zi = np.zeros((self._sos.shape[0], 2, channels))
        self._weighted = _HopSums(self.sample_rate, channels)
        self._peak = 0.0

    def feed(self, block: np.ndarray) -> None:
        """Add the next frames, shape (frames, channels) float."""
        block = self._check(block)
        if not len(block):
            return
        weighted, self._zi = _sosfilt_axis0(self._sos, block, self._zi)
        self._weighted.add(weighted, squared_in_place=True)

    def result(self) -> Loudness:
        """Integrated loudness (None when silent or shorter than 400 ms) and sample peak."""
        peak_dbfs = 20 * math.log10(self._peak) if self._peak > 0 else SILENT_PEAK_DBFS
        peak_dbfs = max(round(peak_dbfs, 2), SILENT_PEAK_DBFS)
        lufs = self._integrated(self._hop_powers())
        return Loudness(lufs=None if lufs is None else round(lufs, 2), peak_dbfs=peak_dbfs)

    # -- internals ------------------------------------------------------------------------------

    def _check(self, block: np.ndarray) -> np.ndarray:
        if block.ndim == 1:
            block = block[:, None]
        if block.shape[1] != self.channels:
            raise ValueError(f"expected {self.channels} channels, got {block.shape[1]}")
        if len(block):
            self._peak = max(self._peak, float(block.max()), -float(block.min()))
        return block

    def _hop_powers(self) -> np.ndarray:
        """(hops, channels) K-weighted mean square of each 100 ms hop (× 0.1 s)."""
        return self._weighted.mean_squares(self._weighted.count)

    def _integrated(self, hops: np.ndarray) -> float | None:
        if len(hops) < _HOPS_PER_BLOCK:
            return None
        kernel = np.ones(_HOPS_PER_BLOCK)
        block_s = _HOPS_PER_BLOCK * _HOP_S
        # Mean square per 400 ms block and channel, then the weighted channel sum.
        z = np.stack(
            [np.convolve(hops[:, c], kernel, mode="valid") for c in range(self.channels)], axis=1
        ) / block_s
        power = z @ self._gains
        with np.errstate(divide="ignore"):
            block_lufs = -0.691 + 10 * np.log10(power)
        gated = block_lufs >= _ABSOLUTE_GATE_LUFS
        if not gated.any():
            return None
        relative = -0.691 + 10 * math.log10(float(power[gated].mean())) + _RELATIVE_GATE_LU
        gated &= block_lufs > relative
        if not gated.any():
            return None
        return -0.691 + 10 * math.log10(float(power[gated].mean()))


class SplitBandLoudnessMeter(LoudnessMeter):
    """The same measurement, for a scan that also has the audio at a lower rate (``low_rate``,
    e.g. the tempo estimator's 11025 Hz): the K-weighting filter runs on the low-rate copy only,
    a quarter of the samples of a 44.1 kHz file; the band above it is measured unfiltered and
    weighted by the K-filter's (flat, +4 dB) gain there.

    Per hop and channel: K-weighted energy = K-weighted energy of the low band
    + gain above the band x (energy of the full signal - energy of the low band).
    Feed every block twice, in order: :meth:`feed` at ``sample_rate`` (peak and full energy)
    and :meth:`feed_low` with the same audio resampled to ``low_rate`` (same channels).
    Within 0.05 LU of :class:`LoudnessMeter` on music (0.04 LU at most on the 120 pieces of
    bench/.corpus; tests/unit/test_loudness.py checks 0.1 LU on tones and synthetic music).
    """

    def __init__(self, sample_rate: int, channels: int, low_rate: int, *, dual_mono: bool = True) -> None:
        super().__init__(sample_rate, channels, dual_mono=dual_mono)
        if not 0 < low_rate < sample_rate:
            raise ValueError(f"low_rate must be below the sample rate, got {low_rate} >= {sample_rate}")
        self._full = _HopSums(self.sample_rate, channels)
        self._low = _HopSums(int(low_rate), channels)
        self._sos_low = _matched_k_weighting(self.sample_rate, int(low_rate))
        self._zi = np.zeros((self._sos_low.shape[0], 2, channels))
        self._weighted = _HopSums(int(low_rate), channels)
        # the K-filter's power gain above the low band (flat there: the shelf is fully up)
        band = np.linspace(0.5 * low_rate, min(0.5 * sample_rate, 20000.0), 64)
        self._high_gain = float(np.mean(_power_response(self._sos, band, self.sample_rate)))

    def feed(self, block: np.ndarray) -> None:
        """Add the next frames at ``sample_rate``, shape (frames, channels) float."""
        self._full.add(self._check(block))

    def feed_low(self, block: np.ndarray) -> None:
        """Add the next frames at ``low_rate``, shape (frames, channels) float."""
        if block.ndim == 1:
            block = block[:, None]
        if not len(block):
            return
        self._low.add(block)
        weighted, self._zi = _sosfilt_axis0(self._sos_low, block, self._zi)
        self._weighted.add(weighted, squared_in_place=True)

    def _hop_powers(self) -> np.ndarray:
        n = min(self._full.count, self._low.count, self._weighted.count)
        high = np.maximum(self._full.mean_squares(n) - self._low.mean_squares(n), 0.0)
        return self._weighted.mean_squares(n) + self._high_gain * high


def _power_response(sos: np.ndarray, freqs_hz: np.ndarray, sample_rate: int) -> np.ndarray:
    """|H(f)|^2 of second-order sections at the given frequencies."""
    z = np.exp(-1j * 2 * np.pi * np.asarray(freqs_hz) / sample_rate)
    h = np.ones_like(z)
    for b0, b1, b2, a0, a1, a2 in sos:
        h *= (b0 + b1 * z + b2 * z * z) / (a0 + a1 * z + a2 * z * z)
    return np.abs(h) ** 2


def measure_loudness_array(data: np.ndarray, sample_rate: int, *, dual_mono: bool = True) -> Loudness:
    """Loudness of audio already in memory.

    data : float array, shape (frames, channels) or (frames,) for mono, full scale ±1.
    sample_rate : Hz.
    dual_mono : see :class:`LoudnessMeter`.
    """
    data = np.asarray(data)
    if data.ndim == 1:
        data = data[:, None]
    meter = LoudnessMeter(sample_rate, data.shape[1], dual_mono=dual_mono)
    meter.feed(data)
    return meter.result()


def measure_loudness(path: str | Path, *, dual_mono: bool = True) -> Loudness:
    """Loudness of a file, decoded blockwise at its own rate and channels (memory stays flat).

    Raises ReadError when the file cannot be decoded.
    """
    info, blocks = native_stream(path)
    meter = LoudnessMeter(info.sample_rate, info.channels, dual_mono=dual_mono)
    for block in blocks:
        meter.feed(block)
    return meter.result()


def native_stream(path: str | Path) -> tuple[AudioInfo, Iterator[np.ndarray]]:
    """(rate, channels and frame count as the container states them, blocks (frames, channels)
    float32) of a file as it is stored.

    Raises ReadError when the file cannot be opened; the iterator raises it when decoding fails.
    """
    from companion.core import audio_io

    if Path(path).suffix.lower() in audio_io.FFMPEG_EXTENSIONS:
        # ffmpeg decodes the whole file at once; ask it only once.
        data, sample_rate = audio_io.load(path)
        step = 65536
        info = audio_io.AudioInfo(sample_rate, data.shape[1], len(data))
        return info, (data[i : i + step] for i in range(0, len(data), step))
    info = audio_io.info(path)
    return info, audio_io.read_blocks(path)


def k_weighting_sos(sample_rate: int) -> np.ndarray:
    """pyloudnorm's K-weighting as second-order sections [b0, b1, b2, a0, a1, a2]: a +4 dB high
    shelf at 1500 Hz (Q 1/sqrt 2), then a high pass at 38 Hz (Q 0.5) (RBJ cookbook designs, as
    pyloudnorm's IIRfilter computes them; designed here so that pyloudnorm, which imports all
    of scipy.signal, is not imported: ~0.7 s of CPU per scanning process)."""
    return _k_weighting(sample_rate, 1500.0, 1 / math.sqrt(2))


def _k_weighting(sample_rate: int, shelf_hz: float, shelf_q: float) -> np.ndarray:
    # high shelf, gain 4 dB
    a = 10 ** (4.0 / 40.0)
    w0 = 2.0 * math.pi * shelf_hz / sample_rate
    cos, alpha = math.cos(w0), math.sin(w0) / (2.0 * shelf_q)
    sq = 2 * math.sqrt(a) * alpha
    shelf = [a * ((a + 1) + (a - 1) * cos + sq), -2 * a * ((a - 1) + (a + 1) * cos),
             a * ((a + 1) + (a - 1) * cos - sq),
             (a + 1) - (a - 1) * cos + sq, 2 * ((a - 1) - (a + 1) * cos), (a + 1) - (a - 1) * cos - sq]
    # high pass, Q 0.5, 38 Hz
    w0 = 2.0 * math.pi * 38.0 / sample_rate
    cos, alpha = math.cos(w0), math.sin(w0) / (2.0 * 0.5)
    high_pass = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2, 1 + alpha, -2 * cos, 1 - alpha]
    sos = np.array([shelf, high_pass], dtype=np.float64)
    return sos / sos[:, 3:4]


@functools.lru_cache(maxsize=8)
def _matched_k_weighting(sample_rate: int, low_rate: int) -> np.ndarray:
    """K-weighting for audio at ``low_rate`` whose response matches, below low_rate / 2, the
    filter at ``sample_rate``: the same design at a low rate bends the shelf (+0.14 dB at
    2-3 kHz at 11025 Hz, which reads music ~0.05 LU loud), so its corner and Q are refitted."""
    freqs = np.geomspace(30.0, 0.45 * low_rate, 80)
    want = 10 * np.log10(_power_response(k_weighting_sos(sample_rate), freqs, sample_rate))
    hz, q, step_hz, step_q = 1500.0, 1 / math.sqrt(2), 40.0, 0.04
    for _ in range(4):  # coarse to fine grid search of the worst-case error in dB
        grid = [(h, k) for h in hz + step_hz * np.arange(-5, 6) for k in q + step_q * np.arange(-5, 6)
                if k > 0.1]
        errs = [float(np.max(np.abs(
            10 * np.log10(_power_response(_k_weighting(low_rate, h, k), freqs, low_rate)) - want)))
            for h, k in grid]
        hz, q = grid[int(np.argmin(errs))]
        step_hz, step_q = step_hz / 4, step_q / 4
    return _k_weighting(low_rate, float(hz), float(q))


_SosFilt = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
_sosfilt_impl: _SosFilt | None = None


def _sosfilt_axis0(sos: np.ndarray, x: np.ndarray, zi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``scipy.signal.sosfilt(sos, x, axis=0, zi=zi)`` for x shaped (frames, channels), zi
    shaped (sections, 2, channels); returns (filtered float64 copy, final state)."""
    global _sosfilt_impl
    if _sosfilt_impl is None:
        _sosfilt_impl = _load_sosfilt()
    return _sosfilt_impl(sos, x, zi)


def _load_sosfilt() -> _SosFilt:
    """scipy's compiled second-order-section filter, without importing scipy.signal when it is
    not imported yet (see :func:`_direct_sosfilt`); else plain ``scipy.signal.sosfilt``."""
    direct = None if "scipy.signal" in sys.modules else _direct_sosfilt()
    return direct if direct is not None else _public_sosfilt


def _public_sosfilt(sos: np.ndarray, x: np.ndarray, zi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from scipy.signal import sosfilt

    y, z = sosfilt(sos, x, axis=0, zi=zi)
    return y, z


def _direct_sosfilt() -> _SosFilt | None:
    """The filter scipy.signal.sosfilt runs, loaded on its own, or None when that fails.

    ``import scipy.signal`` pulls in scipy.stats, scipy.interpolate and more (~0.7 s of CPU, in
    every scanning process); the filter itself is one small compiled module with no such
    imports. It is loaded from scipy's folder directly and checked on a few samples against the
    definition; if anything differs (another scipy layout), None: the caller uses plain
    ``scipy.signal.sosfilt``: same numbers, slower start.
    """
    try:
        import importlib.machinery
        import importlib.util

        import scipy

        folder = Path(scipy.__file__).parent / "signal"
        found = next(folder / f"_sosfilt{suffix}" for suffix in importlib.machinery.EXTENSION_SUFFIXES
                     if (folder / f"_sosfilt{suffix}").is_file())
        spec = importlib.util.spec_from_file_location("scipy.signal._sosfilt", found)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        compiled = module._sosfilt
    except Exception:  # noqa: BLE001 - any failure: the public route gives the same result
        return None

    def direct(sos: np.ndarray, x: np.ndarray, zi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # What scipy.signal.sosfilt does for axis=0: signals along the last axis, float64, C order.
        y = np.array(x.T, dtype=np.float64, order="C")
        z = np.array(np.moveaxis(zi, 2, 0), dtype=np.float64, order="C")  # (channels, sections, 2)
        compiled(np.ascontiguousarray(sos, dtype=np.float64), y, z)  # filters y and z in place
        return y.T, np.moveaxis(z, 0, 2)

    try:  # a biquad in transposed direct form II, by hand, on a few samples
        probe = np.arange(1.0, 7.0).reshape(3, 2)
        b0, b1, b2, a1, a2 = 0.5, 0.2, 0.1, -0.3, 0.1
        y, _ = direct(np.array([[b0, b1, b2, 1.0, a1, a2]]), probe, np.zeros((1, 2, 2)))
        ref = np.zeros_like(probe)
        for c in range(2):
            s1 = s2 = 0.0
            for n in range(3):
                v = probe[n, c]
                ref[n, c] = out = b0 * v + s1
                s1 = b1 * v - a1 * out + s2
                s2 = b2 * v - a2 * out
        return direct if np.allclose(y, ref) else None
    except Exception:  # noqa: BLE001
        return None
