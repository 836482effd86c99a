"""The only module that speaks SQL: schema, migrations and queries.

SQLite in WAL mode; the schema version lives in ``PRAGMA user_version``; every
multi-step write runs in one transaction. The database holds health data, so it
is created readable and writable by its owner only.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from companion.core import paths
from companion.core.errors import NotFoundError, StoreError, UserInputError
from companion.core.models import (
    BPM_AUTO,
    BPM_MANUAL,
    OUTCOME_IN_PROGRESS,
    STATUS_ERROR,
    STATUS_MISSING,
    STATUS_OK,
    TEMPO_CORRECTIONS,
    AnalysisResult,
    Character,
    Rating,
    Session,
    TempoAlternative,
    Track,
    check_manual_bpm,
)

SCHEMA_VERSION = 3
DEFAULT_LISTENER = "me"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tracks (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    artist TEXT NOT NULL DEFAULT '',
    album TEXT NOT NULL DEFAULT '',
    genre TEXT NOT NULL DEFAULT '',
    duration_s REAL NOT NULL DEFAULT 0,
    bpm REAL,
    bpm_confidence REAL,
    bpm_source TEXT NOT NULL DEFAULT 'auto',
    bpm_auto REAL,
    bpm_alternatives TEXT NOT NULL DEFAULT '[]',
    bpm_start REAL,
    bpm_end REAL,
    beat_times TEXT NOT NULL DEFAULT '[]',
    loudness_lufs REAL,
    peak_dbfs REAL,
    status TEXT NOT NULL DEFAULT 'ok',
    error TEXT NOT NULL DEFAULT '',
    analysed_at TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS listeners (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,
    listener_id INTEGER NOT NULL REFERENCES listeners(id) ON DELETE CASCADE,
    playlist TEXT NOT NULL,
    arc TEXT NOT NULL DEFAULT '',
    snapshot TEXT NOT NULL DEFAULT '{}',
    started_at TEXT NOT NULL,
    ended_at TEXT,
    minutes_listened REAL NOT NULL DEFAULT 0,
    outcome TEXT NOT NULL DEFAULT 'in_progress',
    underruns INTEGER NOT NULL DEFAULT 0,
    pid INTEGER,
    heartbeat_at TEXT
);
CREATE INDEX IF NOT EXISTS sessions_listener ON sessions(listener_id, started_at);
CREATE TABLE IF NOT EXISTS ratings (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    phase TEXT NOT NULL CHECK (phase IN ('before', 'after')),
    scale TEXT NOT NULL,
    value REAL,
    text TEXT NOT NULL DEFAULT '',
    items TEXT NOT NULL DEFAULT '[]',
    late INTEGER NOT NULL DEFAULT 0,
    recorded_at TEXT NOT NULL,
    UNIQUE (session_id, phase, scale)
);
"""


# Every track column but beat_times, which is large and only the player's beat pulse needs.
_TRACK_COLUMNS = (
    "path, size, mtime, title, artist, album, genre, duration_s, bpm, bpm_confidence, bpm_source, "
    "bpm_auto, bpm_alternatives, bpm_start, bpm_end, loudness_lufs, peak_dbfs, status, error, analysed_at, "
    + ", ".join(f"c_{c}" for c in ("onset_density", "percussive_share", "centroid_hz", "rolloff_hz",
                                    "dynamic_range_db", "arousal", "timbre"))
)
# What a track feels like (models.Character), one column each; timbre as float32 bytes.
_CHARACTER = ("onset_density", "percussive_share", "centroid_hz", "rolloff_hz", "dynamic_range_db",
              "arousal", "timbre")
# Bump when the character measurement changes: rows measured by an older one are re-analysed.
CHARACTER_VERSION = 1
_MIGRATION_3 = (
    *(f"ALTER TABLE tracks ADD COLUMN c_{c} {'BLOB' if c == 'timbre' else 'REAL'}" for c in _CHARACTER),
    "ALTER TABLE tracks ADD COLUMN fingerprint BLOB",
    "ALTER TABLE tracks ADD COLUMN character_version INTEGER NOT NULL DEFAULT 0",
    # The folders a person added (kind 'music') or the demo library (kind 'demo').
    """CREATE TABLE IF NOT EXISTS folders (
        path TEXT PRIMARY KEY, kind TEXT NOT NULL DEFAULT 'music', added_at TEXT NOT NULL)""",
    # Hand-set tempos of tracks whose folder left the library, restored if it comes back.
    """CREATE TABLE IF NOT EXISTS kept_tempos (
        path TEXT PRIMARY KEY, bpm REAL NOT NULL, kept_at TEXT NOT NULL)""",
)


