"""Verbs ``play`` (a listening session with ratings before and after) and ``devices``."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

from companion.commands._output import (
    add_format_arg,
    add_listener_arg,
    emit,
    format_duration,
    listener_of,
)
from companion.core.errors import AudioDeviceError, NoOutputDeviceError, UserInputError
from companion.core.untrusted import for_terminal

STATUS_EVERY_S = 0.5
KEYS_HELP = ("keys: space pause/resume · n next · p previous (restarts after 3 s) · "
             "e end after this track (again: cancel the sleep timer) · b breathing guide · "
             "+ / - volume · q or s stop with a gentle fade")


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
    for name, metavar, what in _SCALE_FLAGS:
        for flag, phase in (("pre", "before"), ("post", "after")):
            p.add_argument(f"--{flag}-{name}", metavar=metavar,
                           help=f"{what} {phase}, instead of asking (the scales asked are "
                           "chosen with `companion listeners set NAME --scales ...`)")
    p.add_argument("--output", metavar="FILE.wav|.flac",
                   help="render exactly what would be heard into a file (no sound device needed); "
                   "a render is not a listening session: nothing is asked or stored")
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
    p.add_argument("--breathe", action="store_true",
                   help="show the breathing guide in the status line from the start: in and out "
                   "over whole beats of the track (the key b shows or hides it; on by itself for a "
                   "listener who turned it on in the app)")
    p.add_argument("--sleep-fade", type=float, metavar="MIN",
                   help="sleep timer: fade out over MIN minutes from the start, then end")
    add_listener_arg(p)
    p.set_defaults(func=run_play)

    d = sub.add_parser("devices", help="list audio output devices",
                       description="List the audio output devices PortAudio can see.")
    add_format_arg(d)
    d.set_defaults(func=run_devices)


# -- devices ------------------------------------------------------------------------------------


RENDER_HINT = "or render the session to a file with `--output FILE.wav`"


def _with_remedy(exc: AudioDeviceError, device: str | None = None,
                render: str = RENDER_HINT) -> AudioDeviceError:
    """The core says what is wrong with the sound output; the CLI adds what to type instead."""
    choose = ("; `companion devices` lists the outputs"
              if device is not None and isinstance(exc, NoOutputDeviceError) else "")
    return type(exc)(f"{exc}{choose}; {render}")


def run_devices(args: argparse.Namespace) -> int:
    from companion.core import player

    render = "or render sessions to a file with `companion play NAME --output FILE.wav`"
    try:
        devices = player.list_devices()
    except AudioDeviceError as exc:
        raise _with_remedy(exc, render=render) from None
    if not devices:
        raise NoOutputDeviceError(
            f"no audio output device found; connect one (Debian: check `aplay -l`), {render}")
    rows = [{"index": d.index, "name": d.name, "channels": d.channels,
             "default_samplerate": int(d.default_samplerate), "default": d.default} for d in devices]
    emit(rows, ["index", "name", "channels", "default_samplerate", "default"], args.format,
         headers={"default_samplerate": "rate_hz"})
    return 0


# -- play ---------------------------------------------------------------------------------------

# The listener's optional scales as flags, like `rate` has: --pre-vas N / --post-vas N ...
_SCALE_FLAGS = (("vas", "N", "anxiety 0–100"), ("stai6", "ANSWERS", 'six STAI-6 answers 1–4, e.g. "2 3 1 4 2 2"'),
                ("heart-rate", "BPM", "heart rate 30–220"), ("note", "TEXT", "a note"))


def _given(args: argparse.Namespace, phase: str) -> dict[str, Any]:
    """Answers given by flag for one phase (``--pre``/``--post`` and the scale flags)."""
    flag = "pre" if phase == "before" else "post"
    given = {"stress": getattr(args, flag)}
    for name, _, _ in _SCALE_FLAGS:
        given[name.replace("-", "_")] = getattr(args, f"{flag}_{name.replace('-', '_')}")
    return {k: v for k, v in given.items() if v is not None}


def _check_given(args: argparse.Namespace) -> None:
    """Everything given by flag is checked before anything is asked, played or stored."""
    from companion.core import sessions

    for phase, flag in (("before", "--pre"), ("after", "--post")):
        for scale, value in _given(args, phase).items():
            try:
                sessions.make_rating(scale, phase, value)
            except UserInputError as exc:
                name = flag if scale == "stress" else f"{flag}-{scale.replace('_', '-')}"
                raise UserInputError(f"{name}: {exc}; nothing was stored") from None
    if args.sleep_fade is not None and not args.sleep_fade > 0:
        raise UserInputError(f"--sleep-fade {args.sleep_fade:g} must be more than 0 minutes")


def run_play(args: argparse.Namespace) -> int:
    from companion.commands._prompt import TerminalPrompt
    from companion.core import playlists
    from companion.core.listening import ListeningSession, check_device
    from companion.core.player import FileOutput
    from companion.core.store import Store

    listener = listener_of(args)
    _check_given(args)
    rendering = bool(args.output)
    if rendering and (_given(args, "before") or _given(args, "after")):
        print("note: rendering to a file is not a listening session: the ratings given are not "
              "stored", file=sys.stderr)
    store = Store()
    session = None
    try:
        playlist = playlists.load(args.playlist, store=store)
        for note in playlist.notes[:3]:
            print(f"note: {note}", file=sys.stderr)
        if len(playlist.notes) > 3:
            print(f"note: … and {len(playlist.notes) - 3} more (`companion playlist show`)", file=sys.stderr)
        if not any(os.path.isfile(e.path) for e in playlist.tracks):
            raise UserInputError(f"playlist {playlist.name!r} has no tracks whose files can be found; "
                                 "`companion playlist show` lists them")
        if not rendering:
            try:
                check_device(args.device)  # no device → one line; nothing asked, nothing stored
            except AudioDeviceError as exc:
                raise _with_remedy(exc, args.device) from None
        session = ListeningSession(
            store, playlist, listener=listener, record=not rendering,
            output=FileOutput(args.output) if rendering else None, device=args.device,
            crossfade_s=0.0 if args.gapless else args.crossfade, fade_in_s=args.fade_in,
            fade_out_s=args.fade_out, target_lufs=args.target_lufs, level_drop_db=args.level_drop,
            volume=args.volume,
        )
        prompt = TerminalPrompt()
        before = [] if rendering else session.ask("before", prompt, _given(args, "before"))
        try:
            session.begin(before)  # the device may still refuse to open: nothing is stored then
        except AudioDeviceError as exc:
            raise _with_remedy(exc, args.device) from None
        ending = _listen(session, args)
        if rendering:
            print(f"wrote {args.output} ({format_duration(ending.heard_s)})", file=sys.stderr)
        if ending.error:
            print(f"companion: {ending.error}; reconnect it and play again, or render to a file "
                  "with `--output FILE.wav`", file=sys.stderr)
        after = [] if rendering else session.ask("after", prompt, _given(args, "after"))
        session.rate_after(after)
        report = session.close()
        if report.message:
            print(f"companion: {report.message}", file=sys.stderr)
        if not rendering:
            _summary(ending, before, after)
        return 2 if ending.error else 0
    finally:
        if session is not None:
            session.close()  # whatever happened, what was heard and said is kept
        store.close()


def _listen(session: Any, args: argparse.Namespace) -> Any:
    """Play to the end (or until stopped), showing status; returns how it ended."""
    if args.sleep_after_track:
        session.sleep_after_track()
    if args.sleep_fade:
        session.sleep_fade(args.sleep_fade)
    from companion.core.listening import breathing_on

    breathe = args.breathe or breathing_on(session.store, session.listener)
    line = _StatusLine(live=not args.output and sys.stderr.isatty(), breath=session.breath,
                       breathe=breathe and not args.output)
    interrupts = 0
    try:
        with _keys(session, line, enabled=not args.output and _stdin_is_tty()):
            while True:
                try:
                    while not session.wait(STATUS_EVERY_S):
                        line.show(session.status())
                    break
                except KeyboardInterrupt:
                    interrupts += 1
                    # First Ctrl-C: the gentle stop fade. A second one: now.
                    session.stop(None if interrupts == 1 else 0.05)
                    line.say("stopping…")
    finally:
        ending = session.finish()  # whatever happened, the sound stops and the device is released
    line.show(session.status())
    line.end()
    return ending


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def _keys(session: Any, line: _StatusLine, *, enabled: bool) -> Iterator[None]:
    """Single keys on the terminal while playing (cbreak mode); the terminal is always restored."""
    if not enabled:
        yield
        return
    import select
    import termios
    import tty

    try:
        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
    except (termios.error, OSError, ValueError):  # not a real terminal after all
        yield
        return
    done = threading.Event()

    def read_keys() -> None:
        while not done.is_set():
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                continue
            handle_key(session, os.read(fd, 1).decode(errors="ignore"), line)

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


def handle_key(session: Any, key: str, line: _StatusLine | None = None) -> None:
    """One key pressed on the terminal while playing (see :data:`KEYS_HELP`); the same keys as
    the app's Session screen."""
    key = key.lower()
    if key == "b" and line is not None:
        line.breathe = not line.breathe
    elif key == " ":
        session.toggle_pause()
    elif key == "n":
        session.skip()
    elif key == "p":
        session.previous()
    elif key == "e":
        session.toggle_sleep()
    elif key in ("+", "="):
        session.volume_step(+1)
    elif key in ("-", "_"):
        session.volume_step(-1)
    elif key in ("q", "s"):
        session.stop()


