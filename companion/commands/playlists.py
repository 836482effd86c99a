"""Verbs that plan and curate playlists.

    companion build [--arc step-down|u-sequence|sleep|PRESET] [--start BPM] [--target BPM]
                    [--minutes M] --name NAME [--max-step PCT] [--seed S] [--nearest]
                    [--crossfade S | --gapless] [--replace]
                    [--folder F] [--artist A] [--album A] [--genre G] [--exclude PATH]
                    [--like TRACK] [--min-length S] [--include-demo]
                    [--format table|json]
    companion playlist list [--format table|json]
    companion playlist arcs [--format table|json]
    companion playlist show NAME [--format table|json]
    companion playlist import FILE [--name NAME]
    companion playlist export NAME FILE
    companion playlist move NAME POS --up|--down|--to POS
    companion playlist remove|lock|unlock NAME POS
    companion playlist alternatives NAME POS
    companion playlist replace NAME POS PATH|--with N
    companion playlist replan NAME [--seed S] [--nearest]
    companion playlist rename OLD NEW | duplicate NAME NEW | delete NAME [--yes]

Positions count from 1, as ``playlist show`` prints them (a silence has a position too).
Lengths are as played: neighbouring tracks overlap by the playlist's crossfade.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from companion.commands._output import add_format_arg, emit, format_duration
from companion.core import arcs, planner, playlists
from companion.core.errors import NotFoundError, UserInputError
from companion.core.models import Playlist
from companion.core.untrusted import for_terminal

_COLUMNS = ("position", "bpm", "planned_bpm", "arousal_shown", "duration", "lock", "name")
_HEADERS = {"position": "#", "bpm": "BPM", "planned_bpm": "planned", "arousal_shown": "arousal",
            "duration": "length", "lock": "", "name": "title"}


def register(sub: argparse._SubParsersAction) -> None:
    _register_build(sub)
    p = sub.add_parser("playlist", help="list, show, import, export and curate playlists",
                       description="Playlists saved in $COMPANION_HOME/playlists. Positions count "
                       "from 1 as `playlist show` prints them.")
    p.set_defaults(func=lambda args: _usage(p))
    ps = p.add_subparsers(dest="playlist_action", metavar="ACTION")

    q = ps.add_parser("list", help="saved playlists, by name")
    add_format_arg(q, ("table", "json"))
    q.set_defaults(func=cmd_list)

    q = ps.add_parser("arcs", help="the arc presets `build --arc` accepts, yours included")
    add_format_arg(q, ("table", "json"))
    q.set_defaults(func=cmd_arcs)

    q = ps.add_parser("show", help="a playlist's tracks with their tempi and start times")
    q.add_argument("name", metavar="NAME")
    add_format_arg(q, ("table", "json"))
    q.set_defaults(func=cmd_show)

    q = ps.add_parser("import", help="import an M3U/M3U8 file (relative paths, #EXTINF, URLs skipped)")
    q.add_argument("file", metavar="FILE")
    q.add_argument("--name", help="name to save it under (default: the file's name)")
    q.set_defaults(func=cmd_import)

    q = ps.add_parser("export", help="write an M3U8 that VLC and mpv play")
    q.add_argument("name", metavar="NAME")
    q.add_argument("file", metavar="FILE")
    q.set_defaults(func=cmd_export)

    q = ps.add_parser("move", help="move a track up, down or to a position")
    q.add_argument("name", metavar="NAME")
    q.add_argument("pos", metavar="POS", type=int)
    g = q.add_mutually_exclusive_group(required=True)
    g.add_argument("--up", action="store_true", help="one place earlier")
    g.add_argument("--down", action="store_true", help="one place later")
    g.add_argument("--to", type=int, metavar="POS", help="to this position")
    q.set_defaults(func=cmd_move)

    for verb, text in (("remove", "remove the entry at POS"),
                       ("lock", "keep the track at POS when re-planning"),
                       ("unlock", "let `replan` change the track at POS again")):
        q = ps.add_parser(verb, help=text)
        q.add_argument("name", metavar="NAME")
        q.add_argument("pos", metavar="POS", type=int)
        q.set_defaults(func=cmd_edit, edit=verb)

    q = ps.add_parser("alternatives", help="the best five tracks to put at POS instead")
    q.add_argument("name", metavar="NAME")
    q.add_argument("pos", metavar="POS", type=int)
    add_format_arg(q, ("table", "json"))
    q.set_defaults(func=cmd_alternatives)

    q = ps.add_parser("replace", help="put another track at POS: a file, or alternative N")
    q.add_argument("name", metavar="NAME")
    q.add_argument("pos", metavar="POS", type=int)
    g = q.add_mutually_exclusive_group(required=True)
    g.add_argument("path", metavar="PATH", nargs="?", help="a track of the library")
    g.add_argument("--with", dest="with_n", type=int, metavar="N",
                   help="alternative N as `playlist alternatives` lists them")
    q.set_defaults(func=cmd_replace)

    q = ps.add_parser("replan", help="plan again with the same arc, keeping locked tracks")
    q.add_argument("name", metavar="NAME")
    q.add_argument("--seed", type=int, help="another seed for another choice (default: the plan's)")
    q.add_argument("--nearest", action="store_true", help="if impossible, take the nearest plan")
    q.set_defaults(func=cmd_replan)

    q = ps.add_parser("rename", help="rename a playlist")
    q.add_argument("name", metavar="OLD")
    q.add_argument("new", metavar="NEW")
    q.set_defaults(func=cmd_rename, keep_old=False)

    q = ps.add_parser("duplicate", help="copy a playlist under a new name")
    q.add_argument("name", metavar="NAME")
    q.add_argument("new", metavar="NEW")
    q.set_defaults(func=cmd_rename, keep_old=True)

    q = ps.add_parser("delete", help="delete a playlist file, after confirmation")
    q.add_argument("name", metavar="NAME")
    q.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    q.set_defaults(func=cmd_delete)


def _register_build(sub: argparse._SubParsersAction) -> None:
    presets = ", ".join(arcs.BUILTIN_ARCS)
    p = sub.add_parser(
        "build", help="plan a playlist whose tempo follows an arc, and save it",
        description="Choose and order tracks from your library so their tempo follows an arc "
        "(iso principle): no track twice, no step between neighbours above --max-step, the "
        "length as played (tracks overlapping by the crossfade) within 5 % of --minutes. When "
        "the library cannot, says why and what would work.",
        epilog=f"Arcs: {presets}. Add your own as .arc files in $COMPANION_HOME/presets "
        "(copy a bundled one from companion/presets/ and edit it).",
    )
    p.add_argument("--arc", default="step-down", metavar="ARC",
                   help="step-down (default), u-sequence, sleep, a preset name or an .arc file")
    p.add_argument("--start", type=float, metavar="BPM",
                   help="start tempo (default: 80th percentile of your tempi up to 110 BPM)")
    p.add_argument("--target", type=float, default=planner.DEFAULT_TARGET_BPM, metavar="BPM",
                   help="target tempo (default: %(default)g)")
    p.add_argument("--minutes", type=float, default=planner.DEFAULT_MINUTES, metavar="M",
                   help="session length including any silence (default: %(default)g)")
    p.add_argument("--name", required=True, help="playlist name: letters, digits, spaces, - _ .")
    p.add_argument("--replace", action="store_true",
                   help="plan again over an existing playlist of that name (its edits are lost)")
    p.add_argument("--max-step", type=float, default=planner.DEFAULT_MAX_STEP_PCT, metavar="PCT",
                   help="largest tempo step between neighbouring tracks, percent (default: %(default)g)")
    p.add_argument("--seed", type=int, default=0, help="another seed gives another, equally good plan")
    p.add_argument("--nearest", action="store_true",
                   help="if the library cannot satisfy the request, build the nearest plan that it can")
    p.add_argument("--crossfade", type=float, metavar="S", default=planner.DEFAULT_CROSSFADE_S,
                   help="the crossfade the session will be played with, seconds: the plan's length "
                   f"counts the overlaps (default {planner.DEFAULT_CROSSFADE_S:g}; `play` then uses it)")
    p.add_argument("--gapless", action="store_true",
                   help="plan for playing with no crossfade: each track follows the last, no gap")
    p.add_argument("--folder", action="append", help="only tracks under this folder (repeatable)")
    p.add_argument("--artist", action="append", help="only tracks whose artist contains this")
    p.add_argument("--album", action="append", help="only tracks whose album contains this")
    p.add_argument("--genre", action="append", help="only tracks whose genre tag contains this")
    p.add_argument("--exclude", action="append", metavar="PATH", help="leave this file out (repeatable)")
    p.add_argument("--like", metavar="TRACK",
                   help="prefer tracks that sound like this one (the path of a scanned track)")
    p.add_argument("--min-length", type=float, metavar="S",
                   help=f"leave out tracks shorter than this, seconds (default: {planner.DEFAULT_MIN_LENGTH_S:g}: "
                   "jingles and fanfares are not music for a session)")
    p.add_argument("--include-demo", action="store_true",
                   help="plan from the demo library too, even when you have music of your own")
    add_format_arg(p, ("table", "json"))
    p.set_defaults(func=cmd_build)


def _usage(p: argparse.ArgumentParser) -> int:
    p.print_help()
    return 2


# -- printing ----------------------------------------------------------------------------------


def _rows(pl: Playlist) -> list[dict[str, Any]]:
    rows = []
    for i, e in enumerate(pl.entries, start=1):
        used = e.used_bpm or e.bpm
        rows.append({
            "position": i,
            "path": e.path,
            "title": e.title if not e.is_silence else "silence",
            "name": e.display_name if not e.is_silence else "silence",
            "artist": e.artist,
            "bpm": None if used is None else round(used, 1),
            "planned_bpm": e.planned_bpm,
            "arousal": e.arousal,
            "arousal_shown": "" if e.arousal is None else f"{e.arousal:.2f}",
            "analysed_bpm": e.bpm,
            "start_offset_s": round(e.start_s, 1),  # when it begins to be heard
            "duration_s": round(e.length_s, 1),
            "duration": format_duration(e.length_s),
            "locked": e.locked,
            "lock": "locked" if e.locked else "",
            "silence_s": e.silence_s,
        })
    return rows


def _print_playlist(pl: Playlist, fmt: str, *, saved: Path | None = None) -> None:
    rows = _rows(pl)
    if fmt == "json":
        keys = ("position", "path", "title", "artist", "bpm", "planned_bpm", "analysed_bpm",
                "start_offset_s", "duration_s", "locked", "silence_s", "arousal")
        emit([], (), "json", json_value={
            "name": pl.name, "path": str(saved or pl.path), "arc": pl.arc, "meta": pl.meta,
            "total_s": round(pl.total_s, 1), "played_s": round(playlists.played_s(pl), 1),
            "crossfade_s": playlists.crossfade_of(pl), "notes": list(pl.notes),
            "tracks": [{k: r[k] for k in keys} for r in rows],
        })
        return
    cols = tuple(c for c in _COLUMNS if (c != "lock" or any(e.locked for e in pl.entries))
                 and (c != "arousal_shown" or any(e.arousal is not None for e in pl.entries)))
    emit(rows, cols, "table", headers=_HEADERS)
    m = pl.meta
    shape = ""
    if pl.arc and m.get("start_bpm") and m.get("target_bpm"):
        shape = f" · {playlists.arc_label(pl)} {m['start_bpm']:g} → {m['target_bpm']:g} BPM"
    print(for_terminal(f"{pl.name}: {tracks_phrase(len(pl.tracks))}, {_length(pl)}{shape}"
                       + (f" · saved to {saved}" if saved else "")))
    for n in pl.notes:
        print(f"note: {for_terminal(n)}")


def _length(pl: Playlist) -> str:
    """The length as played, and what it allows for: "20:02 as played (6 s crossfades; 20:50
    of music)" or "20:02 as played (gapless)"."""
    played, xf = playlists.played_s(pl), playlists.crossfade_of(pl)
    how = ""
    if xf == 0:
        how = " (gapless)"
    elif played < pl.total_s - 0.5:
        how = f" ({xf:g} s crossfades; {format_duration(pl.total_s)} of music)"
    return f"{format_duration(played)} as played{how}"


