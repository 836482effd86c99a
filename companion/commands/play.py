"""Verbs ``play`` (a listening session with ratings before and after) and ``devices``."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from companion.commands._output import (
    add_format_arg,
    add_listener_arg,
    emit,
    format_duration,
    listener_of,
)
from companion.core.errors import AudioDeviceError, UserInputError

PROGRESS_EVERY_S = 5.0  # heartbeat: a killed process still leaves the minutes listened
STATUS_EVERY_S = 0.5
KEYS_HELP = ("keys: space pause/resume · n next · p previous (restarts after 3 s) · "
             "e end after this track (again: cancel the sleep timer) · + / - volume · q stop")


def register(sub: argparse._SubParsersAction) -> None:
    from companion.core import render

    p = sub.add_parser(
        "play",
        help="play a playlist as a session, with stress ratings before and after",
        description="Play a playlist as a listening session: asks how stressed you are before "
        "(0 = completely calm … 10 = the most stressed you can imagine), plays it gently "
        "(levelled, crossfaded, fading in and out), then asks again. " + KEYS_HELP + ".",
    )
    p.add_argument("playlist", metavar="NAME|FILE.m3u8", help="a saved playlist's name or an M3U8 file")
    p.add_argument("--pre", metavar="N", help="stress before (0–10) instead of asking")
    p.add_argument("--post", metavar="N", help="stress after (0–10) instead of asking")
    p.add_argument("--output", metavar="FILE.wav|.flac",
                   help="render exactly what would be heard into a file (no sound device needed)")
    p.add_argument("--crossfade", type=float, metavar="S",
                   help="equal-power crossfade between tracks, seconds (default: the playlist's own, "
                   "as built with `build --crossfade S | --gapless`; "
                   f"{render.DEFAULT_CROSSFADE_S:g} for a playlist that does not say)")
    p.add_argument("--gapless", action="store_true",
                   help="no crossfade: each track follows the last, no gap (whatever the playlist says)")
    p.add_argument("--fade-in", type=float, metavar="S",
                   help="fade-in at the start, seconds (default: the playlist's own, "
                   f"else {render.DEFAULT_FADE_IN_S:g})")
    p.add_argument("--fade-out", type=float, metavar="S",
                   help="fade-out at the end, seconds (default: the playlist's arc ending, e.g. 60 "
                   f"for sleep, else {render.DEFAULT_FADE_OUT_S:g})")
    p.add_argument("--target-lufs", type=float, metavar="L", default=render.DEFAULT_TARGET_LUFS,
                   help=f"level every track to this loudness (default {render.DEFAULT_TARGET_LUFS:g} LUFS)")
    p.add_argument("--level-drop", type=float, metavar="DB", default=0.0,
                   help="let the level follow the arc: this many dB quieter at the slowest track (default 0)")
    p.add_argument("--device", metavar="NAME|INDEX", help="output device (`companion devices` lists them)")
    p.add_argument("--volume", type=float, metavar="V", default=1.0, help="volume 0–1 (default 1)")
    p.add_argument("--sleep-after-track", action="store_true",
                   help="sleep timer: end with a fade after the track playing (from the start: the "
                   "first); the key e sets or cancels it while playing")
    p.add_argument("--sleep-fade", type=float, metavar="MIN",
                   help="sleep timer: fade out over MIN minutes from the start, then end")
    add_listener_arg(p)
    p.set_defaults(func=run_play)

    d = sub.add_parser("devices", help="list audio output devices",
                       description="List the audio output devices PortAudio can see.")
    add_format_arg(d)
    d.set_defaults(func=run_devices)


# -- devices ------------------------------------------------------------------------------------


def run_devices(args: argparse.Namespace) -> int:
    from companion.core import player

    devices = player.list_devices()
    if not devices:
        raise AudioDeviceError(
            "no audio output device found; connect one (Debian: check `aplay -l`), "
            "or render sessions to a file with `companion play NAME --output FILE.wav`"
        )
    rows = [{"index": d.index, "name": d.name, "channels": d.channels,
             "default_samplerate": int(d.default_samplerate), "default": d.default} for d in devices]
    emit(rows, ["index", "name", "channels", "default_samplerate", "default"], args.format,
         headers={"default_samplerate": "rate_hz"})
    return 0


# -- play ---------------------------------------------------------------------------------------


def run_play(args: argparse.Namespace) -> int:
    from companion.core import player as player_mod
    from companion.core import playlists, sessions
    from companion.core.models import OUTCOME_COMPLETED, OUTCOME_STOPPED
    from companion.core.store import Store

    listener = listener_of(args)
    # Everything given by flag is checked before anything is asked or stored.
    for flag, value in (("--pre", args.pre), ("--post", args.post)):
        if value is not None:
            try:
                sessions.parse_stress(value)
            except UserInputError as exc:
                raise UserInputError(f"{flag}: {exc}; nothing was stored") from None
    if args.sleep_fade is not None and not args.sleep_fade > 0:
        raise UserInputError(f"--sleep-fade {args.sleep_fade:g} must be more than 0 minutes")

    store = Store()
    try:
        playlist = playlists.load(args.playlist, store=store)
        for note in playlist.notes[:3]:
            print(f"note: {note}", file=sys.stderr)
        if len(playlist.notes) > 3:
            print(f"note: … and {len(playlist.notes) - 3} more (`companion playlist show`)", file=sys.stderr)
        if args.output:
            output: Any = player_mod.FileOutput(args.output)
        else:
            player_mod.check_output(args.device)  # no device → one line, nothing stored
            output = player_mod.SoundDeviceOutput(args.device)
        player = player_mod.Player(
            playlist, output=output, crossfade_s=_crossfade(args, playlist), fade_in_s=args.fade_in,
            fade_out_s=args.fade_out, target_lufs=args.target_lufs, level_drop_db=args.level_drop,
            volume=args.volume,
        )
        if not any(os.path.isfile(e.path) for e in playlist.tracks):
            raise UserInputError(f"playlist {playlist.name!r} has no tracks whose files can be found; "
                                 "`companion playlist show` lists them")

        before = _ratings(store, listener, "before", args.pre)
        snapshot = sessions.snapshot_of(playlist) if hasattr(sessions, "snapshot_of") else None
        session_id = sessions.begin(store, listener=listener, playlist=playlist.name, arc=playlist.arc,
                                    snapshot=snapshot, before=before)
        try:
            player.start()
        except BaseException:  # no sound came out (Ctrl-C included): end the session honestly
            player.close()
            sessions.finish(store, session_id, outcome=OUTCOME_STOPPED, minutes_listened=0.0)
            raise
        status = _listen(player, store, session_id, args)
        # A device lost mid-session also counts as stopped early: what was heard is kept.
        outcome = OUTCOME_STOPPED if status.stopped_early or status.error else OUTCOME_COMPLETED
        sessions.finish(store, session_id, outcome=outcome, minutes_listened=status.minutes_listened,
                        underruns=status.underruns)
        if args.output:
            print(f"wrote {args.output} ({format_duration(status.elapsed_s)})", file=sys.stderr)
        if status.error:
            print(f"companion: {status.error}", file=sys.stderr)
        after = _ratings(store, listener, "after", args.post)
        if after:
            sessions.rate_after(store, session_id, after)
        _summary(status, before, after, outcome)
        return 2 if status.error else 0
    finally:
        store.close()


def _crossfade(args: argparse.Namespace, playlist: Any) -> float:
    """The crossfade to play with, seconds: --gapless or --crossfade when given, else the one
    the playlist was built for (so the session lasts as long as the plan said)."""
    from companion.core.playlists import crossfade_of

    if args.gapless:
        return 0.0
    return args.crossfade if args.crossfade is not None else crossfade_of(playlist)


def _ratings(store: Any, listener: str, phase: str, given: str | None) -> list[Any]:
    from companion.core import sessions

    if hasattr(sessions, "prompt_ratings"):
        return list(sessions.prompt_ratings(store, listener, phase, given_stress=given,
                                            say=lambda s: print(s, file=sys.stderr)))
    # Stress only (until the sessions module offers prompt_ratings).
    from companion.core.models import Rating
    from companion.core.store import now_iso

    if given is not None:
        return [Rating("stress", phase, float(sessions.parse_stress(given)), recorded_at=now_iso())]
    for _ in range(5):
        try:
            answer = input(f"{sessions.STRESS_PROMPT}: ")
        except EOFError:
            raise UserInputError(f"no stress rating {phase} was given; nothing was stored") from None
        try:
            return [Rating("stress", phase, float(sessions.parse_stress(answer)), recorded_at=now_iso())]
        except UserInputError as exc:
            if not sys.stdin.isatty():
                raise
            print(exc, file=sys.stderr)
    raise UserInputError(f"no valid stress rating {phase}; nothing was stored")


def _listen(player: Any, store: Any, session_id: int, args: argparse.Namespace) -> Any:
    """Play to the end (or until stopped), showing status and recording progress."""
    from companion.core import player as player_mod
    from companion.core import sessions

    if args.sleep_after_track:
        player.sleep_after_track()
    if args.sleep_fade:
        player.sleep_fade(args.sleep_fade)
    line = _StatusLine(live=not args.output and sys.stderr.isatty())
    last_progress = time.monotonic()
    interrupts = 0
    try:
        with _keys(player, enabled=not args.output and _stdin_is_tty()):
            while True:
                try:
                    while not player.wait(STATUS_EVERY_S):
                        st = player.status()
                        line.show(st)
                        if time.monotonic() - last_progress >= PROGRESS_EVERY_S:
                            sessions.progress(store, session_id, st.minutes_listened, st.underruns)
                            last_progress = time.monotonic()
                    break
                except KeyboardInterrupt:
                    interrupts += 1
                    # First Ctrl-C: a short, gentle fade. A second one: now.
                    player.stop(player_mod.STOP_FADE_S if interrupts == 1 else 0.05)
                    line.say("stopping…")
        status = player.status()
    finally:
        player.close()  # whatever happened, the sound stops and the device is released
    line.show(status)
    line.end()
    return status


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def _keys(player: Any, *, enabled: bool) -> Iterator[None]:
    """Single keys on the terminal while playing (cbreak mode); the terminal is always restored."""
    if not enabled:
        yield
        return
    import select
    import termios
    import tty

    fd = sys.stdin.fileno()
    try:
        saved = termios.tcgetattr(fd)
    except termios.error:
        yield
        return
    done = threading.Event()

    def read_keys() -> None:
        while not done.is_set():
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                continue
            handle_key(player, os.read(fd, 1).decode(errors="ignore"))

    tty.setcbreak(fd)  # keeps ISIG: Ctrl-C still interrupts
    thread = threading.Thread(target=read_keys, name="companion-keys", daemon=True)
    thread.start()
    print(KEYS_HELP, file=sys.stderr)
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=1)
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def handle_key(player: Any, key: str) -> None:
    """One key pressed on the terminal while playing (see :data:`KEYS_HELP`)."""
    from companion.core.player import STOP_FADE_S, VOLUME_STEP

    key = key.lower()
    if key == " ":
        player.toggle_pause()
    elif key == "n":
        player.skip()
    elif key == "p":
        player.previous()
    elif key == "e":
        player.toggle_sleep()
    elif key in ("+", "="):
        player.set_volume(player.volume + VOLUME_STEP)
    elif key in ("-", "_"):
        player.set_volume(player.volume - VOLUME_STEP)
    elif key == "q":
        player.stop(STOP_FADE_S)


class _StatusLine:
    """One status line on stderr: rewritten in place on a terminal, a line per track otherwise."""

    def __init__(self, *, live: bool) -> None:
        self.live = live
        self._last_index: int | None = -1
        self._last_sleep = ""
        self._notices = 0
        self._width = 0

    def show(self, st: Any) -> None:
        for notice in st.notices[self._notices:]:
            self.say(f"note: {notice}")
        self._notices = len(st.notices)
        if st.entry is None:
            return
        bpm = f"{st.bpm:.0f} BPM" if st.bpm else "– BPM"
        title = st.entry.display_name or os.path.basename(st.entry.path)
        extra = " · paused" if st.paused else ""
        if st.volume < 1.0:
            extra += f" · vol {st.volume * 100:.0f}%"
        if st.sleep:
            extra += f" · sleep {st.sleep}"
        text = (f"{(st.index or 0) + 1}. {title} · {bpm} · {format_duration(st.elapsed_s)} elapsed"
                f" · {format_duration(st.remaining_s)} left{extra}")
        if self.live:
            pad = max(0, self._width - len(text))
            sys.stderr.write("\r" + text + " " * pad)
            sys.stderr.flush()
            self._width = len(text)
        elif st.index != self._last_index or st.sleep != self._last_sleep:
            print(text, file=sys.stderr)
        self._last_index = st.index
        self._last_sleep = st.sleep

    def say(self, text: str) -> None:
        if self.live and self._width:
            sys.stderr.write("\r" + " " * self._width + "\r")
            self._width = 0
        print(text, file=sys.stderr)

    def end(self) -> None:
        if self.live and self._width:
            sys.stderr.write("\n")
            self._width = 0


def _summary(status: Any, before: list[Any], after: list[Any], outcome: str) -> None:
    def stress(rs: list[Any]) -> str:
        for r in rs:
            if r.scale == "stress" and r.value is not None:
                return f"{r.value:g}"
        return "–"

    print(f"Listened {status.minutes_listened:.1f} min ({outcome.replace('_', ' ')}); "
          f"stress {stress(before)} → {stress(after)}.")
