"""Verbs `companion tempo set|halve|double|auto PATH`: manual tempo corrections that survive rescans."""

from __future__ import annotations

import argparse

from companion.core.errors import UserInputError
from companion.core.models import Track
from companion.core.untrusted import for_terminal

MIN_BPM, MAX_BPM = 20.0, 300.0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "tempo",
        help="correct a track's tempo by hand (kept across rescans)",
        description="Correct a track's tempo by hand. The value is marked as manual and rescans keep it; "
        "`companion tempo auto PATH` returns to the analysed tempo.",
    )
    verbs = parser.add_subparsers(dest="tempo_verb", metavar="ACTION", required=True)
    p = verbs.add_parser("set", help="set the tempo to BPM")
    p.add_argument("path", metavar="PATH", help="an audio file in the library")
    p.add_argument("bpm", metavar="BPM", help="beats per minute, 20–300")
    p.set_defaults(func=_set)
    for name, helptext, func in (
        ("halve", "halve the tempo (the beat is twice as slow)", _halve),
        ("double", "double the tempo (the beat is twice as fast)", _double),
        ("auto", "go back to the analysed tempo", _auto),
    ):
        p = verbs.add_parser(name, help=helptext)
        p.add_argument("path", metavar="PATH", help="an audio file in the library")
        p.set_defaults(func=func)


def parse_bpm(text: str) -> float:
    """A BPM typed by the user, checked against 20–300."""
    try:
        bpm = float(text)
    except (TypeError, ValueError):
        raise UserInputError(f"{text!r} is not a BPM (beats per minute); give a number such as 72 or 63.5") from None
    if not MIN_BPM <= bpm <= MAX_BPM:  # also rejects nan
        raise UserInputError(f"{text} BPM is outside {MIN_BPM:.0f}–{MAX_BPM:.0f}; give a tempo in that range")
    return bpm


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


def _scaled(args: argparse.Namespace, factor: float) -> int:
    with _store() as store:
        track = store.track(args.path)
        if track.bpm is None:
            raise UserInputError(f"{args.path}: has no tempo to change; use `companion tempo set PATH BPM`")
        bpm = round(track.bpm * factor, 1)
        if not MIN_BPM <= bpm <= MAX_BPM:
            raise UserInputError(
                f"{args.path}: {bpm:.1f} BPM would be outside {MIN_BPM:.0f}–{MAX_BPM:.0f}; "
                "use `companion tempo set PATH BPM`"
            )
        return _print(store.set_manual_bpm(track.path, bpm))


def _set(args: argparse.Namespace) -> int:
    bpm = parse_bpm(args.bpm)
    with _store() as store:
        return _print(store.set_manual_bpm(args.path, bpm))


def _halve(args: argparse.Namespace) -> int:
    return _scaled(args, 0.5)


def _double(args: argparse.Namespace) -> int:
    return _scaled(args, 2.0)


def _auto(args: argparse.Namespace) -> int:
    with _store() as store:
        return _print(store.clear_manual_bpm(args.path))
