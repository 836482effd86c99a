"""Playlists as M3U8 files: read, write, import, export and curate.

A saved playlist is ``$COMPANION_HOME/playlists/NAME.m3u8``, an extended M3U that VLC and mpv
play as it is::

    #EXTM3U
    #COMPANION-PLAYLIST:{"arc": "u-sequence", "start_bpm": 90.0, "target_bpm": 60.0, ...}
    #COMPANION-NOTE:start tempo 90 BPM: ...
    #EXTINF:190,Artist - Title
    #COMPANION-TRACK:{"bpm": 86.2, "planned_bpm": 86.0, "used_bpm": 86.2, "locked": false}
    /music/artist/title.flac
    #COMPANION-SILENCE:120

``#COMPANION-`` lines are comments to every other player; they carry the plan so the file can
be re-opened for curation. A ``#COMPANION-TRACK`` line belongs to the next path line. A file
written or edited by another program (no such lines, relative paths, CRLF, a BOM, no
``#EXTM3U``) is still read.

Curation functions are pure: they take a Playlist and return a new one (entry ``index`` is
0-based here; the CLI shows positions from 1). ``save``/``delete`` touch files. After each
change the start offsets and planned tempi are recomputed, and any step larger than the
plan's max step is named in the notes (prefixed ``warning:``): nothing breaks silently.

Start offsets and lengths are those heard: neighbouring tracks overlap by the playlist's
crossfade (``crossfade_of``: the one it was planned with, else the player's default).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import replace as _with
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from companion.core import paths
from companion.core.errors import (
    CompanionError,
    NotFoundError,
    ReadError,
    StoreError,
    UserInputError,
)
from companion.core.library import planning_tracks
from companion.core.models import Playlist, PlaylistEntry, Track
from companion.core.planner import DEFAULT_MAX_STEP_PCT, plan, slot_candidates, tempo_for_slot
from companion.core.render import DEFAULT_CROSSFADE_S
from companion.core.safefile import write_file
from companion.core.timeline import check_plan, timeline

if TYPE_CHECKING:
    from companion.core.arcs import Arc
    from companion.core.store import Store

__all__ = [
    "SUFFIX",
    "arc_label",
    "build",
    "crossfade_of",
    "delete",
    "dumps",
    "duplicate",
    "exists",
    "export",
    "library_for",
    "import_m3u",
    "list_playlists",
    "load",
    "lock",
    "move",
    "parse",
    "played_s",
    "playlist_path",
    "remove",
    "rename",
    "replace_candidates",
    "replace",
    "replan_around_locks",
    "save",
    "unlock",
    "validate_name",
]

SUFFIX = ".m3u8"
WARNING = "warning: "
_NAME = re.compile(r"^[^\W_][\w .-]*$")  # letters, digits, space, - _ . ; starts with letter/digit
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_TAG_PLAYLIST = "#COMPANION-PLAYLIST:"
_TAG_TRACK = "#COMPANION-TRACK:"
_TAG_SILENCE = "#COMPANION-SILENCE:"
_TAG_NOTE = "#COMPANION-NOTE:"
# Characters no path line or tag of a text playlist holds: C0 controls but tab, and DEL. (C1
# stays: a Windows-1252 file read as Latin-1 has its curly quotes there.)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_MAX_PATH_CHARS = 4096  # PATH_MAX on Linux
_ESCAPED = re.compile(r"[\udc80-\udcff]")
_MAX_TRACK_S = 24 * 3600.0


# -- names and files ---------------------------------------------------------------------------


def validate_name(name: str) -> str:
    """``name`` if it is a usable playlist name, else UserInputError naming it."""
    if isinstance(name, str) and _without_suffix(name) != name and _NAME.match(name):
        raise UserInputError(
            f"playlist name {name!r} ends like a file name; give the playlist's name without "
            f"{name[len(_without_suffix(name)):]!r} ({_without_suffix(name)!r}), or a path to a "
            f"file (./{name})"
        )
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > 100 or name != name.strip():
        raise UserInputError(
            f"playlist name {name!r} is not allowed: use letters, digits, spaces, - _ . "
            "(starting with a letter or digit, at most 100 characters)"
        )
    return name


def _without_suffix(name: str) -> str:
    """``name`` without a trailing .m3u or .m3u8 in any case (``demo.M3U8`` -> ``demo``)."""
    return re.sub(r"\.m3u8?$", "", name, flags=re.IGNORECASE)


def playlist_path(name: str) -> Path:
    """Where the playlist ``name`` is saved."""
    return paths.playlists_dir() / f"{validate_name(name)}{SUFFIX}"


def exists(name: str) -> bool:
    return playlist_path(name).is_file()


def build(store: Store, *, name: str, include_demo: bool = False, **plan_kwargs: Any) -> Playlist:
    """Plan from the library's analysed tracks and save as ``playlists/NAME.m3u8``.

    ``plan_kwargs`` are those of ``companion.core.planner.plan``. The demo library is left out
    once there is music of the person's own, unless ``include_demo``
    (``companion.core.library.planning_tracks``). Returns the saved playlist (``path`` set).
    """
    validate_name(name)
    tracks = planning_tracks(store, include_demo=include_demo, filters=plan_kwargs.get("filters"))
    pl = plan(tracks, name=name, **plan_kwargs)
    if include_demo:
        pl.meta["include_demo"] = True
    return _with(pl, path=str(save(pl)))


def library_for(pl: Playlist, store: Store) -> list[Track]:
    """The tracks ``pl`` may be re-planned or curated from: those it was built from."""
    return planning_tracks(store, include_demo=bool(pl.meta.get("include_demo")),
                           filters=pl.meta.get("filters") or None)


def save(playlist: Playlist) -> Path:
    """Write ``playlist`` to ``playlists/NAME.m3u8`` (owner-only, atomically). Returns the path."""
    path = playlist_path(playlist.name)
    try:
        write_file(path, dumps(playlist), private=True, own_files_ok=True)
    except OSError as exc:
        raise StoreError(f"{path}: cannot save the playlist ({exc.strerror}); check the folder's "
                         "permissions and free space") from exc
    return path


def export(playlist: Playlist, file: str | Path) -> Path:
    """Write ``playlist`` as an M3U8 at ``file`` (absolute paths) for VLC, mpv and others."""
    target = Path(os.path.expanduser(file))
    if target.is_dir():
        target = target / f"{playlist.name or 'playlist'}{SUFFIX}"
    if not target.parent.is_dir():
        raise UserInputError(f"{target.parent}: no such folder")
    return write_file(target, dumps(playlist))


def delete(name: str) -> Path:
    """Delete the saved playlist ``name``. Returns the path it had."""
    path = playlist_path(name)
    if not path.is_file():
        raise NotFoundError(f"no playlist named {name!r}; `companion playlist list` shows them")
    try:
        path.unlink()
    except OSError as exc:
        raise StoreError(f"{path}: cannot delete the playlist ({exc.strerror})") from exc
    return path


def load(name_or_path: str | Path, *, store: Store | None = None) -> Playlist:
    """A saved playlist by name, or any M3U/M3U8 file by path.

    Entries whose files have moved stay, with a note naming them. With ``store``, titles,
    tempi and lengths missing from the file are filled in from the library.
    """
    text = str(name_or_path)
    p = Path(os.path.expanduser(text))
    looks_like_path = isinstance(name_or_path, Path) or "/" in text or os.sep in text
    if looks_like_path or (text.lower().endswith((".m3u", ".m3u8")) and p.is_file()):
        if not p.is_file():
            raise NotFoundError(f"{text}: no such playlist file")
        return _read(p, p.stem, store=store, fill_only=True)
    name = text  # exactly: `demo.M3U8` is not `demo` (validate_name says what to give instead)
    path = playlist_path(name)
    if not path.is_file():
        raise NotFoundError(f"no playlist named {name!r}; `companion playlist list` shows them")
    return _read(path, name, store=store, fill_only=True)


def list_playlists() -> list[Playlist]:
    """Every saved playlist, sorted by name (unreadable files are left out)."""
    out = []
    for f in paths.playlists_dir().glob(f"*{SUFFIX}"):
        try:
            out.append(_read(f, f.stem, store=None, fill_only=True))
        except CompanionError:
            continue
    return sorted(out, key=lambda p: (p.name.casefold(), p.name))


def import_m3u(file: str | Path, *, name: str | None = None, store: Store | None = None) -> Playlist:
    """Read any M3U/M3U8 a person may have into a Playlist (not saved: call ``save``).

    Relative paths resolve against the file's folder; ``file://`` URLs become paths; other
    URLs are skipped with a note; BOM, CRLF, comments and ``#EXTINF`` are understood. Tracks
    the library knows get their title, artist, tempo and loudness from it.
    """
    p = Path(os.path.expanduser(file))
    if not p.is_file():
        raise NotFoundError(f"{file}: no such file")
    if name is None:
        name = re.sub(r"[^\w .-]+", "-", _without_suffix(p.stem)).strip(" .-_") or "imported"
    validate_name(name)
    _check_is_playlist(p)
    if store is None and paths.db_path().exists():
        from companion.core.store import Store

        with Store() as s:
            pl = _read(p, name, store=s, fill_only=False)
    else:
        pl = _read(p, name, store=store, fill_only=False)
    return pl


def _check_is_playlist(path: Path) -> None:
    """Refuse a file that is not a playlist at all (``notes.txt``, a picture): importing it
    would make a playlist of its lines. A playlist starts with ``#EXTM3U``, names at least one
    audio file or URL, or is empty (comments only)."""
    from companion.core.audio_io import AUDIO_EXTENSIONS

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReadError(path, f"cannot read the playlist ({exc.strerror})") from exc
    lines = [ln.strip().lstrip("\ufeff") for ln in _decode(data).splitlines()]
    lines = [ln for ln in lines if ln]
    content = [ln for ln in lines if not ln.startswith("#")]
    if not content or lines[0].upper().startswith("#EXTM3U"):
        return  # an empty playlist is a playlist; junk lines of a real one are skipped later
    for line in content:
        if _URL.match(line) or line.lower().endswith(tuple(AUDIO_EXTENSIONS)):
            return
    binary = b"\0" in data and not data.startswith((b"\xff\xfe", b"\xfe\xff"))
    why = "it holds binary data" if binary else "no #EXTM3U line and no line naming an audio file"
    raise UserInputError(f"{path}: not a playlist ({why}); give an .m3u or .m3u8 file")


# -- the M3U8 text -----------------------------------------------------------------------------


def dumps(playlist: Playlist) -> str:
    """The M3U8 text of ``playlist``."""
    lines = ["#EXTM3U"]
    meta = dict(playlist.meta)
    if playlist.arc:
        meta["arc"] = playlist.arc
    if meta:
        lines.append(_TAG_PLAYLIST + json.dumps(meta, sort_keys=True, default=str))
    for n in playlist.notes:
        if not n.startswith(WARNING):  # warnings are worked out afresh on every load
            lines.append(_TAG_NOTE + _one_line(n))
    for e in playlist.entries:
        if e.is_silence:
            lines.append(f"{_TAG_SILENCE}{e.silence_s:g}")
            continue
        seconds = int(round(e.duration_s)) if e.duration_s > 0 else -1
        lines.append(f"#EXTINF:{seconds},{_one_line(e.display_name or Path(e.path).stem)}")
        info = {"bpm": e.bpm, "planned_bpm": e.planned_bpm, "used_bpm": e.used_bpm,
                "locked": e.locked, "duration_s": round(e.duration_s, 3),
                "loudness_lufs": None if e.loudness_lufs is None else round(e.loudness_lufs, 2),
                "peak_dbfs": None if e.peak_dbfs is None else round(e.peak_dbfs, 2),
                "title": e.title, "artist": e.artist}
        lines.append(_TAG_TRACK + json.dumps({k: v for k, v in info.items() if v not in (None, "")}))
        lines.append(e.path)
    return "\n".join(lines) + "\n"


def parse(text: str, *, base_dir: Path, name: str = "", source: str = "") -> Playlist:
    """A Playlist from M3U text; relative paths resolve against ``base_dir``."""
    entries: list[PlaylistEntry] = []
    notes: list[str] = []
    meta: dict[str, Any] = {}
    urls: list[str] = []
    extinf: tuple[float, str] | None = None
    info: dict[str, Any] = {}
    junk: list[str] = []
    for raw in text.splitlines():
        line = raw.strip().lstrip("\ufeff")
        if not line:
            continue
        if _CONTROL.search(line):  # a NUL byte or binary junk: no path, no tag holds those
            junk.append(line)
            extinf, info = None, {}
            continue
        if line.startswith("#"):
            line = _latin1(line)
            if line.startswith("#EXTINF:"):
                extinf = _extinf(line[len("#EXTINF:"):])
            elif line.startswith(_TAG_TRACK):
                info = _json(line[len(_TAG_TRACK):])
            elif line.startswith(_TAG_PLAYLIST):
                meta = _json(line[len(_TAG_PLAYLIST):])
            elif line.startswith(_TAG_NOTE):
                notes.append(line[len(_TAG_NOTE):])
            elif line.startswith(_TAG_SILENCE):
                seconds = _silence_s(line[len(_TAG_SILENCE):], notes)
                if seconds:
                    entries.append(PlaylistEntry(path="", title="silence", silence_s=seconds))
            continue
        try:
            path = _resolve(line, base_dir)
        except _Unusable as exc:
            junk.append(f"{line} ({exc})")
            extinf, info = None, {}
            continue
        if path is None:
            urls.append(line)
            extinf, info = None, {}
            continue
        info = _checked_track_info(info)
        duration, shown = extinf if extinf else (0.0, "")
        artist, _, title = shown.partition(" - ") if " - " in shown else ("", "", shown)
        entries.append(PlaylistEntry(
            path=path,
            title=str(info.get("title") or title or Path(path).stem),
            artist=str(info.get("artist") or artist),
            duration_s=_num(info.get("duration_s")) or duration,
            bpm=_num(info.get("bpm")),
            planned_bpm=_num(info.get("planned_bpm")),
            used_bpm=_num(info.get("used_bpm")),
            locked=info.get("locked") is True,
            loudness_lufs=_num(info.get("loudness_lufs")),
            peak_dbfs=_num(info.get("peak_dbfs")),
        ))
        extinf, info = None, {}
    if urls:
        notes.append(f"{WARNING}skipped {len(urls)} URL{'s' if len(urls) > 1 else ''} "
                     f"(companion plays local files only), e.g. {urls[0]}")
    if junk:
        notes.append(f"{WARNING}skipped {len(junk)} line{'s' if len(junk) > 1 else ''} that "
                     f"{'are not usable paths' if len(junk) > 1 else 'is not a usable path'}, e.g. "
                     f"{_shown(junk[0])}")
    meta = _checked_meta(meta, notes)
    arc = str(meta.get("arc", "") or "")
    return Playlist(name=name, entries=_restart(entries, _crossfade(meta)), path=source, arc=arc,
                    meta=meta, notes=tuple(notes))


def _read(path: Path, name: str, *, store: Store | None, fill_only: bool) -> Playlist:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReadError(path, f"cannot read the playlist ({exc.strerror})") from exc
    text = _decode(data)
    pl = parse(text, base_dir=path.resolve().parent, name=name, source=str(path))
    if store is not None:
        pl = _enrich(pl, store, fill_only=fill_only)
    warnings = [WARNING + p for p in check_plan(pl, max_step_pct=_max_step(pl))]
    missing = [e.path for e in pl.entries if not e.is_silence and not os.path.exists(e.path)]
    if missing:
        n = len(missing)
        warnings.append(
            f"{WARNING}{n} track{'s' if n > 1 else ''} not found (moved or deleted?), e.g. "
            f"{missing[0]}: rescan its new folder and re-import, or remove {'them' if n > 1 else 'it'}")
    return _with(pl, notes=pl.notes + tuple(warnings)) if warnings else pl


def _decode(data: bytes) -> str:
    """Text of a playlist file: UTF-8 (with or without BOM), UTF-16 with BOM, else UTF-8 with
    its undecodable bytes kept as surrogate escapes: a path line then names the very bytes of a
    file name that is not UTF-8 (as companion writes them), and ``_latin1`` reads the other
    lines of an old Latin-1 .m3u from a Windows player."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.decode("utf-8", "surrogateescape")


