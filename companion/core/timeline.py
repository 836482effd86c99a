"""Time as heard: when each entry of a playlist begins to be heard, how long it plays, and
the rules every plan keeps (no track twice, no step larger than the max step).

One home for these rules: the planner places tracks by them, the playlists recompute offsets
and warnings by them after every edit, and the player and the renderer overlap neighbouring
tracks the same way (``companion.core.render.plan_slots``).

Time is counted as the player plays it: neighbouring tracks overlap by the crossfade
(``crossfade_s``, at most half of either track; 0 is gapless), a silence never overlaps, so a
track's start offset is when it begins to be heard and the length is the sum of the lengths
minus the overlaps.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from companion.core.models import Playlist, PlaylistEntry

__all__ = ["check_plan", "overlap_s", "step_pct", "timeline"]


def step_pct(from_bpm: float, to_bpm: float) -> float:
    """Size of a tempo step in percent of the earlier tempo."""
    return abs(to_bpm - from_bpm) / from_bpm * 100.0


def overlap_s(before_s: Any, after_s: Any, crossfade_s: float) -> Any:
    """How long two neighbouring tracks of these lengths (seconds; numbers or numpy arrays)
    overlap when played with ``crossfade_s``: the crossfade, at most half of either track (the
    rule of ``companion.core.render.plan_slots``)."""
    return np.minimum(crossfade_s, np.minimum(before_s, after_s) / 2)


def timeline(entries: Iterable[PlaylistEntry], crossfade_s: float) -> tuple[list[float], float]:
    """When each entry begins to be heard, and the length of the session as played (seconds).

    A track after a track starts ``overlap_s`` before the other ends; a silence neither
    overlaps nor is overlapped; an entry of unknown length (0 s) is passed over, as the player
    skips it.
    """
    starts: list[float] = []
    t, before = 0.0, 0.0  # end of the last entry; length of the last track (0 after a silence)
    for e in entries:
        length = e.length_s
        start = t
        if length > 0 and not e.is_silence and before > 0:
            start = t - float(overlap_s(before, length, crossfade_s))
        if length > 0:
            before = 0.0 if e.is_silence else length
        starts.append(start)
        t = start + length  # never earlier than t: an overlap is at most half the track
    return starts, t


def check_plan(pl: Playlist, *, max_step_pct: float) -> list[str]:
    """What in ``pl`` breaks a hard constraint (repeats, steps too large), in words; [] if none.

    Positions in the messages are 1-based, counting every entry as ``playlist show`` does.
    """
    problems = []
    seen: dict[str, int] = {}
    prev: tuple[int, float] | None = None
    for pos, e in enumerate(pl.entries, start=1):
        if e.is_silence:
            continue
        if e.path in seen:
            problems.append(f"track {pos} repeats track {seen[e.path]} ({e.display_name})")
        seen.setdefault(e.path, pos)
        bpm = e.used_bpm or e.bpm
        if bpm is None:
            prev = None
            continue
        if prev is not None and step_pct(prev[1], bpm) > max_step_pct + 1e-6:
            problems.append(
                f"the step from track {prev[0]} ({prev[1]:.1f} BPM) to track {pos} ({bpm:.1f} BPM) "
                f"is {step_pct(prev[1], bpm):.0f} %, more than the {max_step_pct:g} % allowed"
            )
        prev = (pos, bpm)
    return problems
