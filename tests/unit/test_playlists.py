"""Playlists as M3U8: round trips, odd files from other players, and curation."""

from __future__ import annotations

import stat
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.core import planner, playlists, render, timeline
from companion.core.errors import NotFoundError, UserInputError
from companion.core.models import Playlist, PlaylistEntry
from companion.core.store import Store
from tests.unit.test_plan import analysis_rows, heard, make_library, make_library_on_disk


@pytest.fixture
def library(tmp_path: Path):
    """A synthetic library whose files exist (empty), so nothing counts as moved."""
    tracks = make_library_on_disk(300, tmp_path / "music")
    return tracks


@pytest.fixture
def planned(library) -> Playlist:
    return planner.plan(library, arc="u-sequence", start_bpm=90, name="evening")


def test_save_and_load_keep_every_entry_and_the_plan(planned: Playlist):
    path = playlists.save(planned)
    assert path.name == "evening.m3u8"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    back = playlists.load("evening")
    assert back.entries == planned.entries
    assert back.arc == "u-sequence" and back.meta == planned.meta
    assert back.notes == planned.notes
    assert playlists.load(path).entries == planned.entries  # by path too


def test_the_saved_file_is_plain_extended_m3u_with_comment_metadata(planned: Playlist):
    lines = playlists.save(planned).read_text().splitlines()
    assert lines[0] == "#EXTM3U"
    songs = [ln for ln in lines if not ln.startswith("#")]
    assert songs == [e.path for e in planned.tracks] and all(Path(s).is_absolute() for s in songs)
    extinf = [ln for ln in lines if ln.startswith("#EXTINF:")]
    first = planned.tracks[0]
    assert extinf[0] == f"#EXTINF:{round(first.duration_s)},{first.artist} - {first.title}"
    assert "#COMPANION-SILENCE:120" in lines
    assert all(ln.startswith(("#EXTM3U", "#EXTINF:", "#COMPANION-")) for ln in lines if ln.startswith("#"))


def test_list_playlists_is_sorted_by_name(planned: Playlist):
    for name in ("morning", "Afternoon", "evening"):
        playlists.save(replace(planned, name=name))
    assert [p.name for p in playlists.list_playlists()] == ["Afternoon", "evening", "morning"]


def test_names_of_letters_digits_space_dash_underscore_dot_are_fine():
    for good in ("Evening 2", "slow_down-v1.2", "Nachtmusik für Anna", "ß"):
        assert playlists.save(Playlist(name=good, entries=())).name == f"{good}.m3u8"


@pytest.mark.parametrize("bad", ["", " lead", "a/b", "../x", ".hidden", "x" * 101, "tab\tname", "a:b"])
def test_names_outside_letters_digits_space_dash_underscore_dot_are_refused(bad: str):
    with pytest.raises(UserInputError) as err:
        playlists.save(Playlist(name=bad, entries=()))
    assert repr(bad) in str(err.value)


def test_a_missing_playlist_says_how_to_list_them():
    with pytest.raises(NotFoundError, match="playlist list"):
        playlists.load("nothing")


# -- odd files --------------------------------------------------------------------------------


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_import_reads_bom_crlf_comments_relative_paths_and_skips_urls(tmp_path: Path):
    d = tmp_path / "lists"
    (d / "songs").mkdir(parents=True)
    for n in ("a.flac", "b c.mp3"):
        (d / "songs" / n).touch()
    f = _write(d / "mine.m3u", "\ufeff#EXTM3U\r\n# a comment\r\n#EXTINF:123,Someone - Song A\r\n"
               "songs/a.flac\r\n\r\nhttp://radio.example/stream\r\n#EXTINF:-1,\r\n"
               f"file://{d}/songs/b%20c.mp3\r\n")
    pl = playlists.import_m3u(f)
    assert pl.name == "mine"
    assert [e.path for e in pl.entries] == [str(d / "songs" / "a.flac"), str(d / "songs" / "b c.mp3")]
    a = pl.entries[0]
    assert (a.title, a.artist, a.duration_s) == ("Song A", "Someone", 123)
    assert pl.entries[1].title == "b c"
    assert any("skipped 1 URL" in n and "radio.example" in n for n in pl.notes)


