"""The listening session both faces drive, headless: a null output and a prompt of answers.

What a listener would notice: the scales they chose are asked; the music never waits for the
database (locked by another program, or full); no rating is ever lost; time heard counts each
moment once; rendering stores nothing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from companion.core import listening, sessions
from companion.core.errors import UserInputError
from companion.core.listening import HeardClock, ListeningSession, ask_ratings
from companion.core.models import (
    OUTCOME_COMPLETED,
    OUTCOME_IN_PROGRESS,
    OUTCOME_STOPPED,
    Playlist,
    PlaylistEntry,
)
from companion.core.player import NullOutput
from companion.core.store import Store

SR = 8000
QUICK = dict(fade_in_s=0.1, fade_out_s=0.2)


class Answers:
    """A Prompt that replays answers and records the questions it was shown."""

    def __init__(self, *answers: str, interactive: bool = True) -> None:
        self.queue = list(answers)
        self.questions: list[str] = []
        self.said: list[str] = []
        self.interactive = interactive

    def ask(self, question: str) -> str | None:
        self.questions.append(question)
        return self.queue.pop(0) if self.queue else None

    def say(self, text: str) -> None:
        self.said.append(text)


@pytest.fixture
def store():
    with Store() as s:
        yield s


@pytest.fixture
def playlist(tmp_path: Path) -> Playlist:
    import soundfile as sf

    entries = []
    for i in range(2):
        path = tmp_path / f"t{i}.wav"
        t = np.arange(int(4.0 * SR)) / SR
        sf.write(path, (0.1 * np.sin(2 * np.pi * 220 * (i + 1) * t)).astype(np.float32), SR)
        entries.append(PlaylistEntry(path=str(path), title=f"tone {i}", bpm=60.0, duration_s=4.0))
    return Playlist("tones", tuple(entries), arc="step-down")


def _session(store: Store, playlist: Playlist, **kw) -> ListeningSession:
    kw.setdefault("output", NullOutput(realtime=True, speed=4.0))
    return ListeningSession(store, playlist, listener="me", crossfade_s=0.0, **QUICK, **kw)


def _lock_db(path: Path) -> sqlite3.Connection:
    """Another program holding the database: BEGIN EXCLUSIVE on a second connection."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    return conn


# -- asking ----------------------------------------------------------------------------------------


def test_asks_stress_only_by_default(store):
    prompt = Answers("6")
    ratings = ask_ratings(sessions.listener_scales(store, "me"), "before", prompt)
    assert [(r.scale, r.phase, r.value) for r in ratings] == [("stress", "before", 6.0)]
    assert "0 = completely calm" in prompt.questions[0]


def test_reasks_after_invalid_answers_when_a_person_is_there():
    prompt = Answers("eleven", "11", "", "4")
    assert ask_ratings(("stress",), "before", prompt)[0].value == 4
    assert len(prompt.questions) == 4
    assert "'eleven' is not a number" in prompt.said[0] and "out of range" in prompt.said[1]


def test_an_invalid_answer_is_an_error_when_nobody_is_there():
    with pytest.raises(UserInputError, match="'11'"):
        ask_ratings(("stress",), "before", Answers("11", interactive=False))


def test_gives_up_after_five_invalid_answers():
    with pytest.raises(UserInputError, match="nothing was stored"):
        ask_ratings(("stress",), "before", Answers(*["x"] * 9))


def test_asks_the_listeners_scales_in_order(store):
    sessions.set_listener_scales(store, "anna", ["note", "heart_rate", "stai6", "vas"])
    prompt = Answers("7", "150", "55", "2", "3", "1", "4", "2", "5", "2", "72", "long day")
    session = ListeningSession(store, Playlist("x", ()), listener="anna")
    ratings = session.ask("before", prompt)
    by = {r.scale: r for r in ratings}
    assert [r.scale for r in ratings] == ["stress", "vas", "stai6", "heart_rate", "note"]
    assert by["vas"].value == 55  # 150 was asked again
    assert by["stai6"].items == (2, 3, 1, 4, 2, 2)  # the 5 for 'content' was asked again
    assert by["heart_rate"].value == 72 and by["note"].text == "long day"


