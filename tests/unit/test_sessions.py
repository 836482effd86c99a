"""Ratings validated before anything is stored, late ratings, listeners.
(Asking and the session's life are tested with the listening session, tests/unit/test_listening.py.)"""

from __future__ import annotations

import pytest

from companion.core import sessions
from companion.core.errors import NotFoundError, UserInputError
from companion.core.listening import ListeningSession
from companion.core.models import (
    OUTCOME_COMPLETED,
    OUTCOME_IN_PROGRESS,
    Playlist,
    PlaylistEntry,
    Rating,
)
from companion.core.player import NullOutput
from companion.core.store import Store
from tests.records import record, stress


@pytest.fixture
def store():
    with Store() as s:
        yield s


# -- validators -------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, expected", [("0", 0), ("10", 10), (" 7 ", 7), (4, 4), (3.0, 3)])
def test_stress_accepts_whole_numbers_0_to_10(raw, expected):
    assert sessions.parse_stress(raw) == expected


@pytest.mark.parametrize("raw", ["11", "-1", "3.5", "x", "", "nan", "1e3"])
def test_stress_rejects_anything_else_naming_value_and_range(raw):
    with pytest.raises(UserInputError) as err:
        sessions.parse_stress(raw)
    assert repr(str(raw).strip()) in str(err.value)
    assert "0 to 10" in str(err.value)


def test_vas_heart_rate_ranges():
    assert sessions.parse_vas("0") == 0 and sessions.parse_vas("100") == 100
    assert sessions.parse_vas("42.5") == 42.5
    assert sessions.parse_heart_rate("30") == 30 and sessions.parse_heart_rate("220") == 220
    for bad, fn, text in (("101", sessions.parse_vas, "0 to 100"), ("-0.5", sessions.parse_vas, "0 to 100"),
                          ("29", sessions.parse_heart_rate, "30 to 220"),
                          ("221", sessions.parse_heart_rate, "30 to 220")):
        with pytest.raises(UserInputError, match=text):
            fn(bad)


def test_stai6_scoring_reverses_calm_relaxed_content():
    # calmest possible: very calm/relaxed/content, not at all tense/upset/worried
    assert sessions.parse_stai6([4, 1, 1, 4, 4, 1])[0] == pytest.approx(20.0)
    assert sessions.parse_stai6([1, 4, 4, 1, 1, 4])[0] == pytest.approx(80.0)
    score, items = sessions.parse_stai6("2 3 1 4 2 2")
    # reversed: calm 5-2=3, relaxed 5-4=1, content 5-2=3 -> 3+3+1+1+3+2 = 13 -> 13 * 20/6
    assert score == pytest.approx(13 * 20 / 6)
    assert items == (2, 3, 1, 4, 2, 2)
    assert sessions.parse_stai6("231422") == (score, items)
    assert sessions.parse_stai6("2,3,1,4,2,2") == (score, items)


@pytest.mark.parametrize("raw, msg", [("2 3 1 4 2", "six answers"), ("2 3 1 5 2 2", "'relaxed'"),
                                      ("2 3 x 4 2 2", "'upset'"), ([1, 2, 3, 4, 1, 2.5], "'worried'")])
def test_stai6_rejects_bad_answers(raw, msg):
    with pytest.raises(UserInputError, match=msg):
        sessions.parse_stai6(raw)


def test_validate_rating_checks_stai6_score_against_items():
    with pytest.raises(UserInputError, match="does not match"):
        sessions.validate_rating(Rating("stai6", "before", 50.0, items=(4, 1, 1, 4, 4, 1)))
    with pytest.raises(UserInputError, match="unknown rating scale"):
        sessions.validate_rating(Rating("mood", "before", 3.0))


# -- nothing stored on invalid input ------------------------------------------------------------


def test_a_session_with_an_invalid_rating_before_stores_and_plays_nothing(store):
    session = ListeningSession(store, Playlist("demo", ()), listener="me", output=NullOutput())
    with pytest.raises(UserInputError, match="anxiety"):
        session.begin([Rating("stress", "before", 3.0), Rating("vas", "before", 140.0)])
    assert session.player is None and store.sessions() == []


def test_an_invalid_rating_after_keeps_the_ratings_before_and_nothing_else(store, tmp_path):
    session = ListeningSession(store, _one_tone(tmp_path), listener="me", output=NullOutput(),
                               crossfade_s=0.0)
    session.begin([sessions.make_rating("stress", "before", 6)])
    assert session.wait(20)
    session.finish()
    with pytest.raises(UserInputError, match="0 to 10"):
        session.rate_after([Rating("stress", "after", 4.0), Rating("stress", "after", 12.0)])
    assert session.close().saved
    [s] = store.sessions()
    assert s.value("before") == 6 and s.rating("after") is None


def _one_tone(folder) -> Playlist:
    import numpy as np
    import soundfile as sf

    path = folder / "tone.wav"
    sf.write(path, (0.1 * np.sin(np.arange(8000) * 0.2)).astype(np.float32), 8000)
    return Playlist("demo", (PlaylistEntry(path=str(path), title="tone", bpm=60.0, duration_s=1.0),))


def test_unknown_scale_names_the_allowed_ones(store):
    with pytest.raises(UserInputError, match="'mood'.*stress,vas,stai6,heart_rate,note"):
        sessions.set_listener_scales(store, "anna", ["vas", "mood"])
    with pytest.raises(UserInputError, match="listener name"):
        sessions.set_listener_scales(store, "  ", ["vas"])
    assert store.listener_settings("me") == {}


# -- late ratings ----------------------------------------------------------------------------------


def _ended(store, listener="me", before=6, outcome=OUTCOME_COMPLETED, after=None):
    return record(store, listener=listener, before=[stress("before", before)], outcome=outcome,
                  after=[] if after is None else [stress("after", after)], minutes=5).id


def test_late_rating_is_marked_late(store):
    sid = _ended(store)
    s = sessions.rate_late(store, sid, [sessions.make_rating("stress", "after", 2)])
    assert s.rating("after").late is True and s.value("after") == 2


def test_late_rating_refuses_a_playing_session_and_a_second_rating(store):
    playing = record(store, outcome=OUTCOME_IN_PROGRESS).id
    with pytest.raises(UserInputError, match="still in progress"):
        sessions.rate_late(store, playing, [sessions.make_rating("stress", "after", 2)])
    sid = _ended(store, after=4)
    with pytest.raises(UserInputError, match=r"already has a stress rating after \(4\)"):
        sessions.rate_late(store, sid, [sessions.make_rating("stress", "after", 2)])
    assert store.session(sid).value("after") == 4
    s = sessions.rate_late(store, sid, [sessions.make_rating("stress", "after", 2)], replace_existing=True)
    assert s.value("after") == 2 and s.rating("after").late
    with pytest.raises(NotFoundError):
        sessions.rate_late(store, 999, [sessions.make_rating("stress", "after", 2)])


def test_last_unrated_is_the_latest_ended_session_without_a_rating_after(store):
    assert sessions.last_unrated(store, "me") is None
    first = _ended(store)
    _ended(store, after=3)
    _ended(store, listener="bob")
    record(store, outcome=OUTCOME_IN_PROGRESS)  # still playing: not offered
    assert sessions.last_unrated(store, "me").id == first


def test_listeners_are_kept_apart(store):
    a = _ended(store, listener="anna", before=8)
    b = _ended(store, listener="bob", before=2)
    assert [s.id for s in store.sessions(listener="anna")] == [a]
    assert [s.id for s in store.sessions(listener="bob")] == [b]
    store.forget_listener("anna")
    assert [s.id for s in store.sessions()] == [b]
