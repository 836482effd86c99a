"""`companion tempo tap` and `companion preview`: the app's tap and preview on the command line."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from companion.cli import main
from companion.commands.tempo import tap_along
from companion.core.errors import NoOutputDeviceError, PortAudioMissingError
from companion.core.models import BPM_MANUAL, AnalysisResult, Tags, TempoEstimate
from companion.core.store import Store

SR = 22050


@pytest.fixture
def track(tmp_path: Path) -> Path:
    """A 60 s tone in the library (its tempo said to be 120 BPM)."""
    path = (tmp_path / "tone.wav").resolve()
    t = np.arange(SR * 60) / SR
    sf.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), SR)
    with Store() as store:
        store.save_analysis([AnalysisResult(
            path=str(path), size=path.stat().st_size, mtime=path.stat().st_mtime,
            tags=Tags(title="Tone", artist="", album="", genre="", duration_s=60.0),
            tempo=TempoEstimate(bpm=120.0, confidence=0.4))])
    return path


def taps(n: int, every_s: float, start: float = 10.0) -> list[tuple[str, float]]:
    return [(" ", start + i * every_s) for i in range(n)]


def test_taps_then_enter_twice_keep_the_tapped_tempo() -> None:
    said: list[str] = []
    keys = taps(5, 0.75) + [("\r", 14.0), ("\r", 14.2), (" ", 20.0)]
    assert tap_along(iter(keys), said.append) == 80.0
    assert said[0] == "1 of 4 taps: keep going" and said[4] == "80 BPM from 5 taps"
    assert "enter again" in said[-1]


def test_s_keeps_at_once_q_quits_and_a_tap_in_between_disarms_enter() -> None:
    assert tap_along(iter(taps(6, 0.5) + [("s", 14.0)]), lambda _: None) == 120.0
    assert tap_along(iter(taps(6, 0.5) + [("q", 14.0), ("s", 15.0)]), lambda _: None) is None
    keys = taps(5, 0.6) + [("\n", 13.5)] + [(" ", 13.6 + i * 0.6) for i in range(5)] + [("\n", 17.0)]
    assert tap_along(iter(keys), lambda _: None) is None  # enter, taps, one enter: not kept yet


def test_enter_before_enough_taps_explains_and_keeps_nothing() -> None:
    said: list[str] = []
    assert tap_along(iter(taps(2, 0.5) + [("\n", 12.0), ("\n", 12.1)]), said.append) is None
    assert "at least 4 taps" in said[-1]


def test_tap_off_a_terminal_refuses_in_one_line(track: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("    s\n"))
    assert main(["tempo", "tap", str(track)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "terminal" in err and "tempo set" in err
    with Store() as store:
        assert store.track(track).bpm == 120.0


def test_tap_on_a_terminal_saves_the_tempo_as_manual(track: Path) -> None:
    """The whole verb in a pseudo-terminal: six taps 0.6 s apart, then s."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "companion", "tempo", "tap", str(track)],
                            stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=os.environ.copy())
    os.close(slave)
    try:
        time.sleep(1.5)  # the interpreter starts and the terminal goes to cbreak mode
        for _ in range(6):
            os.write(master, b" ")
            time.sleep(0.6)
        os.write(master, b"s")
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "(manual)" in out.decode()
    with Store() as store:
        t = store.track(track)
    assert t.bpm_source == BPM_MANUAL and 90 <= t.bpm <= 110


def test_preview_output_is_20_seconds_from_the_middle_faded(track: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "excerpt.wav"
    assert main(["preview", str(track), "--output", str(out)]) == 0
    assert "0:20 from 0:20" in capsys.readouterr().err
    audio, sr = sf.read(out, always_2d=True)
    assert abs(len(audio) / sr - 20.0) < 0.1
    rms = [float(np.sqrt((audio[int(a * sr):int((a + 0.1) * sr)] ** 2).mean())) for a in (0.0, 10.0, 19.9)]
    assert rms[1] > 0.05 and rms[0] < rms[1] / 10 and rms[2] < rms[1] / 10


@pytest.mark.parametrize("error", [
    NoOutputDeviceError("no audio output device found; connect one"),
    PortAudioMissingError("the PortAudio library is missing; install it (sudo apt-get install libportaudio2)"),
])
def test_preview_without_a_device_says_what_is_missing_in_one_line(track: Path, monkeypatch, capsys,
                                                                   error: Exception) -> None:
    from companion.core import player

    def no_sound(device: object = None) -> None:
        raise error

    monkeypatch.setattr(player, "check_output", no_sound)
    assert main(["preview", str(track)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(error) in err and "--output FILE.wav" in err


def test_preview_of_a_file_not_in_the_library_says_scan_it(tmp_path: Path, capsys) -> None:
    assert main(["preview", str(tmp_path / "elsewhere.wav")]) == 2
    assert "not in the library" in capsys.readouterr().err