def test_import_without_extm3u_header_windows_paths_and_latin1(tmp_path: Path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "café.wav").touch()
    f = _write(tmp_path / "old.m3u", "sub\\café.wav\n", encoding="latin-1")
    pl = playlists.import_m3u(f, name="old one")
    assert pl.name == "old one"
    assert [e.path for e in pl.entries] == [str(tmp_path / "sub" / "café.wav")]
    assert not pl.notes


def test_import_reads_utf16_files_with_a_bom(tmp_path: Path):
    (tmp_path / "ä.flac").touch()
    f = tmp_path / "win.m3u"
    f.write_bytes("#EXTM3U\r\n#EXTINF:5,Ä - B\r\nä.flac\r\n".encode("utf-16"))
    pl = playlists.import_m3u(f)
    assert [(e.path, e.artist, e.title) for e in pl.entries] == [(str(tmp_path / "ä.flac"), "Ä", "B")]


def test_an_empty_playlist_file_imports_as_an_empty_playlist(tmp_path: Path):
    for text in ("", "#EXTM3U\n", "\n\n# nothing\n"):
        pl = playlists.import_m3u(_write(tmp_path / "empty.m3u8", text))
        assert pl.entries == () and pl.total_s == 0
    path = playlists.save(pl)
    assert playlists.load(str(path)).entries == ()


def test_import_takes_titles_and_tempi_from_the_library_when_it_knows_the_track(tmp_path, library):
    with Store() as store:
        store.save_analysis(analysis_rows(library[:3]))
    f = _write(tmp_path / "x.m3u8", "\n".join(t.path for t in library[:4]) + "\n")
    pl = playlists.import_m3u(f)
    assert [e.bpm for e in pl.entries[:3]] == [t.bpm for t in library[:3]]
    assert [e.title for e in pl.entries[:3]] == [t.title for t in library[:3]]
    assert pl.entries[3].bpm is None and pl.entries[3].title == Path(library[3].path).stem
    # An imported playlist plays with the player's default crossfade: offsets are as heard.
    assert playlists.crossfade_of(pl) == render.DEFAULT_CROSSFADE_S
    assert pl.entries[2].start_s == pytest.approx(
        library[0].duration_s + library[1].duration_s - 2 * render.DEFAULT_CROSSFADE_S)


def test_moved_files_stay_in_the_playlist_with_a_note(planned: Playlist):
    playlists.save(planned)
    gone = planned.tracks[1].path
    Path(gone).unlink()
    pl = playlists.load("evening")
    assert [e.path for e in pl.entries] == [e.path for e in planned.entries]
    assert any("1 track not found" in n and gone in n for n in pl.notes)
    playlists.save(pl)  # warnings are worked out on load, never piled up in the file
    again = playlists.load("evening")
    assert sum("not found" in n for n in again.notes) == 1


def test_a_hand_edited_step_too_large_is_named_on_load(planned: Playlist):
    path = playlists.save(planned)
    lines = path.read_text().splitlines()
    songs = [i for i, ln in enumerate(lines) if ln and not ln.startswith("#")]
    # swap the first and last track lines (and their two metadata lines) by hand
    a, b = songs[0], songs[-1]
    lines[a - 2:a + 1], lines[b - 2:b + 1] = lines[b - 2:b + 1], lines[a - 2:a + 1]
    path.write_text("\n".join(lines) + "\n")
    pl = playlists.load("evening")
    assert any(n.startswith("warning: the step from track") for n in pl.notes)


def test_a_file_edited_by_another_program_is_still_read(planned: Playlist, tmp_path: Path):
    text = playlists.save(planned).read_text()
    # another player kept only its own lines and re-ordered nothing
    other = "\n".join(ln for ln in text.splitlines() if not ln.startswith("#COMPANION")) + "\n"
    f = _write(tmp_path / "edited.m3u8", other)
    pl = playlists.load(str(f))
    assert [e.path for e in pl.entries] == [e.path for e in planned.tracks]
    assert [e.title for e in pl.entries] == [e.display_name.split(" - ", 1)[1] for e in planned.tracks]