def _latin1(line: str) -> str:
    """A line holding undecodable bytes, read as Latin-1 instead (titles, notes and paths of
    an old .m3u written on Windows)."""
    if not _ESCAPED.search(line):
        return line
    return line.encode("utf-8", "surrogateescape").decode("latin-1")


def _enrich(pl: Playlist, store: Store, *, fill_only: bool) -> Playlist:
    known = {t.path: t for t in store.tracks()}
    out = []
    for e in pl.entries:
        t = known.get(e.path)
        if t is None or e.is_silence:
            out.append(e)
            continue

        def pick(mine: Any, theirs: Any) -> Any:
            if fill_only:
                return mine if mine not in (None, "", 0, 0.0) else theirs
            return theirs if theirs not in (None, "", 0, 0.0) else mine

        out.append(_with(
            e,
            title=pick(e.title if e.title != Path(e.path).stem else "", t.title) or e.title,
            artist=pick(e.artist, t.artist),
            duration_s=pick(e.duration_s, t.duration_s),
            bpm=pick(e.bpm, t.bpm),
            loudness_lufs=pick(e.loudness_lufs, t.loudness_lufs),
            peak_dbfs=pick(e.peak_dbfs, t.peak_dbfs),
            arousal=pick(e.arousal, t.arousal),
        ))
    return _with(pl, entries=_restart(out, crossfade_of(pl)))


