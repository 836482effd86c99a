"""Statistics over the history: pure functions of a list of Sessions (no database, no printing).

What is computed, per scale, and why
------------------------------------
Only sessions with a rating *before and after on the same scale* count ("paired"); scales are never
mixed. Ratings after given late (``companion rate``) are included and counted in ``n_late``.

- ``n``: paired sessions. ``mean_before`` / ``mean_after``: means over those same sessions, so
  ``mean_change`` = ``mean_after`` − ``mean_before`` = the mean of the differences (after − before;
  negative = the rating fell).
- ``ci95``: the t-interval of the paired differences, mean ± t(0.975, n−1)·sd/√n with the sample sd
  (ddof=1). None when n < 2. When every difference is the same (sd 0) the interval has zero width,
  [mean, mean]: the formula's answer, reported with a caution that it says nothing about
  uncertainty.
- ``dz``: Cohen's dz = mean difference / sd of the differences (ddof=1), signed like
  ``mean_change``. None when n < 2 or sd is 0 (all changes equal, including all zero): the ratio is
  then 0/0 or infinite, and no number would be honest.
- ``wilcoxon_p``: two-sided Wilcoxon signed-rank test of the differences with scipy's defaults
  (``zero_method="wilcox"`` drops zero differences; ``method="auto"``: exact for n ≤ 50 without
  ties or zeros, exhaustive sign flips for n ≤ 13 with them (counted here by dynamic programming:
  the same p, a thousand times faster), the normal approximation otherwise). None when n < 2. 1.0 when every difference is zero: that is exactly what "no change" predicts
  (scipy's normal approximation would give NaN there).
- ``responder_rate``: share of paired sessions where the rating fell by at least a third of its
  distance from the scale's floor, or by at least a fifth of the scale's range: stress ≥ 2 of 10
  points (the issue's rule), anxiety VAS ≥ 20 of 100, STAI-6 ≥ 12 of its 60-point range (the 33 %
  is of ``before − 20``). A rating that cannot fall (already at the floor) does not respond.
  Heart rate has no such rule (a few BPM fall just from sitting still): None.
- ``completion_rate``: completed / ended sessions (completed + stopped early + interrupted);
  sessions still in progress are left out. None when no session has ended.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from companion.core.errors import UserInputError
from companion.core.models import (
    OUTCOME_COMPLETED,
    OUTCOME_IN_PROGRESS,
    OUTCOME_INTERRUPTED,
    OUTCOME_STOPPED,
    Session,
)
from companion.core.sessions import NUMERIC_SCALES as SESSION_NUMERIC_SCALES
from companion.core.sessions import SCALES

__all__ = [
    "SMALL_N", "STAT_KEYS", "RESPONDER_RULES", "paired_values", "missing_after", "is_responder",
    "responder_rule_text", "signed_rank_permutation_p", "scale_stats", "outcome_counts", "format_ci",
    "completion_rate", "group_stats", "top_tracks", "this_week", "streak", "summary_sentence",
    "filter_sessions", "parse_since", "summarize",
]

SMALL_N = 8  # below this, every figure comes with a plain-language caution
STAT_KEYS = ("n", "mean_before", "mean_after", "mean_change", "ci95", "dz", "wilcoxon_p",
             "responder_rate", "completion_rate")

# scale -> (floor, range) for the responder rule; None: no rule for that scale. The scales'
# ranges, units and names have one home, ``sessions.SCALES``.
RESPONDER_RULES: dict[str, tuple[float, float] | None] = {
    name: (SCALES[name].low, SCALES[name].span) if SCALES[name].responder_rule else None
    for name in SESSION_NUMERIC_SCALES
}
_RELATIVE_DROP = 0.33
_ABSOLUTE_DROP = 0.2  # of the scale's range
_UNITS = {name: SCALES[name].unit for name in SESSION_NUMERIC_SCALES}
_WORDS = {name: SCALES[name].label for name in SESSION_NUMERIC_SCALES}
NUMERIC_SCALES = tuple(RESPONDER_RULES)


# -- the paired statistics ------------------------------------------------------------------------


def paired_values(sessions: Iterable[Session], scale: str = "stress") -> tuple[list[float], list[float], int]:
    """(before, after, number of late ratings after) over sessions rated before and after on ``scale``."""
    before, after, late = [], [], 0
    for s in sessions:
        b, a = s.rating("before", scale), s.rating("after", scale)
        if b is None or a is None or b.value is None or a.value is None:
            continue
        before.append(float(b.value))
        after.append(float(a.value))
        late += int(a.late)
    return before, after, late


def missing_after(sessions: Iterable[Session], scale: str = "stress") -> int:
    """Ended sessions rated before on ``scale`` but not after: left out of the paired figures."""
    return sum(
        1 for s in sessions
        if s.outcome != OUTCOME_IN_PROGRESS and s.value("before", scale) is not None
        and s.value("after", scale) is None
    )


def is_responder(before: float, after: float, scale: str = "stress") -> bool | None:
    """Did the rating fall enough to count (see the module docstring)? None: no rule for the scale."""
    rule = RESPONDER_RULES.get(scale)
    if rule is None:
        return None
    floor, span = rule
    drop = before - after
    if drop <= 0:
        return False
    eps = 1e-9
    return drop + eps >= _RELATIVE_DROP * (before - floor) or drop + eps >= _ABSOLUTE_DROP * span


def responder_rule_text(scale: str) -> str:
    """The responder rule in words, e.g. "at least 2 points or a third"."""
    rule = RESPONDER_RULES.get(scale)
    if rule is None:
        return "(no responder rule for this scale)"
    third = "a third of the distance above 20" if scale == "stai6" else "a third"
    return f"at least {_ABSOLUTE_DROP * rule[1]:g} {_UNITS[scale]} or {third}"


def scale_stats(sessions: Sequence[Session], scale: str = "stress") -> dict[str, Any]:
    """The paired figures of one scale (keys :data:`STAT_KEYS` plus sd_change, n_late, scale).

    Every value is a plain float/int/None; ``ci95`` is [low, high] or None.
    """
    import numpy as np

    before_l, after_l, n_late = paired_values(sessions, scale)
    n = len(before_l)
    before, after = np.asarray(before_l, dtype=float), np.asarray(after_l, dtype=float)
    diff = after - before
    out: dict[str, Any] = {
        "scale": scale, "n": n, "mean_before": None, "mean_after": None, "mean_change": None,
        "sd_change": None, "ci95": None, "dz": None, "wilcoxon_p": None, "responder_rate": None,
        "completion_rate": completion_rate(sessions), "n_late": n_late, "n_responders": None,
        "n_missing_after": missing_after(sessions, scale),
    }
    if n == 0:
        return out
    out["mean_before"] = float(before.mean())
    out["mean_after"] = float(after.mean())
    out["mean_change"] = float(diff.mean())
    flags = [is_responder(b, a, scale) for b, a in zip(before_l, after_l, strict=True)]
    if flags[0] is not None:
        out["n_responders"] = int(sum(bool(f) for f in flags))
        out["responder_rate"] = out["n_responders"] / n
    if n < 2:
        return out
    from scipy import stats

    sd = float(diff.std(ddof=1))
    out["sd_change"] = sd
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    out["ci95"] = [out["mean_change"] - half, out["mean_change"] + half]
    if sd > 0:
        out["dz"] = out["mean_change"] / sd
    if not np.any(diff != 0):
        out["wilcoxon_p"] = 1.0
    elif n <= _PERMUTATION_MAX_N and _has_ties_or_zeros(diff):
        out["wilcoxon_p"] = signed_rank_permutation_p(diff)
    else:
        out["wilcoxon_p"] = float(stats.wilcoxon(diff).pvalue)
    return out


# scipy's method="auto" enumerates all 2**n sign flips when there are ties or zeros and n <= 13;
# that takes ~1 s at n = 12. The same exact p-value, counted by dynamic programming, takes < 1 ms.
_PERMUTATION_MAX_N = 13


def _has_ties_or_zeros(diff: Any) -> bool:
    import numpy as np

    nonzero = np.abs(diff[diff != 0])
    return bool(len(nonzero) < len(diff) or len(np.unique(nonzero)) < len(nonzero))


def signed_rank_permutation_p(diff: Any) -> float:
    """Two-sided exact p of the Wilcoxon signed-rank statistic over all sign flips.

    Zero differences are dropped (zero_method "wilcox"); tied magnitudes get mid-ranks. Equal to
    ``scipy.stats.wilcoxon(diff, method=PermutationMethod())`` for n <= 13 (which enumerates the
    2**n flips): p = min(1, 2 min(P(R+ <= r+), P(R+ >= r+))).
    """
    import numpy as np
    from scipy.stats import rankdata

    d = np.asarray(diff, dtype=float)
    d = d[d != 0]
    if len(d) == 0:
        return 1.0
    ranks2 = np.rint(2 * rankdata(np.abs(d))).astype(int)  # mid-ranks × 2 are whole numbers
    observed = int(ranks2[d > 0].sum())
    total = int(ranks2.sum())
    counts = np.zeros(total + 1)
    counts[0] = 1.0
    for r in ranks2:  # each rank either joins R+ or not
        shifted = np.zeros_like(counts)
        shifted[r:] = counts[: total + 1 - r]
        counts = counts + shifted
    probs = counts / counts.sum()
    return float(min(1.0, 2 * min(probs[: observed + 1].sum(), probs[observed:].sum())))


# -- counts ------------------------------------------------------------------------------------


def outcome_counts(sessions: Iterable[Session]) -> dict[str, int]:
    """total, completed, stopped_early, interrupted, in_progress."""
    counts = {"total": 0, OUTCOME_COMPLETED: 0, OUTCOME_STOPPED: 0, OUTCOME_INTERRUPTED: 0,
              OUTCOME_IN_PROGRESS: 0}
    for s in sessions:
        counts["total"] += 1
        if s.outcome in counts:
            counts[s.outcome] += 1
    return counts


def completion_rate(sessions: Iterable[Session]) -> float | None:
    """Completed / ended sessions (in-progress ones left out); None when none has ended."""
    c = outcome_counts(sessions)
    ended = c[OUTCOME_COMPLETED] + c[OUTCOME_STOPPED] + c[OUTCOME_INTERRUPTED]
    return c[OUTCOME_COMPLETED] / ended if ended else None


def group_stats(
    sessions: Sequence[Session], key: Callable[[Session], str], scale: str = "stress"
) -> dict[str, dict[str, Any]]:
    """:func:`scale_stats` plus outcome counts for each group (e.g. per playlist), largest n first."""
    groups: dict[str, list[Session]] = {}
    for s in sessions:
        groups.setdefault(key(s), []).append(s)
    out = {}
    for name, members in groups.items():
        st = scale_stats(members, scale)
        st["sessions"] = outcome_counts(members)
        st["small_n"] = st["n"] < SMALL_N
        out[name] = st
    return dict(sorted(out.items(), key=lambda kv: (-kv[1]["n"], kv[0])))


# -- tracks --------------------------------------------------------------------------------------


def _played_tracks(session: Session) -> list[dict[str, Any]]:
    """Tracks of the session's snapshot that were reached (all of them when it completed)."""
    try:
        snap = json.loads(session.snapshot or "{}")
    except json.JSONDecodeError:
        return []
    if not isinstance(snap, dict):
        return []
    entries = snap.get("entries") or snap.get("tracks") or []
    reached_s = session.minutes_listened * 60.0
    out = []
    for e in entries:
        if not isinstance(e, dict) or (e.get("silence_s") or 0) > 0:
            continue
        if not (e.get("path") or e.get("title")):
            continue
        start = e.get("start_s")
        if not session.completed and isinstance(start, int | float) and start >= reached_s:
            continue
        out.append(e)
    return out