def test_export_writes_an_m3u8_other_players_read(planned: Playlist, tmp_path: Path):
    out = playlists.export(planned, tmp_path / "for-vlc.m3u8")
    assert out.read_text().startswith("#EXTM3U\n")
    assert [e.path for e in playlists.import_m3u(out).tracks] == [e.path for e in planned.tracks]
    with pytest.raises(UserInputError, match="no such folder"):
        playlists.export(planned, tmp_path / "nowhere" / "x.m3u8")


# -- curation ---------------------------------------------------------------------------------


def test_move_reorders_recomputes_offsets_and_warns_about_big_steps(planned: Playlist):
    first = planned.entries[0]
    moved = playlists.move(planned, 0, 3)
    assert moved.entries[3] == replace(first, start_s=moved.entries[3].start_s,
                                       planned_bpm=moved.entries[3].planned_bpm)
    assert moved.entries[0].start_s == 0
    assert [e.start_s for e in moved.entries] == pytest.approx(heard(moved)[0], abs=0.01)
    assert any(n.startswith("warning: the step from track") for n in moved.notes)
    back = playlists.move(moved, 3, -3)
    assert [e.path for e in back.entries] == [e.path for e in planned.entries]
    assert not any(n.startswith("warning: the step") for n in back.notes)
    assert playlists.move(planned, 0, -1) is planned  # already first: nothing to do
    with pytest.raises(UserInputError, match="position 99"):
        playlists.move(planned, 98, 1)


def test_remove_lock_and_unlock(planned: Playlist):
    n = len(planned.entries)
    shorter = playlists.remove(planned, 1)
    assert len(shorter.entries) == n - 1 and planned.entries[1] not in shorter.entries
    locked = playlists.lock(planned, 2)
    assert locked.entries[2].locked and not playlists.unlock(locked, 2).entries[2].locked
    k = next(i for i, e in enumerate(planned.entries) if e.is_silence)
    with pytest.raises(UserInputError, match="silence"):
        playlists.lock(planned, k)


def test_the_five_alternatives_fit_the_slot_and_replace_keeps_the_plan_valid():
    library = make_library(600)  # fixed paths: the same plan every run
    planned = planner.plan(library, arc="u-sequence", start_bpm=90, name="evening")
    alts = playlists.replace_candidates(library, planned, 2)
    assert len(alts) == 5
    inside = {e.path for e in planned.entries}
    assert not inside & {t.path for t in alts}
    for t in alts:
        new = playlists.replace(planned, 2, t)
        assert new.entries[2].path == t.path
        assert timeline.check_plan(new, max_step_pct=8) == []
        assert not any(n.startswith("warning:") for n in new.notes)
    with pytest.raises(UserInputError, match="already in"):
        playlists.replace(planned, 2, next(t for t in library if t.path == planned.entries[0].path))


def test_replan_keeps_locked_tracks(planned, library):
    locked = playlists.lock(playlists.lock(planned, 0), 3)
    again = playlists.replan_around_locks(locked, library, seed=9)
    paths = [e.path for e in again.entries]
    assert planned.entries[0].path in paths and planned.entries[3].path in paths
    assert timeline.check_plan(again, max_step_pct=8) == []
    assert again.meta["start_bpm"] == planned.meta["start_bpm"] and again.arc == "u-sequence"


def test_a_gapless_plan_stays_gapless_when_saved_curated_and_replanned(library):
    pl = planner.plan(library, start_bpm=90, minutes=20, crossfade_s=0, name="gapless")
    playlists.save(pl)
    text = playlists.playlist_path("gapless").read_text()
    assert '"crossfade_s": 0.0' in text.splitlines()[1]  # next to the arc, in #COMPANION-PLAYLIST
    back = playlists.load("gapless")
    assert back.entries == pl.entries and playlists.crossfade_of(back) == 0
    assert playlists.played_s(back) == pytest.approx(back.total_s)  # nothing overlaps
    again = playlists.replan_around_locks(playlists.lock(back, 1), library, seed=3)
    assert again.meta["crossfade_s"] == 0
    assert abs(playlists.played_s(again) - 20 * 60) <= 0.05 * 20 * 60
    t = 0.0
    for e in playlists.remove(again, 0).entries:  # offsets add up end to end
        assert e.start_s == pytest.approx(t)
        t += e.length_s