# -- handlers ----------------------------------------------------------------------------------


def cmd_build(args: argparse.Namespace) -> int:
    from companion.core.store import Store

    filters = {k: getattr(args, k) for k in ("folder", "artist", "album", "genre", "exclude")
               if getattr(args, k)}
    if playlists.exists(playlists.validate_name(args.name)) and not args.replace:
        raise UserInputError(f"a playlist named {args.name!r} already exists: add --replace to plan "
                             "it again (its edits are lost), or choose another --name")
    with Store() as store:
        pl = playlists.build(
            store, name=args.name, arc=args.arc, start_bpm=args.start, target_bpm=args.target,
            minutes=args.minutes, max_step_pct=args.max_step, seed=args.seed,
            filters=filters or None, nearest=args.nearest,
            crossfade_s=0.0 if args.gapless else args.crossfade,
            min_length_s=args.min_length, like=args.like, include_demo=args.include_demo,
        )
    _print_playlist(pl, args.format, saved=Path(pl.path))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    rows = []
    for pl in playlists.list_playlists():
        m, played = pl.meta, playlists.played_s(pl)
        rows.append({
            "name": pl.name, "tracks": len(pl.tracks), "length": format_duration(played),
            "total_s": round(pl.total_s, 1), "played_s": round(played, 1), "arc": playlists.arc_label(pl),
            "start_bpm": m.get("start_bpm"), "target_bpm": m.get("target_bpm"), "path": pl.path,
        })
    if not rows and args.format == "table":
        print("no playlists yet: `companion build --name NAME` plans one "
              "(or `companion playlist import FILE`)")
        return 0
    emit(rows, ("name", "tracks", "length", "arc", "start_bpm", "target_bpm"), args.format,
         headers={"start_bpm": "start", "target_bpm": "target"})
    return 0