def top_tracks(sessions: Sequence[Session], scale: str = "stress", limit: int = 5) -> list[dict[str, Any]]:
    """Tracks played in the sessions with the largest drops, from the session snapshots.

    For each track: the sessions (paired on ``scale``) in which it was reached, their mean change,
    and ``n``. Only tracks whose sessions fell on average are listed, largest fall first (more
    sessions first on a tie). Tracks played together share their sessions' changes: this says where
    the drops happened, not which track caused them.
    """
    per: dict[str, dict[str, Any]] = {}
    for s in sessions:
        b, a = s.value("before", scale), s.value("after", scale)
        if b is None or a is None:
            continue
        seen = set()
        for e in _played_tracks(s):
            key = str(e.get("path") or e.get("title"))
            if key in seen:
                continue
            seen.add(key)
            row = per.setdefault(key, {"path": e.get("path", ""), "title": e.get("title", ""),
                                       "artist": e.get("artist", ""), "changes": []})
            row["changes"].append(a - b)
    rows = []
    for row in per.values():
        changes = row.pop("changes")
        row["n"] = len(changes)
        row["mean_change"] = sum(changes) / len(changes)
        row["small_n"] = row["n"] < SMALL_N
        if row["mean_change"] < 0:
            rows.append(row)
    rows.sort(key=lambda r: (r["mean_change"], -r["n"], r["title"]))
    return rows[:limit]


