"""The session mix on short synthetic signals: crossfades, gapless joins, fades, levelling."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest

from companion.core import render
from companion.core.errors import ReadError, UserInputError
from companion.core.models import PlaylistEntry

SR = 1000  # a tiny rate keeps the arithmetic readable: 1 frame = 1 ms


def _settings(**kw: float) -> render.RenderSettings:
    base = dict(sample_rate=SR, channels=1, crossfade_s=0.0, fade_in_s=0.0, fade_out_s=0.0)
    base.update(kw)
    return render.RenderSettings(**base)  # type: ignore[arg-type]


def _renderer(signals: dict[str, np.ndarray], entries: list[PlaylistEntry], settings: render.RenderSettings,
              fail_at: dict[str, int] | None = None, stated: dict[str, int] | None = None) -> render.SessionRenderer:
    """A renderer whose 'files' are arrays; ``fail_at[path]`` raises ReadError after that many frames;
    ``stated[path]`` is the length the file's header claims (default: its real length)."""
    fail_at, stated = fail_at or {}, stated or {}

    def open_source(path: str, s: render.RenderSettings, start_s: float = 0.0) -> Iterator[np.ndarray]:
        if path not in signals:
            raise ReadError(path, "cannot read audio (no such file)")
        x = signals[path].astype(np.float32)[int(round(start_s * SR)) :, None]
        for i in range(0, len(x), 300):
            if path in fail_at and i >= fail_at[path]:
                raise ReadError(path, "decoding failed part-way (bad frame)")
            yield x[i : i + 300]

    def length_of(path: str, s: render.RenderSettings) -> int:
        if path not in signals:
            raise ReadError(path, "cannot read audio (no such file)")
        return stated.get(path, len(signals[path]))

    return render.SessionRenderer(entries, settings, open_source=open_source, length_of=length_of)


def _all(r: render.SessionRenderer, block: int = 256) -> np.ndarray:
    out = []
    while not r.finished:
        out.append(r.render(block))
    return np.concatenate(out)[:, 0]


def _tracks(*names: str) -> list[PlaylistEntry]:
    return [PlaylistEntry(path=n, title=n) for n in names]


def test_gapless_playback_is_the_tracks_back_to_back_sample_for_sample() -> None:
    t = np.arange(3000) / SR
    wave = 0.5 * np.sin(2 * np.pi * 5 * t)  # one continuous wave cut in two files
    r = _renderer({"a": wave[:1700], "b": wave[1700:]}, _tracks("a", "b"), _settings())
    out = _all(r, block=333)
    assert len(out) == 3000
    np.testing.assert_allclose(out, wave, atol=1e-6)  # no gap, no added sample, no step at the join


def test_crossfade_has_the_requested_length_and_keeps_power_constant() -> None:
    ones = np.full(2000, 0.5)
    r = _renderer({"a": ones, "b": np.zeros(2000)}, _tracks("a", "b"), _settings(crossfade_s=0.4))
    out_a = _all(r)
    r = _renderer({"a": np.zeros(2000), "b": ones}, _tracks("a", "b"), _settings(crossfade_s=0.4))
    out_b = _all(r)
    assert len(out_a) == 2000 + 2000 - 400  # the tracks overlap by exactly the crossfade
    # Frame 1600 is the crossfade's first: a still at full level, b at zero; by frame 2000
    # (400 frames later) a has ended and b is at full level.
    fading = np.nonzero((out_a < 0.5 - 1e-6) & (out_a > 1e-9))[0]
    assert out_a[1600] == pytest.approx(0.5) and fading[0] == 1601 and fading[-1] == 1999
    rising = np.nonzero((out_b > 1e-9) & (out_b < 0.5 - 1e-6))[0]
    assert out_b[1600] == 0.0 and rising[0] == 1601 and rising[-1] == 1999
    assert out_b[2000] == pytest.approx(0.5)
    power = (out_a / 0.5) ** 2 + (out_b / 0.5) ** 2
    np.testing.assert_allclose(power[1600:2000], 1.0, atol=1e-5)  # equal power throughout


def test_crossfade_is_at_most_half_of_a_short_track() -> None:
    r = _renderer({"a": np.ones(1000), "b": np.ones(300)}, _tracks("a", "b"), _settings(crossfade_s=6.0))
    assert [(s.start, s.length, s.fade_in) for s in r.slots] == [(0, 1000, 0), (850, 300, 150)]