def now_iso() -> str:
    """Local time with its UTC offset, to the second."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


# What to do about a database error, by kind (see _error_kind). Each keeps the history intact.
_ADVICE = {
    "locked": "another companion (or program) holds it locked; close it, or wait and try again",
    "readonly": "the file or its folder is read-only; check their permissions (or set COMPANION_HOME)",
    "full": "the disk is full; free some space and try again",
    "io": "the disk could not be read or written; check the drive, then try again",
    "corrupt": "SQLite reports damage but its integrity check finds none; try again",
    "other": "check the file and its folder, then try again",
}
_OS_ADVICE = {
    errno.EACCES: _ADVICE["readonly"], errno.EPERM: _ADVICE["readonly"], errno.EROFS: _ADVICE["readonly"],
    errno.ENOSPC: _ADVICE["full"], errno.EDQUOT: _ADVICE["full"], errno.EIO: _ADVICE["io"],
}
# SQLite's primary result codes (the low byte of an extended code).
_KIND_OF_CODE = {5: "locked", 6: "locked", 8: "readonly", 3: "readonly", 14: "readonly", 13: "full",
                 10: "io", 11: "corrupt", 26: "corrupt"}


def _error_kind(exc: sqlite3.DatabaseError) -> str:
    """locked, readonly, full, io, corrupt or other: from SQLite's code, else its words."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in _KIND_OF_CODE:
        return _KIND_OF_CODE[code & 0xFF]
    text = str(exc).lower()
    for words, kind in (("locked", "locked"), ("busy", "locked"), ("readonly", "readonly"),
                        ("read-only", "readonly"), ("unable to open", "readonly"), ("full", "full"),
                        ("disk i/o", "io"), ("malformed", "corrupt"), ("not a database", "corrupt")):
        if words in text:
            return kind
    return "other"


def _really_corrupt(path: Path) -> bool:
    """True when the file is not a database at all, or SQLite's integrity check finds damage.
    Opened read-only, so the check itself changes nothing."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    except sqlite3.DatabaseError:
        return False  # could not even open it read-only: a permission problem, not damage
    try:
        rows = conn.execute("PRAGMA integrity_check(20)").fetchall()
        return [tuple(r) for r in rows] != [("ok",)]
    except sqlite3.DatabaseError as exc:
        return _error_kind(exc) == "corrupt"
    finally:
        conn.close()


def _keep_copy(path: Path) -> Path | None:
    """Copy a damaged database (and its write-ahead log) beside it, owner-only, before anyone is
    told to move it aside: whatever can still be rescued from it is kept."""
    import filecmp
    import shutil

    for earlier in sorted(path.parent.glob(f"{path.name}.damaged-*[0-9]")):
        try:
            if filecmp.cmp(earlier, path, shallow=False):
                return earlier  # the same damage seen before: one copy is enough
        except OSError:
            continue
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    backup = path.with_name(f"{path.name}.damaged-{stamp}")
    try:
        for suffix in ("", "-wal"):
            src = Path(f"{path}{suffix}")
            if src.exists():
                dst = Path(f"{backup}{suffix}")
                fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                with open(fd, "wb") as out, open(src, "rb") as inp:
                    shutil.copyfileobj(inp, out)
    except OSError:
        return None
    return backup


# A file name that is not valid UTF-8 (``caf\xe9.wav`` written by a Latin-1 system) reaches
# Python as a str holding surrogate escapes, which SQLite's UTF-8 text cannot hold. Such a path is
# stored as this prefix plus its bytes percent-encoded: lossless (os.fsencode round-trips it),
# and never confused with an ordinary path, which is absolute and starts with "/". Percent
# encoding keeps prefixes, so a folder's tracks are still found by one LIKE.
_FS_BYTES = "fsbytes:"
_KEEP = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


def _db_path(path: str | os.PathLike[str]) -> str:
    """The text a file system path is stored as (itself when it is valid UTF-8)."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _as_bytes_text(text)
    return text


def _as_bytes_text(path: str) -> str:
    from urllib.parse import quote_from_bytes

    return _FS_BYTES + quote_from_bytes(os.fsencode(path), safe=_KEEP)


def _fs_path(text: str) -> str:
    """The file system path a stored text stands for (inverse of ``_db_path``)."""
    if text.startswith(_FS_BYTES):
        from urllib.parse import unquote_to_bytes

        return os.fsdecode(unquote_to_bytes(text[len(_FS_BYTES):]))
    return text


def _text(value: str) -> str:
    """Tag or error text as stored: undecodable bytes of a file name shown as ``\\xe9``."""
    from companion.core.untrusted import escape_surrogates

    return escape_surrogates(value) if value else value


