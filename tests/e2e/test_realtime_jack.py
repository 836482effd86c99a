"""A session heard in real time, through a paced sound card, while scans keep every core busy.

`companion play NAME --device system` plays a short crossfaded session through PortAudio's JACK
host API into a private JACK server on its dummy driver (a sound card paced like hardware, with
none: see realtime.py); ``jack_capture`` records what reaches the card. The same session
rendered with ``play --output`` is what should have been heard. A listener would notice a
dropout (a moment of silence the music does not have), a session that runs long or short, or
music that does not rise and fall as it should: the test checks all three.

Needs Debian's jackd2 and jack-capture (.ci/run installs them). Skipped without them, except in
CI (CI=true), where their absence fails the test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from tests.e2e import realtime

pytestmark = pytest.mark.slow

SR = 44100
TRACK_S = 5.0
CROSSFADE_S = 2.0
SWELLS_HZ = (0.4, 1.1, 0.25, 0.7)  # each track rises and falls at its own pace: a shape to match
SESSION_S = len(SWELLS_HZ) * TRACK_S - (len(SWELLS_HZ) - 1) * CROSSFADE_S  # 14 s as heard
CROSSFADE = ["--crossfade", str(CROSSFADE_S)]
RATINGS = ["--pre", "5", "--post", "4"]  # a listening session asks; a render does not


@pytest.fixture(scope="module")
def jack_tools() -> None:
    if missing := realtime.missing_tools():
        message = f"{', '.join(missing)} not found: apt-get install jackd2 jack-capture (.ci/run does)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"the real-time audio test cannot run in CI: {message}", pytrace=False)
        pytest.skip(message)


def _write_track(path: Path, root_hz: float, swell_hz: float, seed: int) -> None:
    """A soft chord with a little noise whose level swells at ``swell_hz``: stereo, never silent."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    t = np.arange(int(TRACK_S * SR)) / SR
    chord = sum(np.sin(2 * np.pi * root_hz * r * t + k) for k, r in enumerate((1.0, 1.25, 1.5))) / 3
    swell = 0.55 + 0.45 * np.sin(2 * np.pi * swell_hz * t)
    left = 0.3 * swell * (chord + 0.05 * rng.standard_normal(len(t)))
    right = 0.3 * swell * (np.roll(chord, 29) + 0.05 * rng.standard_normal(len(t)))
    sf.write(str(path), np.stack([left, right], axis=1).astype(np.float32), SR, subtype="FLOAT")


def _playlist(folder: Path) -> Path:
    folder.mkdir(parents=True)
    lines = ["#EXTM3U"]
    for i, swell_hz in enumerate(SWELLS_HZ):
        path = folder / f"{i + 1:02d} swell.wav"
        _write_track(path, 196.0 * 2 ** (i / 6), swell_hz, seed=i)
        lines += [f"#EXTINF:{TRACK_S:.0f},Synth - Swell {i + 1}", str(path)]
    m3u = folder / "realtime.m3u8"
    m3u.write_text("\n".join(lines) + "\n")
    return m3u


def _companion(args: list[str], env: dict[str, str] | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "companion", *args], env=env or dict(os.environ),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"companion {' '.join(args)} failed:\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr
    return proc