class _StatusLine:
    """One status line on stderr: rewritten in place on a terminal, a line per track otherwise."""

    def __init__(self, *, live: bool, breath: Any = None, breathe: bool = False) -> None:
        self.live = live
        self.breath = breath  # status -> BreathCue | None
        self.breathe = breathe  # the breathing guide is shown (--breathe, the key b)
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
        title = for_terminal(st.entry.display_name or os.path.basename(st.entry.path))  # a tag: data
        extra = " · paused" if st.paused else ""
        if st.volume < 1.0:
            extra += f" · vol {st.volume * 100:.0f}%"
        if st.sleep:
            extra += f" · sleep {st.sleep}"
        cue = self.breath(st) if self.breath and self.breathe and self.live else None
        if cue is not None:
            extra += f" · breathe {cue.phase} {cue.beat}/{cue.beats}"
        where = "" if st.entry.is_silence else f"{st.track_no}/{st.track_count} "  # as the app counts
        text = (f"{where}{title} · {bpm} · {format_duration(st.elapsed_s)} elapsed"
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


def _summary(ending: Any, before: list[Any], after: list[Any]) -> None:
    def stress(rs: list[Any]) -> str:
        for r in rs:
            if r.scale == "stress" and r.value is not None:
                return f"{r.value:g}"
        return "–"

    print(f"Listened {format_duration(ending.heard_s)} ({ending.outcome.replace('_', ' ')}); "
          f"stress {stress(before)} → {stress(after)}.")