def test_session_fades_in_and_out_smoothly() -> None:
    r = _renderer({"a": np.full(4000, 0.5)}, _tracks("a"), _settings(fade_in_s=1.0, fade_out_s=1.5))
    out = _all(r, block=100)
    assert out[0] == 0.0 and abs(out[999] - 0.5) < 1e-3
    assert np.all(np.diff(out[:1000]) >= 0)  # rises without a dip
    np.testing.assert_allclose(out[1000:2500], 0.5, atol=1e-6)
    assert np.all(np.diff(out[2500:]) <= 0) and out[-1] < 1e-3  # falls to silence at the very end


def test_silence_segment_is_silent_with_fades_around_it() -> None:
    entries = [*_tracks("a"), PlaylistEntry(path="", silence_s=2.0), *_tracks("b")]
    r = _renderer({"a": np.full(8000, 0.5), "b": np.full(8000, 0.5)}, entries, _settings(crossfade_s=1.0))
    out = _all(r)
    assert len(out) == 8000 + 2000 + 8000
    assert np.all(out[8000:10000] == 0.0)
    fade = render.SILENCE_FADE_S * SR  # longer than the 1 s crossfade
    assert out[int(8000 - fade) - 1] == pytest.approx(0.5) and out[7999] < 0.01
    assert out[10000] == 0.0 and out[int(10000 + fade)] == pytest.approx(0.5)
    assert np.all(np.diff(out[int(8000 - fade) : 8000]) <= 0)


def test_a_track_that_fails_mid_session_is_skipped_with_a_notice() -> None:
    signals = {"a": np.full(1000, 0.1), "bad": np.full(1000, 0.2), "c": np.full(1000, 0.3)}
    r = _renderer(signals, _tracks("a", "bad", "c"), _settings(), fail_at={"bad": 600})
    out = _all(r, block=100)
    assert r.faults == 1 and r.failed == {1}
    assert any("bad" in n and "decoding failed" in n for n in r.notices)
    assert len(out) == 1000 + 600 + 1000  # a, what 'bad' gave, then c from the next frame
    assert out[-1] == pytest.approx(0.3)


def test_a_missing_file_is_left_out_of_the_plan_with_a_notice() -> None:
    r = _renderer({"a": np.ones(500), "c": np.ones(500)}, _tracks("a", "gone", "c"), _settings())
    assert [s.index for s in r.slots] == [0, 2]
    assert r.notices and "gone" in r.notices[0]


def test_seek_continues_with_the_chosen_entry_from_the_render_position() -> None:
    signals = {n: np.full(1000, v) for n, v in (("a", 0.1), ("b", 0.2), ("c", 0.3))}
    r = _renderer(signals, _tracks("a", "b", "c"), _settings())
    r.render(400)
    assert r.seek_entry(2)
    out = _all(r)
    assert len(out) == 1000 and out[0] == pytest.approx(0.3)
    assert r.total == 1400


def test_end_after_keeps_the_current_track_and_fades_the_session_out() -> None:
    signals = {n: np.full(3000, 0.5) for n in "abc"}
    r = _renderer(signals, _tracks("a", "b", "c"), _settings(crossfade_s=0.5, fade_out_s=1.0))
    r.render(500)
    r.end_after(0)
    out = np.concatenate([np.full(500, 0.5), _all(r)])
    assert len(out) == 3000 and out[-1] < 1e-3 and out[1500] == pytest.approx(0.5)


def test_rewind_renders_the_same_audio_again() -> None:
    t = np.arange(3000) / SR
    signals = {"a": np.sin(2 * np.pi * 3 * t), "b": np.cos(2 * np.pi * 2 * t)}
    once = _all(_renderer(signals, _tracks("a", "b"), _settings(crossfade_s=0.5, fade_out_s=0.5)))
    r = _renderer(signals, _tracks("a", "b"), _settings(crossfade_s=0.5, fade_out_s=0.5))
    first = r.render(2900)
    r.rewind(2700)  # inside the crossfade: both voices reopen mid-track
    again = np.concatenate([first[:2700, 0], _all(r)])
    np.testing.assert_allclose(again, once, atol=1e-6)


def test_levelling_gain_reaches_the_target_unless_the_peak_would_pass_the_ceiling() -> None:
    assert render.level_gain_db(-26.0, -12.0, target_lufs=-20.0) == pytest.approx(6.0)
    assert render.level_gain_db(-30.0, -3.0, target_lufs=-20.0) == pytest.approx(render.PEAK_CEILING_DBFS + 3.0)
    assert render.level_gain_db(-14.0, -1.0, target_lufs=-20.0) == pytest.approx(-6.0)
    assert render.level_gain_db(None, -10.0) == 0.0  # silent / unmeasurable: leave it alone
    assert render.level_gain_db(-30.0, None) == 0.0  # peak unknown: never boost