@contextmanager
def scans_on_every_core(music: Path, folder: Path) -> Iterator[None]:
    """One `companion scan --force` loop per core, each in a COMPANION_HOME of its own."""
    loops = []
    for i in range(len(os.sched_getaffinity(0))):
        env = {**os.environ, "COMPANION_HOME": str(folder / f"load-{i}")}
        loop = (f"while {sys.executable} -m companion scan --force --jobs 1 '{music}' "
                ">/dev/null 2>&1; do :; done")
        loops.append(subprocess.Popen(["bash", "-c", loop], env=env, start_new_session=True,
                                      stdin=subprocess.DEVNULL))
    try:
        time.sleep(1.0)  # let them get going
        yield
    finally:
        for proc in loops:  # each loop leads its own process group: the scan and its workers
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_a_session_played_in_real_time_under_load_sounds_like_its_render(
    jack_tools: None, tmp_path: Path
) -> None:
    music = tmp_path / "music"
    _companion(["playlist", "import", str(_playlist(music)), "--name", "realtime"])
    render = tmp_path / "render.wav"
    _companion(["play", "realtime", *CROSSFADE, "--output", str(render)])

    captured = tmp_path / "played.wav"
    with realtime.jack_server(tmp_path, rate=SR) as jack:
        devices = _companion(["devices", "--format", "csv"], env=jack.env).stdout
        assert ",system," in devices, f"PortAudio does not list JACK's card:\n{devices}"
        with scans_on_every_core(music, tmp_path), realtime.recording(jack, captured):
            busy0, total0 = realtime.cpu_busy()
            started = time.monotonic()
            _companion(["play", "realtime", "--device", "system", *CROSSFADE, *RATINGS], env=jack.env)
            wall_s = time.monotonic() - started
            busy1, total1 = realtime.cpu_busy()
        late = jack.late_cycles()

    import soundfile as sf

    assert sf.info(str(render)).duration == pytest.approx(SESSION_S, abs=0.05)
    heard = realtime.compare(captured, render)
    print(f"real time: {heard}; late cycles {late}; played in {wall_s:.1f} s; cores busy "
          f"{(busy1 - busy0) / (total1 - total0):.0%}")
    assert (busy1 - busy0) / (total1 - total0) > 0.75, "the scans did not keep the cores busy"
    assert heard.dropouts_s == (), f"silence the music does not have, at {heard.dropouts_s} s"
    assert heard.heard_s == pytest.approx(heard.render_s, rel=0.01)
    assert heard.correlation > 0.99, f"the loudness did not follow the render ({late} late cycles)"
    assert wall_s >= SESSION_S  # played at the card's pace, not faster


# -- the comparison itself, on made-up captures (no JACK needed) -----------------------------------


@pytest.fixture
def a_render(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """Ten seconds of a swelling chord with a fade-in, as ``play --output`` would write it."""
    import soundfile as sf

    path = tmp_path / "render.wav"
    _write_track(path, 220.0, 0.5, seed=1)
    data, _ = sf.read(str(path), dtype="float32")
    data[: SR // 2] *= np.linspace(0, 1, SR // 2)[:, None]
    sf.write(str(path), data, SR, subtype="FLOAT")
    return path, data


def _capture(tmp_path: Path, data: np.ndarray) -> Path:
    """What a card would record: silence before and after the music (not a whole block)."""
    import soundfile as sf

    path = tmp_path / "captured.wav"
    pad = np.zeros((SR // 3 + 17, 2), np.float32)
    sf.write(str(path), np.concatenate([pad, data, pad]), SR, subtype="FLOAT")
    return path


def test_a_faithful_capture_matches_its_render(tmp_path: Path, a_render) -> None:
    path, data = a_render
    heard = realtime.compare(_capture(tmp_path, data), path)
    assert heard.dropouts_s == () and heard.correlation > 0.999
    assert heard.heard_s == pytest.approx(heard.render_s, abs=0.01)


def test_a_moment_of_silence_is_a_dropout(tmp_path: Path, a_render) -> None:
    path, data = a_render
    gap = data.copy()
    gap[int(4.0 * SR) : int(4.0 * SR) + 1024] = 0  # one JACK period at 44.1 kHz: 23 ms
    heard = realtime.compare(_capture(tmp_path, gap), path)
    assert heard.dropouts_s and all(3.99 <= t <= 4.03 for t in heard.dropouts_s)


def test_a_stall_that_repeats_audio_shows_in_length_and_envelope(tmp_path: Path, a_render) -> None:
    path, data = a_render
    at, stuck = int(4.0 * SR), 1024 * 5  # five periods of the same buffer, then the music goes on
    stalled = np.concatenate([data[:at], np.tile(data[at - 1024 : at], (5, 1)), data[at:]])
    assert len(stalled) == len(data) + stuck
    heard = realtime.compare(_capture(tmp_path, stalled), path)
    assert heard.heard_s == pytest.approx(heard.render_s + stuck / SR, abs=0.011)
    assert heard.correlation < 0.99
