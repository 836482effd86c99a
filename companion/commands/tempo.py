"""Verbs `companion tempo set|halve|double|two-thirds|three-halves|auto PATH`: manual tempo
corrections that survive rescans. The range check and the corrections live in the core
(``models.check_manual_bpm``, ``Store.scale_manual_bpm``); this face only prints."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from companion.core.errors import UserInputError
from companion.core.models import MANUAL_BPM_RANGE, STATUS_ERROR, Track
from companion.core.timefmt import format_duration
from companion.core.untrusted import for_terminal

TAP_KEYS_HELP = ("keys: space tap · enter twice or s keep the tapped tempo as the track's own · "
                 "v play 20 s of it (again: stop) · q quit without saving")

_CORRECTIONS = (
    ("halve", "halve the tempo (the beat is twice as slow)"),
    ("double", "double the tempo (the beat is twice as fast)"),
    ("two-thirds", "⅔ of the tempo (three beats heard as two: a triple feel counted in two)"),
    ("three-halves", "3⁄2 of the tempo (two beats heard as three)"),
)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "tempo",
        help="correct a track's tempo by hand (kept across rescans)",
        description="Correct a track's tempo by hand. The value is marked as manual and rescans keep it; "
        "`companion tempo auto PATH` returns to the analysed tempo.",
    )
    verbs = parser.add_subparsers(dest="tempo_verb", metavar="ACTION", required=True)
    low, high = MANUAL_BPM_RANGE
    p = verbs.add_parser("set", help="set the tempo to BPM")
    p.add_argument("path", metavar="PATH", help="an audio file in the library")
    p.add_argument("bpm", metavar="BPM", help=f"beats per minute, {low:.0f}–{high:.0f}")
    p.set_defaults(func=_set)
    for name, helptext in _CORRECTIONS:
        p = verbs.add_parser(name, help=helptext)
        p.add_argument("path", metavar="PATH", help="an audio file in the library")
        p.set_defaults(func=_scaled, correction=name)
    p = verbs.add_parser("auto", help="go back to the analysed tempo")
    p.add_argument("path", metavar="PATH", help="an audio file in the library")
    p.set_defaults(func=_auto)


    p = verbs.add_parser("tap", help="tap the beat on the keyboard; keep it as the tempo",
                         description="Tap the beat with space as you hear it (v plays 20 s of the "
                         "track to tap along); the tempo is shown from the 4th tap. " + TAP_KEYS_HELP
                         + ". Needs a terminal; elsewhere give the tempo with `tempo set PATH BPM`.")
    p.add_argument("path", metavar="PATH", help="an audio file in the library")
    p.set_defaults(func=_tap)

    p = sub.add_parser(
        "preview",
        help="hear 20 s from the middle of a track, faded in and out (as the app's v)",
        description="Play 20 seconds from the middle of a track of the library, faded in and out: "
        "hear whether its tempo is right before trusting or correcting it. Ctrl-C stops.",
    )
    p.add_argument("path", metavar="PATH", help="an audio file in the library")
    p.add_argument("--output", metavar="FILE.wav|.flac",
                   help="write the excerpt to a file instead (no sound device needed)")
    p.set_defaults(func=_preview)


def _store():  # noqa: ANN202
    from companion.core.store import Store

    return Store()


def _print(track: Track) -> int:
    if track.bpm is None:
        print(f"{for_terminal(track.path)}: no tempo (analysis found none); set one with `companion tempo set`")
    else:
        source = "manual" if track.is_manual else "auto"
        conf = "" if track.is_manual or track.bpm_confidence is None else f", confidence {track.bpm_confidence:.2f}"
        print(f"{for_terminal(track.path)}: {track.bpm:.1f} BPM ({source}{conf})")
    return 0


def library_track(store: Any, path: str) -> Track:
    """The library's track at ``path``, refused unless its file is there and was read: a tempo
    set for a file the scan could not decode (or one gone since) is a value nothing can use.
    NotFoundError / UserInputError, each one line saying what to do."""
    import os

    track = store.track(os.path.expanduser(path))  # NotFoundError: not in the library, scan it first
    shown = for_terminal(path)
    if not os.path.isfile(track.path) or not os.access(track.path, os.R_OK):
        raise UserInputError(f"{shown}: no readable file there any more; scan its folder again "
                             "(`companion scan FOLDER`) once it is back")
    if track.status == STATUS_ERROR:
        raise UserInputError(f"{shown}: the scan could not read it ({for_terminal(track.error)}); "
                             "fix or replace the file and scan it again")
    return track


def _scaled(args: argparse.Namespace) -> int:
    with _store() as store:
        return _print(store.scale_manual_bpm(library_track(store, args.path).path, args.correction))


def _set(args: argparse.Namespace) -> int:
    with _store() as store:
        return _print(store.set_manual_bpm(library_track(store, args.path).path, args.bpm))


def _auto(args: argparse.Namespace) -> int:
    with _store() as store:
        return _print(store.clear_manual_bpm(args.path))


# -- preview --------------------------------------------------------------------------------------


def _preview(args: argparse.Namespace) -> int:
    """The app's preview on the command line: the core plays it, this face waits and shows time."""
    from companion.core.preview import Preview

    with _store() as store:
        track = library_track(store, args.path)
    preview = Preview(track, output=_preview_output(args.output))
    try:
        preview.start()
        _wait_for(preview, live=not args.output and _isatty(sys.stderr))
    finally:
        preview.close()
    heard = format_duration(preview.seconds if args.output else preview.heard_s)
    if args.output:
        print(f"wrote {for_terminal(args.output)} ({heard} from {format_duration(preview.start_s)})",
              file=sys.stderr)
    return 0


