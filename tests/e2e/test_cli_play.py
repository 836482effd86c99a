"""`companion play` and `companion devices` as a user runs them."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from companion.cli import main
from companion.core.store import Store

SR = 22050


def _playlist(folder: Path, n: int = 3, seconds: float = 2.0, repeat: int = 1) -> Path:
    import soundfile as sf

    lines = ["#EXTM3U"]
    for i in range(n):
        t = np.arange(int(seconds * SR)) / SR
        path = folder / f"tone{i}.wav"
        sf.write(path, (0.2 * np.sin(2 * np.pi * (220 + 110 * i) * t)).astype(np.float32), SR)
        lines.append(f"#EXTINF:{seconds:.0f},Synth - Tone {i}")
        lines.append(str(path))
    m3u = folder / "tones.m3u8"
    m3u.write_text("\n".join(lines[:1] + lines[1:] * repeat) + "\n")
    return m3u


def _run(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "companion", *args], env={**os.environ, "COMPANION_HOME": str(home), **env},
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )


def null_device_env(tmp_path: Path) -> dict[str, str]:
    """ALSA's default device plays into nothing, flat out: the real sound-card path, quickly."""
    conf = tmp_path / "null.conf"
    conf.write_text('pcm.!default { type plug slave.pcm "null" }\n')
    return {"ALSA_CONFIG_PATH": f"/usr/share/alsa/alsa.conf:{conf}"}


@pytest.fixture
def null_device(monkeypatch):
    """In this process, the sound card is a null output (sounddevice may be loaded already)."""
    from companion.core import player

    monkeypatch.setattr(player, "check_output", lambda device=None: None)
    monkeypatch.setattr(player, "SoundDeviceOutput", lambda device=None: player.NullOutput())


def _no_device_env(tmp_path: Path) -> dict[str, str]:
    conf = tmp_path / "no-device.conf"
    conf.write_text("pcm.!default { type hw card 99 }\n")  # a sound card that is not there
    return {"ALSA_CONFIG_PATH": str(conf)}


def test_rendering_writes_what_would_be_heard_and_is_not_a_session(tmp_path, companion_home) -> None:
    """`play --output` asks nothing and stores nothing: a render would skew the statistics."""
    import soundfile as sf

    m3u = _playlist(tmp_path)
    out = tmp_path / "session.wav"
    proc = _run(["play", str(m3u), "--output", str(out),
                 "--crossfade", "0.5", "--fade-in", "0.2", "--fade-out", "0.5"], companion_home)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "Synth - Tone 2" in proc.stderr  # the status line
    assert "Stress" not in proc.stderr + proc.stdout  # no rating asked
    info = sf.info(out)
    assert info.samplerate == SR and info.frames == int((3 * 2.0 - 2 * 0.5) * SR)
    with Store() as store:
        assert store.sessions() == []


