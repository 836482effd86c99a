"""Every statistic checked against a direct numpy/scipy computation, edges included."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from scipy import stats

from companion.core import insights
from companion.core.models import (
    OUTCOME_COMPLETED,
    OUTCOME_IN_PROGRESS,
    OUTCOME_INTERRUPTED,
    OUTCOME_STOPPED,
    Rating,
    Session,
)

TZ = timezone(timedelta(hours=1))
NOW = datetime(2026, 11, 26, 18, 0, tzinfo=TZ)  # a Thursday


def session(before, after, *, scale="stress", outcome=OUTCOME_COMPLETED, playlist="demo", arc="iso",
            days_ago=0.0, late=False, snapshot=None, minutes=20.0, extra=(), sid=0):
    ratings = list(extra)
    if before is not None:
        ratings.append(Rating(scale, "before", float(before)))
    if after is not None:
        ratings.append(Rating(scale, "after", float(after), late=late))
    started = (NOW - timedelta(days=days_ago)).isoformat()
    return Session(id=sid, listener="me", playlist=playlist, arc=arc, started_at=started, ended_at=started,
                   minutes_listened=minutes, outcome=outcome, snapshot=json.dumps(snapshot or {}),
                   ratings=tuple(ratings))


def reference(before, after):
    """The textbook computation, written out independently."""
    b, a = np.asarray(before, float), np.asarray(after, float)
    d = a - b
    n = len(d)
    sd = d.std(ddof=1)
    half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    return {"mean_before": b.mean(), "mean_after": a.mean(), "mean_change": d.mean(),
            "ci95": [d.mean() - half, d.mean() + half], "dz": d.mean() / sd,
            "wilcoxon_p": stats.wilcoxon(a, b).pvalue}


def test_figures_match_numpy_and_scipy_with_ties_and_zeros():
    rng = np.random.default_rng(3)
    before = rng.integers(3, 9, size=23)
    after = np.clip(before + rng.integers(-3, 2, size=23), 0, 10)  # many ties, some zeros
    st = insights.scale_stats([session(b, a) for b, a in zip(before, after, strict=True)])
    ref = reference(before, after)
    assert st["n"] == 23
    for key in ("mean_before", "mean_after", "mean_change", "dz", "wilcoxon_p"):
        assert st[key] == pytest.approx(ref[key], rel=1e-12), key
    assert st["ci95"] == pytest.approx(ref["ci95"], rel=1e-12)
    assert st["mean_change"] == pytest.approx(st["mean_after"] - st["mean_before"])


def test_small_sample_with_ties_matches_scipy_permutation_p():
    before, after = [6, 5, 7, 4, 6, 8], [4, 5, 5, 3, 4, 6]  # diffs -2, 0, -2, -1, -2, -2
    st = insights.scale_stats([session(b, a) for b, a in zip(before, after, strict=True)])
    assert st["wilcoxon_p"] == pytest.approx(stats.wilcoxon(np.subtract(after, before)).pvalue)
    assert st["dz"] == pytest.approx(reference(before, after)["dz"])


def test_n_zero():
    st = insights.scale_stats([session(5, None), session(None, None, outcome=OUTCOME_STOPPED)])
    assert st["n"] == 0
    for key in ("mean_before", "mean_after", "mean_change", "ci95", "dz", "wilcoxon_p", "responder_rate"):
        assert st[key] is None
    assert st["completion_rate"] == pytest.approx(0.5)
    assert insights.scale_stats([])["completion_rate"] is None


def test_n_one_gives_means_but_no_inference():
    st = insights.scale_stats([session(7, 4)])
    assert (st["n"], st["mean_before"], st["mean_after"], st["mean_change"]) == (1, 7, 4, -3)
    assert st["ci95"] is None and st["dz"] is None and st["wilcoxon_p"] is None
    assert st["responder_rate"] == 1.0


def test_n_two():
    before, after = [7, 5], [4, 5]
    st = insights.scale_stats([session(b, a) for b, a in zip(before, after, strict=True)])
    ref = reference(before, after)
    assert st["ci95"] == pytest.approx(ref["ci95"])
    assert st["dz"] == pytest.approx(ref["dz"])
    assert st["wilcoxon_p"] == pytest.approx(stats.wilcoxon([-3]).pvalue)  # the zero is dropped


def test_all_changes_zero():
    st = insights.scale_stats([session(b, b) for b in (3, 5, 5, 8)])
    assert st["mean_change"] == 0 and st["sd_change"] == 0
    assert st["ci95"] == [0.0, 0.0]  # the t formula's answer; flagged by a caution
    assert st["dz"] is None  # 0 / 0
    assert st["wilcoxon_p"] == 1.0
    assert st["responder_rate"] == 0.0
    summary = insights.summarize([session(b, b) for b in (3, 5, 5, 8)], now=NOW)
    assert "the same before and after in all 4 sessions" in summary["summary"]
    assert any("no width" in c for c in summary["cautions"])


def test_identical_nonzero_changes_have_no_dz():
    st = insights.scale_stats([session(b, b - 2) for b in (4, 6, 8)])
    assert st["mean_change"] == -2 and st["dz"] is None
    assert st["ci95"] == [-2.0, -2.0]
    assert st["wilcoxon_p"] == pytest.approx(stats.wilcoxon([-2, -2, -2]).pvalue)


@pytest.mark.parametrize("scale, before, after, responder", [
    ("stress", 6, 4, True),     # 2 points
    ("stress", 6, 5, False),    # 1 point, 17 %
    ("stress", 3, 2, True),     # 1 point is 33 % of 3
    ("stress", 1, 0, True),
    ("stress", 0, 0, False),    # cannot fall
    ("stress", 4, 6, False),
    ("vas", 80, 61, False),     # 19 of 100, 24 %
    ("vas", 80, 60, True),      # 20 of 100
    ("vas", 30, 20, True),      # a third
    ("stai6", 50, 39, True),    # 11 points ≥ a third of (50 − 20)
    ("stai6", 35, 30, True),    # 5 of 15 above the floor
    ("stai6", 70, 58, True),    # 12 points
    ("stai6", 80, 70, False),   # 10 points, 17 % of the distance above 20
])
def test_responder_rule_per_scale(scale, before, after, responder):
    assert insights.is_responder(before, after, scale) is responder


def test_heart_rate_has_no_responder_rule():
    st = insights.scale_stats([session(80, 70, scale="heart_rate"), session(75, 74, scale="heart_rate")],
                              "heart_rate")
    assert st["responder_rate"] is None and st["n"] == 2


def test_scales_are_never_mixed():
    mixed = [session(6, 3), session(60, 30, scale="vas"),
             session(5, 4, extra=[Rating("vas", "before", 50.0)])]  # vas before only: unpaired
    assert insights.scale_stats(mixed, "stress")["n"] == 2
    assert insights.scale_stats(mixed, "stress")["mean_before"] == pytest.approx(5.5)
    vas = insights.scale_stats(mixed, "vas")
    assert (vas["n"], vas["mean_change"]) == (1, -30)


def test_late_ratings_are_included_and_counted():
    st = insights.scale_stats([session(6, 3), session(7, 5, late=True, outcome=OUTCOME_INTERRUPTED)])
    assert st["n"] == 2 and st["n_late"] == 1
    s = insights.summarize([session(6, 3), session(7, 5, late=True, outcome=OUTCOME_INTERRUPTED)], now=NOW)
    assert "1 of the ratings after was given late" in s["summary"]
    assert any("given late" in c for c in s["cautions"])


def test_outcome_counts_and_completion_rate():
    ss = [session(5, 4), session(5, 4), session(5, None, outcome=OUTCOME_STOPPED),
          session(5, None, outcome=OUTCOME_INTERRUPTED), session(5, None, outcome=OUTCOME_IN_PROGRESS)]
    c = insights.outcome_counts(ss)
    assert c == {"total": 5, "completed": 2, "stopped_early": 1, "interrupted": 1, "in_progress": 1}
    assert insights.completion_rate(ss) == pytest.approx(2 / 4)  # in progress left out


def test_per_playlist_and_per_arc_are_the_same_figures_on_subsets():
    ss = [session(6, 3, playlist="a", arc="iso"), session(7, 6, playlist="a", arc="iso"),
          session(5, 5, playlist="b", arc=""), session(8, 4, playlist="b", arc="")]
    r = insights.summarize(ss, now=NOW)
    assert r["per_playlist"]["a"]["mean_change"] == pytest.approx(-2)
    assert r["per_playlist"]["b"]["dz"] == pytest.approx(reference([5, 8], [5, 4])["dz"])
    assert set(r["per_arc"]) == {"iso", "(no arc)"}
    assert r["per_playlist"]["a"]["small_n"] is True


def test_top_tracks_come_from_snapshots_with_their_n():
    def snap(*titles):
        return {"entries": [{"path": f"/m/{t}.flac", "title": t, "artist": "X", "start_s": 60.0 * i}
                            for i, t in enumerate(titles)] + [{"path": "", "silence_s": 30}]}

    ss = [session(8, 3, snapshot=snap("rain", "tide")),
          session(7, 4, snapshot=snap("rain", "wind")),
          session(6, 6, snapshot=snap("wind", "tide")),
          # stopped after 0.5 min: only its first track was reached
          session(6, 2, snapshot=snap("wind", "rain"), outcome=OUTCOME_STOPPED, minutes=0.5)]
    tracks = insights.top_tracks(ss)
    by = {t["title"]: t for t in tracks}
    assert by["rain"]["n"] == 2 and by["rain"]["mean_change"] == pytest.approx(np.mean([-5, -3]))
    assert by["wind"]["n"] == 3 and by["wind"]["mean_change"] == pytest.approx(np.mean([-3, 0, -4]))
    assert by["tide"]["n"] == 2 and by["tide"]["mean_change"] == pytest.approx(-2.5)
    assert [t["title"] for t in tracks] == ["rain", "tide", "wind"]  # -4, -2.5, -2.33
    assert all(t["small_n"] for t in tracks)


def test_this_week_and_gentle_streak():
    ss = [session(5, 4, days_ago=d) for d in (0, 0.1, 2, 3.5, 6, 10, 29, 45)]
    week = insights.this_week(ss, now=NOW)  # Thursday 18:00: the week began Monday 00:00
    assert week["count"] == 4 and week["since"] == "2026-11-23"
    s = insights.streak(ss, now=NOW)
    assert (s["days_last_7"], s["days_last_30"]) == (4, 6)
    assert "4 of the last 7 days" in s["text"]
    quiet = insights.streak([session(5, 4, days_ago=40)], now=NOW)
    assert quiet["days_last_7"] == 0
    for word in ("missed", "broke", "lost", "should"):
        assert word not in quiet["text"].lower()


def test_summary_never_overclaims():
    unsure = insights.summarize([session(b, a) for b, a in ((6, 4), (5, 6), (7, 7), (4, 3))], now=NOW)
    assert "includes no change" in unsure["summary"] and "could be chance" in unsure["summary"]
    assert "first impression" in unsure["summary"]
    clear = [session(b, b - d) for b, d in zip([6, 7, 5, 8, 6, 7, 5, 6, 7, 8, 6, 5],
                                               [2, 1, 2, 2, 1, 3, 1, 2, 1, 2, 2, 1], strict=True)]
    r = insights.summarize(clear, now=NOW)
    low, high = r["ci95"]
    assert r["summary"].startswith(f"On average stress fell {abs(r['mean_change']):.1f} points "
                                   f"(95 % CI {abs(high):.1f} to {abs(low):.1f}) over 12 sessions")
    assert "first impression" not in r["summary"]
    assert "caus" not in r["summary"]  # causation is only ever mentioned to deny it
    assert any("cannot show that the music caused" in c for c in r["cautions"])
    assert insights.summarize([], now=NOW)["summary"].startswith("No sessions")
    assert "too few" in insights.summarize([session(6, 4)], now=NOW)["summary"]


def test_summarize_puts_the_selected_scale_at_the_top_level():
    ss = [session(6, 3), session(7, 5), session(60, 30, scale="vas"), session(70, 50, scale="vas")]
    r = insights.summarize(ss, scale="vas", now=NOW)
    for key in insights.STAT_KEYS:
        assert key in r
    assert r["n"] == 2 and r["mean_change"] == pytest.approx(-25)
    assert r["scales"]["stress"]["mean_change"] == pytest.approx(-2.5)
    json.dumps(r)  # JSON-ready


def test_filters():
    ss = [session(6, 3, playlist="a", arc="iso", days_ago=1), session(7, 5, playlist="b", arc="u", days_ago=9)]
    assert len(insights.filter_sessions(ss, playlist="a")) == 1
    assert len(insights.filter_sessions(ss, arc="u")) == 1
    since = insights.parse_since((NOW - timedelta(days=3)).date().isoformat())
    assert [s.playlist for s in insights.filter_sessions(ss, since=since)] == ["a"]
    with pytest.raises(Exception, match="YYYY-MM-DD"):
        insights.parse_since("last week")


def test_fast_exact_p_equals_scipys_permutation_p_for_small_tied_samples():
    rng = np.random.default_rng(11)
    for _ in range(25):
        d = rng.integers(-3, 3, size=int(rng.integers(2, 11))).astype(float)
        if not np.any(d):
            continue
        st = insights.scale_stats([session(5, 5 + x) for x in d])
        assert st["wilcoxon_p"] == pytest.approx(stats.wilcoxon(d).pvalue, abs=1e-12), d


def test_sessions_without_a_rating_after_are_counted_and_flagged():
    ss = [session(6, 3), session(7, 5), session(8, None, outcome=OUTCOME_STOPPED),
          session(5, None, outcome=OUTCOME_IN_PROGRESS)]  # still playing: not missing
    r = insights.summarize(ss, now=NOW)
    assert r["n"] == 2 and r["n_missing_after"] == 1
    assert any("1 session has a rating before but none after" in c for c in r["cautions"])


def test_zero_mean_change_with_spread_says_no_change():
    r = insights.summarize([session(5, 3), session(5, 7), session(4, 4)], now=NOW)
    assert r["summary"].startswith("On average stress did not change over 3 sessions (95 % CI")


def test_interval_bounds_never_round_to_a_misleading_zero():
    assert insights.format_ci([-2.01, -0.04]) == "-2.0 to -0.04"
    assert insights.format_ci([-1.26, 0.0]) == "-1.3 to 0.0"
    assert insights.format_ci(None) == ""
