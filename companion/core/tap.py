"""Tap tempo: the BPM of a beat a person taps, from the times of the taps.

A person taps unevenly: the first tap or two settle in, and a missed or doubled tap makes one
interval twice or half the others. So the tempo is 60 / the median interval of the recent taps,
after dropping intervals more than 35 % from that median; a pause longer than
:data:`RESET_S` starts a new tapping.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

__all__ = ["MIN_TAPS", "RESET_S", "TapTempo", "tap_bpm"]

MIN_TAPS = 4  # three intervals: fewer say little about a tempo
RESET_S = 2.5  # slower than 24 BPM is not a beat anyone taps: a new tapping starts
KEEP = 12  # the last taps count (a tempo drifting as the person settles in)
_OUTLIER = 0.35


def tap_bpm(times_s: Sequence[float]) -> float | None:
    """Tempo in BPM (to 0.1) of taps at ``times_s`` (seconds, increasing); None below
    :data:`MIN_TAPS` usable taps."""
    times = list(times_s)[-KEEP:]
    intervals = [b - a for a, b in zip(times, times[1:], strict=False) if 0 < b - a <= RESET_S]
    if len(intervals) < MIN_TAPS - 1:
        return None
    mid = statistics.median(intervals)
    kept = [d for d in intervals if abs(d - mid) <= _OUTLIER * mid]
    if len(kept) < MIN_TAPS - 1:
        return None
    return round(60.0 / statistics.median(kept), 1)


class TapTempo:
    """Collects taps; a pause longer than :data:`RESET_S` starts over."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def tap(self, at_s: float) -> float | None:
        """Record a tap at ``at_s`` (any monotonic clock, seconds); the tempo so far or None."""
        if self.times and (at_s - self.times[-1] > RESET_S or at_s <= self.times[-1]):
            self.times = []
        self.times.append(at_s)
        self.times = self.times[-KEEP:]
        return tap_bpm(self.times)

    @property
    def count(self) -> int:
        return len(self.times)
