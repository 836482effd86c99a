"""Arc planning: choose and order tracks from a library so their tempi follow an arc.

The arc (``companion.core.arcs``) gives a tempo for every second of the session. A track
placed at time ``t`` with length ``d`` is judged at its midpoint ``t + d/2``.

Hard constraints (a plan that breaks one is never returned):

- no track twice;
- no step between neighbouring tracks larger than ``max_step_pct`` (measured on the tempi the
  plan uses, relative to the earlier track; a silence does not reset it);
- every track within ``max_step_pct`` of the arc at its midpoint, and moving the arc's way
  (never up while the arc descends or holds after a descent, never down while it rises);
- total length *as played* within ±5 % of ``minutes``; when the library's track lengths only
  allow up to ±10 %, the plan says so in its notes.

Time is counted as the player plays it (``companion.core.timeline``): neighbouring tracks
overlap by the crossfade, a silence never overlaps.

Soft goals (a cost): close to the arc, high-confidence tempi, loudness not increasing while
descending, different artists in a row, the end tempo of one track near the start tempo of
the next, and a per-seed random preference that gives a different, equally good plan for
another seed. An unsure track (confidence below ``UNSURE_CONFIDENCE``) may be used at one of
its alternative tempi (half, double, ...), and the plan says so.

The search is a beam search over positions: tracks are indexed by log tempo, so each step
looks only at the few that fit, scored with numpy. When no plan exists, ``PlanError`` says
why in one or two lines and which nearby requests would work (``companion.core.diagnosis``;
``nearest=True`` returns the first): ``str(error)`` names command-line flags, ``error.reason`` and ``error.options`` say the
same in plain words and as data for the app.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from companion.core.arcs import Arc, load_arc
from companion.core.character import TIMBRE_SIZE
from companion.core.diagnosis import describe, diagnose
from companion.core.duplicates import recording_ids, same_recordings
from companion.core.errors import PlanError, UserInputError
from companion.core.models import STATUS_OK, Playlist, PlaylistEntry, Track
from companion.core.render import DEFAULT_CROSSFADE_S
from companion.core.tempo import UNSURE_CONFIDENCE
from companion.core.timefmt import format_duration
from companion.core.timeline import check_plan, overlap_s, timeline

__all__ = [
    "DEFAULT_CROSSFADE_S",
    "AROUSAL_HIGH",
    "DEFAULT_MAX_STEP_PCT",
    "DEFAULT_MIN_LENGTH_S",
    "DEFAULT_MINUTES",
    "DEFAULT_TARGET_BPM",
    "LENGTH_TOLERANCE",
    "default_start_bpm",
    "filter_tracks",
    "is_near_silent",
    "plan",
    "slot_candidates",
    "tempo_for_slot",
]

DEFAULT_TARGET_BPM = 60.0
DEFAULT_MINUTES = 20.0
DEFAULT_MAX_STEP_PCT = 8.0
LENGTH_TOLERANCE = 0.05  # ±5 % of the minutes asked for
LOOSE_LENGTH_TOLERANCE = 0.10  # accepted, with a note, when track lengths allow no better
MIN_BPM, MAX_BPM = 20.0, 300.0
MAX_CROSSFADE_S = 60.0
START_PERCENTILE, START_CEILING_BPM = 80.0, 110.0

_W_ARC = 1.0  # (deviation / tolerance)² from the arc
_W_CONF = 0.4  # × (1 - confidence)
_W_LOUD = 0.08  # per LU louder than the previous track while descending (capped at 1)
_W_ARTIST = 0.5  # same artist as the previous track (half for the one before)
_W_JOIN = 0.2  # end tempo of one vs start tempo of the next, per max step
_W_SEED = 0.25  # the per-seed preference: up to this much
_W_SILENCE = 0.5  # × (distance of the silence from its time, in median track lengths)²
_W_LENGTH = 0.3  # × ((total - asked) / 5 %)² when comparing finished plans
_W_AROUSAL = 0.8  # × (arousal above the arc's, in library spreads)² (a quarter below)
_W_AROUSAL_RISE = 0.5  # per 0.1 of arousal above the previous track while descending (capped)
_W_TIMBRE = 1.5  # × timbre distance from the previous track, in typical distances (capped at 2)
_W_LIKE = 1.0  # × timbre distance from the liked track (``like``), likewise: asked for, so strong
_UNKNOWN_CONFIDENCE = 0.6
# Not music for a session: shorter than this (jingles, fanfares), or nearly silent.
DEFAULT_MIN_LENGTH_S = 60.0
SILENT_LUFS = -45.0  # integrated loudness below which a file is nearly silent
# The calm part of a session: where the arc is in the lowest third of its tempo range. No
# track there may be lively (arousal above AROUSAL_HIGH) or possibly fast (an unsure track
# with a plausible level at FAST_BPM or above).
CALM_SHARE = 1 / 3
AROUSAL_HIGH = 0.6
FAST_BPM = 100.0
# An unsure track's alternative tempo is used only with at least this much evidence (0–1):
# on the demo library, levels below it were wrong every time (e.g. 3/2 of a halved tempo).
MIN_ALTERNATIVE_SCORE = 0.25



# -- the library as arrays ---------------------------------------------------------------------


@dataclass
class _Uses:
    """One row per way a track can be used (its tempo, or an alternative for unsure ones)."""

    tracks: list[Track]
    track: np.ndarray  # int: index into tracks
    lb: np.ndarray  # log tempo used, sorted ascending
    dur: np.ndarray  # seconds
    conf: np.ndarray  # 0–1
    loud: np.ndarray  # LUFS, nan when unknown
    artist: np.ndarray  # int id, -1 when unknown
    lstart: np.ndarray  # log tempo at the start of the track (scaled), nan when unknown
    lend: np.ndarray  # log tempo at its end
    alt: np.ndarray  # bool: used at an alternative tempo
    pref: np.ndarray  # per-seed preference cost
    rec: np.ndarray  # int: the recording (duplicates share one), per track (not per use)
    ar: np.ndarray  # arousal 0-1, nan when unknown
    fast: np.ndarray  # bool: a plausible tempo level of the track is fast (unsure tracks)
    tim: np.ndarray  # (uses, 16) timbre, standardised over the library, 0 when unknown
    has_tim: np.ndarray  # bool
    like: np.ndarray  # timbre distance to the liked track (in typical distances), 0 without
    tim_scale: float  # a typical timbre distance between two tracks of the library
    ar_calm: float  # the library's calm and lively arousal (10th and 60th percentiles)
    ar_lively: float


def _tempi(t: Track) -> list[tuple[float, float, bool]]:
    """(bpm, confidence, is_alternative) for each tempo a track may be used at: its own, and
    for an unsure track its plausible alternatives (half, double, ...; score at least
    ``MIN_ALTERNATIVE_SCORE``), each as likely as the analysis thought, times the doubt about
    the main tempo."""
    bpm = float(t.bpm or 0.0)
    conf = _UNKNOWN_CONFIDENCE if t.bpm_confidence is None else float(t.bpm_confidence)
    out = [(bpm, conf, False)]
    if conf < UNSURE_CONFIDENCE and bpm > 0:
        for a in t.bpm_alternatives:
            if _usable_alternative(a.bpm, a.score, bpm):
                out.append((float(a.bpm), float(a.score) * (1.0 - conf), True))
    return out


def _usable_alternative(alt_bpm: Any, score: Any, bpm: Any) -> Any:
    """Whether an alternative tempo may be used (scalars or numpy arrays alike): enough
    evidence, a plausible tempo, and really another level (more than 4 % away)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return ((score >= MIN_ALTERNATIVE_SCORE) & (alt_bpm >= MIN_BPM) & (alt_bpm <= MAX_BPM)
                & (np.abs(np.log(alt_bpm / bpm)) > 0.04))


