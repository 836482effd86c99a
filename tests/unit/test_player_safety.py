"""What reaches the ears is safe and bounded, and a playlist's own ending is honoured.

Nothing non-finite and nothing above the limiter's ceiling reaches any output, whatever the
files hold or the decoder passes on; durations read from a playlist are bounded; the fade-out
the playlist's arc stores is the one every output plays.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from companion.core import render
from companion.core.models import Playlist, PlaylistEntry
from companion.core.player import FileOutput, NullOutput, Player

SR = 8000
CEILING = np.float32(render.OUTPUT_CEILING)


def _write(path: Path, data: np.ndarray) -> str:
    import soundfile as sf

    sf.write(path, data.astype(np.float32), SR, subtype="FLOAT")
    return str(path)


def _tone(seconds: float, amp: float, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(round(seconds * SR))) / SR
    return amp * np.sin(2 * np.pi * freq * t)


def _poisoned(seconds: float = 3.0) -> np.ndarray:
    """A −40 dBFS tone with NaN bursts, +Inf and −Inf samples: a broken float WAV."""
    x = _tone(seconds, 0.01)
    for start in range(SR // 4, len(x), SR // 2):
        x[start : start + 40] = np.nan  # 5 ms bursts
    x[SR // 3] = np.inf
    x[SR // 3 + 7 : SR // 3 + 400] = -np.inf
    return x


def _read(path: Path) -> np.ndarray:
    import soundfile as sf

    data, rate = sf.read(path, dtype="float32", always_2d=True)
    assert rate == SR
    return data


def _assert_safe(frames: np.ndarray) -> None:
    assert len(frames) > 0
    assert np.isfinite(frames).all(), "non-finite samples reached the output"
    assert np.abs(frames).max() <= CEILING


# -- NaN and Inf -------------------------------------------------------------------------------


def test_a_float_wav_with_nan_and_inf_renders_finite_and_under_the_ceiling(tmp_path: Path) -> None:
    bad = _write(tmp_path / "broken.wav", _poisoned())
    fine = _write(tmp_path / "fine.wav", _tone(2.0, 0.3, 330.0))
    pl = Playlist("broken", (PlaylistEntry(path=fine, title="fine"), PlaylistEntry(path=bad, title="broken")))
    out = tmp_path / "session.wav"
    with Player(pl, output=FileOutput(out), crossfade_s=0.5, fade_in_s=0.1, fade_out_s=0.1) as p:
        p.start()
        assert p.wait(20)
        assert p.status().error is None
    frames = _read(out)
    _assert_safe(frames)
    # The quiet tone stays quiet: no full-scale square wave or DC where the bursts were.
    tail = frames[-int(1.5 * SR):]
    assert np.sqrt(np.mean(np.square(tail))) < 0.2


def test_the_last_stage_holds_when_the_decoder_passes_nan_and_inf(tmp_path: Path) -> None:
    """Even if decoding let them through, the ring never takes a non-finite or loud sample."""
    paths = [_write(tmp_path / f"t{i}.wav", _tone(1.0, 0.2)) for i in range(2)]

    def hostile(path: str, settings: render.RenderSettings, start_s: float) -> Iterator[np.ndarray]:
        n = int(round((1.0 - start_s) * settings.sample_rate))
        block = np.full((n, settings.channels), 1e6, dtype=np.float32)  # huge and finite
        block[::3] = np.nan
        block[1::7] = np.inf
        block[2::11] = -np.inf
        yield block

    out = NullOutput(keep=True)
    pl = Playlist("hostile", tuple(PlaylistEntry(path=p, title=p) for p in paths))
    with Player(pl, output=out, open_source=hostile, crossfade_s=0.2, fade_in_s=0.0, fade_out_s=0.0) as p:
        p.start()
        assert p.wait(20)
    _assert_safe(out.frames)


def test_make_safe_silences_non_finite_samples_and_caps_peaks_leaving_the_mix_alone() -> None:
    block = np.array([[np.nan, 0.1], [np.inf, -np.inf], [5.0, -5.0], [0.5, -0.25]], dtype=np.float32)
    render.make_safe(block)
    assert block[0, 0] == 0.0 and block[1, 0] == 0.0 and block[1, 1] == 0.0
    assert block[0, 1] == pytest.approx(0.1) and block[3, 0] == pytest.approx(0.5)  # quiet: untouched
    assert block[2, 0] == CEILING and block[2, 1] == -CEILING
    mix = render.soft_limit(np.linspace(-3, 3, 1001, dtype=np.float32)[:, None])
    assert np.array_equal(render.make_safe(mix.copy()), mix)  # the renderer's knee is not bent twice


# -- bounded durations -------------------------------------------------------------------------


def test_a_huge_silence_in_a_playlist_file_plays_for_at_most_ten_minutes(tmp_path: Path) -> None:
    track = _write(tmp_path / "a.wav", _tone(1.0, 0.2))
    # built directly: reading a playlist file already shortens the silence (playlists._silence_s),
    # and the player must hold even when handed one that was not
    pl = Playlist("hostile", (PlaylistEntry(path=track, title="a", duration_s=1.0),
                              PlaylistEntry(path="", title="silence", silence_s=1e9),
                              PlaylistEntry(path=track, title="a", duration_s=1.0)))
    out = tmp_path / "session.wav"
    with Player(pl, output=FileOutput(out), crossfade_s=0.0, fade_in_s=0.0, fade_out_s=0.0) as p:
        p.start()
        assert p.wait(60)
        st = p.status()
    import soundfile as sf

    assert sf.info(out).frames == (2 + render.MAX_SILENCE_S) * SR  # 1 s + 10 min + 1 s, not 1.9 GB
    assert any("1e+09 s plays for 600 s" in n for n in st.notices)


# -- the arc's ending --------------------------------------------------------------------------


def _envelope(frames: np.ndarray, window_s: float = 1.0) -> np.ndarray:
    """Peak level of each ``window_s`` of the (mono-summed) render."""
    w = int(window_s * SR)
    x = np.abs(frames[: len(frames) // w * w, 0]).reshape(-1, w)
    return x.max(axis=1)


def test_a_playlist_storing_a_60_s_fade_out_ends_with_a_60_s_fade(tmp_path: Path) -> None:
    """As the sleep arc stores it: every output fades over 60 s without being told."""
    tracks = [_write(tmp_path / f"t{i}.wav", _tone(50.0, 0.2, 220.0 + 20 * i)) for i in range(2)]
    pl = Playlist("sleep", tuple(PlaylistEntry(path=t, title=t) for t in tracks), arc="sleep",
                  meta={"arc": "sleep", "fade_out_s": 60, "crossfade_s": 0})
    out = tmp_path / "sleep.wav"
    with Player(pl, output=FileOutput(out), fade_in_s=0.0) as p:  # no fade-out given
        assert p.settings.fade_out_s == 60 and p.settings.crossfade_s == 0
        p.start()
        assert p.wait(60)
    env = _envelope(_read(out))
    assert len(env) == 100
    full = env[:35].mean()
    # Raised cosine over the last 60 s: ~0.85 at 45 s before the end, 0.5 at 30 s, ~0.15 at 15 s.
    assert env[38] > 0.97 * full  # 62–61 s before the end: not fading yet
    assert env[55] == pytest.approx(0.85 * full, abs=0.05 * full)
    assert env[70] == pytest.approx(0.5 * full, abs=0.05 * full)
    assert env[85] == pytest.approx(0.15 * full, abs=0.05 * full)


def test_a_fade_given_by_the_listener_wins_and_bad_stored_values_are_ignored() -> None:
    pl = Playlist("x", (PlaylistEntry(path="/nowhere.wav"),), meta={"fade_out_s": 60, "fade_in_s": "soon",
                                                                    "crossfade_s": 1e9})
    settings, notices = render.settings_for(pl, fade_out_s=15.0)
    assert settings.fade_out_s == 15.0
    assert settings.fade_in_s == render.DEFAULT_FADE_IN_S and settings.crossfade_s == render.DEFAULT_CROSSFADE_S
    assert len(notices) == 2 and {"fade_in_s", "crossfade_s"} == {n.split()[2] for n in notices}