class _Unusable(Exception):
    """A path line that names no file companion could open; the reason says why."""


def _resolve(line: str, base_dir: Path) -> str | None:
    """An absolute path for a path line, or None for a URL we cannot play. Raises _Unusable for
    a path no file can have (a NUL byte after decoding a URL, ``~someone`` who is not a user, a
    name too long)."""
    if _URL.match(line):
        u = urlparse(line)
        if u.scheme.lower() != "file":
            return None
        line = unquote(u.path, errors="surrogateescape")
        if _CONTROL.search(line):
            raise _Unusable("control characters in the URL")
    if "\\" in line and "/" not in line:
        line = line.replace("\\", "/")  # written on Windows
    if line.startswith("~"):
        expanded = os.path.expanduser(line)
        if expanded.startswith("~"):
            raise _Unusable(f"no user {line[1:].split('/', 1)[0]!r} on this computer")
        line = expanded
    if len(line) > _MAX_PATH_CHARS:
        raise _Unusable("the path is too long")
    p = Path(line)
    if not p.is_absolute():
        p = base_dir / p
    if _ESCAPED.search(line) and not os.path.lexists(p):  # not these bytes: a Latin-1 playlist?
        other = Path(_latin1(str(p)))
        if os.path.lexists(other):
            p = other
    # as the library stores paths (links resolved); os.path.realpath stops at a link loop where
    # Path.resolve raises
    return os.path.realpath(p)


