"""Why a request has no plan, and the nearby requests that have one.

Kept apart from the search (``companion.core.planner``), which hands in its ``search``
function: the diagnosis tries changed requests through it and never imports the planner.
Every option keeps the iso principle: a longer session, a target nearer the start, a start
the library has, a step still gentle (at most ``MAX_OFFERED_STEP_PCT``); never a wider jump.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from companion.core.errors import PlanOption
from companion.core.timeline import overlap_s

if TYPE_CHECKING:
    from companion.core.planner import _Found, _Request, _Uses

    Search = Callable[[_Uses, _Request], _Found | None]

__all__ = ["MAX_OFFERED_STEP_PCT", "Option", "describe", "diagnose"]

# The widest step an option may offer: beyond it, a therapist hears a jump, not a step.
MAX_OFFERED_STEP_PCT = 10.0


def describe(req: _Request) -> str:
    """The request in one line, as a note on the nearest plan quotes it."""
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
class Option:
    option: PlanOption
    req: _Request
    found: _Found
    rank: int  # smaller: a smaller change to what was asked


def diagnose(u: _Uses, req: _Request, search: Search) -> tuple[str, list[Option]]:
    """Why ``req`` has no plan, in one or two lines, and the nearby requests that work
    (best first: a step still within 10 %, then another length or tempo). ``search`` is the
    planner's: it returns a plan for a request, or None."""
    reasons: list[str] = []
    tries = _Attempts(u, req, search)
    attempt = tries.attempt
    ltol = math.log1p(req.max_step_pct / 100)

    def step_option(pct: float) -> None:
        pct = float(math.ceil(pct))
        if req.max_step_pct < pct <= MAX_OFFERED_STEP_PCT:
            attempt("max_step_pct", pct, 0)

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
        reasons.append(f"no music between {shown_lo:.0f} and {shown_hi:.0f} BPM")
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
    # 5. Nothing yet: a target nearer the start (where a library usually has more), with a
    # longer session when the steps still do not fit.
    if not tries.options and req.target_bpm != req.start_bpm:
        _nearer_target(u, req, attempt)
    options = tries.options
    if req.locked and not options:
        reasons.append("the locked tracks cannot be joined to the arc within the max step; unlock one")
    if not reasons:
        reasons.append("the library has too little music along this arc")
    options.sort(key=lambda o: (o.rank, o.option.flag.split()[0],
                                abs(o.option.value - getattr(req, o.option.field))))
    offer: list[Option] = []
    for o in options:  # the smallest change of each kind
        if all(x.option.field != o.option.field for x in offer):
            offer.append(o)
    return "; ".join(reasons[:2]), offer[:3]


def _nearer_target(u: _Uses, req: _Request, attempt: Callable[..., bool]) -> None:
    """Try targets from 5 % of the way to the start up to halfway (in log tempo): first each
    alone, then each with a session long enough for its steps; stop at the first that plans."""
    ratio = req.start_bpm / req.target_bpm
    nearer = sorted({float(round(req.target_bpm * ratio**f)) for f in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5)},
                    key=lambda b: abs(b - req.target_bpm))
    nearer = [b for b in nearer if b != req.target_bpm and (b - req.start_bpm) * (ratio - 1) < 0]
    if any(attempt("target_bpm", b, 4) for b in nearer):
        return
    for b in nearer:
        for minutes in _longer_sessions(u, req.with_(target_bpm=b))[:1]:
            if attempt("target_bpm", b, 4, ("minutes", minutes)):
                return


class _Attempts:
    """Plans tried while diagnosing ``req`` with one setting changed, and those that worked
    (each change tried once)."""

    def __init__(self, u: _Uses, req: _Request, search: Search) -> None:
        self.u, self.req, self.search = u, req, search
        self.options: list[Option] = []
        self.tried: set[PlanOption] = set()

    def attempt(self, field: str, value: float, rank: int, *also: tuple[str, float]) -> bool:
        option = _plan_option(field, value, *also)
        if option not in self.tried:
            self.tried.add(option)
            req = self.req.with_(**option.changes)
            f = self.search(self.u, req)
            if f is not None:
                self.options.append(Option(option, req, f, rank))
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

