"""Verbs `companion tempo set|halve|double|two-thirds|three-halves|auto PATH`: manual tempo
corrections that survive rescans. The range check and the corrections live in the core
(``models.check_manual_bpm``, ``Store.scale_manual_bpm``); this face only prints."""

from __future__ import annotations

import argparse
from typing import Any

from companion.core.errors import UserInputError
from companion.core.models import MANUAL_BPM_RANGE, STATUS_ERROR, Track
from companion.core.untrusted import for_terminal

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
