"""Analyse one audio file: tags, tempo, loudness and character from a single decode. Never raises.

This is what a scan worker process runs for each file. The file is decoded once, blockwise, at
its own rate, and resampled on the fly (all channels) to the rate the tempo estimator wants
(``tempo.ANALYSIS_SR``); mixed to mono, that is the tempo signal. The loudness meter measures
the blocks at the file's rate unfiltered and K-weights only the low-rate copy
(:class:`~companion.core.loudness.SplitBandLoudnessMeter`, within 0.05 LU of the full filter).
"""

from __future__ import annotations

import math
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from companion.core.errors import CompanionError, ReadError
from companion.core.models import AnalysisResult, Track

__all__ = ["analyse_file", "prepare_worker", "is_unsure"]

# Trust a file header's length only this far (a damaged one may claim days); beyond, grow.
_MAX_PREALLOCATED_S = 3600


def analyse_file(path: str | Path) -> AnalysisResult:
    """Tags, tempo and loudness of one file, or ``AnalysisResult(error=<one-line reason>)``.

    size and mtime are read before decoding, so a file changed while it is analysed is
    analysed again by the next scan.
    """
    path = str(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        return AnalysisResult(path=path, size=0, mtime=0.0, error=f"cannot open ({exc.strerror})")
    result = AnalysisResult(path=path, size=st.st_size, mtime=st.st_mtime)
    try:
        return _analyse(path, result)
    except ReadError as exc:
        return replace(result, error=exc.reason)
    except CompanionError as exc:
        return replace(result, error=_one_line(exc))
    except MemoryError:
        return replace(result, error="too long to analyse in the memory available")
    except Exception as exc:  # one bad file must never stop a scan
        return replace(result, error=f"analysis failed ({type(exc).__name__}: {_one_line(exc)})")


def prepare_worker() -> None:
    """Once per analysing process, before the first file: load the tempo level model (the
    estimator is plain numpy: there is no compile cache to set up, nothing to warm up)."""
    from companion.core import tempo

    tempo.level_model()


def is_unsure(track: Track) -> bool:
    """True for an analysed track whose tempo the user should confirm (not set by hand)."""
    from companion.core.models import STATUS_OK
    from companion.core.tempo import UNSURE_CONFIDENCE

    if track.status != STATUS_OK or track.is_manual:
        return False
    return track.bpm is None or track.bpm_confidence is None or track.bpm_confidence < UNSURE_CONFIDENCE


def _analyse(path: str, result: AnalysisResult) -> AnalysisResult:
    import soxr

    from companion.core import audio_io, tempo
    from companion.core.loudness import LoudnessMeter, SplitBandLoudnessMeter
    from companion.core.tags import read_tags

    tags = read_tags(path)
    report = audio_io.DecodeReport()
    info, blocks = audio_io.stream(path, report=report)
    sample_rate, channels = info.sample_rate, info.channels
    low_rate = tempo.ANALYSIS_SR
    # A matrix product mixes down ~30x faster than block.mean(axis=1) (a strided reduction).
    mix = np.full(channels, 1.0 / channels, dtype=np.float32)
    # The mono signal is written into one array sized from the header, so a long file is held
    # once (a list of pieces joined at the end would need twice the memory at the join).
    expected = math.ceil(info.frames * low_rate / sample_rate) + 1024
    mono = _Buffer(min(expected, _MAX_PREALLOCATED_S * low_rate))
    frames = 0
    if sample_rate > low_rate:
        # All channels go down to the tempo rate; the loudness meter K-weights that copy (a
        # quarter of the samples at 44.1 kHz) and measures the band above it unfiltered.
        split = SplitBandLoudnessMeter(sample_rate, channels, low_rate)
        down = soxr.ResampleStream(sample_rate, low_rate, channels, dtype="float32")
        for block in blocks:
            split.feed(block)
            frames += len(block)
            low = down.resample_chunk(block)
            split.feed_low(low)
            mono.append(low @ mix)
        low = down.resample_chunk(np.zeros((0, channels), dtype=np.float32), last=True)
        split.feed_low(low)
        mono.append(low @ mix)
        meter: LoudnessMeter = split
    else:
        meter = LoudnessMeter(sample_rate, channels)
        up = None if sample_rate == low_rate else soxr.ResampleStream(
            sample_rate, low_rate, 1, dtype="float32")
        for block in blocks:
            meter.feed(block)
            frames += len(block)
            y = block @ mix
            mono.append(up.resample_chunk(y) if up is not None else y)
        if up is not None:
            mono.append(up.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
    if frames == 0:
        raise ReadError(path, "the file holds no audio")
    if report.problem():
        # decoded as silence where it is damaged, but a scan must not call such a file "ok"
        raise ReadError(path, report.problem())
    try:
        estimate = tempo.estimate_tempo(mono.data, tempo.ANALYSIS_SR)
    except tempo.TempoError:  # silence or a few seconds: still a track, its tempo left to the user
        estimate = None
    # The decoded length is exact; containers (MP3 especially) may only estimate it.
    tags = replace(tags, duration_s=round(frames / sample_rate, 3))
    loudness = meter.result()
    result = replace(result, tags=tags, tempo=estimate, loudness=loudness)
    return _with_character(result, mono.data, loudness.lufs)


def _with_character(result: AnalysisResult, mono: np.ndarray, lufs: float | None) -> AnalysisResult:
    """``result`` with what the track feels like and its fingerprint, from the same decode."""
    from companion.core import character, tempo

    measured = character.measure(mono, tempo.ANALYSIS_SR, loudness_lufs=lufs)
    if measured is None:  # nothing audible: a track without character, never planned
        return result
    return replace(result, character=measured[0], fingerprint=measured[1])


class _Buffer:
    """A float32 array filled piece by piece; grows (rarely) when the header undercounted."""

    def __init__(self, capacity: int) -> None:
        self._array = np.empty(max(capacity, 1), dtype=np.float32)
        self._used = 0

    def append(self, piece: np.ndarray) -> None:
        end = self._used + len(piece)
        if end > len(self._array):
            grown = np.empty(max(end, len(self._array) * 3 // 2), dtype=np.float32)
            grown[: self._used] = self._array[: self._used]
            self._array = grown
        self._array[self._used : end] = piece
        self._used = end

    @property
    def data(self) -> np.ndarray:
        return self._array[: self._used]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
