"""Transport as a listener expects it: "previous" restarts a track already under way, and the
sleep timer "end after this track" can be cancelled (the same key cancels a fade timer).

Sessions run through a null output paced faster than real time, so "10 s into track 2" takes
well under a second; what was heard is compared with the tracks' own samples.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from companion.core import render
from companion.core.models import Playlist, PlaylistEntry
from companion.core.player import RESTART_AFTER_S, NullOutput, Player
from tests.unit import test_render

SR = 8000
QUICK = dict(crossfade_s=0.2, fade_in_s=0.1, fade_out_s=0.2)
SPEED = 16.0  # the null output consumes 16 s of audio a second
TRACK_S = 12.0


def _noise(seed: int, seconds: float) -> np.ndarray:
    """Seeded noise: no two windows of any track look alike, so a window says where it is from."""
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


@pytest.fixture
def tracks(tmp_path: Path) -> list[np.ndarray]:
    return [_noise(i, TRACK_S) for i in range(3)]


@pytest.fixture
def noise_playlist(tmp_path: Path, tracks: list[np.ndarray]) -> Playlist:
    import soundfile as sf

    entries = []
    for i, y in enumerate(tracks):
        path = tmp_path / f"n{i}.wav"
        sf.write(path, y, SR)
        entries.append(PlaylistEntry(path=str(path), title=f"noise {i}", bpm=70.0 - i, duration_s=TRACK_S))
    return Playlist("noise", tuple(entries))


def _wait(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _heard_at(heard: np.ndarray, track: np.ndarray, at_s: float = 0.5, window_s: float = 0.4) -> list[int]:
    """Where (frames into ``heard``) the window of ``track`` starting at ``at_s`` was heard,
    whatever its levelling gain: normalised cross-correlation above 0.9."""
    t = track[int(at_s * SR) : int((at_s + window_s) * SR)].astype(np.float64)
    x = heard[:, 0].astype(np.float64)
    n = len(x) + len(t)
    size = 1 << (n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(x, size) * np.conj(np.fft.rfft(t, size)), size)[: len(x) - len(t) + 1]
    energy = np.concatenate([[0.0], np.cumsum(x * x)])
    local = energy[len(t) :] - energy[: len(x) - len(t) + 1]
    ncc = corr / (np.linalg.norm(t) * np.sqrt(np.maximum(local, 1e-12)))
    hits = np.flatnonzero(ncc > 0.9)
    return [int(h) for k, h in enumerate(hits) if k == 0 or h - hits[k - 1] > len(t)]


def _player(playlist: Playlist, out: NullOutput) -> Player:
    return Player(playlist, output=out, ring_s=4.0, **QUICK)


def test_previous_well_into_a_track_restarts_it(noise_playlist: Playlist, tracks: list[np.ndarray]) -> None:
    out = NullOutput(realtime=True, keep=True, speed=SPEED)
    with _player(noise_playlist, out) as p:
        p.start()
        _wait(lambda: p.status().index == 1 and p.status().position_s >= 10.0)
        p.previous()
        _wait(lambda: p.status().position_s < 1.5)  # back at the start of a track ...
        st = p.status()
        assert st.index == 1  # ... of track 2 again, not track 1
        _wait(lambda: p.status().position_s >= 1.0)
        p.stop(fade_s=0.05)
        assert p.wait(5)
    heard = out.frames
    first, again = _heard_at(heard, tracks[1])  # track 2's opening, heard twice
    assert (again - first) / SR == pytest.approx(10.0, abs=0.6)
    (ninth,) = _heard_at(heard, tracks[1], at_s=9.0)  # its 9th second: heard once, before
    assert first < ninth < again
    assert len(_heard_at(heard, tracks[0])) == 1  # track 1 was not played again


def test_previous_early_in_a_track_goes_back_and_the_first_track_restarts(
    noise_playlist: Playlist, tracks: list[np.ndarray]
) -> None:
    out = NullOutput(realtime=True, keep=True, speed=SPEED)
    with _player(noise_playlist, out) as p:
        p.start()
        _wait(lambda: p.status().index == 1 and p.status().position_s >= 1.0)
        assert p.status().position_s < RESTART_AFTER_S
        p.previous()
        _wait(lambda: p.status().index == 0)
        _wait(lambda: p.status().position_s >= 1.0)
        p.previous()  # on the first track, within 3 s: it starts again
        _wait(lambda: p.status().position_s < 0.9)
        assert p.status().index == 0
        _wait(lambda: p.status().position_s >= 1.0)
        p.stop(fade_s=0.05)
        assert p.wait(5)
    heard = out.frames
    assert len(_heard_at(heard, tracks[0])) == 3  # track 1 from the start: first, back, restarted
    assert len(_heard_at(heard, tracks[1])) == 1
    assert _heard_at(heard, tracks[2]) == []


def test_end_after_this_track_set_then_cancelled_plays_every_entry(
    noise_playlist: Playlist, tracks: list[np.ndarray]
) -> None:
    out = NullOutput(realtime=True, keep=True, speed=SPEED)
    with _player(noise_playlist, out) as p:
        p.start()
        _wait(lambda: p.status().elapsed_s >= 1.0)
        p.pause()  # (so a busy machine cannot let track 1 end before the timer is cancelled)
        p.sleep_after_track()
        st = p.status()
        assert st.ends_after_track and st.sleep == "after this track"
        _wait(lambda: p.status().remaining_s < TRACK_S)  # the plan now ends with track 1
        p.sleep_after_track(False)
        st = p.status()
        assert not st.ends_after_track and st.sleep == ""
        _wait(lambda: p.status().remaining_s > TRACK_S)  # ... and goes on again
        p.resume()
        assert p.wait(10)
        st = p.status()
    assert st.finished and not st.stopped_early and st.index == 2
    assert st.elapsed_s == pytest.approx(3 * TRACK_S - 2 * 0.2, abs=0.05)
    heard = out.frames
    for y in tracks:
        assert len(_heard_at(heard, y, at_s=TRACK_S / 2)) == 1


def test_end_after_this_track_follows_a_skip(noise_playlist: Playlist) -> None:
    with _player(noise_playlist, NullOutput(realtime=True, speed=SPEED)) as p:
        p.start()
        p.sleep_after_track()
        _wait(lambda: p.status().elapsed_s >= 1.0)
        p.skip()
        _wait(lambda: p.status().index == 1)
        assert p.wait(10)
        st = p.status()
    assert st.index == 1 and st.stopped_early and st.ends_after_track


def test_the_sleep_key_cancels_a_fade_timer_too(playlist_short: Playlist) -> None:
    with Player(playlist_short, output=NullOutput(realtime=True, speed=4.0), **QUICK) as p:
        p.sleep_fade(0.5 / 60)  # would end the session after half a second
        p.start()
        assert p.status().sleep.startswith("fade")
        assert p.toggle_sleep() is False  # a timer was set: now none is
        assert p.status().sleep == "" and not p.status().ends_after_track
        assert p.wait(10)
        st = p.status()
        assert st.finished and not st.stopped_early and st.index == 2
        assert p.toggle_sleep() is True and p.status().sleep == "after this track"


@pytest.fixture
def playlist_short(tmp_path: Path) -> Playlist:
    import soundfile as sf

    entries = []
    for i in range(3):
        path = tmp_path / f"s{i}.wav"
        sf.write(path, _noise(10 + i, 1.0), SR)
        entries.append(PlaylistEntry(path=str(path), title=f"short {i}", bpm=60.0, duration_s=1.0))
    return Playlist("short", tuple(entries))


# -- the renderer's part: a cancelled end comes back without a jump ---------------------------


def test_cancelling_during_the_fade_out_brings_the_level_back_smoothly() -> None:
    sr = test_render.SR
    signals = {n: np.full(2 * sr, 0.5) for n in "abc"}  # three 2-s tracks at a steady level
    r = test_render._renderer(signals, test_render._tracks("a", "b", "c"),
                              test_render._settings(crossfade_s=0.25, fade_out_s=1.0))
    head = [r.render(sr)]  # one second into the first track
    r.end_after(0)
    head.append(r.render(sr // 2))  # half-way through the session fade-out
    assert head[-1][-1, 0] < 0.3
    r.continue_after()
    out = np.concatenate([*head, r.render(10 * sr)])[:, 0]
    assert len(out) == r.total == 3 * 2 * sr - 2 * int(0.25 * sr)  # every entry is back, crossfaded
    assert np.max(np.abs(np.diff(out))) < 0.01  # the level comes back up: no step
    back = int((1.5 + render.LIFT_S) * sr)
    assert out[back : back + sr] == pytest.approx(np.full(sr, 0.5), abs=1e-3)  # full level again
    assert out[-1] < 1e-3  # and the session still fades out at its (new) end


def test_cancelling_with_nothing_dropped_changes_nothing() -> None:
    signals = {n: np.full(1000, 0.5) for n in "ab"}
    r = test_render._renderer(signals, test_render._tracks("a", "b"),
                              test_render._settings(crossfade_s=0.25, fade_out_s=1.0))
    before = [(s.start, s.length, s.fade_out) for s in r.slots]
    r.render(100)
    r.continue_after()
    assert [(s.start, s.length, s.fade_out) for s in r.slots] == before


def test_companion_play_key_e_toggles_the_timer_and_the_status_line_says_so(
    playlist_short: Playlist, capsys: pytest.CaptureFixture[str]
) -> None:
    from companion.commands import play

    line = play._StatusLine(live=False)
    with Player(playlist_short, output=NullOutput(realtime=True), **QUICK) as p:
        p.start()
        p.pause()
        _wait(lambda: p.status().entry is not None)
        line.show(p.status())
        play.handle_key(p, "e")
        line.show(p.status())
        play.handle_key(p, "E")
        line.show(p.status())
    shown = capsys.readouterr().err.splitlines()
    assert len(shown) == 3 and "sleep" not in shown[0] + shown[2]
    assert shown[1].endswith(" · paused · sleep after this track")
