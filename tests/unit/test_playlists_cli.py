"""The build and playlist verbs, run as a person runs them: `python -m companion ...`."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from companion.commands._output import format_duration
from companion.core.store import Store
from tests.unit.test_plan import analysis_rows, make_library_on_disk


def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """`python -m companion ARGS` in a new process, as a person runs it."""
    p = subprocess.run([sys.executable, "-m", "companion", *args], capture_output=True, text=True,
                       env=os.environ.copy(), timeout=60)
    if ok:
        assert p.returncode == 0, p.stderr
    return p


def call(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """The same through ``companion.cli.main`` in this process: many verbs stay fast."""
    from companion.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    p = subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())
    if ok:
        assert code == 0, p.stderr
    return p


@pytest.fixture
def library(tmp_path: Path):
    tracks = make_library_on_disk(250, tmp_path / "music")
    with Store() as store:
        store.save_analysis(analysis_rows(tracks))
    return tracks


def show(name: str) -> dict:
    return json.loads(call("playlist", "show", name, "--format", "json").stdout)


def test_build_prints_the_plan_and_saves_it(library, companion_home: Path):
    p = run("build", "--arc", "u-sequence", "--start", "90", "--target", "60", "--minutes", "20",
            "--name", "calm evening")
    lines = p.stdout.splitlines()
    assert lines[0].split()[:4] == ["#", "BPM", "planned", "length"]
    assert any(ln.split()[-1] == "silence" for ln in lines)
    assert "calm evening:" in p.stdout and "u-sequence 90 → 60 BPM" in p.stdout
    assert (companion_home / "playlists" / "calm evening.m3u8").is_file()
    data = show("calm evening")
    assert data["arc"] == "u-sequence" and data["meta"]["max_step_pct"] == 8
    first = data["tracks"][0]
    assert {"path", "title", "bpm", "planned_bpm", "start_offset_s"} <= set(first)
    assert first["start_offset_s"] == 0 and first["path"].startswith(str(Path(library[0].path).parents[1]))
    offsets = [t["start_offset_s"] for t in data["tracks"]]
    assert offsets == sorted(offsets)
    assert 19 * 60 <= data["total_s"] <= 21 * 60


def test_build_json_and_defaults(library):
    data = json.loads(call("build", "--name", "d", "--format", "json", "--seed", "3").stdout)
    assert data["meta"]["target_bpm"] == 60 and data["meta"]["minutes"] == 20
    assert data["meta"]["arc"] == "step-down" and data["meta"]["seed"] == 3
    assert any("80th percentile" in n for n in data["notes"])


def test_an_impossible_build_says_why_in_one_line_and_exits_2(library):
    p = run("build", "--name", "x", "--start", "90", "--target", "25", ok=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.startswith("companion: ") and len(p.stderr.strip().splitlines()) == 1
    assert "nearest plan" in p.stderr or "short" in p.stderr
    p = run("build", "--name", "bad/name", ok=False)
    assert p.returncode == 2 and "'bad/name'" in p.stderr


def test_an_impossible_build_prints_the_planners_line_unchanged(library):
    from companion.core import planner
    from companion.core.errors import PlanError

    with Store() as store:
        tracks = store.tracks()
    with pytest.raises(PlanError) as err:
        planner.plan(tracks, start_bpm=90, target_bpm=25)
    assert str(err.value).endswith("(or add --nearest)") and err.value.options
    p = call("build", "--name", "x", "--start", "90", "--target", "25", ok=False)
    assert p.returncode == 2 and p.stderr == f"companion: {err.value}\n"
    p = call("build", "--name", "x", "--start", "90", "--target", "25", "--nearest")
    assert "note: nearest plan: " in p.stdout


def test_build_plans_the_length_as_played_with_the_crossfade(library):
    out = call("build", "--name", "xf", "--start", "90", "--minutes", "20").stdout
    data = show("xf")
    assert data["meta"]["crossfade_s"] == 6 and data["crossfade_s"] == 6
    assert abs(data["played_s"] - 20 * 60) <= 0.05 * 20 * 60
    assert data["played_s"] < data["total_s"]  # the tracks overlap by the crossfades
    summary = next(ln for ln in out.splitlines() if ln.startswith("xf: "))
    played, music = (format_duration(data[k]) for k in ("played_s", "total_s"))
    assert f"tracks, {played} as played (6 s crossfades; {music} of music)" in summary

    out = call("build", "--name", "gl", "--start", "90", "--minutes", "20", "--gapless").stdout
    data = show("gl")
    assert data["meta"]["crossfade_s"] == 0 and data["played_s"] == data["total_s"]
    assert abs(data["played_s"] - 20 * 60) <= 0.05 * 20 * 60
    assert f"{format_duration(data['played_s'])} as played (gapless)" in out
    listed = {r["name"]: r for r in json.loads(call("playlist", "list", "--format", "json").stdout)}
    assert listed["gl"]["played_s"] == data["played_s"]

    call("build", "--name", "long", "--start", "90", "--crossfade", "12")
    assert show("long")["meta"]["crossfade_s"] == 12
    call("playlist", "replan", "long", "--seed", "2")
    assert show("long")["meta"]["crossfade_s"] == 12  # a re-plan keeps it
    p = call("build", "--name", "bad", "--crossfade", "-1", ok=False)
    assert p.returncode == 2 and "--crossfade -1" in p.stderr


def test_build_has_plays_crossfade_flags():
    from companion.cli import build_parser

    verbs = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]

    def flags(verb: str) -> dict:
        return {a.dest: (a.option_strings, a.metavar, a.type)
                for a in verbs[verb]._actions if a.dest in ("crossfade", "gapless")}

    assert flags("build") == flags("play") and len(flags("build")) == 2
    # play's default is the playlist's own crossfade (the one it was built for)
    assert [a.default for a in verbs["play"]._actions if a.dest == "crossfade"] == [None]


def test_arcs_lists_bundled_and_own_presets(companion_home: Path):
    (companion_home / "presets").mkdir(parents=True)
    (companion_home / "presets" / "mine.arc").write_text("[arc]\ndescription = my own\n"
                                                         "[curve]\n0 = start\n1 = target\n")
    rows = json.loads(call("playlist", "arcs", "--format", "json").stdout)
    assert [r["name"] for r in rows] == ["mine", "sleep", "step-down", "u-sequence"]
    assert rows[0]["description"] == "my own"


def test_list_import_export(library, tmp_path: Path):
    assert "no playlists yet" in call("playlist", "list").stdout
    call("build", "--name", "b", "--start", "85")
    m3u = tmp_path / "mine.m3u"
    m3u.write_text("\r\n".join(["#EXTINF:100,X - Y", os.path.relpath(library[0].path, tmp_path),
                                "https://example.org/a.mp3", library[1].path]) + "\r\n")
    p = run("playlist", "import", str(m3u))
    assert "imported 2 tracks" in p.stdout and "skipped 1 URL" in p.stdout
    rows = json.loads(call("playlist", "list", "--format", "json").stdout)
    assert [r["name"] for r in rows] == ["b", "mine"]
    assert show("mine")["tracks"][0]["bpm"] == library[0].bpm  # enriched from the library
    assert call("playlist", "import", str(m3u), ok=False).returncode == 2  # exists already
    out = tmp_path / "out.m3u8"
    call("playlist", "export", "b", str(out))
    assert out.read_text().startswith("#EXTM3U")


def test_curation_verbs(library):
    call("build", "--name", "c", "--start", "88", "--minutes", "20")
    before = [t["path"] for t in show("c")["tracks"]]
    call("playlist", "move", "c", "2", "--down")
    assert [t["path"] for t in show("c")["tracks"]][1:3] == [before[2], before[1]]
    call("playlist", "move", "c", "3", "--up")
    call("playlist", "move", "c", "1", "--to", "3")
    assert [t["path"] for t in show("c")["tracks"]][2] == before[0]
    call("playlist", "move", "c", "3", "--to", "1")
    assert [t["path"] for t in show("c")["tracks"]] == before

    alts = call("playlist", "alternatives", "c", "2", "--format", "json")
    options = json.loads(alts.stdout)
    assert 1 <= len(options) <= 5 and options[0]["n"] == 1
    call("playlist", "replace", "c", "2", "--with", "1")
    assert show("c")["tracks"][1]["path"] == options[0]["path"]
    call("playlist", "replace", "c", "2", before[1])
    assert show("c")["tracks"][1]["path"] == before[1]

    call("playlist", "lock", "c", "1")
    assert show("c")["tracks"][0]["locked"]
    call("playlist", "replan", "c", "--seed", "4")
    after = show("c")["tracks"]
    assert after[0]["path"] == before[0] and after[0]["locked"]
    call("playlist", "unlock", "c", "1")
    assert not show("c")["tracks"][0]["locked"]

    n = len(show("c")["tracks"])
    call("playlist", "remove", "c", str(n))
    assert len(show("c")["tracks"]) == n - 1
    p = run("playlist", "remove", "c", "99", ok=False)
    assert p.returncode == 2 and "position 99" in p.stderr

    call("playlist", "duplicate", "c", "c two")
    call("playlist", "rename", "c", "d")
    names = [r["name"] for r in json.loads(call("playlist", "list", "--format", "json").stdout)]
    assert names == ["c two", "d"]
    call("playlist", "delete", "d", "--yes")
    p = call("playlist", "show", "d", ok=False)
    assert p.returncode == 2 and "no playlist named 'd'" in p.stderr


def test_build_refuses_an_existing_name_unless_replace(library):
    call("build", "--name", "e", "--start", "88", "--minutes", "20")
    call("playlist", "lock", "e", "1")  # a manual edit the next build would lose
    p = call("build", "--name", "e", "--start", "80", "--minutes", "20", ok=False)
    assert p.returncode == 2 and "already exists: add --replace" in p.stderr
    assert show("e")["tracks"][0]["locked"]  # untouched
    out = call("build", "--name", "e", "--start", "80", "--minutes", "20", "--replace").stdout
    assert "e: " in out and not show("e")["tracks"][0]["locked"]


def test_delete_asks_for_confirmation_like_forget(library):
    call("build", "--name", "f", "--start", "88", "--minutes", "20")
    p = run("playlist", "delete", "f", ok=False)  # not a terminal, no --yes
    assert p.returncode == 2 and "add --yes" in p.stderr
    assert show("f")["tracks"]
    assert "deleted 'f'" in run("playlist", "delete", "f", "--yes").stdout


def test_one_track_is_not_one_tracks(library, tmp_path: Path):
    m3u = tmp_path / "one.m3u"
    m3u.write_text(library[0].path + "\n")
    out = call("playlist", "import", str(m3u)).stdout
    assert "imported 1 track from" in out
    assert "one: 1 track," in call("playlist", "show", "one").stdout


def test_replace_with_an_unknown_users_home_is_one_line(library):
    call("build", "--name", "t", "--start", "88", "--minutes", "20")
    p = call("playlist", "replace", "t", "2", "~nosuchuser-companion/a.flac", ok=False)
    assert p.returncode == 2 and p.stderr.strip() == "companion: ~nosuchuser-companion/a.flac: no such file"