def tempo_for_slot(track: Track, planned_bpm: float | None) -> float | None:
    """The tempo (its own or, if unsure, an alternative) at which ``track`` best fits a slot
    whose arc tempo is ``planned_bpm``, to 0.1 BPM."""
    if not track.bpm:
        return None
    if not planned_bpm:
        return round(float(track.bpm), 1)
    best = min(_tempi(track), key=lambda x: abs(math.log(x[0] / planned_bpm)) - 0.01 * x[1])
    return round(best[0], 1)


def _uses(tracks: Sequence[Track], seed: int, like: Track | None = None) -> _Uses:
    n = len(tracks)
    # One pass over the Track objects; None becomes nan in a float array.
    cols = np.array(
        [(t.bpm, t.bpm_confidence, t.duration_s, t.loudness_lufs, t.bpm_start, t.bpm_end)
         for t in tracks],
        dtype=np.float64,
    ).reshape(n, 6)
    base, conf0, t_dur, t_loud, t_start, t_end = cols.T
    conf0 = np.where(np.isnan(conf0), _UNKNOWN_CONFIDENCE, conf0)
    t_start = np.where(t_start > 0, t_start, np.nan)
    t_end = np.where(t_end > 0, t_end, np.nan)
    # Alternative tempi of unsure tracks (the same rule as _tempi, on arrays).
    alts = np.array([(i, a.bpm, a.score) for i in np.flatnonzero(conf0 < UNSURE_CONFIDENCE).tolist()
                     for a in tracks[i].bpm_alternatives], dtype=np.float64).reshape(-1, 3)
    a_track = alts[:, 0].astype(np.int64)
    keep = _usable_alternative(alts[:, 1], alts[:, 2], base[a_track])
    a_track, a_bpm, a_score = a_track[keep], alts[keep, 1], alts[keep, 2]
    track = np.concatenate([np.arange(n), a_track])
    bpm = np.concatenate([base, a_bpm])
    conf = np.concatenate([conf0, a_score * (1.0 - conf0[a_track])])
    alt = np.concatenate([np.zeros(n, dtype=bool), np.ones(a_track.size, dtype=bool)])
    names = [t.artist.strip().casefold() for t in tracks]
    uniq, inverse = np.unique(np.array(names + [""], dtype=object).astype(str), return_inverse=True)
    t_artist = np.where(uniq[inverse[:n]] == "", -1, inverse[:n]).astype(np.int64)
    order = np.argsort(np.log(bpm), kind="stable")
    track = track[order]
    scale = bpm[order] / base[track]
    # A per-track preference from (seed, path): stable when the library grows or is reordered.
    pref = np.array([zlib.crc32(f"{seed}:{t.path}".encode("utf-8", "surrogateescape")) for t in tracks],
                    dtype=np.float64) / 2**32 * _W_SEED
    feel = _Feel.of(tracks, t_dur, like)
    fast_alt = a_track[(a_score >= MIN_ALTERNATIVE_SCORE) & (a_bpm >= FAST_BPM)]
    feel.fast[fast_alt] = True  # an unsure track with a fast plausible level (see _Feel)
    feel.fast |= (conf0 < UNSURE_CONFIDENCE) & (base >= FAST_BPM)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _Uses(
            tracks=list(tracks),
            track=track,
            lb=np.log(bpm[order]),
            dur=t_dur[track],
            conf=conf[order],
            loud=t_loud[track],
            artist=t_artist[track],
            lstart=np.log(t_start[track] * scale),
            lend=np.log(t_end[track] * scale),
            alt=alt[order],
            pref=pref[track],
            rec=feel.rec,
            ar=feel.ar[track],
            fast=feel.fast[track],
            tim=feel.tim[track],
            has_tim=feel.has_tim[track],
            like=feel.like[track],
            tim_scale=feel.scale,
            ar_calm=feel.calm,
            ar_lively=feel.lively,
        )


