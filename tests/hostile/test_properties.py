"""Property tests that draw the hard values on purpose: non-finite, huge, deep, binary.

Whatever a playlist or an arc file holds, reading it either gives values within their bounds
or a CompanionError with one line; never another exception.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from companion.core import arcs, playlists
from companion.core.errors import CompanionError

HARD = st.sampled_from([float("inf"), float("-inf"), float("nan"), 1e30, -1e30, 10**30, 2**63, -1, 0,
                        "x", "", "\x00", "\x1b[2J", "[" * 50, None, True, [], {}, "9" * 400])
VALUES = HARD | st.floats(allow_nan=True, allow_infinity=True) | st.integers() | st.text(max_size=12)
META_KEYS = ("start_bpm", "target_bpm", "minutes", "max_step_pct", "crossfade_s", "seed", "arc",
             "arc_file", "filters")
TRACK_KEYS = ("bpm", "planned_bpm", "used_bpm", "duration_s", "loudness_lufs", "locked", "title", "artist")
LINES = st.one_of(
    st.builds(lambda d: "#COMPANION-PLAYLIST:" + json.dumps(d, allow_nan=True),
              st.dictionaries(st.sampled_from(META_KEYS), VALUES | st.dictionaries(st.text(max_size=6), VALUES),
                              max_size=6)),
    st.builds(lambda d: "#COMPANION-TRACK:" + json.dumps(d, allow_nan=True),
              st.dictionaries(st.sampled_from(TRACK_KEYS), VALUES, max_size=5)),
    st.builds(lambda v: f"#COMPANION-SILENCE:{v}", VALUES),
    st.builds(lambda v: f"#EXTINF:{v},A - B", VALUES),
    st.sampled_from(["#EXTM3U", "~nosuchuser-x/a.wav", "file:///a%00b.wav", "http://x/y.mp3", "a\\b.wav",
                     "../" * 30 + "x.wav", "/" + "a" * 5000 + ".wav", "loop/x.wav"]),
    st.binary(max_size=30).map(lambda b: b.decode("latin-1")),
    st.text(max_size=30),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(LINES, max_size=8))
def test_any_playlist_text_reads_to_values_within_bounds(tmp_path: Path, lines: list[str]) -> None:
    pl = playlists.parse("\n".join(lines), base_dir=tmp_path, name="p")
    bounds = {"start_bpm": (20, 300), "target_bpm": (20, 300), "minutes": (0.5, 1440),
              "max_step_pct": (0.5, 50), "crossfade_s": (0, 60)}
    for key, (low, high) in bounds.items():
        if key in pl.meta:
            assert low <= pl.meta[key] <= high
    assert isinstance(pl.meta.get("seed", 0), int) and not isinstance(pl.meta.get("seed", 0), bool)
    for e in pl.entries:
        assert 0 <= e.duration_s <= 24 * 3600 and math.isfinite(e.start_s)
        assert e.silence_s <= arcs.MAX_SILENCE_S
        for v in (e.bpm, e.planned_bpm, e.used_bpm):
            assert v is None or 1 <= v <= 1000
        assert isinstance(e.locked, bool)
    playlists.dumps(pl)  # and it can be written back


ARC_VALUES = st.sampled_from(["start", "target", "target * 1.15", "60", "inf", "nan", "1e400", "-1", "0",
                              "start * 0", "x", "", "1e9", "0.5"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["0", "1", "0.5", "nan", "inf", "-0", "2"]), ARC_VALUES), max_size=5),
       st.sampled_from(["", "[silence]\nat = {v}\nseconds = {w}\n", "[ending]\nfade_out_s = {v}\n"]),
       ARC_VALUES, ARC_VALUES)
def test_any_arc_text_is_an_arc_within_bounds_or_one_line(points, extra, v, w) -> None:
    text = "[curve]\n" + "".join(f"{t} = {b}\n" for t, b in points) + extra.format(v=v, w=w)
    try:
        arc = arcs.parse_arc(text, "x")
    except CompanionError as exc:
        assert "\n" not in str(exc)
        return
    assert 0 <= arc.silence_s <= arcs.MAX_SILENCE_S and 0 <= arc.fade_out_s <= arcs.MAX_FADE_OUT_S
    ts, bs = arc.bpms(90, 60)
    assert all(math.isfinite(b) and 5 <= b <= 1200 for b in bs) and ts[0] == 0 and ts[-1] == 1
