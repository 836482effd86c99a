"""EBU R128 / ITU-R BS.1770-4 integrated loudness (LUFS) and sample peak (dBFS), blockwise.

The K-weighting filter is pyloudnorm's (the maintained reference implementation), run as a
streaming IIR filter whose state carries across blocks; the gating is done here over 100 ms hops
so that memory stays bounded however long the file: a two-hour track keeps one float per channel
per 100 ms, never the audio itself. (Weighting each hop's spectrum instead would spare the
scipy.signal import, but leaks bass across bins: up to 0.4 LU off on a steady 45 Hz tone.)

Mono is measured as *dual mono*: the player plays a one-channel file on both speakers, so that is
the loudness a listener hears and the level the player must correct (+3.01 LU over a strict
single-channel measurement). Files with two or more channels are measured on their own channels.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from companion.core.models import Loudness

if TYPE_CHECKING:
    from companion.core.audio_io import AudioInfo

__all__ = ["LoudnessMeter", "measure_loudness", "measure_loudness_array", "native_blocks", "native_stream", "k_weighting_sos",
           "SILENT_PEAK_DBFS"]

# Peak reported for digital silence, instead of -inf (JSON and SQLite stay plain numbers).
SILENT_PEAK_DBFS = -120.0

_ABSOLUTE_GATE_LUFS = -70.0
_RELATIVE_GATE_LU = -10.0
_HOP_S = 0.1  # 400 ms gating blocks with 75 % overlap = 4 consecutive 100 ms hops
_HOPS_PER_BLOCK = 4
# BS.1770 channel weights: L, R, C, Ls, Rs (more channels count with weight 1).
_CHANNEL_GAINS = (1.0, 1.0, 1.0, 1.41, 1.41)


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
        self._hop_energy: list[np.ndarray] = []  # per finished hop: weighted sum over channels
        self._partial = np.zeros(channels)  # sum of squares of the hop being filled
        self._frames_total = 0
        self._peak = 0.0

    def feed(self, block: np.ndarray) -> None:
        """Add the next frames, shape (frames, channels) float."""
        from scipy.signal import sosfilt

        if block.ndim == 1:
            block = block[:, None]
        if block.shape[1] != self.channels:
            raise ValueError(f"expected {self.channels} channels, got {block.shape[1]}")
        if not len(block):
            return
        self._peak = max(self._peak, float(block.max()), -float(block.min()))
        weighted, self._zi = sosfilt(self._sos, block, axis=0, zi=self._zi)
        n = len(weighted)
        # Cut the block where 100 ms hops end and sum the squares of each piece.
        cuts = [0]
        hop = len(self._hop_energy)
        while (end := self._hop_end(hop) - self._frames_total) < n:
            cuts.append(end)
            hop += 1
        sums = np.add.reduceat(np.square(weighted, out=weighted), cuts, axis=0)
        for piece in sums[:-1]:
            self._hop_energy.append(self._partial + piece)
            self._partial = np.zeros(self.channels)
        self._partial = self._partial + sums[-1]
        self._frames_total += n

    def result(self) -> Loudness:
        """Integrated loudness (None when silent or shorter than 400 ms) and sample peak."""
        peak_dbfs = 20 * math.log10(self._peak) if self._peak > 0 else SILENT_PEAK_DBFS
        peak_dbfs = max(round(peak_dbfs, 2), SILENT_PEAK_DBFS)
        lufs = self._integrated()
        return Loudness(lufs=None if lufs is None else round(lufs, 2), peak_dbfs=peak_dbfs)

    # -- internals ------------------------------------------------------------------------------

    def _hop_end(self, hop_index: int) -> int:
        # Hop boundaries as pyloudnorm places its blocks: int(k * 0.1 s * rate).
        return int((hop_index + 1) * _HOP_S * self.sample_rate)

    def _integrated(self) -> float | None:
        if len(self._hop_energy) < _HOPS_PER_BLOCK:
            return None
        hops = np.asarray(self._hop_energy)  # (n_hops, channels) sums of squares
        kernel = np.ones(_HOPS_PER_BLOCK)
        block_len = _HOPS_PER_BLOCK * _HOP_S * self.sample_rate
        # Mean square per 400 ms block and channel, then the weighted channel sum.
        z = np.stack(
            [np.convolve(hops[:, c], kernel, mode="valid") for c in range(self.channels)], axis=1
        ) / block_len
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
    sample_rate, channels, blocks = native_blocks(path)
    meter = LoudnessMeter(sample_rate, channels, dual_mono=dual_mono)
    for block in blocks:
        meter.feed(block)
    return meter.result()


def native_blocks(path: str | Path) -> tuple[int, int, Iterator[np.ndarray]]:
    """(sample rate Hz, channels, blocks (frames, channels) float32) of a file as it is stored.

    Raises ReadError when the file cannot be opened; the iterator raises it when decoding fails.
    """
    info, blocks = native_stream(path)
    return info.sample_rate, info.channels, blocks


def native_stream(path: str | Path) -> tuple[AudioInfo, Iterator[np.ndarray]]:
    """Like :func:`native_blocks`, with the frame count (as the container states it) too."""
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
    shelf at 1500 Hz (Q 1/sqrt 2), then a high pass at 38 Hz (Q 0.5)."""
    from pyloudnorm.iirfilter import IIRfilter

    stages = (
        IIRfilter(4.0, 1 / np.sqrt(2), 1500.0, sample_rate, "high_shelf"),
        IIRfilter(0.0, 0.5, 38.0, sample_rate, "high_pass"),
    )
    return np.array([np.concatenate([s.b, s.a]) for s in stages])
