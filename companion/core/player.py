"""The playback engine: the only module that touches PortAudio (through sounddevice).

API (everything a face — CLI or TUI — needs; every method is thread-safe and returns at once,
the fades happen in the audio thread)::

    from companion.core.player import Player, SoundDeviceOutput, FileOutput, NullOutput

    player = Player(playlist,                       # models.Playlist (tracks and silences)
                    output=SoundDeviceOutput(device=None),  # or "name" / index; default if None
                    # output=FileOutput("x.wav"|"x.flac")   # what would be heard, flat out
                    # output=NullOutput(realtime=False)     # tests; realtime=True paces it
                    crossfade_s=6.0, fade_in_s=5.0, fade_out_s=15.0,  # 0 crossfade = gapless
                    target_lufs=-20.0, level_drop_db=0.0, volume=1.0)
    player.start()            # opens the output; AudioDeviceError / UserInputError (one line)
    player.status()           # PlayerStatus snapshot; poll it on a timer (cheap, never blocks):
                              #   index, entry, position_s, entry_length_s, elapsed_s,
                              #   remaining_s, total_s, paused, finished, stopped_early,
                              #   underruns, error, volume, bpm, sleep, notices, minutes_listened,
                              #   ends_after_track
    player.toggle_pause()     # or pause() / resume(): 50 ms ramps, no clicks
    player.skip(); player.previous(); player.jump(index)   # 50 ms ramp out, then the entry
                              # (previous restarts the track once 3 s of it have played)
    player.set_volume(0.8)    # 0–1, clamped, ramped; player.volume reads it
    player.sleep_after_track()           # sleep timer: end with the track now playing
    player.sleep_after_track(False)      #   cancelled: the session goes on
    player.sleep_fade(minutes=10)        # sleep timer: fade out over 10 min; None cancels
    player.toggle_sleep()     # the sleep-timer key: set "end after this track", or cancel
                              # whichever timers are set; True if one is set now
    player.stop(fade_s=2.0)   # fade out and end (status().stopped_early)
    player.wait(timeout)      # True once finished (end of playlist, stop, sleep timer, error)
    player.close()            # always (or use ``with Player(...) as player``)

    check_output(device)      # AudioDeviceError now if playback cannot work (call before
                              # storing a session); returns the DeviceInfo it would use
    list_devices()            # [DeviceInfo(index, name, channels, default_samplerate, default)]

Faults: a track that cannot be decoded (before or during the session) is skipped and named in
``status().notices``; the session goes on. PortAudio missing, no device, or the device gone
mid-session → AudioDeviceError from start(), or ``status().error`` (one line) and the end.

How it works. A *feeder* thread renders the session with :class:`render.SessionRenderer`
(decoding each track blockwise, converted to the output's rate and channels, levelled,
crossfaded) into a pre-allocated ring buffer about :data:`RING_S` seconds deep. The
*consumer* — the PortAudio callback, or a plain thread for file and null outputs — only
copies frames out of the ring, applies the pause/stop fader and the volume (in place, into
pre-allocated buffers), zero-pads and counts an underrun when the ring runs dry, and
updates counters. It never blocks, logs, takes locks, or touches files, the DB or a UI.
Every output hears the same consumer, so ``FileOutput`` records exactly what would be heard.

Skip, previous and a track that fails mid-session use one handshake: the consumer ramps to
silence and holds, the feeder throws away what is queued, re-plans from the chosen entry,
refills, and the consumer ramps back up.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import math
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from companion.core import render
from companion.core.errors import AudioDeviceError, ReadError, UserInputError
from companion.core.models import Playlist, PlaylistEntry

__all__ = [
    "DeviceInfo",
    "FileOutput",
    "NullOutput",
    "Player",
    "PlayerStatus",
    "SoundDeviceOutput",
    "check_output",
    "list_devices",
]

RING_S = 2.0  # how far the feeder decodes ahead: headroom against a busy CPU
STOP_FADE_S = 2.0
RESTART_AFTER_S = 3.0  # "previous" restarts a track heard this long as the current one
FIRST_MEASURE_MAX_S = 900.0  # a longer first track starts on a quick estimate of its level
REWRITE_MARGIN_S = 0.3  # queued audio kept when the plan changes under it (> any callback period)  # `q` and Ctrl-C: a short, gentle fade rather than a cut
VOLUME_STEP = 0.1
_MAX_BLOCK = 8192  # the consumer processes bigger callbacks in pieces of this size
_FIX_HINT = (
    "install PortAudio (Debian: apt-get install libportaudio2) or check the sound device; "
    "`--output FILE.wav` renders the session to a file instead"
)


# -- devices ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceInfo:
    index: int
    name: str
    channels: int  # output channels
    default_samplerate: float
    default: bool


def _sounddevice() -> Any:
    """Import sounddevice, turning a missing PortAudio library into AudioDeviceError."""
    try:
        import sounddevice
    except OSError as exc:  # the wheel loads libportaudio at import time
        raise AudioDeviceError(f"the PortAudio library is missing ({exc}); {_FIX_HINT}") from None
    return sounddevice


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
        raise AudioDeviceError(f"cannot list audio devices ({exc}); {_FIX_HINT}") from None
    return [
        DeviceInfo(int(d["index"]), str(d["name"]), int(d["max_output_channels"]),
                   float(d["default_samplerate"]), int(d["index"]) == default_out)
        for d in devices
        if d["max_output_channels"] > 0
    ]


def _device_arg(device: str | int | None) -> str | int | None:
    if isinstance(device, str) and device.strip().isdigit():
        return int(device)
    return device


def _query_output(device: str | int | None) -> dict[str, Any]:
    sd = _sounddevice()
    try:
        return dict(sd.query_devices(_device_arg(device), kind="output"))
    except ValueError as exc:  # no device matches the name / index has no outputs
        raise AudioDeviceError(
            f"no output device matches {device!r} ({exc}); `companion devices` lists them, "
            "or `--output FILE.wav` renders to a file instead"
        ) from None
    except sd.PortAudioError as exc:  # "Error querying device -1": no device at all
        raise AudioDeviceError(f"no audio output device found ({exc}); {_FIX_HINT}") from None


def check_output(device: str | int | None = None) -> DeviceInfo:
    """The output device playback would use; AudioDeviceError (one line) when there is none."""
    d = _query_output(device)
    return DeviceInfo(int(d["index"]), str(d["name"]), int(d["max_output_channels"]),
                      float(d["default_samplerate"]), device is None)


# -- the consumer side: ring buffer, fader, volume --------------------------------------------


class _Deck:
    """Ring buffer plus the consumer's state. Single producer (feeder), single consumer.

    The consumer side (:meth:`process`) only does in-place numpy work on pre-allocated
    arrays and assigns plain attributes (atomic under the GIL).
    """

    def __init__(self, sample_rate: int, channels: int, capacity: int, volume: float) -> None:
        self.sr = sample_rate
        self.cap = capacity
        self.ring = np.zeros((capacity, channels), dtype=np.float32)
        self.read = 0  # frames consumed (monotonic; consumer writes it)
        self.write = 0  # frames queued (monotonic; feeder writes it)
        self.eof = False  # no frames will follow ``write``
        # fader: pause / hold (skip) / stop; ramps toward target at ``step`` per frame
        self.gain = 1.0
        self.target = 1.0
        self.step = self._rate(render.RAMP_S)
        self.stopping = False
        self.muted = False  # consumer acknowledges: at zero gain, holding, not consuming
        self.finished = False
        # sleep timer: a slow fade of its own, so pause and skip still work during it
        self.sleep_gain = 1.0
        self.sleep_target = 1.0
        self.sleep_step = self._rate(render.RAMP_S)
        # volume, ramped at the same short rate
        self.volume = volume
        self.volume_target = volume
        self._volume_step = self._rate(render.RAMP_S)
        self.underruns = 0
        self.played = 0  # audible frames consumed (excludes pauses)
        self.last_call = time.monotonic()
        self._ramp = np.zeros((_MAX_BLOCK, 1), dtype=np.float32)
        self._idx = np.arange(1, _MAX_BLOCK + 1, dtype=np.float32)[:, None]

    def _rate(self, seconds: float) -> float:
        return 1.0 / max(seconds * self.sr, 1.0)

    def available(self) -> int:
        return self.write - self.read

    def process(self, out: np.ndarray, *, count_underruns: bool = True) -> int:
        """Fill ``out`` (frames, channels) in place. Returns how many frames are sound worth
        recording: 0 while holding (paused, mid-skip), fewer than asked at the very end.
        The real-time part: no allocation beyond tiny views and floats."""
        self.last_call = time.monotonic()
        n = len(out)
        if n > _MAX_BLOCK:
            emitted = 0
            for i in range(0, n, _MAX_BLOCK):
                emitted += self.process(out[i : i + _MAX_BLOCK], count_underruns=count_underruns)
            return emitted
        avail = self.write - self.read
        if avail < 0:  # only if the feeder stalled mid-rewrite; play silence until it catches up
            avail = 0
        if self.target == 0.0 and (self.gain == 0.0 or avail == 0):
            self.gain = 0.0
            out.fill(0.0)
            if self.stopping:
                self.finished = True
            self.muted = True
            return 0
        self.muted = False
        if self.finished:
            out.fill(0.0)
            return 0
        take = n if avail >= n else avail
        start = self.read % self.cap
        first = min(take, self.cap - start)
        out[:first] = self.ring[start : start + first]
        if take > first:
            out[first:take] = self.ring[: take - first]
        emitted = n
        if take < n:
            out[take:].fill(0.0)
            if self.eof:
                emitted = take
            elif count_underruns:
                self.underruns += 1
        self.read += take
        self.played += take
        self.gain = self._apply(out, n, self.gain, self.target, self.step)
        self.volume = self._apply(out, n, self.volume, self.volume_target, self._volume_step)
        self.sleep_gain = self._apply(out, n, self.sleep_gain, self.sleep_target, self.sleep_step)
        if (self.stopping and self.gain == 0.0) or (self.sleep_target == 0.0 and self.sleep_gain == 0.0):
            self.finished = True
            emitted = min(emitted, take)
        if self.eof and self.read >= self.write:
            self.finished = True
        return emitted

    def _apply(self, out: np.ndarray, n: int, g: float, t: float, step: float) -> float:
        if g == t:
            if g != 1.0:
                out *= g
            return g
        buf = self._ramp[:n]
        np.multiply(self._idx[:n], step if t > g else -step, out=buf)
        buf += g
        if t > g:
            np.minimum(buf, t, out=buf)
        else:
            np.maximum(buf, t, out=buf)
        out *= buf
        return float(buf[n - 1, 0])

    def push(self, block: np.ndarray) -> None:
        """Feeder side: append ``block``; the caller made sure there is room."""
        n = len(block)
        start = self.write % self.cap
        first = min(n, self.cap - start)
        self.ring[start : start + first] = block[:first]
        if n > first:
            self.ring[: n - first] = block[first:]
        self.write += n

    def discard(self) -> None:
        """Feeder side, while the consumer holds: forget everything queued."""
        self.write = self.read


# -- outputs ----------------------------------------------------------------------------------


class _Output:
    """Where the consumer's frames go. ``open`` starts consuming from the deck."""

    realtime = True
    sample_rate = 44100
    channels = 2

    def prepare(self, first_track_rate: int | None) -> None:
        """Settle sample rate and channels before the deck is built (may raise)."""

    def open(self, deck: _Deck) -> None:
        raise NotImplementedError

    def failure(self) -> str | None:
        """A one-line reason if the output died mid-session."""
        return None

    def close(self) -> None:
        pass


