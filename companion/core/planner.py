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

Time is counted as the player plays it: neighbouring tracks overlap by the crossfade
(``crossfade_s``, at most half of either track, as ``companion.core.render.plan_slots`` places
them; 0 is gapless), a silence never overlaps, so a track's start offset is when it begins to
be heard and the length is the sum of the lengths minus the overlaps (``timeline``).

Soft goals (a cost): close to the arc, high-confidence tempi, loudness not increasing while
descending, different artists in a row, the end tempo of one track near the start tempo of
the next, and a per-seed random preference that gives a different, equally good plan for
another seed. An unsure track (confidence below ``UNSURE_CONFIDENCE``) may be used at one of
its alternative tempi (half, double, ...), and the plan says so.

The search is a beam search over positions: tracks are indexed by log tempo, so each step
looks only at the few that fit, scored with numpy. When no plan exists, ``PlanError`` says
why in one or two lines and which nearby requests would work (``nearest=True`` returns the
first): ``str(error)`` names command-line flags, ``error.reason`` and ``error.options`` say the
same in plain words and as data for the app.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from companion.core.arcs import Arc, load_arc
from companion.core.errors import PlanError, PlanOption, UserInputError
from companion.core.models import STATUS_OK, Playlist, PlaylistEntry, Track
from companion.core.render import DEFAULT_CROSSFADE_S
from companion.core.tempo import UNSURE_CONFIDENCE
from companion.core.timefmt import format_duration

if TYPE_CHECKING:
    from companion.core.store import Store

__all__ = [
    "DEFAULT_CROSSFADE_S",
    "DEFAULT_MAX_STEP_PCT",
    "DEFAULT_MINUTES",
    "DEFAULT_TARGET_BPM",
    "LENGTH_TOLERANCE",
    "build",
    "check_plan",
    "default_start_bpm",
    "filter_tracks",
    "overlap_s",
    "plan",
    "slot_candidates",
    "step_pct",
    "tempo_for_slot",
    "timeline",
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
_UNKNOWN_CONFIDENCE = 0.6
# An unsure track's alternative tempo is used only with at least this much evidence (0–1):
# on the demo library, levels below it were wrong every time (e.g. 3/2 of a halved tempo).
MIN_ALTERNATIVE_SCORE = 0.25


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


def _uses(tracks: Sequence[Track], seed: int) -> _Uses:
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
        )


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
        locked_paths = {e.path for e in req.locked}
        self.excluded = (np.array([t.path in locked_paths for t in u.tracks], dtype=bool)
                         if locked_paths else np.zeros(len(u.tracks), dtype=bool))
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
        if not ok.any():
            return []
        cost = _W_ARC * (dev / self.ltol) ** 2 + _W_CONF * (1.0 - u.conf[sl]) + u.pref[sl]
        if s.use >= 0:
            with np.errstate(invalid="ignore"):
                louder = np.nan_to_num(u.loud[sl] - u.loud[s.use], nan=0.0)
                cost += np.where(direction < 0, np.minimum(np.maximum(louder, 0) * _W_LOUD, 1.0), 0)
                join = np.nan_to_num(np.abs(u.lstart[sl] - u.lend[s.use]), nan=0.0)
            cost += _W_JOIN * np.minimum(join / self.ltol, 3.0)
            art = u.artist[sl]
            if u.artist[s.use] >= 0:
                cost += np.where(art == u.artist[s.use], _W_ARTIST, 0.0)
            p = s.parent
            while p is not None and p.kind == "silence":
                p = p.parent
            if p is not None and p.use >= 0 and u.artist[p.use] >= 0:
                cost += np.where(art == u.artist[p.use], _W_ARTIST / 2, 0.0)
        cost = np.where(ok, cost, np.inf)
        n_ok = int(ok.sum())
        want = min(n_ok, self.per_state + len(s.used) + 1)
        pick = np.argpartition(cost, want - 1)[:want] if want < cost.size else np.arange(cost.size)
        pick = pick[np.lexsort((pick, cost[pick]))]
        out: list[_State] = []
        for j in pick:
            if not np.isfinite(cost[j]):
                break
            use = int(i0) + int(j)
            ti = int(u.track[use])
            if ti in s.used:
                continue
            out.append(_State(
                s.cost + float(cost[j]), float(end[j]), use, float(plog[j]),
                int(direction[j]), s.silence, s.locks, s, s.used | {ti}, "track", s.n + 1,
            ))
            if len(out) >= self.per_state:
                break
        return out

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
    )


# -- public API --------------------------------------------------------------------------------


