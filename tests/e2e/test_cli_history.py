"""The history verbs as a person types them: history, stats, rate, listeners, forget, import."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from companion.cli import main
from companion.core import insights, sessions
from companion.core.models import OUTCOME_COMPLETED, OUTCOME_IN_PROGRESS, OUTCOME_STOPPED
from companion.core.store import Store
from tests.records import record

CONTRACT = "started_at,playlist,minutes_listened,completed,stress_before,stress_after"


class _Stdin(io.StringIO):
    def __init__(self, text: str, tty: bool) -> None:
        super().__init__(text)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.fixture
def run(capsys, monkeypatch):
    """Run `companion ARGS...` in-process; returns (exit code, stdout, stderr)."""

    def _run(*argv: str, stdin: str = "", tty: bool = False) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", _Stdin(stdin, tty))
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def _session(store, listener="me", before=6, after=4, playlist="demo", arc="iso", outcome=OUTCOME_COMPLETED,
             vas=None):
    pre = [sessions.make_rating("stress", "before", before)]
    post = [] if after is None else [sessions.make_rating("stress", "after", after)]
    if vas:
        pre.append(sessions.make_rating("vas", "before", vas[0]))
        post.append(sessions.make_rating("vas", "after", vas[1]))
    return record(store, listener=listener, playlist=playlist, arc=arc, before=pre, after=post,
                  outcome=outcome, minutes=12.5).id


def _generated_history(path: Path, n: int = 30) -> None:
    """A plausible history file, written as a person's export would be (tests only)."""
    start = datetime.now().astimezone() - timedelta(days=n)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CONTRACT.split(",") + ["uid", "arc", "outcome", "vas_before", "vas_after"])
        for i in range(n):
            b = 4 + i % 5
            a = b - (i % 4) + (1 if i % 7 == 0 else 0)
            playlist = "evening" if i % 3 else "morning"
            w.writerow([(start + timedelta(days=i)).isoformat(timespec="seconds"), playlist, 20,
                        "true" if i % 6 else "false", b, a, f"gen-{i}", "iso" if i % 3 else "u",
                        "completed" if i % 6 else "stopped_early", 10 * b if i % 2 else "",
                        10 * a if i % 2 else ""])


def test_history_empty_then_one_row_per_session(run):
    code, out, _ = run("history")
    assert code == 0 and "No sessions yet" in out
    with Store() as store:
        _session(store)
        _session(store, after=None, outcome=OUTCOME_STOPPED)
    code, out, _ = run("history")
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 3 and "stress before" in lines[0]
    assert "completed" in lines[1] and "stopped early" in lines[2]


def test_history_table_shows_time_listened_as_m_ss_and_exports_keep_minutes(run):
    with Store() as store:
        _session(store)  # 12.5 minutes
    code, out, _ = run("history")
    assert code == 0 and "listened" in out.splitlines()[0]
    assert "12:30" in out.splitlines()[1] and "12.5" not in out
    code, out, _ = run("history", "--format", "json")
    assert json.loads(out)[0]["minutes_listened"] == 12.5


def test_names_printed_by_rate_and_history_json_cannot_drive_the_terminal(run):
    name = "eve\x1b]0;owned\x07ning\u202e\x9b2J"
    with Store() as store:
        _session(store, playlist=name, after=None)
    code, out, _ = run("rate", "--last", stdin="", tty=False)
    assert code == 0 and "Session 1: evening" in out
    code, out, _ = run("history", "--format", "json")
    assert code == 0 and not any(ch in out for ch in "\x1b\x07\u202e\x9b")
    assert json.loads(out)[0]["playlist"] == name  # the data is unchanged, only escaped


def test_history_csv_and_json(run):
    with Store() as store:
        _session(store, before=7, after=3)
    code, out, _ = run("history", "--format", "csv")
    assert code == 0
    assert out.splitlines()[0].startswith(CONTRACT)
    row = next(csv.DictReader(io.StringIO(out)))
    assert (row["playlist"], row["completed"], row["stress_before"], row["stress_after"]) == ("demo", "true", "7", "3")
    assert row["minutes_listened"] == "12.5"
    code, out, _ = run("history", "--format", "json")
    [record] = json.loads(out)
    assert record["stress_before"] == 7 and record["outcome"] == "completed"
    assert {r["phase"] for r in record["ratings"]} == {"before", "after"}
    assert "snapshot" in record


