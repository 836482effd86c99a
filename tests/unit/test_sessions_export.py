"""History export (CSV, JSON) and import: round trip, no duplicates, clear errors, all or nothing."""

from __future__ import annotations

import csv
import io
import json

import pytest

from companion.core import sessions
from companion.core.errors import UserInputError
from companion.core.models import OUTCOME_COMPLETED, OUTCOME_IN_PROGRESS, OUTCOME_STOPPED
from companion.core.store import Store
from tests.records import record

CONTRACT = "started_at,playlist,minutes_listened,completed,stress_before,stress_after"


@pytest.fixture
def store():
    with Store() as s:
        yield s


def _fill(store: Store) -> None:
    sessions.set_listener_scales(store, "anna", ["vas", "stai6", "heart_rate", "note"])
    snap = {"name": "evening", "arc": "iso", "entries": [{"path": "/m/a.flac", "title": "A", "start_s": 0}]}
    record(store, listener="anna", playlist="evening", arc="iso", snapshot=snap, before=[
        sessions.make_rating("stress", "before", 7), sessions.make_rating("vas", "before", "64.5"),
        sessions.make_rating("stai6", "before", "2 3 1 4 2 2"),
        sessions.make_rating("heart_rate", "before", 88), sessions.make_rating("note", "before", 'tired, "busy"'),
    ], outcome=OUTCOME_COMPLETED, minutes=20.25, underruns=2, after=[
        sessions.make_rating("stress", "after", 3), sessions.make_rating("vas", "after", 30),
        sessions.make_rating("stai6", "after", "3 2 1 3 3 1"), sessions.make_rating("heart_rate", "after", 71.5)])
    record(store, before=[sessions.make_rating("stress", "before", 5)], outcome=OUTCOME_STOPPED, minutes=4)
    c = record(store, before=[sessions.make_rating("stress", "before", 6)], outcome=OUTCOME_IN_PROGRESS,
               minutes=9.5, pid=0).id  # its process is gone: recovery finds it interrupted
    assert [s.id for s in sessions.recover_interrupted(store)] == [c]
    sessions.rate_late(store, c, [sessions.make_rating("stress", "after", 4)])


def _key(s):
    ratings = sorted((r.scale, r.phase, r.value, r.text, r.late) for r in s.ratings)
    return (s.uid, s.listener, s.playlist, s.arc, s.started_at, s.ended_at, s.minutes_listened, s.outcome,
            s.underruns, tuple(ratings))


def test_csv_header_starts_with_the_contract_columns(store):
    _fill(store)
    text = sessions.export_history(store.sessions(), "csv")
    header = text.splitlines()[0]
    assert header.startswith(CONTRACT)
    for col in ("session_id", "uid", "listener", "arc", "ended_at", "outcome", "underruns",
                "stress_after_late", "vas_before", "vas_after", "stai6_before", "stai6_after",
                "heart_rate_before", "heart_rate_after", "note_before", "note_after"):
        assert col in header.split(",")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["completed"] == "true" and rows[0]["stress_before"] == "7"
    assert rows[0]["note_before"] == 'tired, "busy"'
    assert rows[2]["outcome"] == "interrupted" and rows[2]["stress_after_late"] == "true"


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_import_round_trip_without_duplicates(store, tmp_path, fmt):
    _fill(store)
    original = store.sessions()
    path = tmp_path / f"history.{fmt}"
    path.write_text(sessions.export_history(original, fmt))
    with Store(tmp_path / "other.db") as fresh:
        assert sessions.import_history(fresh, path) == (3, 0)
        assert sessions.import_history(fresh, path) == (0, 3)  # re-import adds nothing
        restored = fresh.sessions()
        if fmt == "json":
            assert [_key(s) for s in restored] == [_key(s) for s in original]
            assert json.loads(restored[0].snapshot)["entries"][0]["title"] == "A"
            assert restored[0].rating("before", "stai6").items == (2, 3, 1, 4, 2, 2)
        else:  # CSV keeps values (STAI-6 to 2 decimals), not the six answers nor the snapshot
            for a, b in zip(restored, original, strict=True):
                assert (a.uid, a.listener, a.outcome, a.minutes_listened) == (b.uid, b.listener, b.outcome, b.minutes_listened)
                for r in b.ratings:
                    got = a.rating(r.phase, r.scale)
                    assert got.late == r.late
                    if r.scale == "note":
                        assert got.text == r.text
                    else:
                        assert got.value == pytest.approx(r.value, abs=0.005)
        assert sorted(fresh.listeners()) == ["anna", "me"]


