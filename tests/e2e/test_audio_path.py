"""What the real sounddevice → PortAudio → ALSA path plays, captured by ALSA's ``file`` plugin.

Each session runs in a subprocess whose environment points ALSA at ``tests/alsa-capture.conf``
before sounddevice is imported; the plugin writes what PortAudio played into a WAV file. The
plugin's ``null`` sink is not paced in real time, so the player gets a ring buffer longer than
the session (everything is decoded before the stream starts) and nothing assumes wall-clock time.
The same process renders the session with ``FileOutput``; the capture must equal it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="ALSA")

CONF = Path(__file__).resolve().parents[1] / "alsa-capture.conf"
SR = 44100
TARGET = -20.0
INT16_STEP = 1 / 32768

# Runs in the subprocess: argv = spec.json; plays each session to the device, then to a file.
_SCRIPT = r"""
import json, os, sys
from companion.core.models import Playlist, PlaylistEntry
from companion.core.player import FileOutput, Player, SoundDeviceOutput
spec = json.load(open(sys.argv[1]))
report = []
for s in spec["sessions"]:
    pl = Playlist(s["name"], tuple(PlaylistEntry(path=p, title=os.path.basename(p)) for p in s["paths"]))
    os.environ["AUDIO_CAPTURE_FILE"] = s["capture"]  # read by ALSA when the stream opens
    out = SoundDeviceOutput()
    with Player(pl, output=out, ring_s=120, **s["options"]) as p:
        p.start()
        assert p.wait(60), "the device session did not end"
        st = p.status()
    with Player(pl, output=FileOutput(s["render"], sample_rate=out.sample_rate), **s["options"]) as p:
        p.start()
        assert p.wait(60)
    report.append({"rate": out.sample_rate, "channels": out.channels, "underruns": st.underruns,
                   "error": st.error, "elapsed_s": st.elapsed_s, "notices": list(st.notices)})
print(json.dumps(report))
"""


def _write(path: Path, left: np.ndarray, right: np.ndarray) -> str:
    import soundfile as sf

    sf.write(path, np.stack([left, right], axis=1).astype(np.float32), SR, subtype="FLOAT")
    return str(path)


def _sine(freq: float, seconds: float, amp: float, phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(round(seconds * SR))) / SR
    return amp * np.sin(2 * np.pi * freq * t + phase)


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two sessions through the device and into files: a crossfaded one and a gapless one."""
    d = tmp_path_factory.mktemp("alsa")
    silent = np.zeros(3 * SR)
    # Crossfaded: quiet, loud, medium tones; alternate channels so each track can be seen alone.
    xfade_paths = [
        _write(d / "quiet.wav", _sine(1000, 3, 0.05), silent),
        _write(d / "loud.wav", silent, _sine(1000, 3, 0.6)),
        _write(d / "medium.wav", _sine(1000, 3, 0.2), silent),
    ]
    # Gapless: one continuous 441 Hz tone cut mid-cycle into two files.
    wave = _sine(441, 4, 0.2, phase=0.3)
    cut = int(1.7 * SR) + 37
    gapless_paths = [_write(d / "first.wav", wave[:cut], wave[:cut]),
                     _write(d / "second.wav", wave[cut:], wave[cut:])]
    sessions = [
        {"name": "xfade", "paths": xfade_paths, "capture": str(d / "xfade-cap.wav"),
         "render": str(d / "xfade-file.wav"),
         "options": {"crossfade_s": 1.0, "fade_in_s": 0.5, "fade_out_s": 1.0, "target_lufs": TARGET}},
        {"name": "gapless", "paths": gapless_paths, "capture": str(d / "gapless-cap.wav"),
         "render": str(d / "gapless-file.wav"),
         "options": {"crossfade_s": 0.0, "fade_in_s": 0.5, "fade_out_s": 0.5, "target_lufs": TARGET}},
    ]
    spec = d / "spec.json"
    spec.write_text(json.dumps({"sessions": sessions}))
    env = {**os.environ, "ALSA_CONFIG_PATH": f"/usr/share/alsa/alsa.conf:{CONF}"}
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(spec)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    for session in sessions:
        session["file"] = _read(session["render"])
        session["heard"] = _align(_read(session["capture"]), session["file"])
    return {"sessions": sessions, "report": report, "cut": cut, "wave": wave}


def _read(path: str) -> np.ndarray:
    import soundfile as sf

    data, sr = sf.read(path, dtype="float32", always_2d=True)
    assert sr == SR
    return data