def cmd_arcs(args: argparse.Namespace) -> int:
    problems: list[str] = []
    rows = [{"name": a.name, "description": a.description, "silence_s": a.silence_s,
             "fade_out_s": a.fade_out_s, "path": a.path} for a in arcs.list_arcs(problems=problems)]
    emit(rows, ("name", "description", "path"), args.format)
    for line in problems:  # each broken preset on its own line; the others are listed above
        print(f"companion: skipped {for_terminal(line)}", file=sys.stderr)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from companion.core import paths
    from companion.core.store import Store

    if not paths.db_path().exists():  # no library: the file alone
        _print_playlist(playlists.load(args.name), args.format)
        return 0
    with Store() as store:  # each track's arousal (and any missing tag) from the library
        pl = playlists.load(args.name, store=store)
    _print_playlist(pl, args.format)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    pl = playlists.import_m3u(args.file, name=args.name)
    if playlists.exists(pl.name):
        raise UserInputError(f"a playlist named {pl.name!r} already exists: choose another with --name")
    path = playlists.save(pl)
    print(for_terminal(f"imported {tracks_phrase(len(pl.tracks))} from {args.file} as {pl.name!r} ({path})"))
    for n in pl.notes:
        print(f"note: {for_terminal(n)}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    path = playlists.export(playlists.load(args.name), args.file)
    print(f"wrote {for_terminal(path)}")
    return 0


def _pos(pl: Playlist, pos: int) -> int:
    if not 1 <= pos <= len(pl.entries):
        raise UserInputError(f"position {pos} is not in playlist {pl.name!r}: use 1 to {len(pl.entries)}")
    return pos - 1


def _save_and_show(pl: Playlist) -> int:
    path = playlists.save(pl)
    _print_playlist(pl, "table", saved=path)
    return 0


def cmd_move(args: argparse.Namespace) -> int:
    pl = playlists.load(args.name)
    i = _pos(pl, args.pos)
    delta = -1 if args.up else 1 if args.down else _pos(pl, args.to) - i
    return _save_and_show(playlists.move(pl, i, delta))


def cmd_edit(args: argparse.Namespace) -> int:
    pl = playlists.load(args.name)
    i = _pos(pl, args.pos)
    fn = {"remove": playlists.remove, "lock": playlists.lock, "unlock": playlists.unlock}[args.edit]
    return _save_and_show(fn(pl, i))


def _library(pl: Playlist) -> list:
    from companion.core.store import Store

    with Store() as store:
        return playlists.library_for(pl, store)


def cmd_alternatives(args: argparse.Namespace) -> int:
    pl = playlists.load(args.name)
    i = _pos(pl, args.pos)
    found = planner.slot_candidates(_library(pl), pl, i, k=5,
                                    max_step_pct=float(pl.meta.get("max_step_pct") or 8.0))
    rows = [{"n": n, "bpm": bpm, "analysed_bpm": t.bpm, "duration": format_duration(t.duration_s),
             "duration_s": t.duration_s, "title": t.display_name, "path": t.path}
            for n, (t, bpm) in enumerate(found, start=1)]
    if not rows and args.format == "table":
        print(f"no track in the library fits position {args.pos} within the max step; "
              "`playlist remove` it or scan more music", file=sys.stderr)
        return 1
    emit(rows, ("n", "bpm", "duration", "title", "path"), args.format, headers={"bpm": "BPM"})
    if args.format == "table":
        print(f"`companion playlist replace {_quote(args.name)} {args.pos} --with N` puts one in")
    return 0


def cmd_replace(args: argparse.Namespace) -> int:
    pl = playlists.load(args.name)
    i = _pos(pl, args.pos)
    if args.with_n is not None:
        found = playlists.replace_candidates(_library(pl), pl, i, k=5)
        if not 1 <= args.with_n <= len(found):
            raise UserInputError(
                f"--with {args.with_n}: `playlist alternatives` lists {len(found)} for position {args.pos}"
            )
        track = found[args.with_n - 1]
    else:
        from companion.core.store import Store

        path = Path(os.path.expanduser(args.path))  # Path.expanduser raises on `~nosuchuser`
        if not path.is_file():
            raise NotFoundError(f"{args.path}: no such file")
        with Store() as store:
            track = store.track(path)
    return _save_and_show(playlists.replace(pl, i, track))


def cmd_replan(args: argparse.Namespace) -> int:
    pl = playlists.load(args.name)
    return _save_and_show(playlists.replan_around_locks(pl, _library(pl), seed=args.seed,
                                                        nearest=args.nearest))


def cmd_rename(args: argparse.Namespace) -> int:
    pl = playlists.load(args.name)
    playlists.validate_name(args.new)
    if playlists.exists(args.new):
        raise UserInputError(f"a playlist named {args.new!r} already exists: choose another name")
    fn = playlists.duplicate if args.keep_old else playlists.rename
    path = playlists.save(fn(pl, args.new))
    if not args.keep_old:
        playlists.delete(args.name)
    print(f"{'copied' if args.keep_old else 'renamed'} {args.name!r} to {args.new!r} ({path})")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    pl = playlists.load(args.name)  # NotFoundError before any question
    if not args.yes:
        if not sys.stdin.isatty():
            raise UserInputError(f"deleting playlist {args.name!r} needs a confirmation; run it in a "
                                 "terminal, or add --yes")
        answer = input(f"Delete playlist {args.name!r} ({tracks_phrase(len(pl.tracks))}) for good? "
                       "[y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing deleted.")
            return 1
    path = playlists.delete(args.name)
    print(f"deleted {args.name!r} ({path})")
    return 0


def tracks_phrase(n: int) -> str:
    """``1 track``, ``12 tracks``."""
    return f"{n} track{'' if n == 1 else 's'}"


def _quote(name: str) -> str:
    return f"'{name}'" if " " in name else name