def _preview_output(output: str | None) -> Any:
    """A file for ``--output``; else the sound card, checked first so that a missing PortAudio or
    device is one line (the same words as `companion play`)."""
    from companion.core.errors import AudioDeviceError
    from companion.core.listening import check_device
    from companion.core.player import FileOutput

    if output:
        return FileOutput(output)
    try:
        check_device()
    except AudioDeviceError as exc:
        raise AudioDeviceError(f"{exc}; or write the excerpt to a file with `--output FILE.wav`") from None
    return None


def _wait_for(preview: Any, *, live: bool) -> None:
    import time

    title = for_terminal(preview.track.display_name)
    try:
        while not preview.done:
            if live:
                sys.stderr.write(f"\rpreview: {title} · {format_duration(preview.heard_s)} of "
                                 f"{format_duration(preview.seconds)} (Ctrl-C stops)")
                sys.stderr.flush()
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass  # stopping early is what Ctrl-C asks for here, not an error
    finally:
        if live:
            sys.stderr.write("\n")


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


# -- tap ------------------------------------------------------------------------------------------


def _tap(args: argparse.Namespace) -> int:
    if not _isatty(sys.stdin) or not _has_termios():
        raise UserInputError("`tempo tap` reads keys from a terminal; elsewhere give the tempo with "
                             "`companion tempo set PATH BPM`")
    with _store() as store:
        track = library_track(store, args.path)
        print(f"{for_terminal(track.display_name)}: now "
              f"{'no tempo' if track.bpm is None else f'{track.bpm:.1f} BPM'}. {TAP_KEYS_HELP}", file=sys.stderr)
        player, keys = _TapPreview(track), _terminal_keys()
        try:
            bpm = tap_along(keys, _say, preview=player.toggle)
        finally:
            keys.close()  # the terminal back to normal before anything else is printed
            player.close()
        if bpm is None:
            print("nothing saved", file=sys.stderr)
            return 0
        return _print(store.set_manual_bpm(track.path, bpm))


def tap_along(keys: Iterable[tuple[str, float]], say: Callable[[str], None],
              preview: Callable[[], None] | None = None) -> float | None:
    """Read (key, seconds) pairs until the tempo is kept (returned) or the person quits (None).

    Space taps (the core's TapTempo: the median of the recent intervals); ``enter`` once asks to
    press it again, twice keeps the tempo, as does ``s``; ``q`` (or escape) quits; ``v`` starts or
    stops the excerpt. A key source that ends is a quit."""
    from companion.core.tap import MIN_TAPS, TapTempo

    tapper, bpm, armed = TapTempo(), None, False
    for key, at_s in keys:
        key = "\n" if key == "\r" else key.lower()
        if key == " ":
            bpm, armed = tapper.tap(at_s), False
            say(f"{bpm:g} BPM from {tapper.count} taps" if bpm is not None
                else f"{tapper.count} of {MIN_TAPS} taps: keep going")
        elif key in ("\n", "s"):
            if bpm is None:
                say(f"tap the beat with space first (at least {MIN_TAPS} taps)")
            elif key == "s" or armed:
                return bpm
            else:
                armed = True
                say(f"press enter again to keep {bpm:g} BPM (space taps on)")
        elif key in ("q", "\x1b"):
            return None
        elif key == "v" and preview is not None:
            preview()
    return None


class _TapPreview:
    """The excerpt to tap along to, started and stopped by ``v``; a missing device is said
    in one line and tapping goes on."""

    def __init__(self, track: Track) -> None:
        self.track = track
        self.preview: Any = None

    def toggle(self) -> None:
        from companion.core.errors import CompanionError
        from companion.core.preview import Preview

        if self.preview is not None and not self.preview.done:
            self.close()
            return
        self.close()
        try:
            self.preview = Preview(self.track, output=_preview_output(None))
            self.preview.start()
        except CompanionError as exc:
            self.preview = None
            _say(f"cannot play it: {for_terminal(exc)}")

    def close(self) -> None:
        if self.preview is not None:
            self.preview.close()
            self.preview = None


def _has_termios() -> bool:
    """stdin is a terminal whose mode can be set (not only something claiming isatty)."""
    try:
        import termios
    except ImportError:  # not a POSIX system
        return False
    try:
        termios.tcgetattr(sys.stdin.fileno())
    except (termios.error, OSError, ValueError, AttributeError):
        return False
    return True


def _say(text: str) -> None:
    sys.stderr.write(f"\r\x1b[K{text}")
    sys.stderr.flush()


def _terminal_keys() -> Iterator[tuple[str, float]]:
    """Single keys from the terminal as they are pressed, with the time of each (cbreak mode,
    as `companion play` reads its keys; Ctrl-C still interrupts); the terminal is restored."""
    import os
    import termios
    import time
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    try:
        while True:
            data = os.read(fd, 1)
            at = time.monotonic()
            if not data:
                return
            yield data.decode(errors="ignore"), at
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        sys.stderr.write("\n")