def _extinf(rest: str) -> tuple[float, str]:
    head, _, shown = rest.partition(",")
    m = re.match(r"\s*(-?\d+(?:\.\d+)?)", head)
    seconds = float(m.group(1)) if m else 0.0
    return (seconds if 0.0 <= seconds <= _MAX_TRACK_S else 0.0), shown.strip()


def _silence_s(text: str, notes: list[str]) -> float:
    """Seconds of a ``#COMPANION-SILENCE`` line: at most ``render.MAX_SILENCE_S`` (a crafted 1e9
    would otherwise play, or render to disk, for 30 years), as the player plays it; 0, with a
    note, for one that is not a positive number."""
    from companion.core.render import MAX_SILENCE_S

    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if seconds > MAX_SILENCE_S:  # infinity too
        notes.append(f"{WARNING}{_TAG_SILENCE}{text.strip()[:40]} shortened to {MAX_SILENCE_S:g} "
                     "seconds, the longest silence companion plays")
        return MAX_SILENCE_S
    if 0.0 < seconds:
        return seconds
    if seconds != 0.0:
        notes.append(f"{WARNING}ignored {_TAG_SILENCE}{text.strip()[:40]}: a silence lasts from 0 to "
                     f"{MAX_SILENCE_S:g} seconds")
    return 0.0


