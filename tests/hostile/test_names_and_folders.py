"""File names that are not UTF-8, vanished drives and an empty path given to scan."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from companion.core import planner, scan
from companion.core.errors import UserInputError
from companion.core.models import BPM_MANUAL, STATUS_MISSING, STATUS_OK
from tests.hostile.conftest import call, one_line_error, write_tone

LATIN1_NAME = b"caf\xe9.wav"  # "café" written by a Latin-1 system: not valid UTF-8


def _latin1_file(folder: Path) -> str:
    write_tone(folder / "plain.wav")
    os.rename(folder / "plain.wav", os.path.join(os.fsencode(folder), LATIN1_NAME))
    return os.fsdecode(os.path.join(os.fsencode(folder.resolve()), LATIN1_NAME))


def test_a_file_name_that_is_not_utf8_scans_and_rescans_as_unchanged(tmp_path, store, quick_tempo):
    path = _latin1_file(tmp_path / "music")
    write_tone(tmp_path / "music" / "other.wav")
    first = scan.scan([tmp_path / "music"], store, jobs=1)
    assert (first.analysed, first.errors) == (2, 0)
    track = store.track(path)  # the path comes back byte for byte: the file opens
    assert os.fsencode(track.path).endswith(LATIN1_NAME) and os.path.exists(track.path)
    again = scan.scan([tmp_path / "music"], store, jobs=1)
    assert (again.skipped_unchanged, again.analysed, again.removed) == (2, 0, 0)
    assert {t.path for t in store.tracks(under=str(tmp_path / "music"))} == {
        path, str((tmp_path / "music" / "other.wav").resolve())}


def test_a_file_name_that_is_not_utf8_is_shown_escaped(tmp_path, store, quick_tempo):
    _latin1_file(tmp_path / "music")
    scan.scan([tmp_path / "music"], store, jobs=1)
    table = call("tracks")
    assert table.returncode == 0 and "caf\\xe9" in table.stdout
    csv_out = call("tracks", "--format", "csv")
    assert csv_out.returncode == 0 and "caf\\xe9.wav" in csv_out.stdout


def test_a_vanished_sub_folder_keeps_its_tracks_and_tempos_as_missing(tmp_path, store, quick_tempo):
    music = tmp_path / "music"
    write_tone(music / "here.wav")
    drive = music / "usb"  # a drive mounted below the scanned folder
    write_tone(drive / "album" / "a.wav")
    write_tone(drive / "b.wav")
    scan.scan([music], store, jobs=1)
    a = str((drive / "album" / "a.wav").resolve())
    store.set_manual_bpm(a, 63.0)
    unplugged = tmp_path / "unplugged"
    drive.rename(unplugged)
    drive.mkdir()  # the empty mount point stays behind

    summary = scan.scan([music], store, jobs=1)
    assert summary.removed == 0
    assert any("2 tracks not found" in n and "kept as missing" in n for n in summary.notes)
    assert store.track(a).status == STATUS_MISSING and store.track(a).bpm == 63.0
    assert store.track(a).bpm_source == BPM_MANUAL
    assert a not in {t.path for t in planner.filter_tracks(store.tracks())}
    listed = call("tracks")
    assert listed.stdout.count("missing") == 2
    assert call("tracks", "--missing", "--format", "json").stdout.count('"status": "missing"') == 2

    drive.rmdir()
    unplugged.rename(drive)
    back = scan.scan([music], store, jobs=1)
    assert back.analysed == 0 and back.skipped_unchanged == 3
    assert store.track(a).status == STATUS_OK and store.track(a).bpm == 63.0


def test_a_file_deleted_from_a_folder_that_is_still_there_is_forgotten(tmp_path, store, quick_tempo):
    write_tone(tmp_path / "music" / "keep.wav")
    gone = write_tone(tmp_path / "music" / "gone.wav")
    scan.scan([tmp_path / "music"], store, jobs=1)
    gone.unlink()
    assert scan.scan([tmp_path / "music"], store, jobs=1).removed == 1


@pytest.mark.parametrize("arg", ["", "   "])
def test_scan_of_an_empty_path_is_refused(arg, tmp_path, monkeypatch, store):
    write_tone(tmp_path / "cwd" / "x.wav")
    monkeypatch.chdir(tmp_path / "cwd")  # an unset $MUSIC would have scanned this folder
    with pytest.raises(UserInputError, match="empty path"):
        scan.scan([arg], store, jobs=1)
    one_line_error(call("scan", arg), "an empty path was given")
    assert store.track_count() == 0


def test_a_library_with_a_non_utf8_name_plans_saves_and_loads_a_playlist(tmp_path, store):
    from dataclasses import replace

    from companion.core import playlists
    from tests.unit.test_plan import analysis_rows, make_library_on_disk

    tracks = make_library_on_disk(120, tmp_path / "music")
    odd = []
    for t in tracks:  # every track's name gets a Latin-1 byte before its extension
        stem, ext = os.path.splitext(os.fsencode(t.path))
        new = os.fsdecode(stem + b"\xe9" + ext)
        os.rename(t.path, new)
        odd.append(replace(t, path=new))
    store.save_analysis(analysis_rows(odd))
    pl = planner.plan(store.tracks(), name="latin", minutes=20, start_bpm=90, nearest=True)
    playlists.save(pl)
    again = playlists.load("latin")
    assert [e.path for e in again.tracks] == [e.path for e in pl.tracks]
    assert all(os.path.exists(e.path) for e in again.tracks)