def filter_tracks(tracks: Iterable[Track], filters: Mapping[str, Any] | None = None) -> list[Track]:
    """Tracks usable for planning (analysed, with a tempo and a length) that pass ``filters``.

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
) -> Playlist:
    """Plan a playlist whose tempi follow ``arc`` from ``start_bpm`` to ``target_bpm``.

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

    Raises
    ------
    PlanError : the library cannot satisfy the request; the message says why and what would
        (``reason`` and ``options`` say it without command-line flags).
    UserInputError : a parameter is out of range.
    """
    the_arc = arc if isinstance(arc, Arc) else load_arc(arc)
    _check_number("minutes", minutes, 0.5, 24 * 60)
    _check_number("--max-step", max_step_pct, 0.5, 50)
    _check_number("--target", target_bpm, MIN_BPM, MAX_BPM)
    _check_number("--crossfade", crossfade_s, 0, MAX_CROSSFADE_S)
    usable = sorted(filter_tracks(tracks, filters), key=lambda t: t.path)
    notes: list[str] = []
    if start_bpm is None:
        start_bpm = default_start_bpm(usable)
        if start_bpm is not None:
            notes.append(f"start tempo {start_bpm:g} BPM: the 80th percentile of your library's "
                         f"tempi up to {START_CEILING_BPM:g} BPM")
    if start_bpm is None:
        raise _empty_library_error(tracks, filters)
    _check_number("--start", start_bpm, MIN_BPM, MAX_BPM)
    if not usable and not locked:
        raise _empty_library_error(tracks, filters)
    req = _Request(the_arc, float(start_bpm), float(target_bpm), float(minutes), float(max_step_pct),
                   tuple(locked or ()), float(crossfade_s))
    u = _uses(usable, seed)
    found = _search(u, req)
    chosen = req
    if found is None:
        reason, options = _diagnose(u, req)
        if not nearest or not options:
            offer = ", or ".join(o.option.flag for o in options)
            msg = reason + (f"; nearest plan: {offer} (or add --nearest)" if offer else "")
            raise PlanError(msg, reason=reason, options=tuple(o.option for o in options))
        best = options[0]
        found, chosen = best.found, best.req
        notes.append(f"nearest plan: {best.option.label} — asked for {_describe(req)}, but {reason}")
    pl = _playlist(u, chosen, found, name=name, seed=seed, filters=filters, notes=notes)
    problems = check_plan(pl, max_step_pct=chosen.max_step_pct)
    if problems:  # a bug, never a user's problem: refuse rather than play a broken plan
        raise PlanError("internal planner error: " + problems[0])
    return pl


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
    inside = {e.path for e in pl.entries}
    usable = [t for t in filter_tracks(tracks, pl.meta.get("filters") or None) if t.path not in inside]
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


def build(store: Store, *, name: str, **plan_kwargs: Any) -> Playlist:
    """Plan from the library's analysed tracks and save as ``playlists/NAME.m3u8``.

    ``plan_kwargs`` are those of ``plan``. Returns the saved playlist (``path`` set).
    """
    from companion.core import playlists

    playlists.validate_name(name)
    pl = plan(store.tracks(status=STATUS_OK), name=name, **plan_kwargs)
    path = playlists.save(pl)
    from dataclasses import replace

    return replace(pl, path=str(path))


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


# -- internals ---------------------------------------------------------------------------------


def _check_number(flag: str, value: float, lo: float, hi: float) -> None:
    if not isinstance(value, int | float) or math.isnan(value) or not lo <= value <= hi:
        raise UserInputError(f"{flag} {value!r} is out of range: use a number from {lo:g} to {hi:g}")


def _empty_library_error(tracks: Sequence[Track], filters: Mapping[str, Any] | None) -> PlanError:
    if not tracks:
        return PlanError("the library is empty: run `companion scan FOLDER` (or `companion demo`) first",
                         reason="the library is empty: scan a folder of your music first")
    if filters:
        return PlanError("no analysed track with a tempo matches the filters; loosen them")
    return PlanError("no analysed track has a tempo yet: run `companion scan FOLDER` first",
                     reason="no track in the library has a tempo yet: scan a folder of your music first")


def _search(u: _Uses, req: _Request) -> _Found | None:
    small = len(u.lb) < 3000
    return _Search(u, req, beam=96 if small else 40, per_state=16 if small else 10).run()


def _describe(req: _Request) -> str:
    return (f"{req.start_bpm:g}→{req.target_bpm:g} BPM over {req.minutes:g} min "
            f"with steps up to {req.max_step_pct:g} %")


# The settings a nearby request may change: the command line's flag, and the change in words.
_FLAGS = {"max_step_pct": "--max-step", "minutes": "--minutes", "start_bpm": "--start",
          "target_bpm": "--target"}
_LABELS = {"max_step_pct": "steps up to {:g} %", "minutes": "{:g} minutes",
           "start_bpm": "start {:g} BPM", "target_bpm": "target {:g} BPM"}


def _plan_option(field: str, value: float, *also: tuple[str, float]) -> PlanOption:
    changes = [(field, value), *also]
    return PlanOption(field=field, value=value, also=tuple(also),
                      label=" and ".join(_LABELS[f].format(v) for f, v in changes),
                      flag=" ".join(f"{_FLAGS[f]} {v:g}" for f, v in changes))


@dataclass
class _Option:
    option: PlanOption
    req: _Request
    found: _Found
    rank: int  # smaller: a smaller change to what was asked


def _diagnose(u: _Uses, req: _Request) -> tuple[str, list[_Option]]:
    """Why ``req`` has no plan, in one or two lines, and the nearby requests that work
    (best first: a step still within 10 %, then another length, tempo, or a wider step)."""
    reasons: list[str] = []
    tries = _Attempts(u, req)
    attempt = tries.attempt
    ltol = math.log1p(req.max_step_pct / 100)

    def step_option(pct: float) -> None:
        pct = float(math.ceil(pct))
        if req.max_step_pct < pct <= 50:
            attempt("max_step_pct", pct, 0 if pct <= 10 else 3)

    def nearest_lb(bpm: float) -> float | None:
        return None if not len(u.lb) else float(u.lb[np.argmin(np.abs(u.lb - math.log(bpm)))])

    # 1. Nothing near the start or the target tempo: the nearest tempo there is instead, and
    # if that alone is not enough, with a session long enough for the steps it takes.
    for label, bpm in (("start", req.start_bpm), ("target", req.target_bpm)):
        near = nearest_lb(bpm)
        if near is not None and abs(near - math.log(bpm)) > ltol:
            nb = math.exp(near)
            reasons.append(f"no music within {req.max_step_pct:g} % of the {label} tempo {bpm:g} BPM "
                           f"(nearest: {nb:.0f} BPM)")
            if not attempt(f"{label}_bpm", float(round(nb)), 2):
                moved = req.with_(**{f"{label}_bpm": float(round(nb))})
                for minutes in _longer_sessions(u, moved):
                    if attempt(f"{label}_bpm", float(round(nb)), 3, ("minutes", minutes)):
                        break
    # 2. A stretch of tempi without music that the arc has to cross or sit in.
    ts, bs = req.arc.bpms(req.start_bpm, req.target_bpm)
    arc_lo, arc_hi = math.log(min(bs)), math.log(max(bs))
    lbs = np.unique(np.round(u.lb[(u.lb >= arc_lo - ltol) & (u.lb <= arc_hi + ltol)], 6))
    edges = np.concatenate([[arc_lo - ltol], lbs, [arc_hi + ltol]])
    blocking = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        crossed = hi - lo > ltol + 1e-9 and arc_hi >= hi + ltol - 1e-9 and arc_lo <= lo - ltol + 1e-9
        uncovered = hi - lo > 2 * ltol + 1e-9
        if crossed or uncovered:
            blocking.append((float(lo), float(hi)))
    if blocking:
        lo, hi = max(blocking, key=lambda g: g[1] - g[0])
        shown_lo, shown_hi = math.exp(max(lo, arc_lo - ltol)), math.exp(min(hi, arc_hi + ltol))
        reasons.append(f"no music between {shown_hi:.0f} and {shown_lo:.0f} BPM")
        if lo > arc_lo - ltol and hi < arc_hi + ltol:
            step_option((math.exp(hi - lo) - 1) * 100 + 0.5)
        if req.target_bpm < req.start_bpm and math.exp(hi) < req.start_bpm:
            attempt("target_bpm", float(math.ceil(math.exp(hi))), 2)
        elif req.target_bpm < req.start_bpm and math.exp(lo) > req.target_bpm:
            attempt("start_bpm", float(math.floor(math.exp(lo))), 2)
    # 3. An arc steeper than the steps allow with tracks this long.
    steps = _Steps.of(u, req)
    if steps is not None:
        fit = (req.total_s - req.arc.silence_s) / steps.heard
        if steps.needed > fit - 1 and fit > 1:
            dmed = steps.typical_s
            reasons.append(
                f"{req.start_bpm:g} → {req.target_bpm:g} BPM takes about {math.ceil(steps.needed)} "
                f"steps of {req.max_step_pct:g} %, but only ~{fit:.0f} of your tracks (typically "
                f"{int(dmed) // 60}:{int(dmed) % 60:02d}) fit in {req.minutes:g} minutes"
            )
            step_option((math.exp(steps.change / max(fit - 1.5, 1.0)) - 1) * 100)
            longer = steps.minutes_for(req)
            if longer <= 4 * req.minutes:
                attempt("minutes", float(longer), 1)
    # 4. Too little music along the arc: the longest shorter session that works.
    shorter = _longest_feasible(req, tries)
    if shorter is not None and not blocking:
        short = req.minutes - shorter
        reasons.append(f"{short:g} minute{'s' if short != 1 else ''} short")
    # 5. Nothing yet: a target a little nearer the start (where a library usually has more).
    if not tries.options and req.target_bpm != req.start_bpm:
        toward = 1.0 if req.start_bpm > req.target_bpm else -1.0
        for k in range(1, 7):
            nearer = float(round(req.target_bpm * (1 + toward * 0.05 * k)))
            if (nearer - req.start_bpm) * toward >= 0:  # not past the start
                break
            if attempt("target_bpm", nearer, 4):
                break
    options = tries.options
    if req.locked and not options:
        reasons.append("the locked tracks cannot be joined to the arc within the max step; unlock one")
    if not reasons:
        reasons.append("the library has too little music along this arc")
    options.sort(key=lambda o: (o.rank, o.option.flag.split()[0],
                                abs(o.option.value - getattr(req, o.option.field))))
    offer: list[_Option] = []
    for o in options:  # the smallest change of each kind
        if all(x.option.field != o.option.field for x in offer):
            offer.append(o)
    return "; ".join(reasons[:2]), offer[:3]


class _Attempts:
    """Plans tried while diagnosing ``req`` with one setting changed, and those that worked
    (each change tried once)."""

    def __init__(self, u: _Uses, req: _Request) -> None:
        self.u, self.req = u, req
        self.options: list[_Option] = []
        self.tried: set[PlanOption] = set()

    def attempt(self, field: str, value: float, rank: int, *also: tuple[str, float]) -> bool:
        option = _plan_option(field, value, *also)
        if option not in self.tried:
            self.tried.add(option)
            req = self.req.with_(**option.changes)
            f = _search(self.u, req)
            if f is not None:
                self.options.append(_Option(option, req, f, rank))
        return any(o.option == option for o in self.options)


@dataclass(frozen=True)
class _Steps:
    """How many steps of the largest allowed size an arc takes, with the library's typical
    track (its median length, and what it adds to a session as played)."""

    typical_s: float
    heard: float  # seconds a typical track adds, played (its length less a crossfade)
    change: float  # the arc's tempo change in log units, less a step's worth at each end
    needed: float  # steps of max_step_pct that change takes

    @classmethod
    def of(cls, u: _Uses, req: _Request) -> _Steps | None:
        lengths = u.dur[np.isfinite(u.dur)]
        if not lengths.size:
            return None
        dmed = float(np.median(lengths))
        heard = dmed - float(overlap_s(dmed, dmed, req.crossfade_s))
        _, bs = req.arc.bpms(req.start_bpm, req.target_bpm)
        ltol = math.log1p(req.max_step_pct / 100)
        change = sum(abs(math.log(b1 / b0)) for b0, b1 in zip(bs[:-1], bs[1:], strict=True))
        change = max(0.0, change - 2 * ltol)
        return cls(dmed, heard, change, change / ltol)

    def minutes_for(self, req: _Request) -> int:
        """Whole minutes a session needs for these steps (and the arc's silence)."""
        return math.ceil(((self.needed + 1.5) * self.heard + req.arc.silence_s) / 60)


def _longer_sessions(u: _Uses, req: _Request) -> list[float]:
    """Session lengths (minutes, whole) to try for ``req`` when its steps do not fit in its
    minutes: enough for the steps its arc takes with the library's typical track, then more;
    none beyond four times the minutes asked."""
    steps = _Steps.of(u, req)
    if steps is None:
        return []
    base = steps.minutes_for(req)
    out = [float(m) for m in (base, math.ceil(base * 1.25), math.ceil(base * 1.5))
           if req.minutes < m <= 4 * req.minutes]
    return sorted(set(out))


def _longest_feasible(req: _Request, tries: _Attempts) -> float | None:
    """The longest session shorter than asked that has a plan (to the minute; half a minute
    under 4), by bisection: feasibility mostly shrinks as the session grows."""
    unit = 1.0 if req.minutes > 4 else 0.5
    top = math.floor((req.minutes - 1e-9) / unit)  # in units

    def works(n: int) -> bool:
        return tries.attempt("minutes", n * unit, 1)

    ok, bad = None, top + 1
    for frac in (0.9, 0.75, 0.6, 0.45, 0.3, 0.15):
        n = min(top, max(1, math.floor(req.minutes * frac / unit)))
        if n >= bad:
            continue
        if works(n):
            ok = n
            break
        bad = n
    if ok is None:
        return None
    while bad - ok > 1:
        mid = (ok + bad) // 2
        if works(mid):
            ok = mid
        else:
            bad = mid
    longest = ok * unit  # offer only the longest of the shorter sessions
    tries.options = [o for o in tries.options if o.option.field != "minutes"
                     or o.option.value == longest or o.option.value > req.minutes]
    return ok * unit


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