@dataclass
class _Feel:
    """What the tracks feel like, per track: arousal, timbre, recording; and ``fast``, set by
    the caller: an unsure track (the analysis doubts its level) with a plausible level at
    ``FAST_BPM`` or above may be heard fast, so it never goes into the calm part."""

    ar: np.ndarray
    fast: np.ndarray
    tim: np.ndarray
    has_tim: np.ndarray
    like: np.ndarray
    rec: np.ndarray
    scale: float
    calm: float
    lively: float

    @classmethod
    def of(cls, tracks: Sequence[Track], dur: np.ndarray, like: Track | None) -> _Feel:
        n = len(tracks)
        # One pass over the characters: arousal, centroid, percussive share, timbre.
        rows = np.array([_NO_FEEL if c is None or len(c.timbre) != TIMBRE_SIZE
                         else (c.arousal, c.centroid_hz, c.percussive_share, *c.timbre)
                         for c in (t.character for t in tracks)], dtype=np.float64).reshape(n, 3 + TIMBRE_SIZE)
        ar, raw = rows[:, 0], rows[:, 3:]
        has = np.isfinite(rows[:, 1])
        rec = same_recordings(dur, rows[:, 1], rows[:, 2], raw, [t.fingerprint for t in tracks])
        tim, scale = _standardise(raw, has)
        like_d = np.zeros(n)
        if like is not None and like.character is not None and has.any():
            mu, sd = raw[has].mean(axis=0), raw[has].std(axis=0) + 1e-9
            ref = (np.asarray(like.character.timbre, dtype=np.float64) - mu) / sd
            like_d = np.where(has, np.linalg.norm(tim - ref, axis=1) / scale, 1.0)
        known = ar[np.isfinite(ar)]
        calm, lively = (np.percentile(known, [10, 60]) if known.size else (0.0, 1.0))
        return cls(ar, np.zeros(n, dtype=bool), tim, has, like_d, rec, scale, float(calm), float(lively))


_NO_FEEL = (np.nan,) * (3 + TIMBRE_SIZE)


def _standardise(raw: np.ndarray, has: np.ndarray) -> tuple[np.ndarray, float]:
    """Timbre z-scored per dimension over the library (unknown rows 0), and the median
    distance between two tracks (a sample of pairs): distances are read in that unit."""
    out = np.zeros_like(raw)
    if has.sum() < 2:
        return out, 1.0
    mu, sd = raw[has].mean(axis=0), raw[has].std(axis=0) + 1e-9
    out[has] = (raw[has] - mu) / sd
    idx = np.flatnonzero(has)
    rng = np.random.default_rng(0)
    a, b = rng.choice(idx, 2000), rng.choice(idx, 2000)
    d = np.linalg.norm(out[a] - out[b], axis=1)
    d = d[a != b]
    return out, float(np.median(d)) if d.size and np.median(d) > 0 else 1.0


# -- requests ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    arc: Arc
    start_bpm: float
    target_bpm: float
    minutes: float
    max_step_pct: float
    locked: tuple[PlaylistEntry, ...] = ()
    crossfade_s: float = 0.0  # neighbouring tracks overlap by this much (at most half of either)

    @property
    def total_s(self) -> float:
        return self.minutes * 60.0

    def with_(self, **changes: Any) -> _Request:
        from dataclasses import replace

        return replace(self, **changes)


@dataclass
class _State:
    cost: float
    t: float  # seconds from the session start where the next track would begin
    use: int  # last use placed, -1 at the start
    plog: float  # the arc's log tempo at the last track's midpoint
    direction: int  # -1 descending (or holding after a descent), +1 rising
    silence: bool  # the silence has been placed
    locks: int  # locked entries placed
    parent: _State | None
    used: frozenset[int]  # track indices
    kind: str = "track"  # "track", "silence", "lock"
    n: int = 0  # tracks placed

    def chain(self) -> list[_State]:
        out, s = [], self
        while s is not None and s.parent is not None:
            out.append(s)
            s = s.parent
        return out[::-1]


@dataclass
class _Found:
    state: _State
    score: float
    loose: bool