def test_optional_scales_can_be_skipped_and_an_empty_stress_after_skips_all():
    assert [r.scale for r in ask_ratings(("stress", "vas", "stai6"), "after", Answers("3", "", ""))] == ["stress"]
    prompt = Answers("")
    assert ask_ratings(("stress", "vas"), "after", prompt) == []
    assert "companion rate --last" in prompt.said[-1]


def test_stress_before_is_required_when_input_ends():
    with pytest.raises(UserInputError, match="no stress rating before"):
        ask_ratings(("stress",), "before", Answers())


def test_given_answers_are_validated_and_not_asked():
    prompt = Answers(interactive=False)
    ratings = ask_ratings(("stress", "vas", "stai6"), "before", prompt, given={"stress": "5", "vas": "40"})
    assert [(r.scale, r.value) for r in ratings] == [("stress", 5), ("vas", 40)] and prompt.questions == []
    with pytest.raises(UserInputError, match="'12'"):
        ask_ratings(("stress",), "before", prompt, given={"stress": "12"})


def test_a_form_is_validated_together_and_stress_before_is_required(store):
    session = ListeningSession(store, Playlist("x", ()), listener="me")
    sessions.set_listener_scales(store, "me", ["vas", "stai6"])
    ratings = session.ratings_from("before", {"stress": "4", "vas": "37.5", "stai6": [1, 2, 3, 4, 1, 2]})
    assert [r.scale for r in ratings] == ["stress", "vas", "stai6"]
    with pytest.raises(UserInputError, match="anxiety"):
        session.ratings_from("before", {"stress": "4", "vas": "140"})
    with pytest.raises(UserInputError, match="stress before"):
        session.ratings_from("before", {"vas": "40"})


# -- playing and recording -------------------------------------------------------------------------


def test_a_session_is_kept_with_both_ratings_and_the_time_heard(store, playlist):
    session = _session(store, playlist)
    session.begin([sessions.make_rating("stress", "before", 6)])
    assert session.wait(20)
    ending = session.finish()
    session.rate_after([sessions.make_rating("stress", "after", 3)])
    assert session.close().saved
    (s,) = store.sessions()
    assert (s.outcome, s.value("before"), s.value("after")) == (OUTCOME_COMPLETED, 6, 3)
    assert ending.heard_s == pytest.approx(8.0, abs=0.2)
    assert s.minutes_listened == pytest.approx(ending.heard_s / 60)
    assert s.underruns == ending.underruns and s.ended_at >= s.started_at


def test_nothing_is_stored_when_the_output_cannot_open(store, playlist, tmp_path):
    from companion.core.player import FileOutput

    session = _session(store, playlist, output=FileOutput(tmp_path / "no-such-folder" / "x.wav"))
    with pytest.raises(UserInputError):
        session.begin([sessions.make_rating("stress", "before", 6)])
    assert store.sessions() == []


def test_rendering_records_no_session(store, playlist, tmp_path):
    from companion.core.player import FileOutput

    session = _session(store, playlist, output=FileOutput(tmp_path / "out.wav"), record=False)
    session.begin()
    assert session.wait(20)
    session.finish()
    assert session.close().saved
    assert store.sessions() == [] and (tmp_path / "out.wav").stat().st_size > 0