# -- adherence, gently ---------------------------------------------------------------------------


def _local(ts: str, tz: Any) -> datetime:
    t = datetime.fromisoformat(ts)
    return (t if t.tzinfo else t.replace(tzinfo=tz)).astimezone(tz)


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now().astimezone()
    return now if now.tzinfo else now.astimezone()


def this_week(sessions: Iterable[Session], now: datetime | None = None, scale: str = "stress") -> dict[str, Any]:
    """Sessions since Monday 00:00 (local): count and one short row each."""
    now = _now(now)
    monday = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = []
    for s in sessions:
        if _local(s.started_at, now.tzinfo) >= monday:
            b, a = s.value("before", scale), s.value("after", scale)
            rows.append({"session_id": s.id, "started_at": s.started_at, "playlist": s.playlist,
                         "outcome": s.outcome, "change": None if b is None or a is None else a - b})
    return {"count": len(rows), "since": monday.date().isoformat(), "sessions": rows}


def streak(sessions: Iterable[Session], now: datetime | None = None) -> dict[str, Any]:
    """Days with at least one session in the last 7 and 30 days (today included), and a kind word.

    Missing days are never counted against anyone: there is no "streak broken".
    """
    now = _now(now)
    today = now.date()
    days: set[date] = {_local(s.started_at, now.tzinfo).date() for s in sessions}
    d7 = sum(1 for d in days if 0 <= (today - d).days < 7)
    d30 = sum(1 for d in days if 0 <= (today - d).days < 30)
    if d7:
        text = f"You listened on {d7} of the last 7 days ({d30} of the last 30)."
    elif d30:
        text = f"You listened on {d30} of the last 30 days. A session is here whenever you want one."
    else:
        text = "A session is here whenever you want one."
    return {"days_last_7": d7, "days_last_30": d30, "text": text}


