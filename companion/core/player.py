"""The playback engine's front door: :class:`Player` (transport and status) and the outputs.

API (everything a face — CLI or TUI — needs; every method is thread-safe and returns at once,
the fades happen in the audio thread)::

    from companion.core.player import Player, SoundDeviceOutput, FileOutput, NullOutput

    player = Player(playlist,                       # models.Playlist (tracks and silences)
                    output=SoundDeviceOutput(device=None),  # or "name" / index; default if None
                    # output=FileOutput("x.wav"|"x.flac")   # what would be heard, flat out
                    # output=NullOutput(realtime=False)     # tests; realtime=True paces it
                    crossfade_s=None, fade_in_s=None, fade_out_s=None,  # None: as the playlist
                    #   stores it (planned crossfade, its arc's ending), else the defaults;
                    #   0 crossfade = gapless
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
``status().notices``; the session goes on. PortAudio missing → PortAudioMissingError, no device
(or one that will not open) → NoOutputDeviceError, from check_output() and start(), in words
that name no face's remedy; the device lost mid-session → ``status().error`` ("the sound device was lost: ...", one
line) and the end of playback.

The engine, one concept per module (see :mod:`companion.core.playback`): the real-time ring
buffer and its consumer (``playback.ring``), the feeder thread that renders into it and changes
the plan under it (``playback.feeder``), levelling gains (``playback.levels``), file and null
outputs (``playback.outputs``), the sound card — the only module that touches PortAudio —
(``playback.device``), and the pure mixing (:mod:`companion.core.render`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from companion.core import render
from companion.core.errors import ReadError, UserInputError
from companion.core.models import Playlist, PlaylistEntry
from companion.core.playback.device import DeviceInfo, SoundDeviceOutput, check_output, list_devices
from companion.core.playback.feeder import RESTART_AFTER_S, Command, Feeder, current_slot
from companion.core.playback.levels import FIRST_MEASURE_MAX_S, Levels
from companion.core.playback.outputs import FileOutput, NullOutput, Output
from companion.core.playback.ring import Deck

__all__ = [
    "RESTART_AFTER_S",
    "STOP_FADE_S",
    "VOLUME_STEP",
    "DeviceInfo",
    "FileOutput",
    "NullOutput",
    "Output",
    "Player",
    "PlayerStatus",
    "SoundDeviceOutput",
    "check_output",
    "list_devices",
]

RING_S = 2.0  # how far the feeder decodes ahead: headroom against a busy CPU
STOP_FADE_S = 2.0  # `q` and Ctrl-C: a short, gentle fade rather than a cut
VOLUME_STEP = 0.1


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
    error: str | None  # why playback ended early, one line (e.g. "the sound device was lost: ...")
    volume: float
    bpm: float | None  # the current entry's tempo
    sleep: str  # "", "after this track", "fade: N min", or both joined by ", "
    notices: tuple[str, ...] = ()
    ends_after_track: bool = False  # the sleep timer "end after this track" is set
    # "track 3 of 9" as both faces say it: silences are not counted (a silence keeps the number
    # of the track before it; 1 before the first)
    track_no: int = 1
    track_count: int = 0

    @property
    def minutes_listened(self) -> float:
        return self.elapsed_s / 60.0


class Player:
    """Plays one playlist once. Create, :meth:`start`, poll :meth:`status`, :meth:`close`.

    crossfade_s, fade_in_s, fade_out_s : seconds; None plays them as the playlist stores them
        (see :func:`render.settings_for`), so a sleep playlist ends with its arc's long fade.
    """

    def __init__(
        self,
        playlist: Playlist,
        *,
        output: Output | None = None,
        crossfade_s: float | None = None,
        fade_in_s: float | None = None,
        fade_out_s: float | None = None,
        target_lufs: float = render.DEFAULT_TARGET_LUFS,
        level_drop_db: float = 0.0,
        volume: float = 1.0,
        ring_s: float = RING_S,
        open_source: render.SourceOpener | None = None,
        length_of: Callable[[str, render.RenderSettings], int] | None = None,
    ) -> None:
        self.playlist = playlist
        self.output = output if output is not None else SoundDeviceOutput()
        self._track_count = len(playlist.tracks)
        self._track_no = tuple(max(1, n) for n in itertools.accumulate(
            int(not e.is_silence) for e in playlist.entries))  # PlayerStatus.track_no per entry
        # Validated now, before anything opens; the output's format is filled in by start().
        self._settings, self._setting_notices = render.settings_for(
            playlist, crossfade_s=crossfade_s, fade_in_s=fade_in_s, fade_out_s=fade_out_s,
            target_lufs=target_lufs, level_drop_db=level_drop_db)
        self._volume = _check_volume(volume)
        self._ring_s = ring_s
        self._open_source = open_source
        self._length_of = length_of or render.track_frames  # a preview plays an excerpt's length
        self._commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._paused = False
        self._sleep = ""
        self._sleep_minutes: float | None = None
        self._after_track = False  # sleep timer "end after this track" is set
        self._done = threading.Event()
        self._closed = False
        self._deck: Deck | None = None
        self._feeder: Feeder | None = None
        self._levels: Levels | None = None

    @property
    def settings(self) -> render.RenderSettings:
        """How the session sounds (fades, crossfade, level), as given or as the playlist says."""
        return self._settings

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Open the output and begin playing. AudioDeviceError / UserInputError if it cannot."""
        if not self.playlist.tracks:
            raise UserInputError(f"playlist {self.playlist.name!r} has no tracks to play")
        self.output.prepare(_first_rate(self.playlist.entries))
        settings = dataclasses.replace(self._settings, sample_rate=self.output.sample_rate,
                                       channels=self.output.channels)
        # Until the output opens nobody is listening: what the ring holds first is measured
        # exactly (a file output never has a listener waiting).
        wait = FIRST_MEASURE_MAX_S if self.output.realtime else math.inf
        self._levels = Levels(self.playlist.entries, settings.target_lufs, wait_up_to_s=wait)
        renderer = render.SessionRenderer(self.playlist.entries, settings, gain_db_of=self._levels.gain_db,
                                          open_source=self._open_source or render.open_track,
                                          length_of=self._length_of)
        renderer.notices[:0] = self._setting_notices
        if not renderer.slots:
            failed = [n for n in renderer.notices if n.startswith("skipped ")]
            raise UserInputError(f"none of the tracks of {self.playlist.name!r} can be played "
                                 f"({failed[0] if failed else 'no audio'})")
        capacity = max(int(self._ring_s * settings.sample_rate), 256)
        self._deck = Deck(settings.sample_rate, settings.channels, capacity, self._volume,
                          paused=self._paused)
        self._feeder = Feeder(self._deck, renderer, self.output,
                              block=min(settings.block_frames, capacity // 4), lock=self._lock,
                              commands=self._commands, done=self._done)
        self._feeder.fill()  # queue audio before the stream asks for it
        with self._lock:
            self._deck.sleep_fade(self._sleep_minutes)
        if self.output.realtime:  # from now on a listener is waiting: measure ahead instead
            self._levels.wait_up_to_s = None
            self._levels.start()
        self.output.open(self._deck)
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
        self._set_paused(True)

    def resume(self) -> None:
        self._set_paused(False)

    def toggle_pause(self) -> bool:
        """Pause or resume; returns True if now paused."""
        with self._lock:
            paused = not self._paused
        self._set_paused(paused)
        return paused

    def _set_paused(self, paused: bool) -> None:
        with self._lock:
            self._paused = paused
            if self._deck is not None:
                self._deck.paused = paused
                self._deck.retarget()

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
            deck.stop(fade_s)

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
            if self._deck is not None:  # else armed by start()
                self._deck.sleep_fade(minutes)

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

    # -- status -------------------------------------------------------------------------

    def status(self) -> PlayerStatus:
        deck, feeder, entries = self._deck, self._feeder, self.playlist.entries
        if deck is None or feeder is None:
            return PlayerStatus(None, None, 0.0, 0.0, 0.0, self.playlist.total_s, self.playlist.total_s,
                                self._paused, False, False, 0, None, self._volume, None,
                                self._sleep, (), self._after_track, 1, self._track_count)
        sr = deck.sr
        pos = feeder.heard_position()
        total = feeder.total
        current = current_slot(feeder.slots, pos)
        index = current[0] if current else None
        entry = entries[index] if index is not None else None
        finished = self._done.is_set()
        left = 0.0 if finished else max(0.0, (total - pos) / sr)
        return PlayerStatus(
            index=index,
            entry=entry,
            position_s=max(0.0, (pos - current[1]) / sr) if current else 0.0,
            entry_length_s=current[2] / sr if current else 0.0,
            elapsed_s=deck.played / sr,
            remaining_s=left,
            total_s=deck.played / sr + left,
            paused=self._paused,
            finished=finished,
            stopped_early=(feeder.cut_by_sleep or feeder.error is not None
                           or (finished and not (deck.eof and deck.read >= deck.write))),
            underruns=deck.underruns,
            error=feeder.error,
            volume=self._volume,
            bpm=(entry.used_bpm or entry.bpm) if entry else None,
            sleep=self._sleep,
            notices=tuple(feeder.notices),
            ends_after_track=self._after_track,
            track_no=self._track_no[index] if index is not None else 1,
            track_count=self._track_count,
        )


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