def test_a_locked_database_never_stops_or_stalls_the_music(store, playlist, monkeypatch):
    """Another program holds the database (BEGIN EXCLUSIVE) while the session plays: the music
    goes on at its pace, every call a face makes returns at once, and once the lock is gone the
    session, its heartbeat and both ratings are written."""
    monkeypatch.setattr(listening, "HEARTBEAT_S", 0.2)
    monkeypatch.setattr(listening, "RETRY_S", 0.1)
    monkeypatch.setattr(listening, "WRITE_LOCK_WAIT_S", 0.1)
    lock = _lock_db(store.path)
    session = _session(store, playlist, output=NullOutput(realtime=True, speed=2.0))
    session.begin([sessions.make_rating("stress", "before", 7)])
    calls = []
    while not session.wait(0.05):
        t0 = time.monotonic()
        session.status()
        session.volume_step(-1)
        calls.append(time.monotonic() - t0)
    ending = session.finish()
    t0 = time.monotonic()
    session.rate_after([sessions.make_rating("stress", "after", 2)])
    calls.append(time.monotonic() - t0)
    assert ending.outcome == OUTCOME_COMPLETED and ending.heard_s == pytest.approx(8.0, abs=0.2)
    assert max(calls) < 0.05  # the faces never waited for the lock
    assert "locked" in session.write_problem
    lock.rollback()
    lock.close()
    assert session.close(wait_s=5).saved
    (s,) = store.sessions()
    assert (s.outcome, s.value("before"), s.value("after")) == (OUTCOME_COMPLETED, 7, 2)
    assert list(sessions.pending_dir().glob("*.json")) == []