def test_exports_and_database_are_readable_by_the_owner_only(run, tmp_path, companion_home):
    with Store() as store:
        _session(store)
    for fmt in ("csv", "json", "table"):
        target = tmp_path / f"export.{fmt}"
        code, out, err = run("history", "--format", fmt, "--output", str(target))
        assert code == 0 and out == "" and "readable by you only" in err
        assert stat.S_IMODE(target.stat().st_mode) == 0o600, fmt
    old = tmp_path / "old.csv"
    old.write_text("x")
    os.chmod(old, 0o644)
    run("history", "--format", "csv", "--output", str(old))
    assert stat.S_IMODE(old.stat().st_mode) == 0o600 and old.read_text().startswith(CONTRACT)
    assert stat.S_IMODE((companion_home / "companion.db").stat().st_mode) == 0o600


def test_import_round_trip_and_no_duplicates(run, tmp_path, monkeypatch):
    with Store() as store:
        _session(store, listener="anna", before=8, after=5)
        _session(store, before=5, after=5)
    export = tmp_path / "all.json"
    assert run("history", "--all-listeners", "--format", "json", "--output", str(export))[0] == 0
    before_rows = json.loads(export.read_text())
    monkeypatch.setenv("COMPANION_HOME", str(tmp_path / "new-home"))
    code, out, _ = run("history", "import", str(export))
    assert code == 0 and "Imported 2 sessions" in out
    code, out, _ = run("history", "import", str(export))
    assert code == 0 and "Imported 0 sessions" in out and "2 already here" in out
    again = tmp_path / "again.json"
    run("history", "--all-listeners", "--format", "json", "--output", str(again))
    after_rows = json.loads(again.read_text())
    strip = {"session_id"}
    assert [{k: v for k, v in r.items() if k not in strip} for r in after_rows] == \
           [{k: v for k, v in r.items() if k not in strip} for r in before_rows]