def _align(capture: np.ndarray, render: np.ndarray) -> np.ndarray:
    """The part of the capture that lines up with the render (the device pads both ends)."""
    from scipy.signal import correlate

    assert len(capture) >= len(render)
    # Over the whole session the fades make the match unambiguous (a tone alone repeats).
    corr = correlate(capture.sum(axis=1), render.sum(axis=1), mode="valid", method="fft")
    lag = int(np.argmax(corr))
    lead, tail = capture[:lag], capture[lag + len(render) :]
    assert np.all(np.abs(lead) <= INT16_STEP) and np.all(np.abs(tail) <= INT16_STEP)  # padding is silence
    return capture[lag : lag + len(render)]


def _envelope(x: np.ndarray, width: int = 441) -> np.ndarray:
    """Peak level over ~10 ms windows (a few cycles of the test tones), per frame."""
    from scipy.ndimage import maximum_filter1d

    return maximum_filter1d(np.abs(x), size=width, mode="nearest")


def test_the_device_played_exactly_the_file_render_without_underruns(played: dict) -> None:
    for session, report in zip(played["sessions"], played["report"], strict=True):
        assert report["rate"] == SR and report["channels"] == 2
        assert report["underruns"] == 0 and report["error"] is None and report["notices"] == []
        render, heard = session["file"], session["heard"]
        # The plug layer converts to 16-bit: equal to within one rounding step.
        assert np.max(np.abs(heard - render)) <= INT16_STEP * 1.01
        assert report["elapsed_s"] == pytest.approx(len(render) / SR)
        assert np.max(np.abs(heard)) > 0.1  # the playlist's audio, not silence


def test_crossfades_have_the_requested_length(played: dict) -> None:
    session = played["sessions"][0]
    heard = session["heard"]
    assert len(heard) == 3 * 3 * SR - 2 * SR  # three 3 s tracks, two 1 s overlaps
    left, right = _envelope(heard[:, 0]), _envelope(heard[:, 1])
    both = (left > 0.002) & (right > 0.002)  # quiet.wav (left) fading out, loud.wav (right) in
    first_overlap = np.nonzero(both[: int(3.5 * SR)])[0]
    length_s = (first_overlap[-1] - first_overlap[0]) / SR
    assert length_s == pytest.approx(1.0, abs=0.03)
    assert first_overlap[0] / SR == pytest.approx(2.0, abs=0.03)


def test_each_track_is_levelled_to_the_target_and_nothing_clips(played: dict) -> None:
    from companion.core.loudness import measure_loudness_array

    session = played["sessions"][0]
    heard = session["heard"]
    # The stretch of each track heard alone, clear of the fades and crossfades.
    for start_s, end_s in ((0.6, 1.9), (3.05, 3.95), (5.05, 5.95)):
        part = heard[int(start_s * SR) : int(end_s * SR)]
        assert measure_loudness_array(part, SR).lufs == pytest.approx(TARGET, abs=1.0)
    assert np.max(np.abs(heard)) < 1.0 - INT16_STEP


def test_the_session_fades_in_and_out(played: dict) -> None:
    session = played["sessions"][0]
    heard = session["heard"]
    env = _envelope(heard[:, 0])
    steady = np.median(env[int(0.8 * SR) : int(1.8 * SR)])
    assert env[int(0.02 * SR)] < 0.05 * steady and env[int(0.5 * SR)] > 0.95 * steady  # 0.5 s fade-in
    end = len(heard)
    assert env[end - int(1.0 * SR)] > 0.9 * np.median(env[int(5.2 * SR) : int(5.8 * SR)])
    assert env[end - int(0.02 * SR)] < 0.05 * steady  # 1 s fade-out to silence


def test_gapless_playback_has_no_gap_and_no_step_at_the_join(played: dict) -> None:
    session = played["sessions"][1]
    heard = session["heard"]
    assert len(heard) == len(played["wave"])  # not one frame added or lost
    cut, x = played["cut"], heard[:, 0]
    middle = slice(int(0.6 * SR), len(x) - int(0.6 * SR))  # clear of the session fades
    ratio = x[middle] / played["wave"][middle]
    gain = np.median(ratio[np.abs(played["wave"][middle]) > 0.1])
    expected = gain * played["wave"]
    around = slice(cut - 2000, cut + 2000)
    assert np.max(np.abs(x[around] - expected[around])) < 2 * INT16_STEP + 1e-3  # the tone runs on
    natural = 2 * np.pi * 441 / SR * 0.2 * gain
    assert np.max(np.abs(np.diff(x[around]))) < natural * 1.05 + 2 * INT16_STEP
