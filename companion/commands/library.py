"""Verbs ``scan`` (add music folders to the library), ``tracks`` (list the library) and
``library`` (its folders: list, add, remove)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from companion.commands._output import (
    ProgressLine,
    add_format_arg,
    emit,
    format_duration,
    positive_int,
)
from companion.core.untrusted import for_terminal

# The CSV/JSON columns of `companion tracks`: a contract for scripts, keep the names.
TRACK_COLUMNS = (
    "path", "title", "artist", "album", "genre", "duration_s", "bpm", "bpm_confidence",
    "bpm_source", "bpm_auto", "bpm_start", "bpm_end", "bpm_alternatives", "unsure",
    "loudness_lufs", "peak_dbfs", "status", "error", "size", "mtime", "analysed_at",
    # what the track feels like (companion.core.character); empty until measured
    "arousal", "onset_density", "percussive_share", "centroid_hz", "rolloff_hz", "dynamic_range_db",
)
_FEATURES = ("arousal", "onset_density", "percussive_share", "centroid_hz", "rolloff_hz", "dynamic_range_db")
# the path last: two copies of a song differ only there, and `companion tempo` wants it
_TABLE_COLUMNS = ("#", "title", "artist", "time", "bpm", "confidence", "arousal", "status", "path")
_ERROR_TABLE_COLUMNS = ("#", "path", "error")
_TITLE_WIDTH = 40


def register(sub: Any) -> None:
    p = sub.add_parser(
        "scan",
        help="add music to the library: tags, tempo and loudness of every audio file",
        description="Find audio files (WAV, FLAC, OGG, Opus, MP3; M4A with ffmpeg) under each PATH, "
        "read their tags and measure tempo and loudness. Unchanged files are skipped; files "
        "deleted from disk are forgotten (when their folder is gone, they are kept as missing). "
        "A file that cannot be read is listed and skipped.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="a folder (searched recursively) or a file")
    p.add_argument("--jobs", type=positive_int, default=None, metavar="N",
                   help="worker processes (default: the number of cores)")
    p.add_argument("--force", action="store_true", help="analyse unchanged files again too")
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser(
        "tracks",
        help="list the library",
        description="One row per track: title, artist, duration, tempo, how sure it is, and its path.",
    )
    add_format_arg(p)
    p.add_argument("--filter", metavar="QUERY", default="",
                   help="only tracks matching QUERY, as the app's Library filter: every word in title, "
                   "artist, album, genre or path; bpm:60-80 (also bpm:72, bpm:-70, bpm:100-); "
                   "unsure, error, manual")
    only = p.add_mutually_exclusive_group()
    only.add_argument("--unsure", action="store_true",
                      help="only tracks whose tempo is uncertain (confirm them with `companion tempo`)")
    only.add_argument("--errors", action="store_true", help="only files that could not be analysed")
    only.add_argument("--missing", action="store_true",
                      help="only tracks whose folder is gone (a drive not mounted?); kept, not planned")
    p.set_defaults(func=cmd_tracks)

    p = sub.add_parser(
        "library", help="the library's folders: list them, add one, remove one",
        description="Without an action: each folder of the library with its number of tracks. "
        "`add PATH` scans a folder into the library; `remove PATH` takes a folder and its tracks "
        "out (the files stay on disk; hand-set tempos come back if it is added again). The demo "
        "library is its own folder (`remove demo`); plans leave it out once you have music of your own.",
    )
    add_format_arg(p, ("table", "json"))
    p.set_defaults(func=cmd_library)
    ls = p.add_subparsers(dest="library_action", metavar="ACTION")
    q = ls.add_parser("add", help="scan a folder into the library")
    q.add_argument("path", metavar="PATH")
    q.add_argument("--jobs", type=positive_int, default=None, metavar="N",
                   help="worker processes (default: the number of cores)")
    q.set_defaults(func=cmd_library_add)
    q = ls.add_parser("remove", help="take a folder (or `demo`) and its tracks out of the library")
    q.add_argument("path", metavar="PATH")
    q.set_defaults(func=cmd_library_remove)

    try:
        from companion.commands.demo import register_demo
    except ModuleNotFoundError as exc:  # the demo verb is optional; a bug inside it is not hidden
        if exc.name != "companion.commands.demo":
            raise
    else:
        register_demo(sub)


# -- scan -----------------------------------------------------------------------------------------


def cmd_scan(args: argparse.Namespace) -> int:
    from companion.core.scan import scan
    from companion.core.store import Store

    with Store() as store:
        printer = _ProgressPrinter(sys.stderr)
        try:
            summary = scan(args.paths, store, jobs=args.jobs, progress=printer, force=args.force)
        finally:
            printer.close()
        _remember_folders(store, args.paths)
    for path, reason in summary.failures:
        print(f"companion: {for_terminal(path)}: {for_terminal(reason)}", file=sys.stderr)
    for note in summary.notes:
        print(f"companion: {for_terminal(note)}", file=sys.stderr)
    if not summary.found:
        print("no audio files found (WAV, FLAC, OGG, Opus, MP3, M4A)", file=sys.stderr)
    print(_summary_line(summary))
    return 0


def _remember_folders(store: Any, paths: list[str]) -> None:
    """The folders scanned become library folders (`companion library` lists them)."""
    from pathlib import Path

    for p in paths:
        if Path(p).expanduser().is_dir():
            store.add_folder(Path(p).expanduser().resolve())


def _summary_line(s: Any) -> str:
    parts = [f"{s.analysed} analysed", f"{s.skipped_unchanged} unchanged", _plural(s.errors, "error")]
    if s.removed:
        parts.append(f"{s.removed} removed (gone from disk)")
    line = f"{_plural(s.found, 'file')}: {', '.join(parts)} in {s.seconds:.1f} s"
    if s.speed_x:
        line += f" ({s.speed_x:.0f}x real time)"
    if s.cancelled:
        line += "; stopped early"
    return line


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class _ProgressPrinter(ProgressLine):
    """Scan progress: files done, errors, and the file at hand."""

    def __call__(self, done: int, total: int, path: str, errors: int) -> None:
        if not total:
            return
        text = f"scanning: {done}/{total} files"
        if errors:
            text += f", {_plural(errors, 'error')}"
        self.update(text, path.rsplit("/", 1)[-1] if path else "", force=done in (0, total))


# -- tracks ---------------------------------------------------------------------------------------


def cmd_tracks(args: argparse.Namespace) -> int:
    from companion.core.analysis import is_unsure
    from companion.core.models import STATUS_ERROR, STATUS_MISSING
    from companion.core.store import Store
    from companion.core.trackfilter import filter_tracks, parse_query

    query = parse_query(args.filter)  # a malformed bpm: term is one line before the library is read
    with Store() as store:
        tracks = store.tracks(status=STATUS_ERROR if args.errors else STATUS_MISSING if args.missing else None)
    if args.unsure:
        tracks = [t for t in tracks if is_unsure(t)]
    tracks = filter_tracks(tracks, query)
    rows = [_track_row(t, is_unsure(t)) for t in tracks]
    if args.format == "table":
        if not rows:
            print(_empty_message(args), file=sys.stderr)
            return 0
        if args.errors:
            emit([{**r, "#": i} for i, r in enumerate(rows, 1)], _ERROR_TABLE_COLUMNS, "table")
        else:
            emit([_table_row(i, r) for i, r in enumerate(rows, 1)], _TABLE_COLUMNS, "table",
                 headers={"bpm": "BPM", "time": "duration"})
        return 0
    emit(rows, TRACK_COLUMNS, args.format)
    return 0


def _track_row(track: Any, unsure: bool) -> dict[str, Any]:
    row = dataclasses.asdict(track)  # alternatives become {"bpm", "score", "ratio"} objects
    row["unsure"] = unsure
    feel = row.get("character") or {}
    row.update({k: feel.get(k) for k in _FEATURES})
    return {k: row[k] for k in TRACK_COLUMNS}


def _table_row(i: int, r: dict[str, Any]) -> dict[str, Any]:
    if r["status"] in ("error", "missing"):
        status = r["status"]
    elif r["bpm_source"] == "manual":
        status = "manual"
    else:
        status = "unsure" if r["unsure"] else "ok"
    conf = r["bpm_confidence"]
    return {
        "#": i,
        "title": _clip(r["title"]),
        "artist": _clip(r["artist"]),
        "time": format_duration(r["duration_s"]) if r["duration_s"] else "",
        "bpm": r["bpm"],
        "confidence": "" if conf is None else f"{conf:.0%}",
        "arousal": "" if r["arousal"] is None else f"{r['arousal']:.2f}",
        "status": status,
        "path": _home_as_tilde(r["path"]),
    }


def _home_as_tilde(path: str) -> str:
    """``~/Music/a.flac`` for a path under the home folder: shorter, and a shell reads it back."""
    import os

    home = os.path.expanduser("~").rstrip("/")
    return "~" + path[len(home):] if home and home != "/" and path.startswith(home + "/") else path


def _clip(text: str) -> str:
    return text if len(text) <= _TITLE_WIDTH else text[: _TITLE_WIDTH - 1] + "…"


def _empty_message(args: argparse.Namespace) -> str:
    if args.filter.strip():
        return f"no tracks match {for_terminal(args.filter)!r}"
    if args.unsure:
        return "no unsure tracks: every tempo is confident or set by hand"
    if args.errors:
        return "no files with errors"
    if args.missing:
        return "no missing tracks: every folder scanned is there"
    return "the library is empty; add music with `companion scan PATH` (or try `companion demo`)"


# -- library folders ------------------------------------------------------------------------------


def cmd_library(args: argparse.Namespace) -> int:
    from companion.core import library
    from companion.core.store import Store

    with Store() as store:
        rows = [{"folder": f.path or "(tracks under no folder)", "path": f.path, "kind": f.kind,
                 "tracks": f.tracks} for f in library.folders(store)]
    if args.format == "table" and not rows:
        print("the library has no folders yet: `companion library add PATH` (or `companion demo`)",
              file=sys.stderr)
        return 0
    emit(rows, ("folder", "kind", "tracks") if args.format == "table" else ("path", "kind", "tracks"),
         args.format)
    return 0


def cmd_library_add(args: argparse.Namespace) -> int:
    from companion.core import library
    from companion.core.store import Store

    with Store() as store:
        printer = _ProgressPrinter(sys.stderr)
        try:
            summary = library.add(store, args.path, jobs=args.jobs, progress=printer)
        finally:
            printer.close()
    for path, reason in summary.failures:
        print(f"companion: {path}: {reason}", file=sys.stderr)
    print(_summary_line(summary))
    return 0


def cmd_library_remove(args: argparse.Namespace) -> int:
    from companion.core import library
    from companion.core.store import Store

    with Store() as store:
        removed, kept = library.remove(store, args.path)
    line = f"removed {args.path} from the library: {_plural(removed, 'track')} (the files stay on disk)"
    if kept:
        line += f"; {_plural(kept, 'hand-set tempo')} kept for when it comes back"
    print(line)
    return 0