def test_import_of_a_malformed_file_is_one_line_and_adds_nothing(run, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(CONTRACT + "\n2026-11-20T19:00:00+00:00,demo,20,true,6,4\n2026-11-21T19:00:00+00:00,demo,x,true,6,4\n")
    code, out, err = run("history", "import", str(bad))
    assert code == 2
    assert err.startswith("companion: ") and "line 3" in err and err.count("\n") == 1
    assert run("history", "--format", "json")[1].strip() == "[]"


def test_stats_json_on_generated_history_matches_insights(run, tmp_path):
    gen = tmp_path / "gen.csv"
    _generated_history(gen, 30)
    assert run("history", "import", str(gen))[0] == 0
    code, out, _ = run("stats", "--format", "json")
    assert code == 0
    r = json.loads(out)
    with Store() as store:
        expected = insights.scale_stats(store.sessions(listener="me"))
    for key in insights.STAT_KEYS:
        assert key in r
    assert r["n"] == 30
    for key in ("mean_before", "mean_after", "mean_change", "dz", "wilcoxon_p", "responder_rate", "completion_rate"):
        assert r[key] == pytest.approx(expected[key], rel=1e-5), key
    assert r["ci95"] == pytest.approx(expected["ci95"], rel=1e-5)
    assert r["sessions"]["total"] == 30 and r["sessions"]["stopped_early"] == 5
    assert set(r["per_playlist"]) == {"evening", "morning"}
    assert set(r["per_arc"]) == {"iso", "u"}
    assert r["scales"]["vas"]["n"] == 15
    assert r["streak"]["days_last_30"] >= 1 and r["summary"]
    vas = json.loads(run("stats", "--format", "json", "--scale", "vas")[1])
    assert vas["n"] == 15 and vas["scale"] == "vas"
    morning = json.loads(run("stats", "--format", "json", "--playlist", "morning")[1])
    assert morning["n"] == 10
    recent = datetime.now().astimezone() - timedelta(days=5)
    since = json.loads(run("stats", "--format", "json", "--since", recent.date().isoformat())[1])
    assert 4 <= since["n"] <= 6
    code, out, _ = run("stats")
    assert code == 0 and "On average stress" in out and "Per playlist" in out


def test_stats_with_no_sessions_and_bad_arguments(run):
    code, out, _ = run("stats")
    assert code == 0 and "No sessions yet" in out
    r = json.loads(run("stats", "--format", "json")[1])
    assert r["n"] == 0 and r["mean_change"] is None and r["ci95"] is None
    code, _, err = run("stats", "--since", "last tuesday")
    assert code == 2 and "YYYY-MM-DD" in err
    code, _, err = run("stats", "--listener", "nobody")
    assert code == 2 and "no listener named 'nobody'" in err


def test_late_rating_by_id_and_by_last(run):
    with Store() as store:
        first = _session(store, after=None)
        second = _session(store, after=None)
    code, out, _ = run("rate", "--last", "--post", "3")
    assert code == 0 and f"Session {second}" in out and "late" in out
    code, out, _ = run("rate", str(first), "--post", "2")
    assert code == 0
    with Store() as store:
        for sid, value in ((first, 2), (second, 3)):
            r = store.session(sid).rating("after")
            assert r.value == value and r.late
    code, _, err = run("rate", str(first), "--post", "5")
    assert code == 2 and "already has a stress rating after" in err
    assert run("rate", str(first), "--post", "5", "--replace")[0] == 0
    code, _, err = run("rate", "--last", "--post", "1")
    assert code == 2 and "already has a rating after" in err


def test_late_rating_interactive_and_invalid(run):
    with Store() as store:
        sid = _session(store, after=None)
    code, _, err = run("rate", str(sid), "--post", "11")
    assert code == 2 and "'11'" in err and "0 to 10" in err
    with Store() as store:
        assert store.session(sid).rating("after") is None  # nothing stored
    code, out, err = run("rate", "--last", stdin="12\n4\n", tty=True)
    assert code == 0 and "How do you feel now?" in out and "out of range" in err
    with Store() as store:
        assert store.session(sid).value("after") == 4


def test_listeners_are_kept_apart(run):
    with Store() as store:
        _session(store, listener="anna", before=9, after=2)
        _session(store, listener="me", before=3, after=3)
    anna = json.loads(run("history", "--listener", "anna", "--format", "json")[1])
    also_anna = json.loads(run("--listener", "anna", "history", "--format", "json")[1])
    me = json.loads(run("history", "--format", "json")[1])
    assert [r["listener"] for r in anna] == ["anna"] and anna == also_anna
    assert [r["listener"] for r in me] == ["me"]
    assert json.loads(run("stats", "--listener", "anna", "--format", "json")[1])["mean_change"] == -7
    assert json.loads(run("stats", "--format", "json")[1])["mean_change"] == 0
    with Store() as store:
        anna_session = store.sessions(listener="anna")[0].id
    code, _, err = run("rate", str(anna_session), "--post", "1")
    assert code == 2 and "add --listener anna" in err


def test_listeners_list_and_set_scales(run):
    code, out, _ = run("listeners")
    assert code == 0 and "me" in out
    code, out, _ = run("listeners", "set", "anna", "--scales", "vas,stai6,note")
    assert code == 0 and "stress, vas, stai6, note" in out
    rows = json.loads(run("listeners", "--format", "json")[1])
    assert {r["name"]: r["scales"] for r in rows}["anna"] == "stress,vas,stai6,note"
    code, _, err = run("listeners", "set", "anna", "--scales", "vas,mood")
    assert code == 2 and "'mood'" in err


def test_forget_needs_a_typed_confirmation(run):
    with Store() as store:
        _session(store, listener="anna")
        _session(store, listener="me")
    code, _, err = run("forget", "--listener", "anna")  # not a terminal, no --yes
    assert code == 2 and "--yes" in err and err.count("\n") == 1
    code, out, _ = run("forget", "--listener", "anna", stdin="ann\n", tty=True)
    assert code == 1 and "Nothing deleted" in out
    with Store() as store:
        assert "anna" in store.listeners()
    code, out, _ = run("forget", "--listener", "anna", stdin="anna\n", tty=True)
    assert code == 0 and "Deleted 'anna' with 1 session" in out
    code, _, err = run("forget")
    assert code == 2 and "--listener NAME" in err
    assert run("forget", "--listener", "me", "--yes")[0] == 0
    with Store() as store:
        assert store.sessions() == []


def test_a_session_left_open_by_a_dead_process_shows_as_interrupted(run):
    import subprocess

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with Store() as store:
        sid = record(store, outcome=OUTCOME_IN_PROGRESS, pid=dead.pid, minutes=7.5,
                     before=[sessions.make_rating("stress", "before", 6)]).id
    code, out, err = run("history", "--format", "json")
    assert code == 0 and f"session {sid} (demo) was interrupted after 7:30" in err
    [row] = json.loads(out)
    assert (row["outcome"], row["minutes_listened"]) == ("interrupted", 7.5)