def test_csv_without_uid_gets_a_stable_one(store, tmp_path):
    path = tmp_path / "hand.csv"
    path.write_text(CONTRACT + "\n2026-11-20T19:00:00+00:00,demo,20,true,6,4\n")
    assert sessions.import_history(store, path) == (1, 0)
    assert sessions.import_history(store, path) == (0, 1)
    [s] = store.sessions()
    assert (s.listener, s.outcome, s.value("before"), s.value("after")) == ("me", OUTCOME_COMPLETED, 6, 4)


def test_import_into_another_listener(store, tmp_path):
    _fill(store)
    path = tmp_path / "h.json"
    path.write_text(sessions.export_history(store.sessions(listener="anna"), "json"))
    with Store(tmp_path / "other.db") as fresh:
        sessions.import_history(fresh, path, listener="client-7")
        assert fresh.listeners() == ["client-7"]


@pytest.mark.parametrize("body, message", [
    (CONTRACT + "\n2026-11-20T19:00:00+00:00,demo,20,true,6,4\n2026-11-21T19:00:00+00:00,demo,20,true,6,11\n",
     "line 3: stress rating '11.0' is out of range"),
    (CONTRACT + "\nyesterday,demo,20,true,6,4\n", "line 2: started_at 'yesterday'"),
    (CONTRACT + "\n2026-11-20T19:00:00+00:00,demo,lots,true,6,4\n", "line 2: minutes_listened"),
    ("when,what\n1,2\n", "line 1: the CSV header lacks started_at, playlist"),
    ('[{"started_at": "2026-11-20T19:00:00+00:00", "playlist": "demo"}, 3]', "record 2"),
    ('[{"started_at": "2026-11-20T19:00:00+00:00", "playlist": "demo",\n "ratings": [{"scale": "stress", '
     '"phase": "before", "value": -2}]}]', "record 1: stress rating '-2.0' is out of range"),
    ('[{"started_at": ', "line 1: not valid JSON"),
    ('[{"started_at": "2026-11-20T19:00:00+00:00", "playlist": "demo", "ratings": [{"scale": "stai6", '
     '"phase": "before", "value": 40, "items": ["a"]}]}]', "record 1: STAI-6 items"),
    ("", "is empty"),
])
def test_malformed_import_names_the_line_and_adds_nothing(store, tmp_path, body, message):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(UserInputError) as err:
        sessions.import_history(store, path)
    assert message in str(err.value)
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)
    assert store.sessions() == []


def test_history_row_has_every_column(store):
    _fill(store)
    for s in store.sessions():
        assert set(sessions.history_row(s)) == set(sessions.HISTORY_COLUMNS)


def test_any_malformed_json_gives_a_user_error_never_a_traceback():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    # The hard values are drawn on purpose, often: non-finite, huge, binary text (a plain
    # st.floats() rarely gives Infinity, so {"underruns": Infinity} slipped through).
    hard = st.sampled_from([float("inf"), float("-inf"), float("nan"), 1e30, 10**30, 2**63, "\x00\x1b[2J",
                            "x" * 200_000])
    scalars = (st.none() | st.booleans() | st.integers(-5, 200) | st.floats(allow_nan=True)
               | st.text(max_size=8) | hard | st.binary(max_size=8).map(lambda b: b.decode("latin-1")))
    values = st.recursive(scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                          max_leaves=6)
    rating = st.fixed_dictionaries({}, optional={
        "scale": st.sampled_from(["stress", "vas", "stai6", "heart_rate", "note", "mood"]) | values,
        "phase": st.sampled_from(["before", "after", "during"]) | values,
        "value": values, "items": values, "late": values, "text": values})
    record = st.fixed_dictionaries({}, optional={
        "started_at": st.sampled_from(["2026-11-20T19:00:00+00:00", "2026-11-20", "x"]) | values,
        "playlist": st.sampled_from(["demo", ""]) | values, "minutes_listened": values,
        "outcome": st.sampled_from(["completed", "nope"]) | values, "underruns": values,
        "ratings": st.lists(rating, max_size=3) | values, "stress_before": values, "completed": values,
        "snapshot": values, "uid": values, "listener": values})

    @settings(max_examples=100, deadline=None)
    @given(st.lists(record, max_size=3), st.sampled_from([0, 0, 5000]))
    def check(records, depth):
        text = json.dumps(records)
        if depth:  # nested deeper than json's recursion limit
            text = "[" * depth + text + "]" * depth
        try:
            sessions.parse_history(text, source="f.json")
        except UserInputError as exc:
            assert "\n" not in str(exc) and str(exc).startswith("f.json")

    check()
