"""Playlists and arc presets from anywhere: junk lines, crafted settings, odd names."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from companion.core import arcs, paths, playlists
from companion.core.errors import CompanionError, UserInputError
from companion.core.store import Store
from tests.hostile.conftest import call, one_line_error
from tests.unit.test_plan import analysis_rows, make_library_on_disk


@pytest.fixture
def library(tmp_path: Path):
    tracks = make_library_on_disk(120, tmp_path / "music")
    with Store() as store:
        store.save_analysis(analysis_rows(tracks))
    return tracks


def _m3u(path: Path, body: bytes) -> Path:
    path.write_bytes(body)
    return path


def test_lines_with_a_nul_byte_unknown_users_and_link_loops_are_skipped_with_a_note(tmp_path, library):
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    body = (b"#EXTM3U\n/music/a\x00b.wav\n~nosuchuser-companion/x.wav\nloop1/x.wav\n"
            + library[0].path.encode() + b"\n")
    pl = playlists.import_m3u(_m3u(tmp_path / "odd.m3u8", body))
    assert [e.path for e in pl.entries][-1] == library[0].path
    notes = " ".join(pl.notes)
    assert "skipped 2 lines that are not usable paths" in notes and "a\\x00b.wav" in notes
    assert any("not found" in n and "loop1" in n for n in pl.notes)
    p = call("playlist", "import", str(tmp_path / "odd.m3u8"))
    assert p.returncode == 0 and "Traceback" not in p.stderr


@pytest.mark.parametrize("name, body, words", [
    ("junk.m3u8", bytes(range(256)) * 8, "it holds binary data"),
    ("notes.txt", b"shopping\nmilk\neggs\n", "no #EXTM3U line and no line naming an audio file"),
])
def test_import_refuses_files_that_are_not_playlists(tmp_path, name, body, words):
    f = _m3u(tmp_path / name, body)
    with pytest.raises(UserInputError, match="not a playlist"):
        playlists.import_m3u(f)
    one_line_error(call("playlist", "import", str(f)), str(f), words)
    assert list(paths.playlists_dir().iterdir()) == []


CRAFTED = {"start_bpm": "x", "target_bpm": 1e308, "minutes": float("nan"), "seed": "abc",
           "max_step_pct": -3, "crossfade_s": 1e9, "filters": {"folder": 7, "bogus": 1},
           "arc": "step-down"}


def _crafted(tmp_path: Path, library) -> str:
    meta = json.dumps(CRAFTED)  # NaN written as NaN, as json.dumps does
    lines = ["#EXTM3U", f"#COMPANION-PLAYLIST:{meta}", "#COMPANION-SILENCE:1e9"]
    for t in library[:6]:
        lines += ['#COMPANION-TRACK:{"bpm": "fast", "used_bpm": Infinity, "locked": "false"}', t.path]
    # a saved playlist edited by hand (or by someone else): read as companion's own
    _m3u(paths.playlists_dir() / "crafted.m3u8", ("\n".join(lines) + "\n").encode())
    return "crafted"


def test_crafted_playlist_settings_are_dropped_once_with_a_note_and_every_verb_works(tmp_path, library):
    name = _crafted(tmp_path, library)
    pl = playlists.load(name)
    assert set(pl.meta) == {"arc"}, pl.meta  # every bad value dropped, the good one kept
    assert [e.silence_s for e in pl.entries if e.is_silence] == [600.0]  # as the player plays it
    assert not any(e.locked for e in pl.entries)
    notes = " ".join(pl.notes)
    for key in ("start_bpm", "target_bpm", "minutes", "seed", "max_step_pct", "crossfade_s", "filters"):
        assert f"ignored {key}" in notes
    assert "#COMPANION-SILENCE:1e9 shortened to 600 seconds" in notes
    for args in (["playlist", "show", name], ["playlist", "move", name, "2", "--up"],
                 ["playlist", "alternatives", name, "1"], ["playlist", "replan", name]):
        p = call(*args)
        if args[1] == "replan" and p.returncode == 2:  # the library may not fit: a plain PlanError
            one_line_error(p)
        else:
            assert p.returncode == 0 and "Traceback" not in p.stderr, (args, p.stderr)


def test_a_silence_too_long_is_shortened_at_reading_and_junk_ignored(tmp_path):
    pl = playlists.parse("#EXTM3U\n#COMPANION-SILENCE:1e9\n#COMPANION-SILENCE:inf\n#COMPANION-SILENCE:90\n"
                         "#COMPANION-SILENCE:nan\n#COMPANION-SILENCE:-5\n", base_dir=tmp_path)
    assert [e.silence_s for e in pl.entries] == [600.0, 600.0, 90.0]
    assert sum("shortened to 600 seconds" in n for n in pl.notes) == 2
    assert sum("ignored #COMPANION-SILENCE" in n for n in pl.notes) == 2


def test_a_name_ending_in_m3u8_never_edits_another_playlist(tmp_path, library):
    from companion.core import planner

    with Store() as store:
        playlists.save(planner.plan(store.tracks(), name="demo", minutes=20, start_bpm=90, nearest=True))
    before = playlists.playlist_path("demo").read_bytes()
    for name in ("demo.M3U8", "demo.m3u", "demo.m3u8"):
        with pytest.raises(UserInputError, match="ends like a file name"):
            playlists.validate_name(name)
        one_line_error(call("playlist", "remove", name, "1"), f"{name!r}", "'demo'")
    assert playlists.playlist_path("demo").read_bytes() == before


def _preset(name: str, body: bytes) -> Path:
    f = paths.presets_dir() / f"{name}.arc"
    f.write_bytes(body)
    return f


@pytest.mark.parametrize("body, words", [
    ("[curve]\n0 = start\n1 = target\n# caf\xe9\n".encode("latin-1"), "not a text file in UTF-8"),
    (b"[curve]\n0 = start\n1 = target\n[silence]\nseconds = inf\n", "[silence] seconds = 'inf'"),
    (b"[curve]\n0 = start\n1 = target\n[silence]\nseconds = 1e9\n", "from 0 to 600"),
    (b"[curve]\n0 = 0.001\n1 = target\n", "must be from 20 to 300 BPM"),
    (b"[curve]\n0 = start\n1 = target * 1000\n", "the factor must be from 0.25 to 4"),
    (b"[curve]\n0 = start\n1 = target\n[ending]\nfade_out_s = nan\n", "[ending] fade_out_s"),
])
def test_a_broken_preset_is_named_on_its_own_and_the_others_still_list(body, words):
    f = _preset("broken", body)
    problems: list[str] = []
    names = [a.name for a in arcs.list_arcs(problems=problems)]
    assert set(arcs.BUILTIN_ARCS) <= set(names) and "broken" not in names
    assert len(problems) == 1 and str(f) in problems[0] and words in problems[0]
    p = call("playlist", "arcs")
    assert p.returncode == 0 and all(n in p.stdout for n in arcs.BUILTIN_ARCS)
    assert p.stderr.count("\n") == 1 and f"skipped {f}" in p.stderr
    with pytest.raises(CompanionError):
        arcs.load_arc("broken")


def test_a_playlist_file_written_with_undecodable_path_bytes_round_trips(tmp_path):
    raw = os.fsencode(tmp_path) + b"/caf\xe9.wav"
    Path(os.fsdecode(raw)).touch()
    pl = playlists.parse("#EXTM3U\n" + os.fsdecode(raw) + "\n", base_dir=tmp_path, name="latin")
    out = playlists.export(pl, tmp_path / "out.m3u8")
    assert raw in out.read_bytes()


@pytest.mark.parametrize("args", [
    ("playlist", "import", "~nosuchuser-companion/x.m3u8"), ("playlist", "show", "~nosuchuser-companion/x.m3u8"),
    ("scan", "~nosuchuser-companion/music"), ("build", "--arc", "~nosuchuser-companion/x.arc", "--name", "z"),
])
def test_a_path_under_an_unknown_user_is_one_line(args):
    one_line_error(call(*args), "~nosuchuser-companion/")


def test_a_filter_folder_under_an_unknown_user_is_dropped_with_a_note(tmp_path):
    line = '#COMPANION-PLAYLIST:{"filters": {"folder": "~nosuchuser-companion/m"}, "arc": "step-down"}'
    pl = playlists.parse(f"#EXTM3U\n{line}\n", base_dir=tmp_path)
    assert "filters" not in pl.meta and any("ignored filters" in n for n in pl.notes)