def _checked_meta(meta: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """The ``#COMPANION-PLAYLIST`` values, each checked against its bounds once, here: every
    later reader (show, move, replan, alternatives, the app) may trust them. A value of the
    wrong kind or out of bounds is dropped with a note naming it (the playlist still loads)."""
    from companion.core.planner import MAX_BPM, MAX_CROSSFADE_S, MIN_BPM

    bounds = {"start_bpm": (MIN_BPM, MAX_BPM), "target_bpm": (MIN_BPM, MAX_BPM),
              "minutes": (0.5, 24 * 60.0), "max_step_pct": (0.5, 50.0),
              "crossfade_s": (0.0, MAX_CROSSFADE_S), "seed": (-(2**63), 2**63 - 1)}
    out = dict(meta)
    for key, (low, high) in bounds.items():
        if key not in out:
            continue
        value = out[key]
        number: float | int | None = None if isinstance(value, bool) else _num(value)
        if key == "seed":  # exactly, as written: a float would round a long seed to another plan
            number = value if isinstance(value, int) and not isinstance(value, bool) else None
        if number is None or not low <= number <= high:
            del out[key]
            wanted = "a whole number" if key == "seed" else f"a number from {low:g} to {high:g}"
            notes.append(f"{WARNING}ignored {key} {_shown(value)} in the playlist's settings: "
                         f"{wanted} was expected")
        else:
            out[key] = number
    for key in ("arc", "arc_file"):
        if key in out and not (isinstance(out[key], str) and len(out[key]) <= _MAX_PATH_CHARS
                               and not _CONTROL.search(out[key])):
            notes.append(f"{WARNING}ignored {key} {_shown(out.pop(key))} in the playlist's settings")
    if "filters" in out and not _filters_ok(out["filters"]):
        notes.append(f"{WARNING}ignored filters {_shown(out.pop('filters'))} in the playlist's settings")
    return out


def _filters_ok(filters: Any) -> bool:
    """Filters as ``planner.filter_tracks`` takes them: known keys, text or lists of text."""
    if not isinstance(filters, dict) or set(filters) - {"folder", "artist", "album", "genre", "exclude"}:
        return False
    for value in filters.values():
        for item in value if isinstance(value, list) else [value]:
            if not (item is None or isinstance(item, str) and len(item) <= _MAX_PATH_CHARS
                    and not _CONTROL.search(item)):
                return False
            if isinstance(item, str) and item.startswith("~") and os.path.expanduser(item) == item:
                return False  # ~someone who is not a user: the planner could not resolve it
    return True


def _checked_track_info(info: dict[str, Any]) -> dict[str, Any]:
    """A ``#COMPANION-TRACK`` line's values within bounds; anything else is left out (the
    library's own values fill in)."""
    bounds = {"bpm": (1.0, 1000.0), "planned_bpm": (1.0, 1000.0), "used_bpm": (1.0, 1000.0),
              "duration_s": (0.0, _MAX_TRACK_S), "loudness_lufs": (-120.0, 20.0),
              "peak_dbfs": (-200.0, 60.0)}
    out: dict[str, Any] = {}
    for key, value in info.items():
        if key in bounds:
            number = None if isinstance(value, bool) else _num(value)
            if number is not None and bounds[key][0] <= number <= bounds[key][1]:
                out[key] = number
        elif key in ("title", "artist"):
            if isinstance(value, str) and len(value) <= 1000:
                out[key] = value
        elif key == "locked":
            out[key] = value is True
        else:
            out[key] = value  # a key this reader does not check: its own reader does
    return out


def _shown(value: Any) -> str:
    """A value from the file, quoted and cut short for a note."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _json(text: str) -> dict[str, Any]:
    try:
        v = json.loads(text)
    except ValueError:
        return {}
    return v if isinstance(v, dict) else {}


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _one_line(s: str) -> str:
    return " ".join(str(s).split())


def _restart(entries: Iterable[PlaylistEntry], crossfade_s: float) -> tuple[PlaylistEntry, ...]:
    """Entries with start offsets (as heard) recomputed from their order."""
    entries = tuple(entries)
    starts, _ = timeline(entries, crossfade_s)
    return tuple(_with(e, start_s=t) if e.start_s != t else e for e, t in zip(entries, starts, strict=True))


def _crossfade(meta: dict[str, Any]) -> float:
    v = _num(meta.get("crossfade_s"))
    return v if v is not None and v >= 0 else DEFAULT_CROSSFADE_S


def crossfade_of(pl: Playlist) -> float:
    """The crossfade ``pl`` was planned for, seconds (0: gapless); the player's default when
    the file does not say (imported, or planned before it was kept)."""
    return _crossfade(pl.meta)


def arc_label(pl: Playlist) -> str:
    """The arc's name as a person should read it: a preset planned from a slower start to a
    faster target rises, whatever its name says ("step-down, rising")."""
    start, target = _num(pl.meta.get("start_bpm")), _num(pl.meta.get("target_bpm"))
    if pl.arc and start and target and target > start:
        return f"{pl.arc}, rising"
    return pl.arc


def played_s(pl: Playlist) -> float:
    """How long ``pl`` plays, seconds: its entries' lengths minus the crossfades' overlaps."""
    return timeline(pl.entries, crossfade_of(pl))[1]


# -- curation ----------------------------------------------------------------------------------


def _max_step(pl: Playlist) -> float:
    return _num(pl.meta.get("max_step_pct")) or DEFAULT_MAX_STEP_PCT


def _changed(pl: Playlist, entries: Sequence[PlaylistEntry]) -> Playlist:
    """``pl`` with new entries: offsets and planned tempi recomputed, broken steps noted."""
    entries = _restart(entries, crossfade_of(pl))
    planned = _planner_curve(pl)
    if planned is not None:
        entries = tuple(
            e if e.is_silence else _with(e, planned_bpm=round(planned(e.start_s + e.duration_s / 2), 1))
            for e in entries
        )
    new = _with(pl, entries=entries)
    problems = check_plan(new, max_step_pct=_max_step(pl))
    notes = tuple(n for n in pl.notes if not n.startswith(WARNING + "the step")
                  and not n.startswith(WARNING + "track")) + tuple(WARNING + p for p in problems)
    return _with(new, notes=notes)


def _arc_of(pl: Playlist) -> Arc | None:
    """The arc the playlist was planned with: by name, else from the file it was read from."""
    from companion.core.arcs import load_arc

    for ref in (pl.arc, pl.meta.get("arc_file")):
        if ref:
            try:
                return load_arc(str(ref))
            except CompanionError:
                continue
    return None


def _planner_curve(pl: Playlist) -> Any:
    """seconds -> BPM the plan's arc asks for, or None when the file does not say."""
    m = pl.meta
    start, target, minutes = _num(m.get("start_bpm")), _num(m.get("target_bpm")), _num(m.get("minutes"))
    arc = _arc_of(pl)
    if not (arc and start and target and minutes):
        return None
    total = minutes * 60.0
    return lambda t: arc.bpm_at(t / total, start, target)


def _index(pl: Playlist, index: int) -> int:
    if not isinstance(index, int) or not 0 <= index < len(pl.entries):
        raise UserInputError(
            f"position {index + 1 if isinstance(index, int) else index!r} is not in playlist "
            f"{pl.name!r}: it has {len(pl.entries)} entries"
        )
    return index


def move(pl: Playlist, index: int, delta: int) -> Playlist:
    """Move entry ``index`` by ``delta`` places (negative: earlier), stopping at either end."""
    i = _index(pl, index)
    j = min(max(i + delta, 0), len(pl.entries) - 1)
    if i == j:
        return pl
    entries = list(pl.entries)
    entries.insert(j, entries.pop(i))
    return _changed(pl, entries)


def remove(pl: Playlist, index: int) -> Playlist:
    i = _index(pl, index)
    return _changed(pl, pl.entries[:i] + pl.entries[i + 1:])


def lock(pl: Playlist, index: int) -> Playlist:
    """Keep entry ``index`` (near its time) when the playlist is re-planned."""
    return _set_lock(pl, index, True)


def unlock(pl: Playlist, index: int) -> Playlist:
    return _set_lock(pl, index, False)


def _set_lock(pl: Playlist, index: int, value: bool) -> Playlist:
    i = _index(pl, index)
    if pl.entries[i].is_silence:
        raise UserInputError(f"position {i + 1} is a silence; only tracks can be locked")
    entries = list(pl.entries)
    entries[i] = _with(entries[i], locked=value)
    return _with(pl, entries=tuple(entries))


def replace_candidates(tracks: Sequence[Track], pl: Playlist, index: int, k: int = 5) -> list[Track]:
    """The best ``k`` library tracks for slot ``index``: near the arc's tempo there, within the
    max step of both neighbours, of a similar length, not already in the playlist."""
    i = _index(pl, index)
    if pl.entries[i].is_silence:
        raise UserInputError(f"position {i + 1} is a silence; choose a track to replace")
    return [t for t, _ in slot_candidates(tracks, pl, i, k=k, max_step_pct=_max_step(pl))]


def replace(pl: Playlist, index: int, track: Track) -> Playlist:
    """``pl`` with entry ``index`` replaced by ``track`` (used at the tempo that fits best)."""
    i = _index(pl, index)
    old = pl.entries[i]
    if any(e.path == track.path for j, e in enumerate(pl.entries) if j != i):
        raise UserInputError(f"{track.path} is already in playlist {pl.name!r}")
    entries = list(pl.entries)
    entries[i] = PlaylistEntry(
        path=track.path, title=track.title, artist=track.artist, duration_s=track.duration_s,
        bpm=track.bpm, planned_bpm=old.planned_bpm,
        used_bpm=tempo_for_slot(track, old.planned_bpm or old.used_bpm or track.bpm),
        loudness_lufs=track.loudness_lufs, peak_dbfs=track.peak_dbfs, arousal=track.arousal,
    )
    return _changed(pl, entries)


def replan_around_locks(pl: Playlist, tracks: Sequence[Track], *, seed: int | None = None,
                        nearest: bool = False) -> Playlist:
    """Plan again with the same arc and settings (the crossfade too), keeping the locked tracks
    near their times."""
    m = pl.meta
    kwargs: dict[str, Any] = {}
    for key in ("start_bpm", "target_bpm", "minutes", "max_step_pct"):
        v = _num(m.get(key))
        if v is not None:
            kwargs[key] = v
    if "minutes" not in kwargs:
        kwargs["minutes"] = max(played_s(pl) / 60.0, 1.0)
    for key in ("min_length_s",):
        v = _num(m.get(key))
        if v is not None:
            kwargs[key] = v
    if m.get("like"):
        kwargs["like"] = str(m["like"])
    new = plan(
        tracks,
        arc=_arc_of(pl) or pl.arc or "step-down",
        seed=int(m.get("seed", 0)) if seed is None else seed,
        filters=m.get("filters") or None,
        locked=[e for e in pl.entries if e.locked],
        name=pl.name,
        nearest=nearest,
        crossfade_s=crossfade_of(pl),
        **kwargs,
    )
    if m.get("include_demo"):
        new.meta["include_demo"] = True
    return _with(new, path=pl.path)


def rename(pl: Playlist, new_name: str) -> Playlist:
    """``pl`` under another name (save it, then ``delete`` the old file)."""
    return _with(pl, name=validate_name(new_name), path="")


def duplicate(pl: Playlist, new_name: str) -> Playlist:
    """A copy of ``pl`` to save under ``new_name``."""
    return _with(pl, name=validate_name(new_name), path="")