class _PumpOutput(_Output):
    """File and null outputs: a thread plays the consumer's part, paced or flat out."""

    def __init__(self, *, realtime: bool = False, sample_rate: int | None = None, channels: int = 2,
                 block_frames: int | None = None, speed: float = 1.0) -> None:
        self.realtime = realtime
        self.speed = speed
        self._rate_given = sample_rate
        self.channels = channels
        self._block = block_frames
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.wake = threading.Condition()
        self.error: str | None = None

    def prepare(self, first_track_rate: int | None) -> None:
        self.sample_rate = int(self._rate_given or first_track_rate or 44100)
        if self._block is None:  # 10 ms, like a sound card's period
            self._block = max(64, self.sample_rate // 100)

    def open(self, deck: _Deck) -> None:
        self._deck = deck
        self._thread = threading.Thread(target=self._run, name="companion-output", daemon=True)
        self._thread.start()

    def sink(self, block: np.ndarray) -> None:
        pass

    def _run(self) -> None:
        deck = self._deck
        assert self._block is not None
        buf = np.zeros((self._block, self.channels), dtype=np.float32)
        t0 = time.monotonic()
        frames_out = 0
        try:
            while not self._stop.is_set() and not deck.finished:
                if self.realtime:
                    due = t0 + frames_out / (self.sample_rate * self.speed)
                    delay = due - time.monotonic()
                    if delay > 0:
                        self._stop.wait(delay)
                    frames_out += self._block
                else:
                    with self.wake:
                        # Flat out: wait for a full block rather than padding (no underruns).
                        while (deck.available() < self._block and not deck.eof and deck.target != 0.0
                               and not self._stop.is_set()):
                            self.wake.wait(0.05)
                emitted = deck.process(buf, count_underruns=self.realtime)
                if emitted:
                    self.sink(buf[:emitted])
                elif not self.realtime:
                    self._stop.wait(0.002)
                with self.wake:
                    self.wake.notify_all()
        except Exception as exc:  # e.g. disk full while writing
            self.error = f"output failed: {exc}"
            deck.finished = True

    def failure(self) -> str | None:
        return self.error

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


class NullOutput(_PumpOutput):
    """Discards the audio (tests, benchmarks). ``realtime=True`` paces it like a sound card.

    keep : also keep every emitted block in ``self.frames`` (tests; memory grows).
    speed : with ``realtime``, consume this many times faster than real time (benchmarks).
    """

    def __init__(self, *, realtime: bool = False, sample_rate: int | None = None, channels: int = 2,
                 keep: bool = False, speed: float = 1.0) -> None:
        super().__init__(realtime=realtime, sample_rate=sample_rate, channels=channels, speed=speed)
        self._keep = keep
        self._blocks: list[np.ndarray] = []

    def sink(self, block: np.ndarray) -> None:
        if self._keep:
            self._blocks.append(block.copy())

    @property
    def frames(self) -> np.ndarray:
        if not self._blocks:
            return np.zeros((0, self.channels), dtype=np.float32)
        return np.concatenate(self._blocks)


class FileOutput(_PumpOutput):
    """Renders exactly what would be heard into a WAV (float) or FLAC (24-bit) file,
    faster than real time. sample_rate : Hz; default the first track's rate."""

    def __init__(self, path: str | Path, *, sample_rate: int | None = None, channels: int = 2) -> None:
        super().__init__(realtime=False, sample_rate=sample_rate, channels=channels, block_frames=4096)
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in (".wav", ".flac"):
            raise UserInputError(f"{self.path}: --output must end in .wav or .flac")
        self._subtype = "FLOAT" if suffix == ".wav" else "PCM_24"
        self._file: Any = None

    def open(self, deck: _Deck) -> None:
        import soundfile as sf

        try:
            self._file = sf.SoundFile(str(self.path), "w", samplerate=self.sample_rate,
                                      channels=self.channels, subtype=self._subtype)
        except Exception as exc:
            raise UserInputError(f"{self.path}: cannot write here ({exc}); check the folder") from None
        super().open(deck)

    def sink(self, block: np.ndarray) -> None:
        self._file.write(block)

    def close(self) -> None:
        super().close()
        if self._file is not None:
            self._file.close()
            self._file = None


class SoundDeviceOutput(_Output):
    """The sound card through sounddevice/PortAudio: default device, or by name or index."""

    realtime = True

    def __init__(self, device: str | int | None = None, *, latency: str | float = "high") -> None:
        self.device = _device_arg(device)
        self.latency = latency
        self._stream: Any = None
        self._deck: _Deck | None = None
        self.underflows = 0

    def prepare(self, first_track_rate: int | None) -> None:
        d = _query_output(self.device)
        self.sample_rate = int(d["default_samplerate"]) or 44100
        self.channels = max(1, min(2, int(d["max_output_channels"])))

    def open(self, deck: _Deck) -> None:
        sd = _sounddevice()
        self._deck = deck
        process = deck.process

        stop = sd.CallbackStop

        def callback(outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
            if status.output_underflow:
                deck.underruns += 1
            process(outdata)
            if deck.finished:
                raise stop  # PortAudio plays this last buffer, then stops calling

        try:
            self._stream = sd.OutputStream(
                samplerate=self.sample_rate, channels=self.channels, dtype="float32",
                device=self.device, latency=self.latency, callback=callback,
            )
            self._stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            raise AudioDeviceError(f"cannot open the audio device ({exc}); {_FIX_HINT}") from None

    def failure(self) -> str | None:
        deck = self._deck
        if self._stream is None or deck is None or deck.finished:
            return None
        stalled = time.monotonic() - deck.last_call > 3.0
        if not self._stream.active or stalled:
            return ("the audio device stopped during the session (unplugged?); "
                    "reconnect it and play again, or use `--output FILE.wav`")
        return None

    def close(self) -> None:
        if self._stream is not None:
            try:
                if self._stream.active:
                    self._stream.stop()  # lets the queued buffers play out
                self._stream.close()
            except Exception:
                pass  # device already gone: nothing left to tidy
            self._stream = None


# -- the player -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlayerStatus:
    """A snapshot of playback for a face to show. Times in seconds."""

    index: int | None  # entry (in playlist.entries) heard now
    entry: PlaylistEntry | None
    position_s: float  # into the current entry
    entry_length_s: float
    elapsed_s: float  # audible time played so far (pauses excluded)
    remaining_s: float  # until the session ends as now planned
    total_s: float
    paused: bool
    finished: bool
    stopped_early: bool  # ended before the playlist's end (stop, sleep timer, error)
    underruns: int
    error: str | None
    volume: float
    bpm: float | None  # the current entry's tempo
    sleep: str  # "", "after this track", "fade: N min", or both joined by ", "
    notices: tuple[str, ...] = ()
    ends_after_track: bool = False  # the sleep timer "end after this track" is set

    @property
    def minutes_listened(self) -> float:
        return self.elapsed_s / 60.0


class Player:
    """Plays one playlist once. Create, :meth:`start`, poll :meth:`status`, :meth:`close`."""

    def __init__(
        self,
        playlist: Playlist,
        *,
        output: _Output | None = None,
        crossfade_s: float = render.DEFAULT_CROSSFADE_S,
        fade_in_s: float = render.DEFAULT_FADE_IN_S,
        fade_out_s: float = render.DEFAULT_FADE_OUT_S,
        target_lufs: float = render.DEFAULT_TARGET_LUFS,
        level_drop_db: float = 0.0,
        volume: float = 1.0,
        ring_s: float = RING_S,
        open_source: render.SourceOpener | None = None,
    ) -> None:
        self.playlist = playlist
        self.output = output if output is not None else SoundDeviceOutput()
        # Validated now, before anything opens; the output's format is filled in by start().
        self._settings = render.RenderSettings(crossfade_s=crossfade_s, fade_in_s=fade_in_s,
                                               fade_out_s=fade_out_s, target_lufs=target_lufs,
                                               level_drop_db=level_drop_db)
        self._volume = _check_volume(volume)
        self._ring_s = ring_s
        self._open_source = open_source
        self._commands: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._marks: collections.deque[tuple[int, int]] = collections.deque(maxlen=4096)
        self._slots: tuple[tuple[int, int, int, int], ...] = ()  # published plan: index, start, length, fade_in
        self._total = 0
        self._notices: list[str] = []
        self._paused = False
        self._holding = False  # a skip/previous/fault transition is under way
        self._block = 4096  # frames rendered at a time (set by start)
        self._stopped_early = False
        self._sleep = ""
        self._sleep_minutes: float | None = None
        self._after_track = False  # sleep timer "end after this track" is set
        self._cut_by_sleep = False  # ... and has dropped entries from the plan
        self._error: str | None = None
        self._feeder: threading.Thread | None = None
        self._done = threading.Event()
        self._closed = False
        self._deck: _Deck | None = None
        self._renderer: render.SessionRenderer | None = None
        self._levels: _Levels | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Open the output and begin playing. AudioDeviceError / UserInputError if it cannot."""
        if not self.playlist.tracks:
            raise UserInputError(f"playlist {self.playlist.name!r} has no tracks to play")
        self.output.prepare(_first_rate(self.playlist.entries))
        settings = dataclasses.replace(self._settings, sample_rate=self.output.sample_rate,
                                       channels=self.output.channels)
        self._levels = _Levels(self.playlist.entries, settings.target_lufs)
        self._levels.measure_first()  # the first track's level before the first sound
        kwargs: dict[str, Any] = {}
        if self._open_source is not None:
            kwargs["open_source"] = self._open_source
        self._renderer = render.SessionRenderer(self.playlist.entries, settings,
                                                gain_db_of=self._levels.gain_db, **kwargs)
        if not self._renderer.slots:
            raise UserInputError(f"none of the tracks of {self.playlist.name!r} can be played "
                                 f"({self._renderer.notices[0] if self._renderer.notices else 'no audio'})")
        self._publish()
        capacity = max(int(self._ring_s * settings.sample_rate), 256)
        self._block = min(settings.block_frames, capacity // 4)
        self._deck = _Deck(settings.sample_rate, settings.channels, capacity, self._volume)
        self._fill()  # queue audio before the stream asks for it
        with self._lock:
            self._arm_sleep_fade()
        self._levels.start()
        self.output.open(self._deck)
        self._feeder = threading.Thread(target=self._feed_loop, name="companion-feeder", daemon=True)
        self._feeder.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the session is over (or ``timeout`` s). True if it is over."""
        return self._done.wait(timeout)

    def close(self) -> None:
        """Stop everything and release the output. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._done.set()
        if self._deck is not None:
            self._deck.finished = True
        if self._feeder is not None:
            self._feeder.join(timeout=5)
        if self._levels is not None:
            self._levels.close()
        self.output.close()

    def __enter__(self) -> Player:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- controls (any thread) ----------------------------------------------------------

    def pause(self) -> None:
        with self._lock:
            self._paused = True
            self._retarget()

    def resume(self) -> None:
        with self._lock:
            self._paused = False
            self._retarget()

    def toggle_pause(self) -> bool:
        """Pause or resume; returns True if now paused."""
        with self._lock:
            self._paused = not self._paused
            self._retarget()
            return self._paused

    def skip(self) -> None:
        """Next entry (the current one ramps out in 50 ms)."""
        self._commands.put(("skip", None))

    def previous(self) -> None:
        """Like every music player: once the current track has been heard for more than
        :data:`RESTART_AFTER_S` (counted from when it became the current entry, i.e. from
        the middle of its crossfade), restart it; sooner than that, the previous entry from
        its start. The first entry restarts. Either way with the 50 ms ramp of a skip."""
        self._commands.put(("previous", None))

    def jump(self, index: int) -> None:
        """Entry ``index`` of playlist.entries, from its start."""
        self._commands.put(("jump", int(index)))

    def stop(self, fade_s: float = STOP_FADE_S) -> None:
        """Fade out over ``fade_s`` (at least the 50 ms ramp) and end the session."""
        deck = self._deck
        with self._lock:
            if deck is None or deck.finished:
                self._done.set()
                return
            step = deck._rate(max(fade_s, render.RAMP_S))
            deck.step = max(step, deck.step) if deck.stopping else step
            deck.stopping = True
            deck.target = 0.0

    @property
    def volume(self) -> float:
        return self._volume

    def set_volume(self, volume: float) -> float:
        """Set the volume (0–1, clamped; ramped). Returns the new value."""
        self._volume = min(1.0, max(0.0, float(volume)))
        if self._deck is not None:
            self._deck.volume_target = self._volume
        return self._volume

    def sleep_after_track(self, on: bool = True) -> None:
        """Sleep timer: end (with the session fade-out) when the track now playing ends; it
        follows a skip or previous to the track then playing. ``on=False`` cancels it: the
        entries after the track follow again (a fade-out already begun comes back up)."""
        with self._lock:
            if on == self._after_track:
                return
            self._after_track = on
            self._sleep = self._sleep_label()
            self._commands.put(("end_after" if on else "continue", None))

    def sleep_fade(self, minutes: float | None) -> None:
        """Sleep timer: fade out over ``minutes`` from now, then end. None cancels it (the
        level comes back over a second). Pause, skip and volume keep working meanwhile."""
        if minutes is not None and (not math.isfinite(minutes) or minutes <= 0):
            raise UserInputError(f"sleep fade {minutes!r} minutes must be more than 0")
        with self._lock:
            self._sleep_minutes = minutes
            self._sleep = self._sleep_label()
            self._arm_sleep_fade()

    def toggle_sleep(self) -> bool:
        """The sleep-timer key: with no timer set, set "end after this track"; otherwise
        cancel every timer that is set (after this track, fade). True if one is set now."""
        with self._lock:
            active = self._after_track or self._sleep_minutes is not None
        if active:
            self.sleep_after_track(False)
            self.sleep_fade(None)
            return False
        self.sleep_after_track(True)
        return True

    def _sleep_label(self) -> str:
        parts = ["after this track"] if self._after_track else []
        if self._sleep_minutes is not None:
            parts.append(f"fade: {self._sleep_minutes:g} min")
        return ", ".join(parts)

    def _arm_sleep_fade(self) -> None:
        deck, minutes = self._deck, self._sleep_minutes
        if deck is None:
            return  # armed by start()
        if minutes is None:
            deck.sleep_step = deck._rate(1.0)
            deck.sleep_target = 1.0
        else:
            deck.sleep_step = deck._rate(minutes * 60.0)
            deck.sleep_target = 0.0

    def _retarget(self) -> None:
        deck = self._deck
        if deck is None or deck.stopping:
            return
        deck.step = deck._rate(render.RAMP_S)
        deck.target = 0.0 if (self._paused or self._holding) else 1.0

    # -- status -------------------------------------------------------------------------

    def status(self) -> PlayerStatus:
        deck, entries = self._deck, self.playlist.entries
        if deck is None:
            return PlayerStatus(None, None, 0.0, 0.0, 0.0, self.playlist.total_s, self.playlist.total_s,
                                self._paused, False, False, 0, self._error, self._volume, None,
                                self._sleep, tuple(self._notices), self._after_track)
        sr = deck.sr
        pos = self._heard_position(deck.read)
        total = self._total
        current = _current_slot(self._slots, pos)
        index = current[0] if current else None
        entry = entries[index] if index is not None else None
        finished = self._done.is_set()
        return PlayerStatus(
            index=index,
            entry=entry,
            position_s=max(0.0, (pos - current[1]) / sr) if current else 0.0,
            entry_length_s=current[2] / sr if current else 0.0,
            elapsed_s=deck.played / sr,
            remaining_s=0.0 if finished else max(0.0, (total - pos) / sr),
            total_s=deck.played / sr + (0.0 if finished else max(0.0, (total - pos) / sr)),
            paused=self._paused,
            finished=finished,
            stopped_early=(self._stopped_early or self._cut_by_sleep
                           or (finished and not (deck.eof and deck.read >= deck.write))),
            underruns=deck.underruns,
            error=self._error,
            volume=self._volume,
            bpm=(entry.used_bpm or entry.bpm) if entry else None,
            sleep=self._sleep,
            notices=tuple(self._notices),
            ends_after_track=self._after_track,
        )

    def _heard_position(self, ring_index: int) -> int:
        with self._lock:
            return self._map(ring_index)

    def _map(self, ring_index: int) -> int:
        """Session frame queued at ``ring_index`` (hold the lock)."""
        for ring_at, pos in reversed(self._marks):
            if ring_at <= ring_index:
                return pos + (ring_index - ring_at)
        return 0

    def _publish(self) -> None:
        r = self._renderer
        assert r is not None
        self._slots = tuple((s.index, s.start, s.length, s.fade_in) for s in r.slots)
        self._total = r.total
        for n in r.notices[len(self._notices):]:
            self._notices.append(n)

    # -- feeder thread ------------------------------------------------------------------

    def _feed_loop(self) -> None:
        deck, r = self._deck, self._renderer
        assert deck is not None and r is not None
        try:
            while not self._closed and not deck.finished:
                self._run_commands()
                self._fill()
                err = self.output.failure()
                if err:
                    self._error = err
                    self._stopped_early = True
                    deck.finished = True
                    break
                if not deck.finished:
                    self._wait_for_room(0.01)
        except Exception as exc:  # never leave a face waiting on a dead feeder
            self._error = f"playback failed: {exc}"
            self._stopped_early = True
            deck.finished = True
        finally:
            self._done.set()

    def _wait_for_room(self, timeout: float) -> None:
        wake = getattr(self.output, "wake", None)
        if wake is None:
            time.sleep(timeout)
        else:
            with wake:
                wake.wait(timeout)

    def _fill(self) -> None:
        """Render into the ring until it is full or the session is rendered."""
        deck, r = self._deck, self._renderer
        assert deck is not None and r is not None
        block = self._block
        while not deck.eof:
            room = deck.cap - deck.available()
            if room < block:
                return
            faults = r.faults
            pos = r.position
            data = r.render(block)
            if r.faults != faults:
                # A track failed: its tail was cut. Ramp what is queued out, drop it, go on.
                self._publish()
                self._transition(self._after_fault, keep=(r.position - len(data), data))
                continue
            self._queue(pos, data)
            if r.finished:
                deck.eof = True
            self._notify()

    def _queue(self, pos: int, data: np.ndarray) -> None:
        deck = self._deck
        assert deck is not None
        if not len(data):
            return
        with self._lock:
            if not self._marks or self._marks[-1][1] + (deck.write - self._marks[-1][0]) != pos:
                self._marks.append((deck.write, pos))
        deck.push(data)

    def _notify(self) -> None:
        wake = getattr(self.output, "wake", None)
        if wake is not None:
            with wake:
                wake.notify_all()

    def _run_commands(self) -> None:
        r = self._renderer
        assert r is not None
        while True:
            try:
                cmd, arg = self._commands.get_nowait()
            except queue.Empty:
                return
            deck = self._deck
            assert deck is not None
            pos = self._heard_position(deck.read)
            slot = _current_slot(self._slots, pos)
            heard = slot[0] if slot else None
            if cmd == "end_after":
                if heard is not None and self._after_track:
                    self._rewrite(functools.partial(self._end_after, heard))
                continue
            if cmd == "continue":
                if not self._after_track:
                    self._rewrite(self._continue)
                continue
            if heard is None:
                heard = 0
            if cmd == "previous":
                as_current = (pos - slot[1] - slot[3] // 2) / deck.sr if slot else 0.0
                silence = r.entries[heard].is_silence
                target = heard if as_current > RESTART_AFTER_S and not silence else heard - 1
            else:
                target = heard + 1 if cmd == "skip" else arg
            self._transition(functools.partial(self._seek, target, cmd))

    # Plan changes, run by the feeder under the lock (from _rewrite / _transition).

    def _end_after(self, index: int) -> None:
        r = self._renderer
        assert r is not None
        before = len(r.slots)
        r.end_after(index)
        self._cut_by_sleep = self._cut_by_sleep or len(r.slots) < before

    def _continue(self) -> None:
        r = self._renderer
        assert r is not None
        r.continue_after()
        self._cut_by_sleep = False

    def _after_fault(self) -> None:
        """A track failed and the renderer went on with the next entry (and those after)."""
        r = self._renderer
        assert r is not None
        self._cut_by_sleep = False
        if r.slots and self._after_track:
            self._end_after(r.slots[0].index)

    def _seek(self, index: int, cmd: str) -> None:
        r = self._renderer
        assert r is not None
        self._cut_by_sleep = False
        if r.seek_entry(_next_playable(r, index, cmd)) and self._after_track:
            self._end_after(r.slots[0].index)  # the timer follows to the track now playing

    def _rewrite(self, change: Callable[[], object]) -> None:
        """Change the plan from just after what is being heard, without a gap: the queued audio
        past the next :data:`REWRITE_MARGIN_S` is thrown away and rendered again."""
        deck, r = self._deck, self._renderer
        assert deck is not None and r is not None
        with self._lock:
            cut = deck.read + int(REWRITE_MARGIN_S * deck.sr)
            if cut < deck.write:
                pos = self._map(cut)
                deck.eof = False
                deck.write = cut
                while self._marks and self._marks[-1][0] >= cut:
                    self._marks.pop()
                if deck.read > deck.write:  # the consumer overtook us (a stalled feeder)
                    deck.write = deck.read
                    self._marks.append((deck.read, pos))
                r.rewind(pos)
            change()
            self._publish()
            deck.eof = r.finished  # a cancelled end can bring back what follows
        self._fill()

    def _transition(self, change: Callable[[], object], keep: tuple[int, np.ndarray] | None = None) -> None:
        """Ramp the consumer to silence, drop the queue, apply ``change``, refill, ramp up."""
        deck, r = self._deck, self._renderer
        assert deck is not None and r is not None
        with self._lock:
            self._holding = True
            self._retarget()
        deadline = time.monotonic() + 2.0
        while (self._feeder is not None and not deck.muted and not deck.finished
               and time.monotonic() < deadline):  # before the output opens nothing is heard
            self._notify()
            time.sleep(0.002)
        with self._lock:
            deck.discard()
            while self._marks and self._marks[-1][0] >= deck.write:
                self._marks.pop()
            deck.eof = False
            change()
            self._publish()
        if keep is not None:
            self._queue(*keep)
        if r.finished:
            deck.eof = True
        self._fill()
        with self._lock:
            self._holding = False
            self._retarget()
        self._notify()


class _Levels:
    """Per-track levelling gains, measured ahead of playback in a background thread.

    Each file gets one blockwise pass (loudness and sample peak; a file listed twice is
    measured once); the loudness stored at scan time wins when there is one. Until a track's
    pass is done, its gain comes from a quick look at its first seconds, never boosting.
    """

    def __init__(self, entries: Sequence[PlaylistEntry], target_lufs: float) -> None:
        self._entries = entries
        self._target = target_lufs
        self._levels: dict[str, Any] = {}  # path -> Loudness, or None if unreadable
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def measure(self, i: int) -> None:
        e = self._entries[i]
        if e.is_silence or e.path in self._levels:
            return
        try:
            level = render.measure_file(e.path)
        except ReadError:
            level = None  # the renderer skips it with a notice
        with self._lock:
            self._levels[e.path] = level

    def measure_first(self) -> None:
        """Measure the first track now, unless it is so long that listening would wait for it
        (then its gain comes from the quick estimate)."""
        from companion.core import audio_io

        for i, e in enumerate(self._entries):
            if e.is_silence:
                continue
            try:
                if audio_io.info(e.path).duration_s <= FIRST_MEASURE_MAX_S:
                    self.measure(i)
            except ReadError:
                pass  # the renderer reports it
            return

    def gain_db(self, i: int) -> float:
        e = self._entries[i]
        with self._lock:
            known = e.path in self._levels
            level = self._levels.get(e.path)
        if known:
            if level is None:
                return 0.0
            lufs = e.loudness_lufs if e.loudness_lufs is not None else level.lufs
            return render.level_gain_db(lufs, level.peak_dbfs, target_lufs=self._target)
        try:
            quick = render.measure_file(e.path, max_s=10.0)
        except ReadError:
            return 0.0
        lufs = e.loudness_lufs if e.loudness_lufs is not None else quick.lufs
        return min(render.level_gain_db(lufs, quick.peak_dbfs + 3.0, target_lufs=self._target), 0.0)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="companion-levels", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for i in range(len(self._entries)):
            if self._stop.is_set():
                return
            self.measure(i)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _current_slot(slots: Sequence[tuple[int, int, int, int]], pos: int) -> tuple[int, int, int, int] | None:
    """The published slot heard at session frame ``pos``: a track becomes the current one
    half-way through its crossfade."""
    current = None
    for s in slots:
        if s[1] + s[3] // 2 > pos:
            break
        current = s
    if current is None and slots:
        current = slots[0]
    return current


def _next_playable(r: render.SessionRenderer, index: int, cmd: str) -> int:
    """Skip and previous step over silences and failed entries in their direction."""
    n = len(r.entries)
    step = -1 if cmd == "previous" else 1
    i = max(0, index)
    while 0 <= i < n and (i in r.failed or r.entries[i].is_silence):
        i += step
    if i < 0:
        return _next_playable(r, 0, "skip")
    return i


def _first_rate(entries: Sequence[PlaylistEntry]) -> int | None:
    from companion.core import audio_io

    for e in entries:
        if not e.is_silence:
            try:
                return audio_io.info(e.path).sample_rate
            except ReadError:
                continue
    return None


def _check_volume(volume: float) -> float:
    if not (isinstance(volume, int | float) and math.isfinite(volume) and 0.0 <= volume <= 1.0):
        raise UserInputError(f"volume {volume!r} must be between 0 and 1")
    return float(volume)