# -- words ------------------------------------------------------------------------------------------


def _fmt(x: float) -> str:
    """One decimal, but never rounds a non-zero bound to "0.0" (or shows "-0.0")."""
    for digits in (1, 2, 3):
        text = f"{x:.{digits}f}"
        if float(text) != 0 or x == 0:
            return text
    return f"{x:.1g}"


def format_ci(ci: Sequence[float] | None) -> str:
    """``low to high`` as tables show a 95 % interval; "" when there is none."""
    return "" if ci is None else f"{_fmt(ci[0])} to {_fmt(ci[1])}"


def summary_sentence(st: dict[str, Any]) -> str:
    """One honest sentence about a :func:`scale_stats` result: size, uncertainty, and n.

    It states the interval, says when it includes no change, and never calls a change an effect of
    the music (a before/after comparison without a control cannot show that).
    """
    scale, n = st["scale"], st["n"]
    word, unit = _WORDS.get(scale, scale), _UNITS.get(scale, "points")
    if n == 0:
        return f"No sessions with a {word} rating both before and after yet."
    if n == 1:
        return (f"One session with {word} rated before and after so far "
                f"({_fmt(st['mean_before'])} → {_fmt(st['mean_after'])}): too few to say whether "
                "listening helps.")
    change = st["mean_change"]
    low, high = st["ci95"]
    k = st["n_late"]
    late = f"; {k} of the ratings after {'was' if k == 1 else 'were'} given late" if k else ""
    small = f" With only {n} sessions, treat this as a first impression." if n < SMALL_N else ""
    if st["sd_change"] == 0:
        if change == 0:
            return f"{word.capitalize()} was the same before and after in all {n} sessions{late}.{small}"
        verb = "fell" if change < 0 else "rose"
        return (f"{word.capitalize()} {verb} by exactly {_fmt(abs(change))} {unit} in each of the {n} "
                f"sessions{late}; identical changes say little about how much they vary.{small}")
    if change == 0:
        return (f"On average {word} did not change over {n} sessions (95 % CI {_fmt(low)} to "
                f"{_fmt(high)} {unit}, after − before){late}.{small}")
    if low < 0 < high or low == 0 or high == 0:
        verb = "fell" if change < 0 else "rose"
        amount = f" {_fmt(abs(change))} {unit}"
        return (f"On average {word} {verb}{amount} over {n} sessions, but the 95 % CI "
                f"({_fmt(low)} to {_fmt(high)} {unit}, after − before) includes no change, so this "
                f"could be chance{late}.{small}")
    verb = "fell" if change < 0 else "rose"
    lo, hi = sorted((abs(low), abs(high)))
    sentence = (f"On average {word} {verb} {_fmt(abs(change))} {unit} (95 % CI {_fmt(lo)} to "
                f"{_fmt(hi)}) over {n} sessions")
    if st.get("responder_rate") is not None and change < 0:
        sentence += (f"; {st['n_responders']} of {n} sessions ({100 * st['responder_rate']:.0f} %) "
                     f"fell by {responder_rule_text(scale)}")
    return sentence + f"{late}.{small}"


