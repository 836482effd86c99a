"""`history import` of files from anywhere: one line, nothing imported partly, history intact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from companion.core import sessions
from companion.core.errors import UserInputError
from companion.core.models import Rating
from tests.hostile.conftest import call, one_line_error
from tests.records import record as recorded

HEADER = "started_at,playlist,minutes_listened,completed,stress_before,stress_after,underruns"
GOOD = "2026-11-20T19:00:00+00:00,demo,20,true,6,4,0"


def _row(underruns: str) -> str:
    return f"2026-11-21T19:00:00+00:00,demo,20,true,6,4,{underruns}"


def _record(**extra) -> dict:
    return {"started_at": "2026-11-21T19:00:00+00:00", "playlist": "demo", **extra}


HOSTILE = {
    "underruns inf": f"{HEADER}\n{GOOD}\n{_row('inf')}\n",
    "underruns 1e30": f"{HEADER}\n{GOOD}\n{_row('1e30')}\n",
    "underruns nan": f"{HEADER}\n{GOOD}\n{_row('nan')}\n",
    "json Infinity": "[" + json.dumps(_record(underruns=1)) + "," + json.dumps(_record(underruns=float("inf"))) + "]",
    "json huge int": '[{"started_at": "2026-11-21T19:00:00+00:00", "playlist": "demo", "underruns": '
                     + "9" * 5000 + "}]",
    "cell over 128 KiB": f"{HEADER}\n{GOOD}\n2026-11-21T19:00:00+00:00,\"{'x' * 140_000}\",20,true,6,4,0\n",
    "deep json": "[" * 100_000 + "]" * 100_000,
    "deep snapshot": '[{"started_at": "2026-11-21T19:00:00+00:00", "playlist": "demo", "snapshot": '
                     + "[" * 5000 + "]" * 5000 + "}]",
    "NUL bytes": f"{HEADER}\n{GOOD}\n\x00\x00\x00\n",
    "stai6 items inf": json.dumps([_record(ratings=[{"scale": "stai6", "phase": "before", "value": 40,
                                                     "items": [1e309]}])]),
    "listener escape": json.dumps([_record(listener="\x1b]0;pwned\x07")]),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_hostile_history_is_one_line_and_imports_nothing(kind, store, tmp_path):
    recorded(store, playlist="mine", before=[Rating("stress", "before", 5.0)])
    path = tmp_path / "h.csv"
    path.write_text(HOSTILE[kind])
    with pytest.raises(UserInputError) as err:
        sessions.import_history(store, path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    one_line_error(call("history", "import", str(path)), str(path))
    assert [s.playlist for s in store.sessions()] == ["mine"]  # nothing partly, nothing lost


def test_a_binary_file_is_one_line(store, tmp_path):
    path = tmp_path / "h.bin"
    path.write_bytes(bytes(range(256)) * 64)
    one_line_error(call("history", "import", str(path)), str(path), "not a text file")
    assert store.sessions() == []


HARD_NUMBERS = st.sampled_from([float("inf"), float("-inf"), float("nan"), 1e30, -1e30, 10**30,
                                2**63, -(2**63) - 1, 1e-320, -0.0])


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


# The values a malformed export is made of, drawn on purpose: non-finite, huge, deep, binary.
hard = (HARD_NUMBERS | st.floats(allow_nan=True, allow_infinity=True) | st.integers()
        | st.text(alphabet=st.characters(codec="utf-8"), max_size=20)
        | st.binary(max_size=20).map(lambda b: b.decode("latin-1"))
        | st.sampled_from(["x" * 200_000, "\x00", "\x1b[2J", "=1+1"]))
values = st.recursive(st.none() | st.booleans() | hard,
                      lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                      max_leaves=6)
rating = st.fixed_dictionaries({}, optional={
    "scale": st.sampled_from(["stress", "vas", "stai6", "heart_rate", "note"]) | values,
    "phase": st.sampled_from(["before", "after"]) | values,
    "value": values, "items": values, "late": values, "text": values, "recorded_at": values})
record = st.fixed_dictionaries(
    {"started_at": st.sampled_from(["2026-11-20T19:00:00+00:00"]) | values,
     "playlist": st.sampled_from(["demo"]) | values},
    optional={"minutes_listened": values, "outcome": st.sampled_from(["completed"]) | values,
              "underruns": values, "ratings": st.lists(rating, max_size=3) | values,
              "stress_before": values, "completed": values, "snapshot": values, "uid": values,
              "listener": values})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(records=st.lists(record, max_size=3), depth=st.sampled_from([0, 0, 0, 50, 5000]))
def test_any_hostile_json_export_gives_a_user_error_or_imports_whole(records, depth, store, tmp_path):
    text = json.dumps(records, allow_nan=True)
    if depth:  # deep nesting inside a record's snapshot, as a crafted file would have it
        text = text.replace('"playlist"', f'"snapshot": {_deep(depth)}, "playlist"', 1)
    path = tmp_path / "h.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    before = len(store.sessions())
    try:
        added, _ = sessions.import_history(store, path)
    except UserInputError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(str(path))
        assert len(store.sessions()) == before  # nothing imported partly
        return
    assert len(store.sessions()) == before + added
    for s in store.sessions():  # whatever was taken is within bounds
        assert 0 <= s.minutes_listened <= 1440 and 0 <= s.underruns <= 10**9


def test_an_import_file_may_be_big_but_not_take_a_traceback(store, tmp_path: Path):
    rows = "\n".join(f"2026-11-{d:02d}T19:00:00+00:00,demo,20,true,6,4,0" for d in range(1, 29))
    path = tmp_path / "h.csv"
    path.write_text(f"{HEADER}\n{rows}\n")
    assert sessions.import_history(store, path) == (28, 0)
