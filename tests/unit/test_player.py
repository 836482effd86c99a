"""The playback engine with file and null outputs: controls, faults, status, device errors."""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterator
from dataclasses import replace as dataclasses_replace
from pathlib import Path

import numpy as np
import pytest

from companion.core import player as player_mod
from companion.core import render
from companion.core.errors import (
    NoOutputDeviceError,
    PortAudioMissingError,
    ReadError,
    UserInputError,
)
from companion.core.models import Playlist, PlaylistEntry
from companion.core.playback.ring import Deck
from companion.core.player import FileOutput, NullOutput, Player

SR = 8000
QUICK = dict(crossfade_s=0.2, fade_in_s=0.1, fade_out_s=0.2)


def _tone(path: Path, freq: float, seconds: float, amp: float = 0.3) -> str:
    import soundfile as sf

    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32), SR)
    return str(path)


@pytest.fixture
def playlist(tmp_path: Path) -> Playlist:
    entries = tuple(
        PlaylistEntry(path=_tone(tmp_path / f"t{i}.wav", f, 1.5), title=f"tone {i}", bpm=bpm, duration_s=1.5)
        for i, (f, bpm) in enumerate(((110, 80.0), (165, 72.0), (220, 64.0)))
    )
    return Playlist("tones", entries)


def _wait(cond, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _max_step(x: np.ndarray) -> float:
    return float(np.max(np.abs(np.diff(x[:, 0])))) if len(x) > 1 else 0.0


# -- the consumer's fader (what happens inside the audio callback) -----------------------------


def _deck(frames: int = 8000) -> Deck:
    deck = Deck(SR, 1, frames, volume=1.0)
    deck.push(np.full((frames, 1), 0.5, dtype=np.float32))
    return deck


def _pull(deck: Deck, frames: int, block: int = 64) -> np.ndarray:
    out = np.zeros((frames, 1), dtype=np.float32)
    for i in range(0, frames, block):
        deck.process(out[i : i + block])
    return out[:, 0]


def test_pause_ramps_to_silence_within_50_ms_and_resume_ramps_back() -> None:
    deck = _deck()
    _pull(deck, 640)
    deck.target = 0.0  # pause
    ramp = _pull(deck, 800)
    silent = int(np.argmax(ramp == 0.0))
    assert 0 < silent <= render.RAMP_S * SR + 64  # reached silence within the ramp (+ one block)
    assert np.all(np.diff(ramp[:silent]) <= 0)  # a ramp, not a cut
    held = deck.read
    _pull(deck, 640)
    assert deck.read == held and deck.muted  # paused: the queue is not consumed
    deck.target = 1.0
    up = _pull(deck, 800)
    assert up[0] < 0.05 and up[int(render.RAMP_S * SR)] == pytest.approx(0.5)
    assert np.all(np.diff(up[: int(render.RAMP_S * SR)]) >= 0)


def test_volume_changes_are_ramped_not_stepped() -> None:
    deck = _deck()
    _pull(deck, 64)
    deck.volume_target = 0.25
    out = _pull(deck, 800)
    ramp = int(render.RAMP_S * SR)
    assert out[ramp] == pytest.approx(0.125) and out[-1] == pytest.approx(0.125)
    assert np.max(np.abs(np.diff(out))) <= 0.5 / ramp * 1.01  # no step bigger than the ramp's


def test_running_dry_pads_with_silence_and_counts_an_underrun() -> None:
    deck = Deck(SR, 1, 1000, volume=1.0)
    deck.push(np.full((100, 1), 0.5, dtype=np.float32))
    out = np.ones((256, 1), dtype=np.float32)
    deck.process(out)
    assert deck.underruns == 1 and np.all(out[100:] == 0.0)
    deck.eof = True
    deck.process(out)
    assert deck.underruns == 1 and deck.finished  # the end is not an underrun


# -- whole sessions ------------------------------------------------------------------------------


def test_file_output_holds_exactly_what_the_null_output_heard(playlist: Playlist, tmp_path: Path) -> None:
    import soundfile as sf

    null = NullOutput(keep=True)
    with Player(playlist, output=null, **QUICK) as p:
        p.start()
        assert p.wait(10)
        st = p.status()
    assert st.finished and not st.stopped_early and st.underruns == 0 and st.error is None
    assert st.index == 2 and st.elapsed_s == pytest.approx(4.5 - 2 * 0.2)
    with Player(playlist, output=FileOutput(tmp_path / "s.wav"), **QUICK) as p:
        p.start()
        assert p.wait(10)
    heard, sr = sf.read(tmp_path / "s.wav", dtype="float32", always_2d=True)
    assert sr == SR and heard.shape == null.frames.shape == (int(4.1 * SR), 2)
    np.testing.assert_array_equal(heard, null.frames)
    assert 0.01 < np.max(np.abs(heard)) < 1.0


def test_flac_output_and_bad_extension(playlist: Playlist, tmp_path: Path) -> None:
    import soundfile as sf

    with Player(playlist, output=FileOutput(tmp_path / "s.flac"), **QUICK) as p:
        p.start()
        assert p.wait(10)
    assert sf.info(tmp_path / "s.flac").frames == int(4.1 * SR)
    with pytest.raises(UserInputError, match="wav or .flac"):
        FileOutput(tmp_path / "s.mp3")


def test_pause_stops_the_clock_and_resume_goes_on_without_a_click(playlist: Playlist) -> None:
    out = NullOutput(realtime=True, keep=True)
    with Player(playlist, output=out, **QUICK) as p:
        p.start()
        _wait(lambda: p.status().elapsed_s > 0.3)
        assert p.toggle_pause() is True
        time.sleep(0.1)
        paused_at = p.status().elapsed_s
        time.sleep(0.3)
        st = p.status()
        assert st.paused and st.elapsed_s == paused_at
        p.resume()
        _wait(lambda: p.status().elapsed_s > paused_at + 0.3)  # the clock runs again
        assert not p.status().paused
        p.stop(fade_s=0.05)
        assert p.wait(5)
    natural = 2 * np.pi * 220 / SR * 0.3 * 10 ** (6 / 20)  # steepest slope of the loudest tone
    assert _max_step(out.frames) < natural


def test_skip_and_previous_move_between_tracks(playlist: Playlist) -> None:
    out = NullOutput(realtime=True, keep=True)
    with Player(playlist, output=out, ring_s=0.5, **QUICK) as p:
        p.start()
        _wait(lambda: p.status().elapsed_s > 0.2)
        p.skip()
        _wait(lambda: p.status().index == 1)
        assert p.status().position_s < 0.6
        p.previous()
        _wait(lambda: p.status().index == 0)
        p.stop(fade_s=0.05)
        assert p.wait(5)
        assert p.status().stopped_early
    assert _max_step(out.frames) < 2 * np.pi * 220 / SR * 0.3 * 10 ** (6 / 20)


def test_stop_fades_out_and_ends_early(playlist: Playlist) -> None:
    out = NullOutput(realtime=True, keep=True)
    with Player(playlist, output=out, **QUICK) as p:
        p.start()
        _wait(lambda: p.status().elapsed_s > 0.5)
        p.stop(fade_s=0.3)
        assert p.wait(5)
        st = p.status()
    assert st.finished and st.stopped_early and st.elapsed_s < 2.0
    tail = np.abs(out.frames[-int(0.3 * SR) :, 0])
    assert tail[: SR // 20].max() > 4 * tail[-SR // 20 :].max()  # fading, not cut


def test_sleep_timer_fades_out_over_the_given_minutes(playlist: Playlist) -> None:
    with Player(playlist, output=NullOutput(realtime=True), **QUICK) as p:
        p.sleep_fade(0.5 / 60)
        p.start()
        assert p.wait(5)
        st = p.status()
    assert st.stopped_early and st.elapsed_s == pytest.approx(0.5, abs=0.1) and st.sleep.startswith("fade")


def test_sleep_after_track_ends_with_the_current_track(playlist: Playlist) -> None:
    with Player(playlist, output=NullOutput(realtime=True), **QUICK) as p:
        p.start()
        p.sleep_after_track()
        assert p.wait(5)
        st = p.status()
    assert st.index == 0 and st.stopped_early and st.elapsed_s == pytest.approx(1.5, abs=0.05)


def test_a_track_failing_mid_session_is_skipped_and_the_session_goes_on(playlist: Playlist) -> None:
    from companion.core import audio_io

    def flaky(path: str, settings: render.RenderSettings, start_s: float = 0.0) -> Iterator[np.ndarray]:
        for i, block in enumerate(audio_io.read_blocks(path, block_frames=2000, channels=2)):
            if path.endswith("t1.wav") and i == 2:
                raise ReadError(path, "decoding failed part-way (bad frame)")
            yield block

    with Player(playlist, output=NullOutput(keep=True), open_source=flaky, **QUICK) as p:
        p.start()
        assert p.wait(10)
        st = p.status()
    assert st.finished and st.error is None and st.index == 2
    assert len(st.notices) == 1 and "tone 1" in st.notices[0] and "bad frame" in st.notices[0]


def test_slow_decoding_shows_up_as_underruns(playlist: Playlist) -> None:
    from companion.core import audio_io

    def slow(path: str, settings: render.RenderSettings, start_s: float = 0.0) -> Iterator[np.ndarray]:
        for block in audio_io.read_blocks(path, block_frames=400, channels=2):
            time.sleep(0.1)  # 50 ms of audio every 100 ms
            yield block

    with Player(playlist, output=NullOutput(realtime=True), open_source=slow, ring_s=0.1, **QUICK) as p:
        p.start()
        time.sleep(0.6)
        p.stop(0.05)
        assert p.wait(5)
        assert p.status().underruns > 0


def test_status_reports_track_tempo_and_session_times(playlist: Playlist) -> None:
    with Player(playlist, output=NullOutput(realtime=True), **QUICK) as p:
        before = p.status()
        assert before.index is None and before.total_s == pytest.approx(4.5)
        p.start()
        _wait(lambda: p.status().elapsed_s > 0.2)
        st = p.status()
        assert st.index == 0 and st.entry is playlist.entries[0] and st.bpm == 80.0
        assert st.entry_length_s == pytest.approx(1.5)
        assert st.elapsed_s + st.remaining_s == pytest.approx(4.1, abs=0.05)
        assert st.volume == 1.0 and p.set_volume(1.7) == 1.0 and p.set_volume(-1) == 0.0
        p.stop(0.05)


class _DyingOutput(NullOutput):
    """Dies 0.3 s after it starts playing (the clock starts when the player opens it)."""

    def __init__(self) -> None:
        super().__init__(realtime=True)
        self.started = float("inf")

    def open(self, deck) -> None:  # type: ignore[no-untyped-def]
        self.started = time.monotonic()
        super().open(deck)

    def failure(self) -> str | None:
        if time.monotonic() - self.started > 0.3:
            return "the audio device stopped during the session (unplugged?)"
        return None


def test_device_gone_mid_session_ends_it_with_one_line(playlist: Playlist) -> None:
    with Player(playlist, output=_DyingOutput(), **QUICK) as p:
        p.start()
        assert p.wait(5)
        st = p.status()
    assert st.error and "\n" not in st.error and st.stopped_early and 0.2 < st.elapsed_s < 1.0


def test_missing_portaudio_library_is_one_line_that_says_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_portaudio(name, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(__import__("sys").modules, "sounddevice", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_portaudio)
    for call in (player_mod.check_output, player_mod.list_devices):
        with pytest.raises(PortAudioMissingError) as err:
            call()
        text = str(err.value)
        assert "\n" not in text and "libportaudio2" in text
        assert "--output" not in text  # each face adds its own remedy


@pytest.mark.parametrize(("cause", "device", "says"), [
    ("PortAudioError", None, "no audio output device found"),
    ("ValueError", "usb", "no output device matching 'usb'"),
])
def test_no_output_device_is_one_line_that_blames_the_device(
    monkeypatch: pytest.MonkeyPatch, cause: str, device: str | None, says: str
) -> None:
    sd = pytest.importorskip("sounddevice")
    error = sd.PortAudioError("Error querying device -1") if cause == "PortAudioError" else ValueError(
        "No output device matching 'usb'")

    def query_devices(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise error

    monkeypatch.setattr(sd, "query_devices", query_devices)
    with pytest.raises(NoOutputDeviceError) as err:
        player_mod.check_output(device)
    text = str(err.value)
    assert says in text and "\n" not in text
    assert "libportaudio2" not in text and "--output" not in text  # PortAudio is there


def test_the_track_number_does_not_count_silences(tmp_path: Path) -> None:
    """Both faces say "track 2 of 2" for the second piece, whatever pause lies between."""
    tone = PlaylistEntry(path=_tone(tmp_path / "a.wav", 220, 0.6), title="a", duration_s=0.6)
    entries = (tone, PlaylistEntry(path="", silence_s=0.6), dataclasses_replace(tone, title="b"))
    seen = set()
    with Player(Playlist("pause", entries), output=NullOutput(realtime=True), crossfade_s=0,
                fade_in_s=0, fade_out_s=0) as p:
        assert (p.status().track_no, p.status().track_count) == (1, 2)
        p.start()
        while not p.wait(0.02):
            st = p.status()
            seen.add((st.index, st.track_no, st.track_count))
    assert {(0, 1, 2), (1, 1, 2), (2, 2, 2)} <= seen


def test_an_empty_playlist_is_refused() -> None:
    with pytest.raises(UserInputError, match="no tracks"):
        Player(Playlist("empty", ()), output=NullOutput()).start()


def test_tracks_of_other_rates_and_channel_counts_are_converted(tmp_path: Path) -> None:
    import soundfile as sf

    t48 = np.arange(int(1.0 * 48000)) / 48000
    sf.write(tmp_path / "mono48k.wav", (0.2 * np.sin(2 * np.pi * 300 * t48)).astype(np.float32), 48000)
    entries = (
        PlaylistEntry(path=_tone(tmp_path / "a.wav", 200, 1.0), title="a"),
        PlaylistEntry(path=str(tmp_path / "mono48k.wav"), title="b"),
    )
    out = NullOutput(keep=True)
    with Player(Playlist("mixed", entries), output=out, crossfade_s=0.0, fade_in_s=0.0, fade_out_s=0.0) as p:
        p.start()
        assert p.wait(10)
    assert out.sample_rate == SR and out.frames.shape == (2 * SR, 2)  # the first track's rate
    second = out.frames[SR + 100 : 2 * SR - 100]
    np.testing.assert_allclose(second[:, 0], second[:, 1])  # mono on both speakers
    spectrum = np.abs(np.fft.rfft(second[:, 0]))
    assert np.fft.rfftfreq(len(second), 1 / SR)[np.argmax(spectrum)] == pytest.approx(300, abs=2)
