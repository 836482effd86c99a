"""The sound card, through sounddevice/PortAudio: the only module of companion that imports it.

Devices are listed and checked here (:func:`list_devices`, :func:`check_output`) and the stream
whose callback runs the ring's consumer is opened here (:class:`SoundDeviceOutput`). A device
lost mid-session (unplugged, its server gone) is noticed three ways, whichever comes first:
PortAudio's *finished* callback firing while the session still had audio to play, the stream
turning inactive, or the callback no longer being called for :data:`STALL_S` seconds. Each
turns into one line in ``PlayerStatus.error`` and the end of playback, never a hang.

What is wrong is known here, so it is said here, as a typed error: PortAudioMissingError (the
library cannot be loaded: install it), NoOutputDeviceError (PortAudio works but finds no output,
none of that name, or cannot open it: connect or choose one). The messages name no face's
remedy: the CLI adds ``--output FILE.wav``, the app its render and device keys.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from companion.core.errors import AudioDeviceError, NoOutputDeviceError, PortAudioMissingError
from companion.core.playback.outputs import Output
from companion.core.playback.ring import Deck

STALL_S = 3.0  # a running stream whose callback is not called this long has lost its device
PROBE_TIMEOUT_S = 20.0  # starting PortAudio in a child: longer than this, go on without knowing
INSTALL_HINT = "install it (Debian/Ubuntu: sudo apt-get install libportaudio2)"
CONNECT_HINT = "connect one (Debian: `aplay -l` lists the cards)"
LOST_HINT = "reconnect it and play again"  # each face adds its own way to render to a file


@dataclass(frozen=True)
class DeviceInfo:
    index: int
    name: str
    channels: int  # output channels
    default_samplerate: float
    default: bool


def _sounddevice() -> Any:
    """Import sounddevice, turning a missing PortAudio library into PortAudioMissingError."""
    if "sounddevice" not in sys.modules:
        _survives_portaudio()
    try:
        import sounddevice
    except OSError as exc:  # Debian's sounddevice wheel loads libportaudio at import time
        raise PortAudioMissingError(f"the PortAudio library is missing ({exc}); {INSTALL_HINT}") from None
    except Exception as exc:  # sounddevice.PortAudioError: the library loaded, could not start
        if type(exc).__name__ != "PortAudioError":
            raise
        raise AudioDeviceError(f"PortAudio could not start ({exc}); check the sound system") from None
    return sounddevice


def _survives_portaudio() -> None:
    """Start PortAudio once in a child process before this one does.

    Importing sounddevice starts PortAudio, which lists the ALSA devices; when ALSA's
    configuration defines none at all (an empty ``ALSA_CONFIG_PATH``), PortAudio 19.6 fails an
    assertion and *aborts the process*, with no message (sounddevice hides PortAudio's stderr
    while it starts). The app would vanish and leave the terminal raw. A child that dies so
    becomes one line here instead. It costs ~0.2 s, once per process, only when the sound card
    is about to be used; a child that cannot run or hangs changes nothing.
    """
    try:
        child = subprocess.run([sys.executable, "-c", "import sounddevice"], capture_output=True,
                               timeout=PROBE_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return
    if child.returncode < 0:
        try:
            how = signal.Signals(-child.returncode).name
        except ValueError:
            how = f"signal {-child.returncode}"
        raise AudioDeviceError(
            f"PortAudio crashed ({how}) while looking for sound devices: the sound system's "
            "configuration looks broken (ALSA: check ALSA_CONFIG_PATH, ~/.asoundrc, /etc/asound.conf)"
        )


def list_devices() -> list[DeviceInfo]:
    """Output devices PortAudio can see (possibly none)."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        try:
            default_out = sd.default.device[1]
        except Exception:
            default_out = -1
        if default_out is None or default_out < 0:
            try:
                default_out = int(sd.query_devices(kind="output")["index"])
            except Exception:
                default_out = -1
    except sd.PortAudioError as exc:
        raise AudioDeviceError(f"cannot list the audio devices ({exc}); check the sound system") from None
    return [
        DeviceInfo(int(d["index"]), str(d["name"]), int(d["max_output_channels"]),
                   float(d["default_samplerate"]), int(d["index"]) == default_out)
        for d in devices
        if d["max_output_channels"] > 0
    ]