def test_playing_stores_the_session_with_both_ratings_and_the_time_heard(tmp_path, companion_home) -> None:
    proc = _run(["play", str(_playlist(tmp_path)), "--pre", "5", "--post", "3", "--crossfade", "0.5",
                 "--fade-in", "0.2", "--fade-out", "0.5"], companion_home, **null_device_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    with Store() as store:
        [session] = store.sessions()
    assert session.playlist == "tones" and session.outcome == "completed"
    assert session.value("before") == 5 and session.value("after") == 3
    assert session.minutes_listened == pytest.approx(5.0 / 60, abs=2e-3)
    assert "Tone 2" in session.snapshot
    assert "Listened 0:05 (completed); stress 5 → 3." in proc.stdout  # m:ss, as everywhere


def test_the_extra_scales_can_be_given_by_flag_like_rate(tmp_path, companion_home) -> None:
    proc = _run(["play", str(_playlist(tmp_path)), "--pre", "5", "--pre-vas", "40", "--pre-stai6",
                 "2 3 1 4 2 2", "--post", "3", "--post-vas", "20", "--post-heart-rate", "62"],
                companion_home, **null_device_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    with Store() as store:
        [s] = store.sessions()
    assert (s.value("before", "vas"), s.value("after", "vas"), s.value("after", "heart_rate")) == (40, 20, 62)
    assert s.rating("before", "stai6").items == (2, 3, 1, 4, 2, 2)
    proc = _run(["play", str(_playlist(tmp_path)), "--pre", "5", "--post-vas", "140"], companion_home,
                **null_device_env(tmp_path))
    assert proc.returncode == 2 and proc.stderr.startswith("companion: --post-vas: ")


def test_gapless_option_plays_tracks_back_to_back(tmp_path, companion_home, capsys) -> None:
    import soundfile as sf

    out = tmp_path / "gapless.flac"
    assert main(["play", str(_playlist(tmp_path)), "--output", str(out),
                 "--gapless", "--fade-in", "0", "--fade-out", "0"]) == 0
    assert sf.info(out).frames == 3 * 2 * SR


def test_no_sound_device_is_one_line_and_nothing_is_stored(tmp_path, companion_home) -> None:
    proc = _run(["play", str(_playlist(tmp_path)), "--pre", "5", "--post", "3"], companion_home,
                **_no_device_env(tmp_path))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("companion: "), proc.stderr
    # PortAudio is installed: the message blames the missing device, not the library.
    assert "no audio output device found" in lines[0] and "libportaudio2" not in lines[0]
    assert "--output FILE.wav" in lines[0]
    with Store() as store:
        assert store.sessions() == []

    proc = _run(["devices"], companion_home, **_no_device_env(tmp_path))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr and "--output FILE.wav" in proc.stderr


def test_a_sound_system_that_crashes_portaudio_is_one_line_not_an_abort(tmp_path, companion_home) -> None:
    """ALSA with no configuration at all makes PortAudio abort the process that starts it."""
    empty = tmp_path / "empty.conf"
    empty.write_text("")
    for args in (["play", str(_playlist(tmp_path)), "--pre", "5", "--post", "3"], ["devices"]):
        proc = _run(args, companion_home, ALSA_CONFIG_PATH=str(empty))
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1, proc.stderr
        assert "sound system's configuration" in lines[0] and "--output FILE.wav" in lines[0]
    with Store() as store:
        assert store.sessions() == []


def test_devices_lists_the_outputs(tmp_path, companion_home) -> None:
    conf = Path(__file__).resolve().parents[1] / "alsa-capture.conf"
    proc = _run(["devices", "--format", "csv"], companion_home,
                ALSA_CONFIG_PATH=f"/usr/share/alsa/alsa.conf:{conf}")
    assert proc.returncode == 0, proc.stderr
    header, *rows = proc.stdout.strip().splitlines()
    assert header == "index,name,channels,default_samplerate,default"
    assert any(",default," in r and r.endswith(",true") for r in rows)


@pytest.mark.parametrize("flag", ["--pre", "--post"])
def test_a_bad_rating_by_flag_exits_2_and_stores_nothing(tmp_path, companion_home, flag, capsys) -> None:
    other = "--post" if flag == "--pre" else "--pre"
    code = main(["play", str(_playlist(tmp_path)), flag, "11", other, "3", "--output", str(tmp_path / "x.wav")])
    # (even a render checks them: a typo is said before minutes of rendering)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"companion: {flag}: ") and "0 to 10" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.wav").exists()
    with Store() as store:
        assert store.sessions() == []


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_an_invalid_answer_is_explained_and_asked_again(
    tmp_path, companion_home, monkeypatch, capsys, null_device
) -> None:
    monkeypatch.setattr(sys, "stdin", _Terminal("eleven\n4\n"))
    code = main(["play", str(_playlist(tmp_path)), "--post", "2"])
    assert code == 0
    err = capsys.readouterr().err
    assert "'eleven' is not a number" in err
    with Store() as store:
        [session] = store.sessions()
    assert session.value("before") == 4 and session.value("after") == 2


def test_ctrl_c_ends_gracefully_records_minutes_and_still_takes_the_rating_after(tmp_path, companion_home) -> None:
    m3u = _playlist(tmp_path, n=1, seconds=10.0, repeat=2000)  # hours: the signal lands mid-session
    proc = subprocess.Popen(
        [sys.executable, "-m", "companion", "play", str(m3u), "--pre", "6", "--post", "2"],
        env={**os.environ, "COMPANION_HOME": str(companion_home), **null_device_env(tmp_path)},
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            if (companion_home / "companion.db").exists():
                with Store() as store:
                    if store.sessions():  # it is playing
                        break
            time.sleep(0.05)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err
    with Store() as store:
        [session] = store.sessions()
    assert session.outcome == "stopped_early" and session.minutes_listened > 0
    assert session.value("before") == 6 and session.value("after") == 2
    assert "stopped early" in out


def test_a_playlist_whose_files_are_all_gone_is_refused_before_anything_is_stored(
    tmp_path, companion_home, capsys
) -> None:
    m3u = tmp_path / "gone.m3u8"
    m3u.write_text("#EXTM3U\n#EXTINF:60,Nobody - Nothing\n/nowhere/nothing.flac\n")
    assert main(["play", str(m3u), "--pre", "5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("companion: ") and "no tracks whose files can be found" in err[-1]
    with Store() as store:
        assert store.sessions() == []


@pytest.mark.skipif(sys.platform != "linux", reason="ALSA and a pseudo-terminal")
def test_keys_on_the_terminal_pause_and_stop_and_the_terminal_is_restored(tmp_path, companion_home) -> None:
    import pty
    import termios

    conf = tmp_path / "null.conf"
    conf.write_text('pcm.!default { type plug slave.pcm "null" }\n')  # a device that plays nothing
    m3u = _playlist(tmp_path, n=1, seconds=10.0, repeat=200)
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    proc = subprocess.Popen(
        [sys.executable, "-m", "companion", "play", str(m3u), "--pre", "5", "--post", "3"],
        env={**os.environ, "COMPANION_HOME": str(companion_home),
             "ALSA_CONFIG_PATH": f"/usr/share/alsa/alsa.conf:{conf}"},
        stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            if termios.tcgetattr(slave)[3] & termios.ICANON == 0:  # cbreak: it is listening for keys
                break
            time.sleep(0.05)
        os.write(master, b" ")  # pause
        time.sleep(0.3)
        os.write(master, b"q")  # stop (already paused: at once)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        after = termios.tcgetattr(slave)
        os.close(master)
        os.close(slave)
    assert proc.returncode == 0, err[-2000:]
    assert "space pause/resume" in err and "Traceback" not in err
    assert after == before  # cbreak mode undone
    with Store() as store:
        [session] = store.sessions()
    assert session.outcome == "stopped_early" and session.value("after") == 3


def test_a_database_locked_through_the_session_loses_nothing(tmp_path, companion_home) -> None:
    """Another program holds the database (BEGIN EXCLUSIVE) from before `play` until after it
    ends: the session plays to the end (exit 0, not 2), says in one line where session and
    ratings are kept, and the next `companion history` has them."""
    import sqlite3

    with Store():
        pass  # the database exists, as it would after any use
    lock = sqlite3.connect(companion_home / "companion.db", timeout=0, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        proc = _run(["play", str(_playlist(tmp_path)), "--pre", "6", "--post", "2", "--gapless"],
                    companion_home, **null_device_env(tmp_path))
    finally:
        lock.rollback()
        lock.close()
    assert proc.returncode == 0, proc.stderr
    [line] = [x for x in proc.stderr.splitlines() if "kept in" in x]
    assert "database is locked" in line and "next time companion starts" in line
    assert "Listened 0:06 (completed); stress 6 → 2." in proc.stdout
    proc = _run(["history", "--format", "csv"], companion_home)
    assert proc.returncode == 0, proc.stderr
    header, row = proc.stdout.strip().splitlines()
    assert row.split(",")[1:6] == ["tones", "0.1", "true", "6", "2"]


def test_the_terminal_keys_are_the_apps() -> None:
    """space, n, p, e, +/-, q or s (stop with the one fade) and b (the breathing guide)."""
    from companion.commands.play import _StatusLine, handle_key

    calls: list[tuple] = []

    class Session:
        def __getattr__(self, name):
            return lambda *a: calls.append((name, *a))

    line = _StatusLine(live=True)
    for key in (" ", "n", "p", "e", "+", "-", "q", "S", "b"):
        handle_key(Session(), key, line)
    assert calls == [("toggle_pause",), ("skip",), ("previous",), ("toggle_sleep",), ("volume_step", 1),
                     ("volume_step", -1), ("stop",), ("stop",)]
    assert line.breathe
