"""One listening session, driven by both faces: the CLI (``companion play``) and the app.

The faces only draw and prompt; everything a session *does* is here, once::

    session = ListeningSession(store, playlist, listener="me", output=None)  # the sound card
    session.scales                        # the listener's scales, stress first
    before = ask_ratings(session.scales, "before", prompt)     # CLI: a Prompt on the terminal
    before = session.ratings_from("before", {"stress": "6", "vas": "40"})   # app: its form
    session.begin(before)                 # opens the output, plays; the record lives in memory
    session.status()                      # poll it (4 times a second); counts the time heard
    session.toggle_pause(); session.skip(); session.previous(); session.toggle_sleep()
    session.volume_step(+1); session.stop()   # stop: the one fade, STOP_FADE_S
    session.wait(timeout)                 # True once playback is over
    ending = session.finish()             # outcome, time heard, underruns, device error
    session.rate_after(after)             # in memory at once; written by the writer
    report = session.close()              # waits a little for the database; else a pending file

Why a writer thread: playback never depends on a database write. The record (session,
ratings, minutes heard) is kept in memory and written whole, by ``uid``
(``Store.save_session``), by one thread with its own connection and a short lock timeout,
retried every :data:`RETRY_S` until it succeeds. A database locked by another process for
30 s, or a full disk, leaves the music playing and the faces responsive. If the record still
cannot be written when the session is closed, it goes to a pending file under
``COMPANION_HOME`` that the next start imports (``sessions.recover_pending``): no rating is lost.

Rendering is not listening: ``record=False`` plays (or renders) the same way and stores nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from companion.core import sessions
from companion.core.breathing import (
    BreathCue,
    arc_descent,
    beat_position,
    breath_counts,
    breath_cue,
)
from companion.core.errors import CompanionError, UserInputError
from companion.core.models import (
    OUTCOME_COMPLETED,
    OUTCOME_IN_PROGRESS,
    OUTCOME_STOPPED,
    Playlist,
    Rating,
    Session,
)
from companion.core.player import STOP_FADE_S, VOLUME_STEP, Player, PlayerStatus
from companion.core.store import Store, now_iso

__all__ = [
    "HEARTBEAT_S", "STOP_FADE_S", "Prompt", "ask_ratings", "ratings_from", "ListeningSession",
    "Ending", "SaveReport", "HeardClock", "check_device", "breathing_on", "set_breathing",
    "check_listener_name",
]

HEARTBEAT_S = 10.0  # minutes heard are written this often: a killed process loses little
RETRY_S = 1.0  # a write that failed is tried again this soon
WRITE_LOCK_WAIT_S = 1.0  # one write waits this long for another process's lock
FINAL_WAIT_S = 5.0  # close() waits this long for the database before keeping a pending file
_MAX_TRIES = 5  # invalid answers in a row before asking gives up


# -- asking for ratings -------------------------------------------------------------------------


class Prompt(Protocol):
    """How a face asks one question (the CLI: the terminal; tests: a list of answers).

    interactive : an invalid answer is explained and asked again (a person is there); if not,
        it raises UserInputError at once.
    """

    interactive: bool

    def ask(self, question: str) -> str | None:
        """Show ``question``; the answer as typed, or None when there is none (end of input)."""

    def say(self, text: str) -> None:
        """Tell the listener something (an invalid answer, a skipped rating)."""


def _question(scale: str, phase: str, late: bool) -> str:
    s = sessions.SCALES[scale]
    if scale == "stress":
        lead = "How do you feel now? " if phase == "after" else "Before we start. "
        tail = " (Enter to skip for now)" if phase == "after" and not late else ""
        return f"{lead}{s.prompt}{tail}: "
    return f"{s.prompt} (Enter to skip): "


def ask_ratings(
    scales: Sequence[str], phase: str, prompt: Prompt, *,
    given: Mapping[str, Any] | None = None, late: bool = False,
) -> list[Rating]:
    """Ask ``scales`` for one phase, stress first; validated, nothing stored.

    given : answers already given (``--pre``, ``--vas``...): validated, not asked. When some
        are given and nobody is there to answer (not interactive), the rest are not asked.
    Stress before is required; an empty answer to stress *after* skips every rating after (they
    can be added later with ``companion rate --last``); an empty answer skips an optional scale.
    """
    given = {k: v for k, v in (given or {}).items() if v is not None}
    ratings: list[Rating] = []
    # A scale given by flag is kept even when the listener is not usually asked it.
    extra = [s for s in sessions.SCALE_NAMES if s in given and s not in scales]
    for scale in (*scales, *extra):
        if scale in given:
            ratings.append(sessions.make_rating(scale, phase, given[scale], late=late))
            continue
        if given and not prompt.interactive:
            continue
        if scale == "stai6":
            rating = _ask_stai6(phase, prompt, late)
        else:
            rating = _ask_one(scale, phase, prompt, late,
                              required=scale == "stress" and phase == "before")
        if rating is None and scale == "stress" and phase == "after":
            prompt.say("No rating after for now; add it later with `companion rate --last`.")
            return []
        if rating is not None:
            ratings.append(rating)
    return ratings


def _ask_one(scale: str, phase: str, prompt: Prompt, late: bool, *, required: bool) -> Rating | None:
    range_text = sessions.SCALES[scale].range_text
    for _ in range(_MAX_TRIES):
        answer = prompt.ask(_question(scale, phase, late))
        if answer is None or not answer.strip():
            if not required:
                return None
            if answer is None or not prompt.interactive:
                raise UserInputError(f"no {scale} rating {phase} was given; give {range_text}")
            prompt.say(f"Please give {range_text}.")
            continue
        try:
            return sessions.make_rating(scale, phase, answer, late=late)
        except UserInputError as exc:
            if not prompt.interactive:
                raise
            prompt.say(str(exc))
    raise UserInputError(f"no valid {scale} rating {phase} after {_MAX_TRIES} tries; nothing was stored")


def _ask_stai6(phase: str, prompt: Prompt, late: bool) -> Rating | None:
    prompt.say(f"{sessions.SCALES['stai6'].prompt}. Enter on the first one skips them.")
    items: list[str] = []
    for n, name in enumerate(sessions.STAI6_ITEMS):
        for _ in range(_MAX_TRIES):
            answer = (prompt.ask(f"  I feel {name} [1-4]: ") or "").strip()
            if not answer and n == 0:
                return None
            if answer in ("1", "2", "3", "4"):
                items.append(answer)
                break
            message = f"STAI-6 answer for {name!r} is {answer!r}; give a whole number from 1 to 4"
            if not prompt.interactive:
                raise UserInputError(message)
            prompt.say(message)
        else:
            raise UserInputError(f"no valid STAI-6 answer for {name!r} after {_MAX_TRIES} tries")
    return sessions.make_rating("stai6", phase, items, late=late)


def ratings_from(scales: Sequence[str], phase: str, answers: Mapping[str, Any]) -> list[Rating]:
    """The answers of a form (the app's), validated together: UserInputError names the first
    invalid one and nothing is kept. Empty answers skip their scale; stress before is required."""
    out = []
    for scale in scales:
        raw = answers.get(scale)
        empty = raw is None or (isinstance(raw, str) and not raw.strip()) or (
            isinstance(raw, Sequence) and not isinstance(raw, str) and not raw)
        if empty:
            if scale == "stress" and phase == "before":
                raise UserInputError(f"give your stress before, {sessions.SCALES['stress'].range_text}")
            continue
        out.append(sessions.make_rating(scale, phase, raw))
    return out


# -- the listener's settings --------------------------------------------------------------------

check_listener_name = sessions.check_listener_name


def breathing_on(store: Store, listener: str) -> bool:
    """Whether this listener wants the breathing guide (off until they turn it on)."""
    try:
        return bool(store.listener_settings(listener).get("breathing", False))
    except CompanionError:
        return False


def set_breathing(store: Store, listener: str, on: bool) -> None:
    """Remember the breathing guide on or off for this listener (creates the listener)."""
    settings = dict(store.listener_settings(listener))
    settings["breathing"] = bool(on)
    store.set_listener_settings(listener, settings)


# -- the sound output -----------------------------------------------------------------------------


def check_device(device: str | int | None = None) -> None:
    """Raise now if the sound card cannot play: PortAudioMissingError (install the library)
    or NoOutputDeviceError (connect or choose a device), each one line without a remedy that
    belongs to one face (the CLI adds ``--output``, the app its render key)."""
    from companion.core.player import check_output

    check_output(device)


# -- time heard ----------------------------------------------------------------------------------


class HeardClock:
    """Time heard, each moment of the playlist counted once.

    The player counts every frame played, so going back (``p``) and hearing a track again
    counted it twice ("You listened for 13:12" after a 10:53 playlist). This keeps, per entry,
    how far into it the listener has heard, and subtracts what was heard again. Fed with
    player status snapshots (a few a second); frames between two snapshots that are not
    explained by a replay count as new, so a coarse poll never loses time.
    """

    def __init__(self) -> None:
        self._reach: dict[int, float] = {}
        self._last: tuple[int | None, float, float] = (None, 0.0, 0.0)
        self.replayed_s = 0.0
        self.played_s = 0.0
        self._lock = threading.Lock()

    def feed(self, index: int | None, position_s: float, elapsed_s: float) -> None:
        with self._lock:
            last_index, last_pos, last_elapsed = self._last
            if elapsed_s < last_elapsed:
                return  # read before the last one fed (two threads polling): nothing new
            played = elapsed_s - last_elapsed
            if index is not None and played > 0:
                if index == last_index and position_s >= last_pos:
                    start = last_pos
                else:
                    start = max(0.0, position_s - played)
                reach = self._reach.get(index, 0.0)
                self.replayed_s += max(0.0, min(position_s, reach) - start)
                self._reach[index] = max(reach, position_s)
            self.played_s = max(self.played_s, elapsed_s)
            self._last = (index, position_s, elapsed_s)

    @property
    def heard_s(self) -> float:
        with self._lock:
            return max(0.0, self.played_s - self.replayed_s)


# -- the session ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ending:
    """How playback ended: ``outcome`` (completed / stopped_early), time heard, the device's
    error if it went away (one line), underruns."""

    outcome: str
    heard_s: float
    underruns: int
    error: str | None

    @property
    def completed(self) -> bool:
        return self.outcome == OUTCOME_COMPLETED


@dataclass(frozen=True)
class SaveReport:
    """What became of the record: written to the database, or kept in ``pending`` (a file
    imported at the next start) because the database could not be written (``reason``)."""

    saved: bool
    pending: Path | None = None
    reason: str = ""

    @property
    def message(self) -> str:
        """One line for the listener when the record is not in the database yet; "" if it is."""
        if self.saved:
            return ""
        if self.pending is None:  # neither the database nor a file beside it took the record
            return (f"the database could not be written, nor a file to keep this session in "
                    f"({self.reason}); it was not saved")
        return (f"the database could not be written ({self.reason}); your session and ratings "
                f"are kept in {self.pending} and will be saved the next time companion starts")


class ListeningSession:
    """A playlist played once as a session: ratings before, playback, ratings after.

    store : the face's store; the writer opens its own connection to the same file.
    output : a player output (``FileOutput``, ``NullOutput``); None plays on the sound card
        (``device`` chooses it).
    record : False renders or plays without storing anything (``play --output``).
    player_options : passed to :class:`Player` (fade_in_s, fade_out_s, target_lufs,
        level_drop_db, volume); crossfade_s and the fades default to the playlist's own.
    """

    def __init__(
        self, store: Store, playlist: Playlist, *, listener: str, output: Any = None,
        device: str | int | None = None, crossfade_s: float | None = None, record: bool = True,
        stop_fade_s: float | None = None, **player_options: Any,
    ) -> None:
        self.store = store
        self.playlist = playlist
        self.listener = listener
        self.record = record
        self.output = output
        self.device = device
        self.crossfade_s = crossfade_s  # None: the playlist's own (the player reads it)
        self.stop_fade_s = STOP_FADE_S if stop_fade_s is None else stop_fade_s
        self._player_options = player_options
        self.player: Player | None = None
        self.clock = HeardClock()
        self.ending: Ending | None = None
        self._session: Session | None = None  # the record, in memory
        self._lock = threading.Lock()
        self._dirty = threading.Event()
        self._closing = threading.Event()
        self._written = threading.Event()  # the record as it is now is in the database
        self._version = 0
        self._last_error = ""
        self._writer: threading.Thread | None = None
        self._beats: dict[int, tuple[float, ...]] = {}

    # -- before -------------------------------------------------------------------------------

    @property
    def scales(self) -> tuple[str, ...]:
        """The scales asked of this listener, stress first (``listeners set NAME --scales``)."""
        return sessions.listener_scales(self.store, self.listener)

    def ratings_from(self, phase: str, answers: Mapping[str, Any]) -> list[Rating]:
        """A face's form answers for this listener's scales, validated (see :func:`ratings_from`)."""
        return ratings_from(self.scales, phase, answers)

    def ask(self, phase: str, prompt: Prompt, given: Mapping[str, Any] | None = None,
            *, late: bool = False) -> list[Rating]:
        """Ask this listener's scales through ``prompt`` (see :func:`ask_ratings`)."""
        return ask_ratings(self.scales, phase, prompt, given=given, late=late)

    def begin(self, before: Sequence[Rating] = ()) -> None:
        """Open the output and start playing; then keep the record (with ``before``).

        Blocks for as long as opening the output takes: faces call it off their UI thread.
        AudioDeviceError / UserInputError (one line) when playback cannot start: then nothing
        is stored. The ratings are validated first.
        """
        from companion.core.player import SoundDeviceOutput

        for r in before:
            sessions.validate_rating(r)
        output = self.output
        if output is None:
            check_device(self.device)  # "no device" before anything else happens
            output = SoundDeviceOutput(self.device)
        player = Player(self.playlist, output=output, crossfade_s=self.crossfade_s,
                        **self._player_options)
        try:
            player.start()
        except BaseException:
            player.close()
            raise
        self.player = player
        for index in range(len(self.playlist.entries)):
            self.beat_times(index)  # read now, off the faces' drawing thread
        if not self.record:
            return
        self._session = Session(
            id=0, listener=self.listener, playlist=self.playlist.name, arc=self.playlist.arc,
            started_at=now_iso(), ended_at=None, minutes_listened=0.0,
            outcome=OUTCOME_IN_PROGRESS, uid=uuid.uuid4().hex,
            snapshot=json.dumps(sessions.snapshot_of(self.playlist)), ratings=tuple(before),
        )
        self._changed()
        self._writer = threading.Thread(target=self._write_loop, name="companion-session-writer",
                                        daemon=True)
        self._writer.start()

    # -- while playing -------------------------------------------------------------------------

    def status(self) -> PlayerStatus:
        """The player's status now (cheap, never blocks); also counts the time heard."""
        assert self.player is not None, "begin() first"
        st = self.player.status()
        self.clock.feed(st.index, st.position_s, st.elapsed_s)
        return st

    @property
    def heard_s(self) -> float:
        return self.clock.heard_s

    def toggle_pause(self) -> bool:
        return self._player().toggle_pause()

    def skip(self) -> None:
        self._player().skip()

    def previous(self) -> None:
        """Restarts the track once 3 s of it have played; sooner, the one before."""
        self._player().previous()

    def toggle_sleep(self) -> bool:
        """Sleep timer: end after this track; pressed again, cancelled. True if set now."""
        return self._player().toggle_sleep()

    def sleep_after_track(self, on: bool = True) -> None:
        self._player().sleep_after_track(on)

    def sleep_fade(self, minutes: float | None) -> None:
        self._player().sleep_fade(minutes)

    def volume_step(self, direction: int) -> float:
        """One step (a tenth) louder (+1) or quieter (-1). Returns the new volume."""
        p = self._player()
        return p.set_volume(p.volume + direction * VOLUME_STEP)

    def stop(self, fade_s: float | None = None) -> None:
        """Fade out (the one stop fade, :data:`STOP_FADE_S`, unless told) and end."""
        self._player().stop(self.stop_fade_s if fade_s is None else fade_s)

    def wait(self, timeout: float | None = None) -> bool:
        """True once playback is over (end, stop, sleep timer, device lost)."""
        return self._player().wait(timeout)

    def _player(self) -> Player:
        if self.player is None:
            raise RuntimeError("the session has not begun")
        return self.player

    def beat_times(self, index: int | None) -> tuple[float, ...]:
        """The stored beat times (s) of playlist entry ``index``: read once, kept."""
        if index is None or not 0 <= index < len(self.playlist.entries):
            return ()
        if index not in self._beats:
            entry = self.playlist.entries[index]
            beats: tuple[float, ...] = ()
            if not entry.is_silence:
                try:
                    beats = tuple(self.store.beat_times(entry.path))
                except (CompanionError, ValueError):
                    beats = ()
            self._beats[index] = beats
        return self._beats[index]

    def breath(self, st: PlayerStatus) -> BreathCue | None:
        """The breathing guide's cue for this status (None in a silence or without a tempo):
        on the track's stored beats, slower as the arc descends (see ``core/breathing.py``)."""
        entry = st.entry
        if entry is None or entry.is_silence or not st.bpm:
            return None
        beats = beat_position(self.beat_times(st.index), st.bpm, st.position_s)
        if beats is None:
            return None
        tempos = [e.used_bpm or e.bpm for e in self.playlist.tracks]
        return breath_cue(beats, st.bpm, breath_counts(st.bpm, arc_descent(tempos, st.bpm)))

    # -- after ---------------------------------------------------------------------------------

    def finish(self) -> Ending:
        """Playback is over (or is ended now): close the output, record how it ended."""
        if self.ending is not None:
            return self.ending
        player = self._player()
        over = player.wait(0)  # ended now, before playback was over: stopped early
        st = self.status()
        player.close()
        outcome = OUTCOME_STOPPED if st.stopped_early or st.error or not over else OUTCOME_COMPLETED
        # What went wrong, without the player's "reconnect it": each face says its own remedies.
        error = st.error.split("; ")[0] if st.error else None
        self.ending = Ending(outcome, self.heard_s, st.underruns, error)
        self._update(ended_at=now_iso(), outcome=outcome, minutes_listened=self.heard_s / 60.0,
                     underruns=st.underruns)
        return self.ending

    def rate_after(self, ratings: Sequence[Rating]) -> None:
        """Keep the ratings after (validated first); written by the writer, never lost."""
        for r in ratings:
            sessions.validate_rating(r)
        with self._lock:
            if self._session is None:
                return
            self._session = _with_ratings(self._session, ratings)
        self._changed()

    def close(self, wait_s: float = FINAL_WAIT_S) -> SaveReport:
        """Wait up to ``wait_s`` for the record to reach the database; otherwise keep it in a
        pending file. Ends playback first if it is still going. Safe to call twice."""
        if self.player is not None and self.ending is None:
            self.finish()
        if self._session is None or self._writer is None:
            return SaveReport(saved=not self.record or self._session is None)
        self._dirty.set()
        written = self._written.wait(wait_s)
        self._closing.set()
        self._dirty.set()
        self._writer.join(timeout=WRITE_LOCK_WAIT_S + 1.0)
        if written or self._written.is_set():
            return SaveReport(saved=True)
        with self._lock:
            record = self._session
        try:
            path = sessions.keep_pending(record)  # no pid: ended, import it at the next start
        except OSError as exc:
            return SaveReport(saved=False, reason=f"{self._last_error}; and {exc}")
        return SaveReport(saved=False, pending=path, reason=self._last_error or "it is locked")

    @property
    def write_problem(self) -> str:
        """The last write error while the record is not yet written ("" when all is written)."""
        return "" if self._written.is_set() else self._last_error

    # -- the writer ----------------------------------------------------------------------------

    def _update(self, **changes: Any) -> None:
        with self._lock:
            if self._session is None:
                return
            self._session = replace(self._session, **changes)
        self._changed()

    def _changed(self) -> None:
        with self._lock:
            self._version += 1
            self._written.clear()
        self._dirty.set()

    def _write_loop(self) -> None:
        """Write the record whenever it changed, and every HEARTBEAT_S; retry failures."""
        store: Store | None = None
        next_beat = time.monotonic() + HEARTBEAT_S
        try:
            while True:
                wait = RETRY_S if self._last_error else HEARTBEAT_S
                self._dirty.wait(max(0.0, min(next_beat - time.monotonic(), wait)))
                self._dirty.clear()
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + HEARTBEAT_S
                    self._heartbeat()
                store = self._write(store)
                if self._closing.is_set() and (self._written.is_set() or self._last_error):
                    return
        finally:
            if store is not None:
                store.close()

    def _heartbeat(self) -> None:
        """Minutes heard so far into the record, paused or not: the session is alive."""
        if self.ending is not None or self.player is None:
            return
        st = self.player.status()  # the faces feed the clock; this only reads
        with self._lock:
            if self._session is not None and self._session.outcome == OUTCOME_IN_PROGRESS:
                self._session = replace(self._session, minutes_listened=self.heard_s / 60.0,
                                        underruns=st.underruns)
                self._version += 1
                self._written.clear()

    def _write(self, store: Store | None) -> Store | None:
        """One try at writing the record as it is now; returns the connection to keep."""
        with self._lock:
            record, version = self._session, self._version
        if record is None or self._written.is_set():
            return store
        try:
            if store is None:
                store = Store(self.store.path, timeout_s=WRITE_LOCK_WAIT_S)
            playing = record.outcome == OUTCOME_IN_PROGRESS
            store.save_session(record, pid=os.getpid() if playing else None)
        except Exception as exc:  # locked, full, gone: the writer never dies, it tries again
            self._last_error = _reason(exc)
            if store is not None:
                store.close()
            # Meanwhile the record is kept in a file too: a process killed while the database
            # is unwritable still leaves every rating given.
            with contextlib.suppress(OSError):
                sessions.keep_pending(record, pid=os.getpid())
            return None
        self._last_error = ""
        with self._lock:
            if version == self._version:
                self._written.set()
        with contextlib.suppress(OSError):
            sessions.drop_pending(record)
        return store


def _with_ratings(session: Session, ratings: Sequence[Rating]) -> Session:
    new = {(r.phase, r.scale) for r in ratings}
    kept = tuple(r for r in session.ratings if (r.phase, r.scale) not in new)
    return replace(session, ratings=kept + tuple(ratings))


def _reason(exc: BaseException) -> str:
    """The cause in a few words: "database is locked", "database or disk is full"."""
    cause = exc.__cause__ or exc
    return str(cause).strip() or type(cause).__name__

