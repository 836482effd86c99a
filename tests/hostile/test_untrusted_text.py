"""Tags, names and notes are data: nothing raw reaches a terminal or a spreadsheet."""

from __future__ import annotations

import csv
import io

import pytest

from companion.core import sessions
from companion.core.models import AnalysisResult, Loudness, Rating, Tags, TempoEstimate
from companion.core.untrusted import for_markup, for_spreadsheet, for_terminal
from tests.hostile.conftest import call
from tests.records import record

EVIL = "\x1b]0;pwned\x07\x1b[2J\x9b31mTitle\u202e\r\x00"
FORMULAS = ["=HYPERLINK(\"http://x\")", "+1+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1"]


def _track(store, tmp_path, title: str, artist: str = "", n: int = 0) -> None:
    path = tmp_path / f"t{n}.wav"
    path.touch()
    store.save_analysis([AnalysisResult(path=str(path), size=1, mtime=1.0,
                                        tags=Tags(title, artist, "", "", 200.0),
                                        tempo=TempoEstimate(80.0, 0.9), loudness=Loudness(-20.0, -3.0))])


def _raw_control(text: str) -> bool:
    return any(ord(c) < 32 and c != "\n" or 0x7F <= ord(c) <= 0x9F or c == "\u202e" for c in text)


def test_escape_sequences_in_tags_never_reach_the_terminal(store, tmp_path):
    _track(store, tmp_path, EVIL, artist=EVIL)
    p = call("tracks")
    assert p.returncode == 0 and "Title" in p.stdout and not _raw_control(p.stdout)


def test_escape_sequences_in_names_and_notes_never_reach_the_terminal(store, tmp_path):
    sid = record(store, playlist=EVIL, arc=EVIL, before=[Rating("stress", "before", 6.0)], minutes=20).id
    store.add_ratings(sid, [Rating("note", "after", None, text=EVIL)])
    for args in (["history"], ["history", "--all-listeners"]):
        p = call(*args)
        assert p.returncode == 0 and not _raw_control(p.stdout), p.stdout
    p = call("playlist", "show", EVIL)  # an error quoting the name
    assert p.returncode == 2 and not _raw_control(p.stderr)


@pytest.mark.parametrize("cell", FORMULAS)
def test_csv_exports_neutralise_formulas(cell, store, tmp_path):
    _track(store, tmp_path, cell, artist=cell)
    sid = record(store, playlist=cell, before=[Rating("stress", "before", 6.0)], minutes=20).id
    store.add_ratings(sid, [Rating("note", "after", None, text=cell)])
    tracks = list(csv.DictReader(io.StringIO(call("tracks", "--format", "csv").stdout)))
    history = list(csv.DictReader(io.StringIO(sessions.export_history(store.sessions(), "csv"))))
    for value in (tracks[0]["title"], tracks[0]["artist"], history[0]["playlist"], history[0]["note_after"]):
        assert value.startswith("'"), value
        assert value[1:] == cell.replace("\r", "\n")  # the words kept
    assert float(tracks[0]["loudness_lufs"]) == -20.0  # a negative number stays a number


def test_negative_numbers_stay_numbers_and_plain_text_stays_as_it_is():
    assert for_spreadsheet(-14.2) == -14.2 and for_spreadsheet("-3.5") == "-3.5"
    assert for_spreadsheet("Adagio - live") == "Adagio - live"
    assert for_spreadsheet("-1+1") == "'-1+1"


def test_terminal_and_markup_helpers_keep_the_words_and_drop_the_controls():
    assert for_terminal("a\x1b[31mb\x1b]0;t\x07c\ud8e9".replace("\ud8e9", "\udce9")) == "abc\\xe9"
    assert for_markup("[/b] [bold red]x") == "\\[/b] \\[bold red]x"


def test_a_file_name_with_escape_sequences_is_shown_without_them(store, tmp_path):
    path = tmp_path / "a\x1b]0;pwned\x07\x1b[2Jb.wav"
    path.touch()
    store.save_analysis([AnalysisResult(path=str(path), size=1, mtime=1.0, tags=Tags("t", "", "", "", 200.0),
                                        tempo=TempoEstimate(80.0, 0.9), loudness=Loudness(-20.0, -3.0))])
    p = call("tempo", "set", str(path), "63")
    assert p.returncode == 0 and "63.0 BPM" in p.stdout and not _raw_control(p.stdout)