class Store:
    """A connection to ``companion.db``. Safe to share between threads (one lock)."""

    def __init__(self, path: Path | None = None, *, timeout_s: float = 30.0) -> None:
        """timeout_s : how long a write waits for another process's lock before StoreError.
        The listening session's writer passes a short one and retries, so a locked database
        never holds it (or a face) for long."""
        self.path = Path(path) if path else paths.db_path()
        self._lock = threading.RLock()
        try:
            if not self.path.exists():
                # Create the file owner-only before SQLite opens it (health data).
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                os.close(fd)
            self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=timeout_s)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
            self._use_wal(timeout_s)
        except sqlite3.DatabaseError as exc:
            raise self._open_error(exc) from exc
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot create the database ({exc.strerror or exc}); "
                             f"{_OS_ADVICE.get(exc.errno or 0, 'check the folder and its permissions')}") from exc
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                os.chmod(p, 0o600)

    def _open_error(self, exc: sqlite3.DatabaseError) -> StoreError:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()
        return self._error(exc, "cannot open the database")

    def _error(self, exc: sqlite3.DatabaseError, what: str) -> StoreError:
        """The one-line message for a database error. Only a file that is really damaged (SQLite
        says so, and its integrity check agrees) gets the advice to start afresh, and then a copy
        of it is kept first: a lock, a read-only folder or a full disk leave an intact history
        that must not be thrown away."""
        kind = _error_kind(exc)
        if kind == "corrupt" and _really_corrupt(self.path):
            backup = _keep_copy(self.path)
            kept = f"a copy is kept at {backup}; " if backup else ""
            return StoreError(
                f"{self.path}: the database is damaged ({exc}); {kept}move the file aside to start "
                "afresh, then `companion history import` an export if you have one"
            )
        return StoreError(f"{self.path}: {what} ({exc}); {_ADVICE.get(kind, _ADVICE['other'])}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------

    def _use_wal(self, wait_s: float = 30.0) -> None:
        """Write-ahead logging (readers never wait for a writer). Switching needs the file to
        itself, and SQLite answers "locked" at once, without waiting, while another process
        opens it: retry until ``wait_s``. A no-op once the file is in WAL mode."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _schema_version(self) -> int:
        version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer companion (schema {version}); upgrade companion"
            )
        return version

    def _migrate(self) -> None:
        if self._schema_version() == SCHEMA_VERSION:
            return  # the usual open: no write lock (a scan may be writing)
        # One process migrates at a time: the app, `companion play` and a scan may open a new
        # database at once, and two that both read version 0 both added the version-2 column
        # ("duplicate column name"). BEGIN IMMEDIATE takes the write lock, then the version is
        # read again; the others wait (the connection's timeout), then find it current. (Not
        # executescript: it commits first, which would drop the lock.)
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            version = self._schema_version()
            if version < 1:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
            if version < 2:
                # The analysed confidence, kept while a manual tempo overrides it.
                self._conn.execute("ALTER TABLE tracks ADD COLUMN bpm_confidence_auto REAL")
                self._conn.execute(
                    "UPDATE tracks SET bpm_confidence_auto = bpm_confidence WHERE bpm_source = 'auto'"
                )
            if version < 3:
                # What a track feels like and its fingerprint (filled in by the next scan, which
                # re-analyses rows whose character_version is older), and library folders.
                for statement in _MIGRATION_3:
                    self._conn.execute(statement)
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._conn.commit()
        except BaseException:
            self._conn.rollback()
            raise

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: everything inside commits together or not at all."""
        with self._lock:
            try:
                with self._conn:
                    yield self._conn
            except sqlite3.DatabaseError as exc:
                raise self._error(exc, "database write failed, nothing was changed") from exc

    def _query(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._conn.execute(sql, tuple(args)).fetchall()
            except sqlite3.DatabaseError as exc:
                raise self._error(exc, "database read failed") from exc

    # -- tracks -----------------------------------------------------------------------------

    def known_files(self) -> dict[str, tuple[int, float]]:
        """path -> (size, mtime) for every file seen before; lets a rescan skip unchanged files.

        An analysed track whose character was measured by an older version (or never: a
        library from before it existed) gets (-1, -1), so the next scan analyses it again.
        """
        rows = self._query("SELECT path, size, mtime, status, character_version FROM tracks")
        return {_fs_path(r["path"]): ((-1, -1.0) if r["status"] == STATUS_OK
                                      and r["character_version"] < CHARACTER_VERSION
                                      else (r["size"], r["mtime"])) for r in rows}

    def save_analysis(self, results: Iterable[AnalysisResult]) -> int:
        """Insert or update tracks from scan results, in one transaction.

        A manual BPM survives: the new automatic estimate is kept in ``bpm_auto``.
        Returns the number of rows written.
        """
        n = 0
        with self.transaction() as c:
            for r in results:
                n += 1
                key = _db_path(r.path)
                old = c.execute(
                    "SELECT bpm, bpm_source, bpm_confidence FROM tracks WHERE path = ?", (key,)
                ).fetchone()
                manual = old is not None and old["bpm_source"] == BPM_MANUAL
                if r.error:
                    c.execute(
                        """INSERT INTO tracks (path, size, mtime, title, status, error, analysed_at)
                           VALUES (?, ?, ?, ?, ?, ?, ?)
                           ON CONFLICT(path) DO UPDATE SET size=excluded.size, mtime=excluded.mtime,
                             status=excluded.status, error=excluded.error,
                             analysed_at=excluded.analysed_at,
                         bpm_confidence_auto=excluded.bpm_confidence_auto""",
                        (key, r.size, r.mtime, _text(Path(r.path).stem), STATUS_ERROR, _text(r.error), now_iso()),
                    )
                    continue
                t, tempo, loud = r.tags, r.tempo, r.loudness
                auto_bpm = tempo.bpm if tempo else None
                bpm = old["bpm"] if manual else auto_bpm
                conf = old["bpm_confidence"] if manual else (tempo.confidence if tempo else None)
                c.execute(
                    """INSERT INTO tracks (path, size, mtime, title, artist, album, genre, duration_s,
                         bpm, bpm_confidence, bpm_source, bpm_auto, bpm_alternatives, bpm_start,
                         bpm_end, beat_times, loudness_lufs, peak_dbfs, status, error, analysed_at,
                         bpm_confidence_auto)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?)
                       ON CONFLICT(path) DO UPDATE SET size=excluded.size, mtime=excluded.mtime,
                         title=excluded.title, artist=excluded.artist, album=excluded.album,
                         genre=excluded.genre, duration_s=excluded.duration_s, bpm=excluded.bpm,
                         bpm_confidence=excluded.bpm_confidence, bpm_source=excluded.bpm_source,
                         bpm_auto=excluded.bpm_auto, bpm_alternatives=excluded.bpm_alternatives,
                         bpm_start=excluded.bpm_start, bpm_end=excluded.bpm_end,
                         beat_times=excluded.beat_times, loudness_lufs=excluded.loudness_lufs,
                         peak_dbfs=excluded.peak_dbfs, status=excluded.status, error='',
                         analysed_at=excluded.analysed_at,
                         bpm_confidence_auto=excluded.bpm_confidence_auto""",
                    (
                        key, r.size, r.mtime,
                        _text(t.title if t else Path(r.path).stem),
                        _text(t.artist) if t else "", _text(t.album) if t else "", _text(t.genre) if t else "",
                        t.duration_s if t else 0.0,
                        bpm, conf, BPM_MANUAL if manual else BPM_AUTO, auto_bpm,
                        json.dumps([[a.bpm, a.score, a.ratio] for a in tempo.alternatives]) if tempo else "[]",
                        tempo.bpm_start if tempo else None, tempo.bpm_end if tempo else None,
                        json.dumps([round(b, 3) for b in tempo.beat_times]) if tempo else "[]",
                        loud.lufs if loud else None, loud.peak_dbfs if loud else None,
                        STATUS_OK, now_iso(), tempo.confidence if tempo else None,
                    ),
                )
                _save_character(c, r, key)
        return n

    def remove_tracks(self, paths_: Iterable[str]) -> int:
        with self.transaction() as c:
            return sum(c.execute("DELETE FROM tracks WHERE path = ?", (_db_path(p),)).rowcount for p in paths_)

    def mark_missing(self, paths_: Iterable[str]) -> int:
        """Tracks whose folder is gone (an unplugged drive): kept with their hand-set tempos but
        not planned, until a scan finds them again. Returns how many changed."""
        with self.transaction() as c:
            return sum(c.execute("UPDATE tracks SET status = ? WHERE path = ? AND status = ?",
                                 (STATUS_MISSING, _db_path(p), STATUS_OK)).rowcount for p in paths_)

    def mark_found(self, paths_: Iterable[str]) -> int:
        """Missing tracks back on disk unchanged: usable again without analysing them again."""
        with self.transaction() as c:
            return sum(c.execute("UPDATE tracks SET status = ? WHERE path = ? AND status = ?",
                                 (STATUS_OK, _db_path(p), STATUS_MISSING)).rowcount for p in paths_)

    def missing_files(self) -> set[str]:
        """Paths of the tracks marked missing."""
        return {_fs_path(r["path"]) for r in self._query("SELECT path FROM tracks WHERE status = ?",
                                                         (STATUS_MISSING,))}

    # -- library folders ----------------------------------------------------------------------

    def add_folder(self, path: str | Path, kind: str = "music") -> None:
        """Remember ``path`` (resolved) as a library folder; ``kind`` is 'music' or 'demo'."""
        with self.transaction() as c:
            c.execute("INSERT INTO folders (path, kind, added_at) VALUES (?, ?, ?) "
                      "ON CONFLICT(path) DO UPDATE SET kind = excluded.kind",
                      (_db_path(Path(path).resolve()), kind, now_iso()))

    def folders(self) -> list[tuple[str, str, int]]:
        """(path, kind, tracks under it) of every library folder, by path."""
        rows = self._query("SELECT path, kind FROM folders ORDER BY path")
        return [(_fs_path(r["path"]), r["kind"], self._count_under(_fs_path(r["path"]))) for r in rows]

    def _count_under(self, folder: str) -> int:
        return int(self._query(f"SELECT COUNT(*) FROM tracks WHERE {_UNDER}", _under_args(folder))[0][0])

    def remove_folder(self, path: str | Path) -> tuple[int, int]:
        """Take the folder and every track under it out of the library, in one transaction;
        hand-set tempos are kept (``kept_tempos``) and come back if the files are scanned again.
        Returns (tracks removed, tempos kept)."""
        folder = str(Path(path).resolve())
        under = _under_args(folder)
        with self.transaction() as c:
            kept = c.execute(
                "INSERT OR REPLACE INTO kept_tempos (path, bpm, kept_at) SELECT path, bpm, ? FROM tracks "
                f"WHERE {_UNDER} AND bpm_source = ? AND bpm IS NOT NULL",
                (now_iso(), *under, BPM_MANUAL)).rowcount
            removed = c.execute(f"DELETE FROM tracks WHERE {_UNDER}", under).rowcount
            c.execute("DELETE FROM folders WHERE path = ?", (_db_path(folder),))
        return int(removed), int(kept)

    def track_count(self) -> int:
        """How many files the library holds (any status), without reading them."""
        return int(self._query("SELECT COUNT(*) FROM tracks")[0][0])

    def tracks(self, *, status: str | None = None, under: str | None = None,
               fingerprints: bool = False) -> list[Track]:
        """All tracks, ordered by path; optionally only one status or those below a folder.
        ``fingerprints``: with their content fingerprints (what the planner needs to find one
        recording at two paths; half a kilobyte a track, so only when asked)."""
        columns = _TRACK_COLUMNS + (", fingerprint" if fingerprints else "")
        sql, args = f"SELECT {columns} FROM tracks", []
        where = []
        if status:
            where.append("status = ?")
            args.append(status)
        if under:
            where.append(_UNDER)
            args.extend(_under_args(str(Path(under).resolve())))
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [_track(r) for r in self._query(sql + " ORDER BY path", args)]

    def track(self, path: str | Path) -> Track:
        rows = self._query(f"SELECT {_TRACK_COLUMNS} FROM tracks WHERE path = ?", (_db_path(Path(path).resolve()),))
        if not rows:
            raise NotFoundError(f"{path}: not in the library; run `companion scan` on its folder first")
        return _track(rows[0])

    def beat_times(self, path: str | Path) -> list[float]:
        rows = self._query("SELECT beat_times FROM tracks WHERE path = ?", (_db_path(Path(path).resolve()),))
        return json.loads(rows[0]["beat_times"]) if rows else []

    def set_manual_bpm(self, path: str | Path, bpm: float) -> Track:
        """Mark ``bpm`` as the user's own value; rescans keep it. UserInputError outside
        :data:`models.MANUAL_BPM_RANGE` (every face gets the same check)."""
        bpm = check_manual_bpm(bpm, where=str(path))
        track = self.track(path)
        with self.transaction() as c:
            c.execute(
                "UPDATE tracks SET bpm = ?, bpm_source = ?, bpm_confidence = 1.0, "
                "bpm_auto = COALESCE(bpm_auto, ?) WHERE path = ?",
                (round(bpm, 1), BPM_MANUAL, track.bpm, _db_path(track.path)),
            )
        return self.track(track.path)

    def scale_manual_bpm(self, path: str | Path, correction: str) -> Track:
        """Hear the beat at another level: ``correction`` is a key of
        :data:`models.TEMPO_CORRECTIONS` (halve, double, two-thirds, three-halves); the result is
        kept as a manual tempo, checked like :meth:`set_manual_bpm`."""
        if correction not in TEMPO_CORRECTIONS:
            raise UserInputError(f"tempo correction {correction!r}: use one of {', '.join(TEMPO_CORRECTIONS)}")
        track = self.track(path)
        if track.bpm is None:
            raise UserInputError(f"{track.path}: has no tempo to change; set one (`companion tempo set PATH BPM`)")
        return self.set_manual_bpm(track.path, round(track.bpm * TEMPO_CORRECTIONS[correction], 1))

    def clear_manual_bpm(self, path: str | Path) -> Track:
        """Go back to the analysed tempo."""
        track = self.track(path)
        with self.transaction() as c:
            c.execute(
                "UPDATE tracks SET bpm = bpm_auto, bpm_source = ?, bpm_confidence = bpm_confidence_auto "
                "WHERE path = ?",
                (BPM_AUTO, _db_path(track.path)),
            )
        return self.track(track.path)

    # -- listeners --------------------------------------------------------------------------

    def listener_id(self, name: str, *, create: bool = True) -> int:
        name = name.strip() or DEFAULT_LISTENER
        rows = self._query("SELECT id FROM listeners WHERE name = ?", (name,))
        if rows:
            return int(rows[0]["id"])
        if not create:
            raise NotFoundError(f"no listener named {name!r}; `companion listeners` lists them")
        with self.transaction() as c:
            cur = c.execute("INSERT INTO listeners (name, created_at) VALUES (?, ?)", (name, now_iso()))
            return int(cur.lastrowid or 0)

    def listeners(self) -> list[str]:
        return [r["name"] for r in self._query("SELECT name FROM listeners ORDER BY name")]

    def listener_settings(self, name: str) -> dict[str, Any]:
        rows = self._query("SELECT settings FROM listeners WHERE name = ?", (name,))
        return json.loads(rows[0]["settings"]) if rows else {}

    def set_listener_settings(self, name: str, settings: dict[str, Any]) -> None:
        lid = self.listener_id(name)
        with self.transaction() as c:
            c.execute("UPDATE listeners SET settings = ? WHERE id = ?", (json.dumps(settings), lid))

    def forget_listener(self, name: str) -> int:
        """Delete a listener with all their sessions and ratings. Returns sessions deleted."""
        lid = self.listener_id(name, create=False)
        with self.transaction() as c:
            n = c.execute("SELECT COUNT(*) FROM sessions WHERE listener_id = ?", (lid,)).fetchone()[0]
            c.execute("DELETE FROM ratings WHERE session_id IN (SELECT id FROM sessions WHERE listener_id = ?)", (lid,))
            c.execute("DELETE FROM sessions WHERE listener_id = ?", (lid,))
            c.execute("DELETE FROM listeners WHERE id = ?", (lid,))
        return int(n)

    # -- sessions ---------------------------------------------------------------------------

    def add_ratings(self, session_id: int, ratings: Iterable[Rating]) -> None:
        with self.transaction() as c:
            if not c.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone():
                raise NotFoundError(f"no session {session_id}; `companion history` lists them")
            for r in ratings:
                _insert_rating(c, session_id, r)

    def save_session(self, session: Session, *, pid: int | None = None) -> int:
        """Write a whole session and its ratings by ``uid``, in one transaction: inserted the
        first time, updated after (how it ended, minutes, underruns, ratings). Returns its id.

        The listening session keeps its record in memory and writes it with this, again and
        again, until a write succeeds; so does the import of a session kept in a pending file.
        pid : the process playing it while ``in_progress`` (None once it has ended).
        """
        with self.transaction() as c:
            row = c.execute("SELECT id FROM sessions WHERE uid = ?", (session.uid,)).fetchone()
            beat = session.ended_at or now_iso()
            if row is None:
                lid = _listener_id(c, session.listener)
                cur = c.execute(
                    """INSERT INTO sessions (uid, listener_id, playlist, arc, snapshot, started_at,
                         ended_at, minutes_listened, outcome, underruns, pid, heartbeat_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (session.uid, lid, session.playlist, session.arc, session.snapshot or "{}",
                     session.started_at, session.ended_at, session.minutes_listened,
                     session.outcome, session.underruns, pid, beat),
                )
                sid = int(cur.lastrowid or 0)
            else:
                sid = int(row["id"])
                c.execute(
                    """UPDATE sessions SET ended_at = ?, minutes_listened = ?, outcome = ?,
                         underruns = ?, heartbeat_at = ? WHERE id = ?""",
                    (session.ended_at, session.minutes_listened, session.outcome,
                     session.underruns, beat, sid),
                )
            for r in session.ratings:
                _insert_rating(c, sid, r)
        return sid

    def in_progress_sessions(self) -> list[tuple[int, int | None, str | None]]:
        """(id, pid, heartbeat_at) of sessions not yet ended."""
        rows = self._query("SELECT id, pid, heartbeat_at FROM sessions WHERE outcome = ?", (OUTCOME_IN_PROGRESS,))
        return [(int(r["id"]), r["pid"], r["heartbeat_at"]) for r in rows]

    def mark_interrupted(self, session_id: int, outcome: str) -> None:
        """End a session left open by a dead process (only if it is still open: no race with finish)."""
        with self.transaction() as c:
            c.execute(
                "UPDATE sessions SET outcome = ?, ended_at = COALESCE(ended_at, heartbeat_at) "
                "WHERE id = ? AND outcome = ?",
                (outcome, session_id, OUTCOME_IN_PROGRESS),
            )

    def sessions(self, *, listener: str | None = None, since: str | None = None) -> list[Session]:
        """Sessions oldest first, with their ratings."""
        sql = (
            "SELECT s.*, l.name AS listener FROM sessions s JOIN listeners l ON l.id = s.listener_id"
        )
        where, args = [], []
        if listener:
            where.append("l.name = ?")
            args.append(listener)
        if since:
            where.append("s.started_at >= ?")
            args.append(since)
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._query(sql + " ORDER BY s.started_at, s.id", args)
        ratings: dict[int, list[Rating]] = {}
        if rows:
            for r in self._query("SELECT * FROM ratings ORDER BY id"):
                ratings.setdefault(int(r["session_id"]), []).append(_rating(r))
        return [_session(r, ratings.get(int(r["id"]), [])) for r in rows]

    def session(self, session_id: int) -> Session:
        rows = self._query(
            "SELECT s.*, l.name AS listener FROM sessions s JOIN listeners l ON l.id = s.listener_id "
            "WHERE s.id = ?",
            (session_id,),
        )
        if not rows:
            raise NotFoundError(f"no session {session_id}; `companion history` lists them")
        rs = [_rating(r) for r in self._query("SELECT * FROM ratings WHERE session_id = ? ORDER BY id", (session_id,))]
        return _session(rows[0], rs)

    def import_sessions(self, sessions: Iterable[Session]) -> tuple[int, int]:
        """Insert exported sessions whose uid is new, all in ONE transaction. Returns (added, skipped)."""
        added = skipped = 0
        with self.transaction() as c:
            for session in sessions:
                if _import_session(c, session):
                    added += 1
                else:
                    skipped += 1
        return added, skipped

    def listener_summaries(self) -> list[dict[str, Any]]:
        """Every listener: name, created_at, settings (dict), sessions (count), last_session_at."""
        rows = self._query(
            """SELECT l.name, l.created_at, l.settings, COUNT(s.id) AS sessions,
                 MAX(s.started_at) AS last_session_at
               FROM listeners l LEFT JOIN sessions s ON s.listener_id = l.id
               GROUP BY l.id ORDER BY l.name"""
        )
        return [
            {"name": r["name"], "created_at": r["created_at"], "settings": json.loads(r["settings"]),
             "sessions": int(r["sessions"]), "last_session_at": r["last_session_at"]}
            for r in rows
        ]

    def session_uids(self) -> set[str]:
        return {r["uid"] for r in self._query("SELECT uid FROM sessions")}


def _listener_id(c: sqlite3.Connection, name: str) -> int:
    row = c.execute("SELECT id FROM listeners WHERE name = ?", (name,)).fetchone()
    if row is not None:
        return int(row["id"])
    return int(c.execute("INSERT INTO listeners (name, created_at) VALUES (?, ?)",
                         (name, now_iso())).lastrowid or 0)


def _import_session(c: sqlite3.Connection, session: Session) -> bool:
    if c.execute("SELECT 1 FROM sessions WHERE uid = ?", (session.uid,)).fetchone():
        return False
    lid = c.execute("SELECT id FROM listeners WHERE name = ?", (session.listener,)).fetchone()
    if lid is None:
        lid_val = c.execute(
            "INSERT INTO listeners (name, created_at) VALUES (?, ?)", (session.listener, now_iso())
        ).lastrowid
    else:
        lid_val = lid["id"]
    cur = c.execute(
        """INSERT INTO sessions (uid, listener_id, playlist, arc, snapshot, started_at, ended_at,
             minutes_listened, outcome, underruns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (session.uid, lid_val, session.playlist, session.arc, session.snapshot or "{}",
         session.started_at, session.ended_at, session.minutes_listened, session.outcome,
         session.underruns),
    )
    for r in session.ratings:
        _insert_rating(c, int(cur.lastrowid or 0), r)
    return True


def _insert_rating(c: sqlite3.Connection, session_id: int, r: Rating) -> None:
    c.execute(
        """INSERT INTO ratings (session_id, phase, scale, value, text, items, late, recorded_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(session_id, phase, scale) DO UPDATE SET value=excluded.value,
             text=excluded.text, items=excluded.items, late=excluded.late,
             recorded_at=excluded.recorded_at""",
        (session_id, r.phase, r.scale, r.value, r.text, json.dumps(list(r.items)), int(r.late),
         r.recorded_at or now_iso()),
    )


# Below a folder, exactly: LIKE (indexed, but blind to case) and then the prefix itself; a path
# stored as bytes text (not UTF-8) is matched by its folder's bytes text.
_UNDER_ONE = "(path LIKE ? ESCAPE '\\' AND substr(path, 1, ?) = ?)"
_UNDER = f"({_UNDER_ONE} OR {_UNDER_ONE})"


def _under_args(folder: str) -> tuple[str | int, ...]:
    prefix = folder.rstrip("/") + "/"
    args: tuple[str | int, ...] = ()
    for text in (prefix, _as_bytes_text(prefix)):
        like = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        args += (like, len(text), text)
    return args


def _save_character(c: sqlite3.Connection, r: AnalysisResult, key: str) -> None:
    """The character columns of one analysed track (NULL when nothing was audible), and a
    hand-set tempo kept from when its folder left the library."""
    ch = r.character
    values = [None] * len(_CHARACTER) if ch is None else [
        *(getattr(ch, k) for k in _CHARACTER[:-1]),
        np.asarray(ch.timbre, dtype="<f4").tobytes(),
    ]
    c.execute(
        f"UPDATE tracks SET {', '.join(f'c_{k} = ?' for k in _CHARACTER)}, fingerprint = ?, "
        "character_version = ? WHERE path = ?",
        (*values, r.fingerprint or None, CHARACTER_VERSION, key),
    )
    kept = c.execute("SELECT bpm FROM kept_tempos WHERE path = ?", (key,)).fetchone()
    if kept is not None:
        c.execute("UPDATE tracks SET bpm = ?, bpm_source = ?, bpm_confidence = 1.0 WHERE path = ?",
                  (kept["bpm"], BPM_MANUAL, key))
        c.execute("DELETE FROM kept_tempos WHERE path = ?", (key,))


def _character(r: sqlite3.Row) -> Character | None:
    if r["c_arousal"] is None:
        return None
    return Character(
        *(r[f"c_{k}"] for k in _CHARACTER[:5]),
        timbre=tuple(np.frombuffer(r["c_timbre"], dtype="<f4").tolist()) if r["c_timbre"] else (),
        arousal=r["c_arousal"],
    )


def _track(r: sqlite3.Row) -> Track:
    return Track(
        path=_fs_path(r["path"]), size=r["size"], mtime=r["mtime"], title=r["title"], artist=r["artist"],
        album=r["album"], genre=r["genre"], duration_s=r["duration_s"], bpm=r["bpm"],
        bpm_confidence=r["bpm_confidence"], bpm_source=r["bpm_source"], bpm_auto=r["bpm_auto"],
        bpm_alternatives=tuple(TempoAlternative(a[0], a[1], a[2]) for a in json.loads(r["bpm_alternatives"])),
        bpm_start=r["bpm_start"], bpm_end=r["bpm_end"], loudness_lufs=r["loudness_lufs"],
        peak_dbfs=r["peak_dbfs"], status=r["status"], error=r["error"], analysed_at=r["analysed_at"],
        character=_character(r), fingerprint=(r["fingerprint"] or b"") if "fingerprint" in r.keys() else b"",
    )


def _rating(r: sqlite3.Row) -> Rating:
    return Rating(
        scale=r["scale"], phase=r["phase"], value=r["value"], text=r["text"],
        items=tuple(json.loads(r["items"])), late=bool(r["late"]), recorded_at=r["recorded_at"],
    )


def _session(r: sqlite3.Row, ratings: list[Rating]) -> Session:
    return Session(
        id=int(r["id"]), listener=r["listener"], playlist=r["playlist"], arc=r["arc"],
        started_at=r["started_at"], ended_at=r["ended_at"], minutes_listened=r["minutes_listened"],
        outcome=r["outcome"], underruns=r["underruns"], uid=r["uid"], snapshot=r["snapshot"],
        ratings=tuple(ratings),
    )