class _Search:
    """One beam search for one request over one library."""

    def __init__(self, u: _Uses, req: _Request, *, beam: int, per_state: int) -> None:
        self.u, self.req = u, req
        self.beam, self.per_state = beam, per_state
        total = req.total_s
        self.total = total
        self.tmax = total * (1 + LOOSE_LENGTH_TOLERANCE)
        # The arc's log tempo for every second (index = whole seconds from the start).
        ts, bs = req.arc.bpms(req.start_bpm, req.target_bpm)
        grid = np.arange(int(math.ceil(self.tmax)) + 2, dtype=np.float64)
        self.grid = np.interp(np.minimum(grid / total, 1.0), ts, np.log(bs))
        self.end_lb = float(np.log(bs[-1]))
        # How lively the arc is at each log tempo: 1 at its fastest, 0 at its slowest (the
        # calm part is the lowest third); a flat arc has no calm part.
        self.lb_lo, self.lb_span = float(np.log(min(bs))), float(np.log(max(bs) / min(bs)))
        self.ltol = math.log1p(req.max_step_pct / 100.0)
        self.xf = req.crossfade_s
        self.down = math.log1p(-min(req.max_step_pct, 99.0) / 100.0)
        self.up = math.log1p(req.max_step_pct / 100.0)
        lengths = u.dur[np.isfinite(u.dur)]
        self.dmin = float(lengths.min()) if lengths.size else 0.0
        self.dmax = float(lengths.max()) if lengths.size else 0.0
        self.dmed = float(np.median(lengths)) if lengths.size else 0.0
        arc = req.arc
        self.silence_t = None if arc.silence_at is None else arc.silence_at * total
        self.silence_s = arc.silence_s
        self.excluded = np.zeros(len(u.tracks), dtype=bool)
        if req.locked:  # a locked track, and any other copy of its recording, is placed only as the lock
            locked_paths = {e.path for e in req.locked}
            self.excluded = np.array([t.path in locked_paths for t in u.tracks], dtype=bool)
            self.excluded |= np.isin(u.rec, u.rec[self.excluded])
        self.n_real = len(u.lb)
        if req.locked:
            self.u = _with_locked_rows(u, req.locked)

    def _join(self, s: _State, dur: Any) -> Any:
        """How much a track of length ``dur`` (seconds, or an array) placed after ``s`` overlaps
        the one before it: 0 at the start and after the silence."""
        if s.use < 0 or s.kind == "silence":
            return 0.0
        return overlap_s(self.u.dur[s.use], dur, self.xf)

    def planned(self, t: np.ndarray | float) -> np.ndarray:
        idx = np.clip(np.asarray(t, dtype=np.float64), 0, len(self.grid) - 1).astype(np.int64)
        return self.grid[idx]

    # A locked entry is placed so it starts within half its length of where it was.
    def _lock_window(self, k: int) -> tuple[float, float, PlaylistEntry] | None:
        if k >= len(self.req.locked):
            return None
        e = self.req.locked[k]
        return e.start_s - e.duration_s / 2, e.start_s + e.duration_s / 2, e

    def run(self) -> _Found | None:
        root = _State(0.0, 0.0, -1, 0.0, -1 if self.req.start_bpm >= self.req.target_bpm else 1,
                      False, 0, None, frozenset())
        states = [root]
        found: list[_Found] = []
        while states:
            children: dict[tuple[int, int, bool, int], _State] = {}
            for s in (x for st in states for x in self._with_silence(st)):
                for c in self._expand(s):
                    key = (c.use, int(c.t // 10), c.silence, c.locks)
                    old = children.get(key)
                    if old is None or c.cost < old.cost:
                        children[key] = c
            nxt = []
            for c in children.values():
                done = self._finished(c)
                if done is not None:
                    found.append(done)
                if c.t < self.total * (1 - LENGTH_TOLERANCE):
                    nxt.append(c)
            nxt.sort(key=lambda c: (c.cost, c.t, c.use))
            states = nxt[: self.beam]
        if not found:
            return None
        strict = [f for f in found if not f.loose]
        pool = strict or found
        return min(pool, key=lambda f: (f.score, f.state.t, f.state.use))

    def _finished(self, s: _State) -> _Found | None:
        if s.locks < len(self.req.locked) or s.n == 0:
            return None
        if self.silence_t is not None and not s.silence and self.silence_t < self.total:
            return None
        off = abs(s.t - self.total) / self.total
        if off > LOOSE_LENGTH_TOLERANCE:
            return None
        if abs(self.u.lb[s.use] - self.end_lb) > self.ltol + 1e-12:
            return None  # must end near where the arc ends
        score = s.cost / s.n + _W_LENGTH * (off / LENGTH_TOLERANCE) ** 2
        return _Found(s, score, off > LENGTH_TOLERANCE)

    def _with_silence(self, s: _State) -> list[_State]:
        """``s`` and/or ``s`` followed by the silence: it may begin at any track boundary from
        a median track before its time, and must by its time; nearer costs less."""
        if self.silence_t is None or s.silence or s.use < 0 or s.t < self.silence_t - self.dmed:
            return [s]
        off = (s.t - self.silence_t) / max(self.dmed, 1.0)
        after = _State(s.cost + _W_SILENCE * off * off, s.t + self.silence_s, s.use, s.plog,
                       s.direction, True, s.locks, s, s.used, "silence", s.n)
        return [after] if s.t >= self.silence_t else [s, after]

    def _expand(self, s: _State) -> list[_State]:
        u = self.u
        lock = self._lock_window(s.locks)
        if lock is not None and s.t - float(self._join(s, lock[2].duration_s)) >= lock[0]:
            return self._place_lock(s, lock[2])
        tend_max = self.tmax if lock is None else min(self.tmax, lock[1])
        # (length - overlap) and (length / 2 - overlap) grow with the length: the shortest
        # track gives the earliest end and midpoint.
        shortest_join = float(self._join(s, self.dmin))
        if s.t + self.dmin - shortest_join > tend_max:
            return []
        # Window of log tempi: near the arc over the possible midpoints, and one step from the last.
        a = int(s.t + self.dmin / 2 - shortest_join)
        b = int(min(s.t + self.dmax / 2, self.tmax)) + 1
        span = self.grid[min(a, len(self.grid) - 1): min(b, len(self.grid) - 1) + 1]
        lo, hi = float(span.min()) - self.ltol, float(span.max()) + self.ltol
        last_lb = u.lb[s.use] if s.use >= 0 else None
        if last_lb is not None:
            lo, hi = max(lo, last_lb + self.down), min(hi, last_lb + self.up)
        i0, i1 = np.searchsorted(u.lb[: self.n_real], [lo - 1e-12, hi + 1e-12])
        if i1 <= i0:
            return []
        sl = slice(int(i0), int(i1))
        lb, dur = u.lb[sl], u.dur[sl]
        begin = s.t - self._join(s, dur)
        end = begin + dur
        plog = self.planned(begin + dur / 2)
        dev = lb - plog
        ok = (np.abs(dev) <= self.ltol + 1e-12) & (end <= tend_max) & np.isfinite(dur)
        ok &= ~self.excluded[u.track[sl]]
        if last_lb is not None:
            delta = plog - s.plog
            direction = np.where(delta < -1e-9, -1, np.where(delta > 1e-9, 1, s.direction))
            ok &= np.where(direction < 0, lb <= last_lb + 1e-12, lb >= last_lb - 1e-12)
        else:
            direction = np.full(lb.shape, s.direction)
            ok &= np.abs(lb - self.grid[0]) <= self.ltol + 1e-12  # starts near the start tempo
        lively = np.clip((plog - self.lb_lo) / self.lb_span, 0.0, 1.0) if self.lb_span > 1e-9 else np.ones_like(plog)
        ok &= (lively > CALM_SHARE) | ~(u.fast[sl] | (u.ar[sl] > AROUSAL_HIGH))
        keep = np.flatnonzero(ok)  # the costs are worked out for these only
        if not keep.size:
            return []
        ix = keep + int(i0)  # rows of u
        dev, plog, end, direction, lively = dev[keep], plog[keep], end[keep], direction[keep], lively[keep]
        cost = _W_ARC * (dev / self.ltol) ** 2 + _W_CONF * (1.0 - u.conf[ix]) + u.pref[ix]
        cost += self._feel_cost(s, ix, lively, direction) + _W_LIKE * np.minimum(u.like[ix], 2.0)
        if s.use >= 0:
            with np.errstate(invalid="ignore"):
                louder = np.nan_to_num(u.loud[ix] - u.loud[s.use], nan=0.0)
                cost += np.where(direction < 0, np.minimum(np.maximum(louder, 0) * _W_LOUD, 1.0), 0)
                join = np.nan_to_num(np.abs(u.lstart[ix] - u.lend[s.use]), nan=0.0)
            cost += _W_JOIN * np.minimum(join / self.ltol, 3.0)
            art = u.artist[ix]
            if u.artist[s.use] >= 0:
                cost += np.where(art == u.artist[s.use], _W_ARTIST, 0.0)
            p = s.parent
            while p is not None and p.kind == "silence":
                p = p.parent
            if p is not None and p.use >= 0 and u.artist[p.use] >= 0:
                cost += np.where(art == u.artist[p.use], _W_ARTIST / 2, 0.0)
        want = min(cost.size, self.per_state + len(s.used) + 1)
        pick = np.argpartition(cost, want - 1)[:want] if want < cost.size else np.arange(cost.size)
        pick = pick[np.lexsort((ix[pick], cost[pick]))]
        out: list[_State] = []
        for j in pick.tolist():
            use = int(ix[j])
            rec = int(u.rec[int(u.track[use])])
            if rec in s.used:
                continue
            out.append(_State(
                s.cost + float(cost[j]), float(end[j]), use, float(plog[j]),
                int(direction[j]), s.silence, s.locks, s, s.used | {rec}, "track", s.n + 1,
            ))
            if len(out) >= self.per_state:
                break
        return out

    def _feel_cost(self, s: _State, ix: np.ndarray, lively: np.ndarray, direction: np.ndarray) -> np.ndarray:
        """Arousal following the arc (near the library's lively arousal where the arc is at its
        fastest, its calm arousal where it is slowest; above costs four times below), not
        rising while the arc descends, and a timbre close to the track before."""
        u = self.u
        ar = u.ar[ix]
        want = u.ar_calm + (u.ar_lively - u.ar_calm) * lively
        dev = (ar - want) / max(u.ar_lively - u.ar_calm, 0.1)
        cost = np.nan_to_num(np.minimum(np.where(dev > 0, 1.0, 0.25) * dev * dev, 4.0)) * _W_AROUSAL
        prev = s.use if s.use >= 0 else None
        if prev is not None:
            rise = np.nan_to_num(ar - u.ar[prev], nan=0.0)
            cost += np.where(direction < 0, np.clip(rise / 0.1, 0.0, 2.0), 0.0) * _W_AROUSAL_RISE
            if u.has_tim[prev]:
                d = np.linalg.norm(u.tim[ix] - u.tim[prev], axis=1) / u.tim_scale
                cost += np.where(u.has_tim[ix], np.minimum(d, 2.0), 1.0) * _W_TIMBRE
        return cost

    def _place_lock(self, s: _State, e: PlaylistEntry) -> list[_State]:
        bpm = e.used_bpm or e.bpm
        if bpm is None or bpm <= 0 or e.duration_s <= 0:
            return []
        lb = math.log(bpm)
        if s.use >= 0 and not (self.down - 1e-12 <= lb - self.u.lb[s.use] <= self.up + 1e-12):
            return []
        begin = s.t - float(self._join(s, e.duration_s))
        plog = float(self.planned(begin + e.duration_s / 2))
        direction = s.direction
        if s.use >= 0 and abs(plog - s.plog) > 1e-9:
            direction = -1 if plog < s.plog else 1
        use = self.n_real + s.locks  # the lock's own row, appended in __init__
        dev = (lb - plog) / self.ltol
        return [_State(s.cost + _W_ARC * min(dev * dev, 4.0), begin + e.duration_s, use, plog,
                       direction, s.silence, s.locks + 1, s, s.used, "lock", s.n + 1)]


def _with_locked_rows(u: _Uses, locked: Sequence[PlaylistEntry]) -> _Uses:
    """``u`` plus one row per locked entry after the sorted rows (searches never see them)."""
    k = len(locked)

    def more(a: np.ndarray, values: Iterable[Any]) -> np.ndarray:
        return np.concatenate([a, np.array(list(values), dtype=a.dtype)])

    return _Uses(
        tracks=u.tracks,
        track=more(u.track, [-1] * k),
        lb=more(u.lb, [math.log(e.used_bpm or e.bpm or 1.0) for e in locked]),
        dur=more(u.dur, [e.duration_s for e in locked]),
        conf=more(u.conf, [1.0] * k),
        loud=more(u.loud, [np.nan if e.loudness_lufs is None else e.loudness_lufs for e in locked]),
        artist=more(u.artist, [-1] * k),
        lstart=more(u.lstart, [np.nan] * k),
        lend=more(u.lend, [np.nan] * k),
        alt=more(u.alt, [False] * k),
        pref=more(u.pref, [0.0] * k),
        rec=u.rec,
        ar=more(u.ar, [np.nan if e.arousal is None else e.arousal for e in locked]),
        fast=more(u.fast, [False] * k),
        tim=np.concatenate([u.tim, np.zeros((k, u.tim.shape[1]))]),
        has_tim=more(u.has_tim, [False] * k),
        like=more(u.like, [0.0] * k),
        tim_scale=u.tim_scale,
        ar_calm=u.ar_calm,
        ar_lively=u.ar_lively,
    )


# -- public API --------------------------------------------------------------------------------


def is_near_silent(t: Track) -> bool:
    """A file with (next to) nothing to hear: measured, and quieter than ``SILENT_LUFS``."""
    return t.peak_dbfs is not None and (t.loudness_lufs is None or t.loudness_lufs < SILENT_LUFS)


def filter_tracks(tracks: Iterable[Track], filters: Mapping[str, Any] | None = None, *,
                  min_length_s: float = 0.0) -> list[Track]:
    """Tracks usable for planning that pass ``filters``: analysed, with a tempo, at least
    ``min_length_s`` long and not nearly silent (``is_near_silent``).

    filters : optional keys ``folder`` (path prefix), ``artist``, ``album``, ``genre``
        (case-insensitive substring; a list means any of them) and ``exclude`` (paths).
    """
    f = dict(filters or {})
    unknown = set(f) - {"folder", "artist", "album", "genre", "exclude"}
    if unknown:
        raise UserInputError(f"unknown filter {sorted(unknown)[0]!r}; use folder, artist, album, genre or exclude")

    def many(key: str) -> list[str]:
        v = f.get(key)
        if v in (None, "", []):
            return []
        return [str(x).casefold() for x in ([v] if isinstance(v, str) else v)]

    raw = f.get("folder")
    folders = [str(Path(x).expanduser().resolve()).rstrip("/") + "/"
               for x in ([raw] if isinstance(raw, str) else raw or []) if str(x)]
    artist, album, genre = many("artist"), many("album"), many("genre")
    exclude = {str(Path(x).expanduser().resolve()) for x in (f.get("exclude") or [])}
    out = []
    for t in tracks:
        if t.status != STATUS_OK or not t.bpm or not (MIN_BPM <= t.bpm <= MAX_BPM) or t.duration_s <= 0:
            continue
        if t.duration_s < min_length_s or is_near_silent(t):
            continue
        if folders and not any(t.path.startswith(x) for x in folders):
            continue
        if artist and not any(a in t.artist.casefold() for a in artist):
            continue
        if album and not any(a in t.album.casefold() for a in album):
            continue
        if genre and not any(g in t.genre.casefold() for g in genre):
            continue
        if t.path in exclude:
            continue
        out.append(t)
    return out


def default_start_bpm(tracks: Sequence[Track]) -> float | None:
    """A start tempo that meets most listeners where their library is: the 80th percentile of
    the tempi at or below 110 BPM, to 0.1 BPM; None for a library without tempi."""
    bpms = [t.bpm for t in tracks if t.bpm and t.bpm <= START_CEILING_BPM]
    if not bpms:
        bpms = [t.bpm for t in tracks if t.bpm]
    if not bpms:
        return None
    return round(float(np.percentile(bpms, START_PERCENTILE)), 1)


def plan(
    tracks: Sequence[Track],
    *,
    arc: str | Arc = "step-down",
    start_bpm: float | None = None,
    target_bpm: float = DEFAULT_TARGET_BPM,
    minutes: float = DEFAULT_MINUTES,
    max_step_pct: float = DEFAULT_MAX_STEP_PCT,
    seed: int = 0,
    filters: Mapping[str, Any] | None = None,
    locked: Sequence[PlaylistEntry] | None = None,
    name: str = "",
    nearest: bool = False,
    crossfade_s: float = DEFAULT_CROSSFADE_S,
    min_length_s: float | None = None,
    like: str | None = None,
) -> Playlist:
    """Plan a playlist whose tempi follow ``arc`` from ``start_bpm`` to ``target_bpm``.

    Arousal (``companion.core.character``) follows the arc too: it falls with the descent,
    holds at the trough and rises a little with a rise; the calm part (the arc's lowest third)
    takes no lively or possibly fast track. Neighbours are close in timbre (a cost, never a
    reason to refuse). One recording is never used twice, even at two paths (``duplicates``).

    Parameters
    ----------
    tracks : the library (``Store.tracks()``); unusable ones (no tempo, errors) are skipped.
    arc : a preset name (``step-down``, ``u-sequence``, ``sleep``, a user preset) or an Arc.
    start_bpm : tempo at the start, BPM; default: ``default_start_bpm`` of the library.
    target_bpm : tempo the arc descends to, BPM.
    minutes : session length as played, including any silence, minutes.
    max_step_pct : largest tempo step between neighbouring tracks, percent.
    seed : another seed gives another plan of the same quality; the same seed the same plan.
    filters : see ``filter_tracks``.
    locked : entries that must stay, each starting within half its length of its ``start_s``.
    nearest : when the request cannot be met, return the nearest plan that can (with a note)
        instead of raising.
    crossfade_s : the crossfade the session will be played with, seconds (default: the
        player's); 0 for gapless. Lengths and start offsets are those heard (see ``timeline``);
        kept in ``meta["crossfade_s"]``.
    min_length_s : shorter tracks are not music for a session (jingles), seconds; default
        ``DEFAULT_MIN_LENGTH_S``.
    like : the path of a library track: tracks close to it in timbre are preferred.

    Raises
    ------
    PlanError : the library cannot satisfy the request; the message says why and what would
        (``reason`` and ``options`` say it without command-line flags).
    UserInputError : a parameter is out of range.
    """
    the_arc = arc if isinstance(arc, Arc) else load_arc(arc)
    _check_number("minutes", minutes, 0.5, 24 * 60)
    _check_number("max_step_pct", max_step_pct, 0.5, 50)
    _check_number("target_bpm", target_bpm, MIN_BPM, MAX_BPM)
    _check_number("crossfade_s", crossfade_s, 0, MAX_CROSSFADE_S)
    min_length_s = DEFAULT_MIN_LENGTH_S if min_length_s is None else min_length_s
    _check_number("min_length_s", min_length_s, 0, 3600)
    liked = _liked(tracks, like)
    usable = sorted(filter_tracks(tracks, filters, min_length_s=min_length_s), key=lambda t: t.path)
    notes: list[str] = []
    if start_bpm is None:
        start_bpm = default_start_bpm(usable)
        if start_bpm is not None:
            notes.append(f"start tempo {start_bpm:g} BPM: the 80th percentile of your library's "
                         f"tempi up to {START_CEILING_BPM:g} BPM")
    if start_bpm is None:
        raise _empty_library_error(tracks, filters, min_length_s)
    _check_number("start_bpm", start_bpm, MIN_BPM, MAX_BPM)
    if not usable and not locked:
        raise _empty_library_error(tracks, filters, min_length_s)
    req = _Request(the_arc, float(start_bpm), float(target_bpm), float(minutes), float(max_step_pct),
                   tuple(locked or ()), float(crossfade_s))
    u = _uses(usable, seed, liked)
    found = _search(u, req)
    chosen = req
    if found is None:
        reason, options = diagnose(u, req, _search)
        reason += _focus_cost(tracks, filters, min_length_s, req, seed, len(usable))
        if not nearest or not options:
            offer = ", or ".join(o.option.flag for o in options)
            msg = reason + (f"; nearest plan: {offer} (or add --nearest)" if offer else "")
            raise PlanError(msg, reason=reason, options=tuple(o.option for o in options))
        best = options[0]
        found, chosen = best.found, best.req
        notes.append(f"nearest plan: {best.option.label} — asked for {describe(req)}, but {reason}")
    pl = _playlist(u, chosen, found, name=name, seed=seed, filters=filters, notes=notes)
    pl.meta.update({"min_length_s": float(min_length_s), **({"like": liked.path} if liked else {})})
    problems = check_plan(pl, max_step_pct=chosen.max_step_pct)
    if problems:  # a bug, never a user's problem: refuse rather than play a broken plan
        raise PlanError("internal planner error: " + problems[0])
    return pl


def _in_calm_part(meta: Mapping[str, Any], planned_bpm: float) -> bool:
    """Whether a slot planned at ``planned_bpm`` lies in the lowest third of the tempo range
    between the plan's start and target (the search's calm part, for the bundled arcs)."""
    try:
        lo, hi = sorted((float(meta["start_bpm"]), float(meta["target_bpm"])))
    except (KeyError, TypeError, ValueError):
        return False
    return hi > lo > 0 and math.log(planned_bpm / lo) <= CALM_SHARE * math.log(hi / lo) + 1e-9


def _not_in(tracks: list[Track], pl: Playlist) -> list[Track]:
    """``tracks`` less those of ``pl`` and every copy of their recordings (a copy of the track
    being replaced would be no change)."""
    inside = {e.path for e in pl.entries}
    recs = recording_ids(tracks)
    taken = {int(recs[i]) for i, t in enumerate(tracks) if t.path in inside}
    return [t for i, t in enumerate(tracks) if t.path not in inside and int(recs[i]) not in taken]


def _liked(tracks: Sequence[Track], like: str | None) -> Track | None:
    """The library track ``like`` names (a path), measured; UserInputError otherwise."""
    if not like:
        return None
    path = str(Path(like).expanduser().resolve())
    for t in tracks:
        if t.path == path:
            if t.character is None:
                raise UserInputError(f"{like}: its character is not measured yet; run "
                                     "`companion scan` on its folder, then build again")
            return t
    raise UserInputError(f"{like}: not in the library; --like takes the path of a scanned track")


def _focus_cost(tracks: Sequence[Track], filters: Mapping[str, Any] | None, min_length_s: float,
                req: _Request, seed: int, kept: int) -> str:
    """What a focus (folder, artist, album, genre) costs, when the request plans without it."""
    focus = {k: v for k, v in (filters or {}).items() if k != "exclude" and v}
    if not focus:
        return ""
    rest = {k: v for k, v in (filters or {}).items() if k not in focus}
    everything = sorted(filter_tracks(tracks, rest, min_length_s=min_length_s), key=lambda t: t.path)
    if len(everything) == kept or _search(_uses(everything, seed), req) is None:
        return ""
    named = ", ".join(f"{k} {', '.join(v) if isinstance(v, list | tuple) else v}" for k, v in focus.items())
    return (f" (the focus on {named} leaves {kept} of your {len(everything)} tracks; "
            "without it, this plan works)")


def slot_candidates(
    tracks: Sequence[Track], pl: Playlist, index: int, *, k: int = 5,
    max_step_pct: float = DEFAULT_MAX_STEP_PCT,
) -> list[tuple[Track, float]]:
    """The best ``k`` (track, tempo used) for entry ``index`` of ``pl``, best first.

    Each is within ``max_step_pct`` of the tracks before and after, not in ``pl`` already;
    ranked by closeness to the slot's planned tempo, confidence, a length like the current
    entry's (so the session keeps its length) and another artist than its neighbours.
    """
    entry = pl.entries[index]
    min_length = pl.meta.get("min_length_s")
    usable = filter_tracks(tracks, pl.meta.get("filters") or None,
                           min_length_s=DEFAULT_MIN_LENGTH_S if min_length is None else float(min_length))
    usable = _not_in(usable, pl)
    if not usable:
        return []

    def neighbour(step: int) -> PlaylistEntry | None:
        j = index + step
        while 0 <= j < len(pl.entries):
            if not pl.entries[j].is_silence and (pl.entries[j].used_bpm or pl.entries[j].bpm):
                return pl.entries[j]
            j += step
        return None

    u = _uses(usable, int(pl.meta.get("seed", 0) or 0))
    ltol = math.log1p(max_step_pct / 100)
    planned = entry.planned_bpm or entry.used_bpm or entry.bpm
    ok = np.isfinite(u.dur)
    if planned and _in_calm_part(pl.meta, planned):  # the rule the search keeps
        ok &= ~(u.fast | (u.ar > AROUSAL_HIGH))
    cost = _W_CONF * (1.0 - u.conf) + u.pref
    if planned:
        dev = (u.lb - math.log(planned)) / ltol
        ok &= np.abs(dev) <= 1.0 + 1e-9
        cost += _W_ARC * dev**2
    bpm = np.exp(u.lb)
    artists = set()
    for nb, before in ((neighbour(-1), True), (neighbour(1), False)):
        if nb is None:
            continue
        nb_bpm = nb.used_bpm or nb.bpm or 0.0
        pct = np.abs(bpm - nb_bpm) / (nb_bpm if before else bpm) * 100
        ok &= pct <= max_step_pct + 1e-9
        if nb.artist:
            artists.add(nb.artist.strip().casefold())
    if entry.duration_s > 0:
        cost += np.minimum(np.abs(u.dur - entry.duration_s) / entry.duration_s, 2.0)
    if artists:
        same = np.array([u.tracks[int(i)].artist.strip().casefold() in artists for i in u.track])
        cost += np.where(same, _W_ARTIST, 0.0)
    cost = np.where(ok, cost, np.inf)
    out: list[tuple[Track, float]] = []
    seen: set[int] = set()
    for j in np.lexsort((np.arange(cost.size), cost)):
        if not np.isfinite(cost[j]) or len(out) >= k:
            break
        ti = int(u.track[j])
        if ti not in seen:
            seen.add(ti)
            out.append((u.tracks[ti], round(float(bpm[j]), 1)))
    return out



# -- internals ---------------------------------------------------------------------------------


#: How a request's settings are named to a person (the CLI's flags and the app's fields alike).
SETTING_WORDS = {"minutes": "minutes", "max_step_pct": "max step %", "target_bpm": "target BPM",
                 "start_bpm": "start BPM", "crossfade_s": "crossfade (s)",
                 "min_length_s": "minimum length (s)"}


def _check_number(field: str, value: float, lo: float, hi: float) -> None:
    """The one range check of a plan request's settings; ``field`` rides on the error."""
    if not isinstance(value, int | float) or math.isnan(value) or not lo <= value <= hi:
        shown = f"{value:g}" if isinstance(value, int | float) else repr(value)
        raise UserInputError(f"{SETTING_WORDS[field]} {shown} is out of range: use a number from "
                             f"{lo:g} to {hi:g}", field=field)


def _empty_library_error(tracks: Sequence[Track], filters: Mapping[str, Any] | None,
                         min_length_s: float = 0.0) -> PlanError:
    if not tracks:
        return PlanError("the library is empty: run `companion scan FOLDER` (or `companion demo`) first",
                         reason="the library is empty: scan a folder of your music first")
    if filters:
        return PlanError("no analysed track with a tempo matches the filters; loosen them")
    if filter_tracks(tracks):  # tracks with a tempo, all too short or nearly silent
        shown = format_duration(min_length_s)
        return PlanError(f"every track with a tempo is shorter than {shown} or nearly silent; "
                         "scan more music, or lower --min-length",
                         reason=f"every track with a tempo is shorter than {shown} or nearly silent: "
                         "scan more music, or allow shorter tracks")
    return PlanError("no analysed track has a tempo yet: run `companion scan FOLDER` first",
                     reason="no track in the library has a tempo yet: scan a folder of your music first")


def _search(u: _Uses, req: _Request) -> _Found | None:
    small = len(u.lb) < 3000
    return _Search(u, req, beam=96 if small else 40, per_state=16 if small else 10).run()



def _playlist(
    u: _Uses, req: _Request, found: _Found, *, name: str, seed: int,
    filters: Mapping[str, Any] | None, notes: list[str],
) -> Playlist:
    from dataclasses import replace

    entries: list[PlaylistEntry] = []
    for s in found.state.chain():
        if s.kind == "silence":
            entries.append(PlaylistEntry(path="", title="silence", silence_s=req.arc.silence_s))
            continue
        if s.kind == "lock":
            e = req.locked[s.locks - 1]
            entries.append(replace(e, planned_bpm=round(math.exp(s.plog), 1), locked=True))
            continue
        tr = u.tracks[int(u.track[s.use])]
        used = round(float(math.exp(u.lb[s.use])), 1)
        entries.append(PlaylistEntry(
            path=tr.path, title=tr.title, artist=tr.artist, duration_s=tr.duration_s, bpm=tr.bpm,
            planned_bpm=round(math.exp(s.plog), 1), used_bpm=used, loudness_lufs=tr.loudness_lufs,
            peak_dbfs=tr.peak_dbfs,
            arousal=tr.arousal,
        ))
        if u.alt[s.use]:
            notes.append(f"{tr.display_name or Path(tr.path).name}: tempo unsure, used at {used:g} BPM "
                         f"(analysis said {tr.bpm:g})")
    # The offsets the search placed the entries at, as a curated playlist recomputes them.
    starts, total = timeline(entries, req.crossfade_s)
    entries = [replace(e, start_s=t) for e, t in zip(entries, starts, strict=True)]
    if found.loose:
        pct = (total - req.total_s) / req.total_s * 100
        notes.append(f"length {format_duration(total)}: {abs(pct):.0f} % {'longer' if pct > 0 else 'shorter'} "
                     f"than the {req.minutes:g} minutes asked, as close as your library's track "
                     "lengths allow")
    meta: dict[str, Any] = {
        "arc": req.arc.name,
        "arc_file": req.arc.path,  # re-opens the arc even when it was given as a file
        "start_bpm": req.start_bpm,
        "target_bpm": req.target_bpm,
        "minutes": req.minutes,
        "max_step_pct": req.max_step_pct,
        "crossfade_s": req.crossfade_s,
        "seed": seed,
    }
    if filters:
        meta["filters"] = dict(filters)
    if req.arc.fade_out_s:
        meta["fade_out_s"] = req.arc.fade_out_s
    return Playlist(name=name, entries=tuple(entries), arc=req.arc.name, meta=meta, notes=tuple(notes))