def device_arg(device: str | int | None) -> str | int | None:
    """A device as typed (``"3"``) as PortAudio wants it (``3``); names stay names."""
    if isinstance(device, str) and device.strip().isdigit():
        return int(device)
    return device


def _query_output(device: str | int | None) -> dict[str, Any]:
    sd = _sounddevice()
    try:
        return dict(sd.query_devices(device_arg(device), kind="output"))
    except ValueError as exc:  # no device matches the name / index has no outputs
        # sounddevice's own words name the device: "No output device matching 'usb'",
        # "Multiple output devices found for 'USB'", "Not an output device: 3"
        reason = str(exc) or f"no output device matches {device!r}"
        raise NoOutputDeviceError(reason[0].lower() + reason[1:]) from None
    except sd.PortAudioError as exc:  # "Error querying device -1": no device at all
        raise NoOutputDeviceError(f"no audio output device found ({exc}); {CONNECT_HINT}") from None


def check_output(device: str | int | None = None) -> DeviceInfo:
    """The output device playback would use; PortAudioMissingError / NoOutputDeviceError (one
    line) when there is none."""
    d = _query_output(device)
    return DeviceInfo(int(d["index"]), str(d["name"]), int(d["max_output_channels"]),
                      float(d["default_samplerate"]), device is None)


class SoundDeviceOutput(Output):
    """The sound card through sounddevice/PortAudio: default device, or by name or index."""

    realtime = True

    def __init__(self, device: str | int | None = None, *, latency: str | float = "high") -> None:
        self.device = device_arg(device)
        self.latency = latency
        self._stream: Any = None
        self._deck: Deck | None = None
        self._closing = False
        self._lost: str | None = None  # set from PortAudio's threads: why the stream ended early

    def prepare(self, first_track_rate: int | None) -> None:
        d = _query_output(self.device)
        self.sample_rate = int(d["default_samplerate"]) or 44100
        self.channels = max(1, min(2, int(d["max_output_channels"])))

    def open(self, deck: Deck) -> None:
        sd = _sounddevice()
        self._deck = deck
        process = deck.process
        stop, abort = sd.CallbackStop, sd.CallbackAbort

        def callback(outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
            if status.output_underflow:
                deck.underruns += 1
            try:
                process(outdata)
            except Exception as exc:  # never reached in normal play; silence, then end cleanly
                outdata.fill(0.0)
                self._lost = f"playback failed in the audio callback ({exc})"
                raise abort from None
            if deck.finished:
                raise stop  # PortAudio plays this last buffer, then stops calling

        def finished() -> None:
            # PortAudio calls this once the stream is inactive: after our CallbackStop, after
            # close(), or when the device went away under it. Only the last is a loss.
            if not self._closing and not deck.finished and self._lost is None:
                self._lost = "the stream stopped (unplugged, or its sound server went away?)"

        try:
            self._stream = sd.OutputStream(
                samplerate=self.sample_rate, channels=self.channels, dtype="float32",
                device=self.device, latency=self.latency, callback=callback,
                finished_callback=finished,
            )
            self._stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            raise NoOutputDeviceError(f"cannot open the audio device ({exc}); check it is connected "
                                      "and not in use by another program") from None

    def failure(self) -> str | None:
        reason = self._lost
        deck = self._deck
        if reason is None and self._stream is not None and deck is not None and not deck.finished:
            if time.monotonic() - deck.last_call > STALL_S:
                reason = f"it has asked for no audio for {STALL_S:g} s"
            elif not self._stream.active:
                reason = "the stream stopped (unplugged, or its sound server went away?)"
        return None if reason is None else f"the sound device was lost: {reason}; {LOST_HINT}"

    def close(self) -> None:
        self._closing = True
        if self._stream is not None:
            try:
                if self._stream.active:
                    self._stream.stop()  # lets the queued buffers play out
                self._stream.close()
            except Exception:
                pass  # device already gone: nothing left to tidy
            self._stream = None
