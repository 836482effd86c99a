"""Filtering the library by what a person types."""

from __future__ import annotations

import pytest

from companion.core.errors import UserInputError
from companion.core.models import BPM_MANUAL, STATUS_ERROR, Track
from companion.core.trackfilter import filter_tracks, parse_query

TRACKS = [
    Track(path="/m/calm/a.flac", title="Morning Fern", artist="Ada Lune", bpm=62.0, bpm_confidence=0.9),
    Track(path="/m/calm/b.flac", title="Slow Tide", artist="Ben Orrin", bpm=78.0, bpm_confidence=0.3),
    Track(path="/m/jazz/c.flac", title="Night Walk", artist="Ada Lune", bpm=104.0, bpm_confidence=0.8),
    Track(path="/m/jazz/d.flac", title="Broken", status=STATUS_ERROR, error="not audio"),
    Track(path="/m/jazz/e.flac", title="Mine", bpm=70.0, bpm_confidence=1.0, bpm_source=BPM_MANUAL),
]


def titles(text: str) -> list[str]:
    return [t.title for t in filter_tracks(TRACKS, parse_query(text), unsure_below=0.5)]


def test_words_match_title_artist_or_folder_in_any_case():
    assert titles("ada") == ["Morning Fern", "Night Walk"]
    assert titles("ADA night") == ["Night Walk"]
    assert titles("jazz") == ["Night Walk", "Broken", "Mine"]


def test_bpm_ranges():
    assert titles("bpm:60-80") == ["Morning Fern", "Slow Tide", "Mine"]
    assert titles("bpm:80-60") == titles("bpm:60-80")
    assert titles("bpm:77") == ["Slow Tide"]
    assert titles("bpm:100-") == ["Night Walk"]
    assert titles("bpm:-65") == ["Morning Fern"]


def test_unsure_error_and_manual_flags():
    assert titles("unsure") == ["Slow Tide"]
    assert titles("error") == ["Broken"]
    assert titles("manual") == ["Mine"]
    assert titles("unsure ada") == []


def test_an_empty_query_keeps_everything():
    assert len(titles("  ")) == len(TRACKS)


def test_a_malformed_bpm_term_is_explained():
    with pytest.raises(UserInputError, match="bpm:60-80"):
        parse_query("bpm:fast")