def test_soft_limit_passes_quiet_samples_and_never_reaches_full_scale() -> None:
    x = np.linspace(-3, 3, 10001, dtype=np.float32)
    y = render.soft_limit(x.copy())
    quiet = np.abs(x) <= 10 ** (render.PEAK_CEILING_DBFS / 20)
    np.testing.assert_array_equal(y[quiet], x[quiet])
    assert np.max(np.abs(y)) <= 0.999  # under full scale, even as 16-bit samples
    assert np.all(np.diff(y) >= 0)  # monotonic: no fold-over


def test_crossfading_two_full_scale_tracks_never_clips() -> None:
    t = np.arange(4000) / SR
    loud = 0.99 * np.sign(np.sin(2 * np.pi * 3 * t))
    r = _renderer({"a": loud, "b": loud}, _tracks("a", "b"), _settings(crossfade_s=2.0))
    assert np.max(np.abs(_all(r))) < 1.0


def test_level_follows_the_arc_tempo_down_and_back_up() -> None:
    entries = [PlaylistEntry(path=str(i), planned_bpm=b) for i, b in enumerate((90, 75, 60, 75))]
    assert render.arc_drops_db(entries, 4.0) == pytest.approx([0.0, -2.0, -4.0, -2.0])
    untimed = [PlaylistEntry(path=str(i)) for i in range(3)]
    assert render.arc_drops_db(untimed, 3.0) == pytest.approx([0.0, -1.5, -3.0])
    assert render.arc_drops_db(entries, 0.0) == [0.0] * 4


def test_equal_power_curves_are_complementary() -> None:
    x = np.linspace(0, 1, 101)
    np.testing.assert_allclose(render.equal_power(x) ** 2 + render.equal_power(1 - x) ** 2, 1.0)
    assert render.raised_cosine(np.array([0.0, 0.5, 1.0])) == pytest.approx([0.0, 0.5, 1.0])


@pytest.mark.parametrize("kw", [dict(crossfade_s=-1.0), dict(fade_out_s=math.nan), dict(target_lufs=5.0)])
def test_bad_settings_are_refused_with_a_plain_message(kw: dict[str, float]) -> None:
    with pytest.raises(UserInputError):
        _settings(**kw)


def test_loudness_levelling_brings_real_files_to_the_target(tmp_path) -> None:
    import soundfile as sf

    from companion.core.loudness import measure_loudness, measure_loudness_array

    sr = 44100
    t = np.arange(3 * sr) / sr
    quiet = 0.02 * np.sin(2 * np.pi * 440 * t) * (1 + 0.3 * np.sin(2 * np.pi * 0.5 * t))
    path = tmp_path / "quiet.wav"
    sf.write(path, quiet.astype(np.float32), sr)
    level = measure_loudness(path)
    gain = render.level_gain_db(level.lufs, level.peak_dbfs, target_lufs=-20.0)
    out = quiet * 10 ** (gain / 20)
    assert measure_loudness_array(out.astype(np.float32), sr).lufs == pytest.approx(-20.0, abs=0.2)


def test_a_file_ending_hours_before_its_header_says_does_not_hold_the_session_in_silence() -> None:
    a, b = np.full(3000, 0.25), np.full(2000, 0.5)
    r = _renderer({"a": a, "b": b}, _tracks("a", "b"), _settings(), stated={"a": 10 * 3600 * SR})  # 10 hours
    out = _all(r)
    # a plays, then at most MAX_PAD_S of its padding, then b: seconds, not hours.
    assert len(out) <= len(a) + render.MAX_PAD_S * SR + len(b)
    assert np.count_nonzero(out == 0.5) == len(b)
    assert len(r.notices) == 1 and r.notices[0].startswith("a: the file ended 35997 s before")


def test_a_file_a_little_shorter_than_its_header_is_padded_in_place() -> None:
    # 0.5 s shorter than its header says: rounding, an estimated length
    r = _renderer({"a": np.full(1000, 0.25), "b": np.full(1000, 0.5)}, _tracks("a", "b"), _settings(),
                  stated={"a": 1500})
    out = _all(r)
    assert len(out) == 2500 and not r.notices and np.all(out[1000:1500] == 0.0)
