"""One recording, never twice: which tracks of a library are the same recording.

Two files are the same recording when their content fingerprints (``character.fingerprint``:
16 bits per 186 ms from the first audible sound) differ in at most ``MAX_BIT_ERROR`` of their
bits at the best alignment within ±0.75 s. Paths and tags are not used: the same recording
is found under another name, in another format or at another level, and two different
recordings with the same tags are not merged.

Only tracks of nearly the same length (``LENGTH_SLACK_S``) are compared, so a library of
20 000 tracks costs a few thousand comparisons, not 200 million.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from companion.core.models import Track

__all__ = ["LENGTH_SLACK_S", "MAX_BIT_ERROR", "bit_error", "recording_ids", "same_recordings"]

# Same recording: at most this share of differing bits (Haitsma & Kalker use 0.35; unrelated
# music sits near 0.5, a re-encoded copy below 0.15).
MAX_BIT_ERROR = 0.3
LENGTH_SLACK_S = 2.0  # decoders and rips differ by padding, rarely by more
_MAX_SHIFT = 4  # blocks (0.75 s) of misalignment tried each way
_MIN_OVERLAP = 32  # blocks (6 s) compared at least
# Before any fingerprint is compared: the same recording re-encoded or at another level keeps
# its brightness within a few percent and its percussive share within a few points.
_GATE_CENTROID = 0.08  # log units (8 %)
_GATE_PERC = 0.08
_GATE_TIMBRE = 1.5
_TIMBRE = 16


def bit_error(a: bytes, b: bytes) -> float:
    """Share of differing bits between two fingerprints at their best alignment (1.0 when they
    are too short to compare)."""
    x, y = np.frombuffer(a, dtype="<u2"), np.frombuffer(b, dtype="<u2")
    best = 1.0
    for shift in range(-_MAX_SHIFT, _MAX_SHIFT + 1):
        xs, ys = (x[shift:], y) if shift >= 0 else (x, y[-shift:])
        n = min(len(xs), len(ys))
        if n < _MIN_OVERLAP:
            continue
        diff = np.bitwise_xor(xs[:n], ys[:n]).view(np.uint8)
        best = min(best, float(np.unpackbits(diff).sum()) / (16 * n))
    return best


def recording_ids(tracks: Sequence[Track]) -> np.ndarray:
    """For each track, the index of the first track of the same recording (itself if none).

    Tracks without a fingerprint (not measured yet, or silent) are each their own recording.
    """
    rows = np.array([(t.duration_s, np.nan, np.nan) if t.character is None
                     else (t.duration_s, t.character.centroid_hz, t.character.percussive_share)
                     for t in tracks], dtype=np.float64).reshape(len(tracks), 3)
    timbre = np.array([t.character.timbre if t.character is not None and len(t.character.timbre) == _TIMBRE
                       else (np.nan,) * _TIMBRE for t in tracks], dtype=np.float64).reshape(len(tracks), _TIMBRE)
    return same_recordings(rows[:, 0], rows[:, 1], rows[:, 2], timbre, [t.fingerprint for t in tracks])


def same_recordings(duration_s: np.ndarray, centroid_hz: np.ndarray, percussive_share: np.ndarray,
                    timbre: np.ndarray, fingerprints: Sequence[bytes]) -> np.ndarray:
    """``recording_ids`` on arrays (one row per track; nan where a character is unknown)."""
    n = len(fingerprints)
    parent = np.arange(n)
    has = np.flatnonzero(np.isfinite(centroid_hz) & np.isfinite(timbre).all(axis=1)
                         & np.array([bool(f) for f in fingerprints], dtype=bool).reshape(n))
    if has.size < 2:
        return parent
    order = has[np.argsort(duration_s[has], kind="stable")]
    dur, lcen = duration_s[order], np.log(np.maximum(centroid_hz[order], 1.0))
    perc, tim = percussive_share[order], timbre[order]
    for k in range(1, len(order)):  # pairs (j, j + k) within the slack, widening k
        near = dur[k:] - dur[:-k] <= LENGTH_SLACK_S
        if not near.any():
            break
        # Cheap looks first: one recording keeps its brightness, percussive share and timbre
        # (a 128 kb/s MP3 0.05 apart, an Ogg of a synthetic piece 6 dB quieter ~0.9; other
        # music mostly 2-6).
        j = np.flatnonzero(near & (np.abs(lcen[k:] - lcen[:-k]) < _GATE_CENTROID)
                           & (np.abs(perc[k:] - perc[:-k]) < _GATE_PERC))
        j = j[np.linalg.norm(tim[j + k] - tim[j], axis=1) < _GATE_TIMBRE]
        for x in j.tolist():
            a, b = int(order[x]), int(order[x + k])
            ra, rb = _root(parent, a), _root(parent, b)
            if ra != rb and bit_error(fingerprints[a], fingerprints[b]) <= MAX_BIT_ERROR:
                parent[max(ra, rb)] = min(ra, rb)
    return np.array([_root(parent, i) for i in range(n)])


def _root(parent: np.ndarray, i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = int(parent[i])
    return i
