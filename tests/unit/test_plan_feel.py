"""Plans a music therapist would accept: what the tracks feel like, not only their tempo."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from companion.core import library, planner, playlists
from companion.core.errors import PlanError
from companion.core.models import Character, TempoAlternative, Track
from companion.core.store import Store
from tests.unit.test_plan import analysis_rows, make_library

ROOT = Path(__file__).resolve().parents[2]
STYLES = np.random.default_rng(5).normal(0, 3, (8, 16))


def feel(t: Track, arousal: float, style: int, rng: np.random.Generator, *, fp: bytes | None = None) -> Track:
    """``t`` with a character: an arousal and a timbre near one of eight styles."""
    ch = Character(onset_density=1.0 + 6 * arousal, percussive_share=0.1 + 0.6 * arousal,
                   centroid_hz=400 + 1600 * arousal, rolloff_hz=2000.0, dynamic_range_db=20 - 15 * arousal,
                   timbre=tuple((STYLES[style] + rng.normal(0, 0.7, 16)).round(3).tolist()), arousal=arousal)
    fingerprint = fp if fp is not None else rng.integers(0, 2**16, 200, dtype=np.uint16).astype("<u2").tobytes()
    return replace(t, character=ch, fingerprint=fingerprint, peak_dbfs=-1.0, loudness_lufs=-20.0)


def felt_library(n: int = 500, seed: int = 3) -> list[Track]:
    """Tracks whose arousal says nothing about their tempo (uniform 0-1), in eight styles."""
    rng = np.random.default_rng(seed)
    return [feel(t, float(rng.uniform(0, 1)), int(rng.integers(0, 8)), rng)
            for t in make_library(n, seed=seed, unsure=0)]


@pytest.mark.parametrize("arc", ["step-down", "u-sequence", "sleep"])
def test_arousal_falls_along_the_descent(arc: str) -> None:
    lib = felt_library()
    for seed in range(3):
        pl = planner.plan(lib, arc=arc, start_bpm=90, target_bpm=60, minutes=20, seed=seed)
        descent = [e for e in pl.entries if not e.is_silence][: _trough(pl) + 1]
        rho = spearmanr(range(len(descent)), [e.arousal for e in descent])[0]
        assert rho <= -0.5, (arc, seed, [e.arousal for e in descent])


def _trough(pl) -> int:
    tracks = pl.tracks
    return min(range(len(tracks)), key=lambda i: (tracks[i].used_bpm, i))


def test_a_lively_or_possibly_fast_track_never_enters_the_calm_part() -> None:
    rng = np.random.default_rng(1)
    lib = felt_library(400)
    # Slow tracks that are lively (arousal 0.9), and unsure slow tracks that may be twice as fast.
    lively = [feel(Track(path=f"/m/metal{i}.flac", title=f"metal {i}", duration_s=200, bpm=58 + i,
                         bpm_confidence=0.95), 0.9, 0, rng) for i in range(8)]
    doubtful = [feel(Track(path=f"/m/maybe{i}.flac", title=f"maybe {i}", duration_s=200, bpm=58 + i,
                           bpm_confidence=0.3, bpm_alternatives=(TempoAlternative(2 * (58 + i), 0.5, "2"),)),
                     0.1, 0, rng) for i in range(8)]
    for arc in ("step-down", "u-sequence", "sleep"):
        for seed in range(3):
            pl = planner.plan(lib + lively + doubtful, arc=arc, start_bpm=90, target_bpm=60, minutes=20, seed=seed)
            calm = [e for e in pl.tracks if e.planned_bpm <= 60 * (90 / 60) ** planner.CALM_SHARE]
            assert calm and not any("metal" in e.path or "maybe" in e.path for e in calm), arc


def test_neighbouring_tracks_are_closer_in_timbre_than_random_pairs() -> None:
    lib = felt_library(600)
    tim = {t.path: np.array(t.character.timbre) for t in lib}
    rng = np.random.default_rng(0)
    closer = steps = 0
    for seed in range(4):
        pl = planner.plan(lib, arc="step-down", start_bpm=90, target_bpm=60, minutes=20, seed=seed)
        tracks = pl.tracks
        for a, b in zip(tracks, tracks[1:], strict=False):
            near = [t for t in lib if abs(t.bpm - b.bpm) / b.bpm < 0.08 and t.path != a.path]
            other = near[int(rng.integers(len(near)))]
            closer += np.linalg.norm(tim[a.path] - tim[b.path]) < np.linalg.norm(tim[a.path] - tim[other.path])
            steps += 1
    assert closer / steps >= 0.75


def test_like_prefers_tracks_that_sound_like_it() -> None:
    lib = felt_library(600)
    liked = next(t for t in lib if 85 <= t.bpm <= 92)
    style = lambda t: int(np.argmin(np.linalg.norm(STYLES - np.array(t.character.timbre), axis=1)))  # noqa: E731
    plain = planner.plan(lib, start_bpm=90, minutes=20)
    focused = planner.plan(lib, start_bpm=90, minutes=20, like=liked.path)
    share = lambda pl: np.mean([style(next(t for t in lib if t.path == e.path)) == style(liked)  # noqa: E731
                                for e in pl.tracks])
    assert share(focused) >= 0.5 > share(plain)
    assert focused.meta["like"] == liked.path


def test_a_jingle_shorter_than_the_minimum_is_never_planned() -> None:
    lib = make_library(300, seed=4, dur=(20, 300), unsure=0)
    short = [t for t in lib if t.duration_s < 60]
    assert short
    for seed in range(3):
        pl = planner.plan(lib, start_bpm=90, minutes=20, seed=seed)
        assert all(e.duration_s >= 60 for e in pl.tracks)
        assert pl.meta["min_length_s"] == 60
    pl = planner.plan(lib, start_bpm=90, minutes=20, min_length_s=15)
    assert any(e.duration_s < 60 for e in pl.tracks)  # allowed when asked


def test_a_near_silent_file_is_never_planned() -> None:
    lib = [replace(t, peak_dbfs=-1.0) for t in make_library(300, unsure=0)]
    silent = [replace(t, path=t.path.replace(".flac", "-silent.flac"), loudness_lufs=None, peak_dbfs=-70.0)
              for t in lib[:150]]
    for seed in range(3):
        pl = planner.plan(lib + silent, start_bpm=90, minutes=20, seed=seed)
        assert not any("-silent" in e.path for e in pl.tracks)


def test_one_recording_is_never_planned_twice_even_at_two_paths() -> None:
    lib = felt_library(200)
    copies = [replace(t, path=t.path.replace("/music/", "/backup/"), title=t.title + " (copy)") for t in lib]
    for arc in ("step-down", "u-sequence"):
        for seed in range(3):
            pl = planner.plan(lib + copies, arc=arc, start_bpm=90, minutes=20, seed=seed)
            names = [e.title.replace(" (copy)", "") for e in pl.tracks]
            assert len(names) == len(set(names))
    # replan and alternatives too
    pl = planner.plan(lib + copies, start_bpm=90, minutes=20)
    pl = playlists.lock(pl, 1)
    again = playlists.replan_around_locks(pl, lib + copies, seed=5)
    names = [e.title.replace(" (copy)", "") for e in again.tracks]
    assert len(names) == len(set(names))
    inside = {e.title.replace(" (copy)", "") for e in pl.tracks}
    for i in range(len(pl.entries)):
        if not pl.entries[i].is_silence:
            found = planner.slot_candidates(lib + copies, pl, i, k=10)
            assert not any(t.title.replace(" (copy)", "") in inside for t, _ in found)


def test_a_focus_that_leaves_too_little_says_what_it_costs() -> None:
    lib = make_library(400, unsure=0)
    with pytest.raises(PlanError) as err:
        planner.plan(lib, start_bpm=90, minutes=30, filters={"artist": "Artist 7"})
    assert "the focus on artist Artist 7 leaves" in str(err.value)
    assert "without it, this plan works" in err.value.reason


def test_removing_a_folder_takes_its_tracks_out_and_keeps_hand_set_tempos(tmp_path: Path) -> None:
    mine = make_library(30, root=str(tmp_path / "mine"))
    other = make_library(20, seed=2, root=str(tmp_path / "old"))
    with Store() as store:
        store.save_analysis(analysis_rows(mine + other))
        store.add_folder(tmp_path / "mine")
        store.add_folder(tmp_path / "old")
        store.set_manual_bpm(other[0].path, 61.0)
        counts = {f.path: f.tracks for f in library.folders(store)}
        assert counts == {str(tmp_path / "mine"): 30, str(tmp_path / "old"): 20}
        removed, kept = library.remove(store, tmp_path / "old")
        assert (removed, kept) == (20, 1)
        assert {t.path for t in store.tracks()} == {t.path for t in mine}
        assert [f.path for f in library.folders(store)] == [str(tmp_path / "mine")]
        # the folder comes back: its hand-set tempo with it
        store.save_analysis(analysis_rows(other))
        back = store.track(other[0].path)
        assert back.bpm == 61.0 and back.is_manual


def test_the_demo_is_not_planned_from_once_there_is_music_of_ones_own(tmp_path: Path) -> None:
    from companion.core import paths

    demo_dir = paths.demo_library_dir().resolve()
    demo = make_library(200, root=str(demo_dir))
    mine = make_library(300, seed=9, root=str(tmp_path / "mine"))
    with Store() as store:
        store.save_analysis(analysis_rows(demo))
        store.add_folder(demo_dir, library.DEMO)
        only_demo = playlists.build(store, name="first", start_bpm=90)
        assert all(e.path.startswith(str(demo_dir)) for e in only_demo.tracks)  # nothing else yet
        store.save_analysis(analysis_rows(mine))
        pl = playlists.build(store, name="mine", start_bpm=90)
        assert not any(e.path.startswith(str(demo_dir)) for e in pl.tracks)
        asked = playlists.build(store, name="both", start_bpm=90, include_demo=True, seed=1)
        assert asked.meta["include_demo"] is True
        assert len(playlists.library_for(asked, store)) == 500
        library.remove(store, "demo")
        assert not store.tracks(under=str(demo_dir))


def test_library_command_lists_adds_and_removes_folders(tmp_path: Path) -> None:
    import soundfile as sf

    music = tmp_path / "music"
    music.mkdir()
    t = np.arange(22050 * 3) / 22050
    sf.write(str(music / "a.wav"), (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 22050)

    def run(*args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "companion", *args], capture_output=True, text=True,
                             cwd=ROOT, timeout=300)
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert "1 analysed" in run("library", "add", str(music), "--jobs", "1")
    listing = run("library")
    assert str(music) in listing and " 1" in listing
    assert "removed" in run("library", "remove", str(music))
    assert str(music) not in run("library", "--format", "json")


def test_alternatives_for_a_calm_slot_offer_no_lively_track() -> None:
    rng = np.random.default_rng(2)
    lib = felt_library(300)
    lively = [feel(Track(path=f"/m/loud{i}.flac", title=f"loud {i}", duration_s=200, bpm=60 + i * 0.5,
                         bpm_confidence=0.95), 0.95, 0, rng) for i in range(10)]
    pl = planner.plan(lib, start_bpm=90, target_bpm=60, minutes=20)
    last = len(pl.entries) - 1
    found = planner.slot_candidates(lib + lively, pl, last, k=10)
    assert found and not any("loud" in t.path for t, _ in found)