def _cautions(st: dict[str, Any], per_playlist: dict[str, Any], tracks: list[dict[str, Any]]) -> list[str]:
    out = []
    n = st["n"]
    if 0 < n < SMALL_N:
        out.append(f"Only {n} sessions have {_WORDS.get(st['scale'], st['scale'])} rated before and "
                   f"after; below {SMALL_N}, averages and p-values can swing a lot with one more session.")
    if st["n_late"]:
        out.append(f"{st['n_late']} of {n} ratings after {'was' if st['n_late'] == 1 else 'were'} "
                   "given late (after the session had "
                   "ended); they may differ from how you felt right after listening.")
    if st["n_missing_after"]:
        k = st["n_missing_after"]
        out.append(f"{k} session{'s have' if k != 1 else ' has'} a rating before but none after and "
                   f"{'are' if k != 1 else 'is'} left out; if those sessions went differently, the "
                   "average could be off (`companion rate SESSION_ID` adds one late).")
    if n >= 2 and st["sd_change"] == 0:
        out.append("Every session changed by exactly the same amount, so the 95 % interval has no "
                   "width; it does not mean the figure is certain.")
    if n >= 1:
        out.append("These are changes from before to after each session; without a comparison "
                   "(for example resting in silence) they cannot show that the music caused them.")
    if any(g["small_n"] for g in per_playlist.values()) and len(per_playlist) > 1:
        out.append(f"Playlists with fewer than {SMALL_N} rated sessions are marked; compare them with care.")
    if tracks:
        out.append("Tracks played in the same sessions share those sessions' changes: the track list "
                   "shows where drops happened, not which track helped.")
    return out


# -- filtering and the whole picture ---------------------------------------------------------------


def parse_since(text: str) -> datetime:
    """``YYYY-MM-DD`` (local midnight) or an ISO date-time; UserInputError otherwise."""
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UserInputError(f"--since {text!r} is not a date; use YYYY-MM-DD") from None
    return t if t.tzinfo else t.astimezone()


def filter_sessions(
    sessions: Iterable[Session], *, playlist: str | None = None, arc: str | None = None,
    since: datetime | None = None,
) -> list[Session]:
    """Sessions of one playlist and/or arc, started at or after ``since``."""
    out = []
    for s in sessions:
        if playlist is not None and s.playlist != playlist:
            continue
        if arc is not None and s.arc != arc:
            continue
        if since is not None and _local(s.started_at, since.tzinfo) < since:
            continue
        out.append(s)
    return out


def summarize(sessions: Sequence[Session], *, scale: str = "stress", now: datetime | None = None) -> dict[str, Any]:
    """Everything ``companion stats`` shows, as one JSON-ready dict.

    The selected scale's :data:`STAT_KEYS` sit at the top level; beside them: ``scale``,
    ``sd_change``, ``n_late``, ``n_responders``, ``n_missing_after``, ``sessions`` (outcome counts), ``scales`` (every
    numeric scale that has ratings), ``per_playlist``, ``per_arc``, ``top_tracks``, ``this_week``,
    ``streak``, ``cautions`` and ``summary``.
    """
    if scale not in RESPONDER_RULES:
        raise UserInputError(f"scale {scale!r} has no statistics; use one of {', '.join(NUMERIC_SCALES)}")
    st = scale_stats(sessions, scale)
    per_playlist = group_stats(sessions, lambda s: s.playlist, scale)
    per_arc = group_stats(sessions, lambda s: s.arc or "(no arc)", scale)
    tracks = top_tracks(sessions, scale)
    scales = {name: scale_stats(sessions, name) for name in NUMERIC_SCALES}
    scales = {k: v for k, v in scales.items() if v["n"] or k == scale}
    result = dict(st)
    result.update({
        "sessions": outcome_counts(sessions),
        "scales": scales,
        "per_playlist": per_playlist,
        "per_arc": per_arc,
        "top_tracks": tracks,
        "this_week": this_week(sessions, now, scale),
        "streak": streak(sessions, now),
        "cautions": _cautions(st, per_playlist, tracks),
        "summary": summary_sentence(st),
    })
    return result