def test_the_played_length_counts_the_crossfades_overlaps(planned: Playlist):
    xf = planned.meta["crossfade_s"]
    assert xf == render.DEFAULT_CROSSFADE_S
    joins = sum(not a.is_silence and not b.is_silence
                for a, b in zip(planned.entries, planned.entries[1:], strict=False))
    assert playlists.played_s(planned) == pytest.approx(planned.total_s - joins * xf)
    assert abs(playlists.played_s(planned) - 20 * 60) <= 0.05 * 20 * 60


def test_rename_duplicate_and_delete(planned: Playlist):
    playlists.save(planned)
    playlists.save(playlists.duplicate(planned, "evening copy"))
    renamed = playlists.rename(planned, "night")
    playlists.save(renamed)
    playlists.delete("evening")
    assert [p.name for p in playlists.list_playlists()] == ["evening copy", "night"]
    assert playlists.load("night").entries == planned.entries
    with pytest.raises(NotFoundError):
        playlists.delete("evening")
    with pytest.raises(UserInputError):
        playlists.rename(planned, "bad/name")


def test_a_silence_round_trips_as_a_comment_only_companion_reads(tmp_path: Path):
    pl = Playlist(name="pause", entries=(PlaylistEntry(path="", silence_s=90),))
    text = playlists.dumps(pl)
    assert text == "#EXTM3U\n#COMPANION-SILENCE:90\n"
    back = playlists.parse(text, base_dir=tmp_path)
    assert back.entries[0].silence_s == 90 and back.entries[0].is_silence


def test_a_plan_from_an_arc_file_re_opens_with_that_arc(tmp_path: Path, library):
    f = tmp_path / "gentle.arc"
    f.write_text("[curve]\n0 = start\n0.5 = 75\n1 = target\n")
    pl = planner.plan(library, arc=str(f), start_bpm=88, name="gentle")
    playlists.save(pl)
    back = playlists.load("gentle")
    assert back.arc == "gentle" and back.meta["arc_file"] == str(f)
    again = playlists.replan_around_locks(playlists.lock(back, 0), library, seed=2)
    assert again.arc == "gentle" and again.entries[0].path == pl.entries[0].path


@pytest.fixture(scope="module")
def u_sequence_plan() -> Playlist:
    """Planned once for the module, at test time: planning reads the arc presets under
    COMPANION_HOME, so it must not run when the module is imported."""
    return planner.plan(make_library(300), arc="u-sequence", start_bpm=90, name="p")


@settings(max_examples=40, deadline=None)
@given(ops=st.lists(st.tuples(st.sampled_from(["move", "remove", "lock"]), st.integers(0, 12),
                              st.integers(-4, 4)), max_size=8))
def test_any_curation_keeps_offsets_right_and_names_every_broken_step(u_sequence_plan, ops):
    pl = u_sequence_plan
    for op, i, delta in ops:
        if not pl.entries:
            break
        i %= len(pl.entries)
        if op == "move":
            pl = playlists.move(pl, i, delta)
        elif op == "remove":
            pl = playlists.remove(pl, i)
        elif not pl.entries[i].is_silence:
            pl = playlists.lock(pl, i)
    if pl.entries:
        assert [e.start_s for e in pl.entries] == pytest.approx(heard(pl)[0], abs=0.01)
    problems = timeline.check_plan(pl, max_step_pct=8)
    warned = [n[len("warning: "):] for n in pl.notes if n.startswith("warning: ")]
    assert warned == problems
    assert {e.path for e in pl.entries} <= {e.path for e in u_sequence_plan.entries}


def test_a_rising_playlist_is_not_labelled_as_a_step_down():
    library = make_library(300)
    rising = planner.plan(library, start_bpm=62, target_bpm=80, minutes=15, name="wake")
    assert playlists.arc_label(rising) == "step-down, rising"
    falling = planner.plan(library, start_bpm=80, target_bpm=62, minutes=15, name="calm")
    assert playlists.arc_label(falling) == "step-down"