def test_the_heartbeat_is_written_while_playing(store, playlist, monkeypatch):
    monkeypatch.setattr(listening, "HEARTBEAT_S", 0.2)
    session = _session(store, playlist, output=NullOutput(realtime=True, speed=1.0))
    session.begin([sessions.make_rating("stress", "before", 5)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        session.status()
        rows = store.sessions()
        if rows and rows[0].minutes_listened > 1.0 / 60:
            break
        time.sleep(0.05)
    (s,) = store.sessions()
    assert s.outcome == OUTCOME_IN_PROGRESS and s.minutes_listened > 1.0 / 60
    session.stop(0.05)
    session.finish()
    session.close()
    assert store.sessions()[0].outcome == OUTCOME_STOPPED


def test_a_database_unwritable_to_the_end_keeps_the_session_for_the_next_start(store, playlist, monkeypatch):
    """The lock outlives the session: close() keeps session and ratings in a pending file,
    says so in one line, and the next start writes them into the database."""
    monkeypatch.setattr(listening, "RETRY_S", 0.1)
    monkeypatch.setattr(listening, "WRITE_LOCK_WAIT_S", 0.1)
    lock = _lock_db(store.path)
    session = _session(store, playlist, output=NullOutput())
    session.begin([sessions.make_rating("stress", "before", 8)])
    assert session.wait(20)
    session.finish()
    session.rate_after([sessions.make_rating("stress", "after", 4)])
    report = session.close(wait_s=0.3)
    assert not report.saved and report.pending is not None and report.pending.exists()
    assert "\n" not in report.message and str(report.pending) in report.message
    assert "locked" in report.message
    assert oct(report.pending.stat().st_mode & 0o777) == "0o600"
    lock.rollback()
    lock.close()
    recovered = sessions.recover_interrupted(store)
    assert recovered == []  # nothing interrupted: the session had ended
    (s,) = store.sessions()
    assert (s.outcome, s.value("before"), s.value("after")) == (OUTCOME_COMPLETED, 8, 4)
    assert not report.pending.exists()


def test_a_full_disk_at_the_end_loses_no_rating(store, playlist, monkeypatch):
    from companion.core.errors import StoreError

    monkeypatch.setattr(listening, "RETRY_S", 0.05)
    real = Store.save_session
    full = threading.Event()

    def save(self, session, **kw):
        if full.is_set():
            raise StoreError(f"{self.path}: database write failed (database or disk is full)")
        return real(self, session, **kw)

    monkeypatch.setattr(Store, "save_session", save)
    session = _session(store, playlist, output=NullOutput())
    session.begin([sessions.make_rating("stress", "before", 5)])
    assert session.wait(20)
    full.set()
    session.finish()
    session.rate_after([sessions.make_rating("stress", "after", 1)])
    report = session.close(wait_s=0.3)
    assert not report.saved and "disk is full" in report.message
    record = json.loads(report.pending.read_text())[0]
    assert {(r["phase"], r["value"]) for r in record["ratings"]} == {("before", 5), ("after", 1)}
    full.clear()
    sessions.recover_pending(store)
    assert store.sessions()[0].value("after") == 1


def test_a_session_neither_the_database_nor_a_file_could_keep_is_said_in_one_line(store, playlist, monkeypatch):
    monkeypatch.setattr(listening, "RETRY_S", 0.05)
    monkeypatch.setattr(listening, "WRITE_LOCK_WAIT_S", 0.1)

    def no_room(*args, **kwargs):
        raise OSError(28, "No space left on device")

    lock = _lock_db(store.path)
    try:
        monkeypatch.setattr(sessions, "keep_pending", no_room)
        session = _session(store, playlist, output=NullOutput())
        session.begin([sessions.make_rating("stress", "before", 5)])
        assert session.wait(20)
        session.finish()
        report = session.close(wait_s=0.3)
    finally:
        lock.rollback()
        lock.close()
    assert not report.saved and report.pending is None
    assert "not saved" in report.message and "No space left" in report.message
    assert "\n" not in report.message


def test_a_pending_file_of_a_session_still_playing_is_left_to_it(store, playlist):
    session = sessions.parse_history(json.dumps([{"started_at": "2026-01-01T10:00:00+00:00",
                                                   "playlist": "p", "outcome": "in_progress",
                                                   "uid": "abc"}]))[0]
    path = sessions.keep_pending(session, pid=__import__("os").getpid())
    assert sessions.recover_pending(store) == [] and path.exists()


# -- time heard --------------------------------------------------------------------------------------


def test_time_heard_counts_a_replayed_track_once():
    clock = HeardClock()
    for t in np.arange(0, 60.25, 0.25):  # a minute of track 0
        clock.feed(0, float(t), float(t))
    for t in np.arange(0.25, 30.25, 0.25):  # previous: it starts again, 30 s heard again
        clock.feed(0, float(t), 60.0 + float(t))
    for t in np.arange(30.25, 90.25, 0.25):  # then on to its end at 90 s
        clock.feed(0, float(t), 60.0 + float(t))
    assert clock.played_s == pytest.approx(150.0)
    assert clock.heard_s == pytest.approx(90.0, abs=0.3)


def test_time_heard_between_sparse_polls_is_not_lost():
    clock = HeardClock()
    clock.feed(0, 0.0, 0.0)
    clock.feed(2, 3.0, 15.0)  # tracks of 6 s: 15 s of a flat-out run between two polls
    assert clock.heard_s == pytest.approx(15.0)


def test_the_breathing_cue_follows_the_track_heard(store, playlist):
    """Both faces read the same cue: 60 BPM from the top of the arc is 4 in, 6 out."""
    session = _session(store, playlist, output=NullOutput(realtime=True, speed=1.0), record=False)
    session.begin()
    try:
        deadline = time.monotonic() + 10
        while (st := session.status()).position_s < 0.2:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        cue = session.breath(st)
        assert cue is not None and (cue.inhale, cue.exhale) == (4, 6) and cue.phase == "in"
    finally:
        session.stop(0.05)
        session.finish()


def test_a_session_killed_while_the_database_was_locked_is_found_interrupted_with_its_rating(store):
    """The writer keeps the record in a pending file while the database refuses it; if the
    process then dies, the next start imports it and marks it interrupted: the rating stays."""
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    session = sessions.parse_history(json.dumps([{
        "started_at": "2026-01-01T10:00:00+00:00", "playlist": "p", "outcome": "in_progress",
        "uid": "killed", "minutes_listened": 3.5,
        "ratings": [{"scale": "stress", "phase": "before", "value": 7}]}]))[0]
    sessions.keep_pending(session, pid=int(dead.stdout))
    [recovered] = sessions.recover_interrupted(store)
    assert recovered.outcome == "interrupted" and recovered.value("before") == 7
    assert recovered.minutes_listened == 3.5
    assert list(sessions.pending_dir().glob("*.json")) == []
