"""A sound device lost mid-session: said in one line, and playback never hangs.

PortAudio is replaced by a stream that calls the callback from a thread the way PortAudio does,
and can lose its device: the callback stops and PortAudio's *finished* callback fires
(sounddevice's ``finished_callback``), or the callback simply stops being called.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from companion.core.models import Playlist, PlaylistEntry
from companion.core.playback import device
from companion.core.player import Player, SoundDeviceOutput

sd = pytest.importorskip("sounddevice")
SR = 8000
PERIOD = 256  # frames per callback


class FakeStream:
    """Calls ``callback`` every period in a thread; ``lose_after`` calls later the device goes:
    with ``notify`` PortAudio reports it through the finished callback, else it just goes quiet."""

    lose_after: int | None = None
    notify = True

    def __init__(self, *, samplerate: int, channels: int, callback: Any, finished_callback: Any = None,
                 **_: Any) -> None:
        self.channels, self.callback, self.finished_callback = channels, callback, finished_callback
        self.active = False
        self._halt = threading.Event()

    def start(self) -> None:
        self.active = True
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        out = np.zeros((PERIOD, self.channels), dtype=np.float32)
        status = SimpleNamespace(output_underflow=False)
        calls = 0
        while not self._halt.is_set():
            if self.lose_after is not None and calls >= self.lose_after:
                if self.notify:
                    self.active = False
                    self.finished_callback()
                return  # no more callbacks: the device is gone
            try:
                self.callback(out, PERIOD, None, status)
            except (sd.CallbackStop, sd.CallbackAbort):
                self.active = False
                self.finished_callback()
                return
            calls += 1
            time.sleep(0.001)

    def stop(self) -> None:
        self._halt.set()

    def close(self) -> None:
        self._halt.set()


@pytest.fixture
def fake_portaudio(monkeypatch: pytest.MonkeyPatch) -> type[FakeStream]:
    stream = type("Stream", (FakeStream,), {})
    monkeypatch.setattr(sd, "OutputStream", stream)
    monkeypatch.setattr(sd, "query_devices", lambda *a, **k: {
        "index": 0, "name": "fake", "max_output_channels": 2, "default_samplerate": SR})
    return stream


@pytest.fixture
def playlist(tmp_path: Path) -> Playlist:
    import soundfile as sf

    t = np.arange(3 * SR) / SR
    sf.write(tmp_path / "a.wav", (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), SR)
    return Playlist("a", (PlaylistEntry(path=str(tmp_path / "a.wav"), title="a"),))


def _play(playlist: Playlist) -> Any:
    with Player(playlist, output=SoundDeviceOutput(), crossfade_s=0, fade_in_s=0, fade_out_s=0) as p:
        p.start()
        assert p.wait(5), "playback hung after the device went"
        return p.status()


def test_a_device_unplugged_mid_session_ends_it_with_one_clear_line(
    playlist: Playlist, fake_portaudio: type[FakeStream]
) -> None:
    fake_portaudio.lose_after = 20
    st = _play(playlist)
    assert st.error and st.error.startswith("the sound device was lost: ") and "\n" not in st.error
    assert st.finished and st.stopped_early
    assert st.elapsed_s == pytest.approx(20 * PERIOD / SR, abs=0.05)


def test_a_device_that_goes_quiet_without_a_word_is_noticed(
    playlist: Playlist, fake_portaudio: type[FakeStream], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(device, "STALL_S", 0.3)
    fake_portaudio.lose_after, fake_portaudio.notify = 20, False
    st = _play(playlist)
    assert st.error and st.error.startswith("the sound device was lost: ") and st.stopped_early


def test_a_session_that_ends_normally_is_not_a_lost_device(
    playlist: Playlist, fake_portaudio: type[FakeStream]
) -> None:
    st = _play(playlist)
    assert st.error is None and not st.stopped_early and st.elapsed_s == pytest.approx(3.0, abs=0.05)


def test_a_device_that_will_not_open_is_named_and_nothing_is_stored(
    playlist: Playlist, fake_portaudio: type[FakeStream]
) -> None:
    """Found when the stream opens (after the check): still the typed, face-neutral error."""
    from companion.core.errors import NoOutputDeviceError
    from companion.core.listening import ListeningSession
    from companion.core.store import Store

    def busy(self: FakeStream) -> None:
        raise sd.PortAudioError("Device unavailable")

    fake_portaudio.start = busy  # type: ignore[method-assign]
    with Store() as store:
        session = ListeningSession(store, playlist, listener="me")
        with pytest.raises(NoOutputDeviceError, match="Device unavailable") as err:
            session.begin([])
        assert "--output" not in str(err.value) and store.sessions() == []


_ABORT = r"""
import sys, time
import numpy as np, soundfile as sf
from companion.core.models import Playlist, PlaylistEntry
from companion.core.player import Player, SoundDeviceOutput
path = sys.argv[1]
t = np.arange(60 * 44100) / 44100
sf.write(path, (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 44100)
out = SoundDeviceOutput()
with Player(Playlist("x", (PlaylistEntry(path=path, title="t"),)), output=out) as p:
    p.start()
    time.sleep(0.05)
    out._stream.abort()  # what PortAudio does when the device disappears under the stream
    print(p.wait(5))
    print(p.status().error)
"""


@pytest.mark.skipif(not Path("/usr/share/alsa/alsa.conf").is_file(), reason="ALSA")
def test_real_portaudio_reports_an_aborted_stream_as_a_lost_device(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    conf = Path(__file__).resolve().parents[1] / "alsa-capture.conf"
    env = {**os.environ, "ALSA_CONFIG_PATH": f"/usr/share/alsa/alsa.conf:{conf}",
           "AUDIO_CAPTURE_FILE": str(tmp_path / "capture.wav")}
    proc = subprocess.run([sys.executable, "-c", _ABORT, str(tmp_path / "tone.wav")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    ended, error = proc.stdout.strip().splitlines()
    assert ended == "True" and error.startswith("the sound device was lost: ")
