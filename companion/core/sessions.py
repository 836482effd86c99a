"""Session records: ratings, late ratings, recovery, export.

The life of a session
---------------------
A listening session (``core/listening.py``, driven by both faces) asks the ratings before
(:func:`make_rating` validates each answer), keeps its record in memory and writes it whole with
``Store.save_session``, by uid, until a write succeeds: while playing, with its process id and a
heartbeat every few seconds (one older than :data:`STALE_HEARTBEAT_S` counts as abandoned); then
how it ended (``completed`` or ``stopped_early``) and the ratings after. Here:

- :func:`rate_late` stores ratings after later ("how do you feel now?"), marked ``late``;
  :func:`last_unrated` finds the session to offer for it.
- :func:`recover_interrupted` (call it at start-up) turns sessions left ``in_progress`` by a dead
  process into ``interrupted`` ones, keeping the minutes listened. A record the database never
  took is kept in a pending file (:func:`keep_pending`) and imported first
  (:func:`recover_pending`).
- :func:`export_history` / :func:`import_history` write and read the history as CSV or JSON.

Scales
------
``stress`` 0–10 whole numbers (always asked first); optional per listener: ``vas`` anxiety 0–100,
``stai6`` (six items 1–4, scored to the 20–80 metric), ``heart_rate`` 30–220 BPM, ``note`` (text).
Every function here validates before it writes: invalid input raises UserInputError naming the
value and the allowed range, and nothing is stored.
"""

from __future__ import annotations

import csv
import io
import json
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from companion.core import paths
from companion.core.errors import CompanionError, UserInputError
from companion.core.models import (
    OUTCOME_COMPLETED,
    OUTCOME_IN_PROGRESS,
    OUTCOME_INTERRUPTED,
    OUTCOME_STOPPED,
    Playlist,
    Rating,
    Session,
)
from companion.core.safefile import write_private
from companion.core.store import DEFAULT_LISTENER, Store, now_iso

__all__ = [
    "SCALES", "SCALE_NAMES", "NUMERIC_SCALES", "STAI6_ITEMS", "STALE_HEARTBEAT_S", "HISTORY_COLUMNS",
    "Scale", "parse_stress", "parse_vas", "parse_stai6", "parse_heart_rate", "parse_note",
    "make_rating", "validate_rating", "listener_scales", "set_listener_scales",
    "rate_late", "last_unrated", "recover_interrupted",
    "recover_pending", "pending_dir", "keep_pending",
    "snapshot_of", "history_row", "export_history", "parse_history", "import_history",
]

STRESS_MIN, STRESS_MAX = 0, 10
STRESS_PROMPT = "Stress now, 0 = completely calm … 10 = the most stressed you can imagine"

# A playing (or paused) session heartbeats at least once a minute; two hours of silence from a
# process that is still alive means the pid now belongs to something else, or it hung.
STALE_HEARTBEAT_S = 2 * 3600.0
# A process that started this long after the session cannot be the one that began it.
_PID_REUSE_SLACK_S = 30.0
_NOTE_MAX_CHARS = 2000
# Bounds of what an imported history may hold; a real export stays far below them.
_TEXT_MAX_CHARS = 1000  # names, times, arcs
_SNAPSHOT_MAX_CHARS = 4_000_000  # a playlist of a few thousand tracks
_UNDERRUNS_MAX = 10**9


@dataclass(frozen=True)
class Scale:
    """One rating scale: its range (inclusive) and how to ask for it."""

    name: str
    label: str  # in the user's words, for tables and sentences
    low: float
    high: float
    unit: str  # "points" or "BPM"; "" for the note
    whole: bool  # only whole numbers allowed
    prompt: str
    # insights' responder rule (a fall of a fifth of the range or a third of the distance from
    # the floor) applies: a rating of how one feels, not a measurement like heart rate
    responder_rule: bool = True

    @property
    def span(self) -> float:
        return self.high - self.low

    @property
    def range_text(self) -> str:
        kind = "a whole number" if self.whole else "a number"
        return f"{kind} from {self.low:g} to {self.high:g}"


STAI6_ITEMS = ("calm", "tense", "upset", "relaxed", "content", "worried")
# Items 1, 4 and 5 (calm, relaxed, content) are worded positively and reverse-scored.
_STAI6_REVERSED = (0, 3, 4)
_STAI6_ANSWERS = "1 = not at all, 2 = somewhat, 3 = moderately so, 4 = very much so"

SCALES: dict[str, Scale] = {
    "stress": Scale("stress", "stress", 0, 10, "points", True, STRESS_PROMPT),
    "vas": Scale("vas", "anxiety (0–100)", 0, 100, "points", False,
                 "Anxiety now, 0 = not anxious at all … 100 = as anxious as you can imagine"),
    "stai6": Scale("stai6", "STAI-6 anxiety", 20, 80, "points", False,
                   f"Six short questions about how you feel right now ({_STAI6_ANSWERS})"),
    "heart_rate": Scale("heart_rate", "heart rate", 30, 220, "BPM", False,
                        "Heart rate now, in beats per minute", responder_rule=False),
    "note": Scale("note", "note", 0, 0, "", False, "A note, if you like", responder_rule=False),
}
SCALE_NAMES = tuple(SCALES)
NUMERIC_SCALES = ("stress", "vas", "stai6", "heart_rate")
PHASES = ("before", "after")
ENDED_OUTCOMES = (OUTCOME_COMPLETED, OUTCOME_STOPPED, OUTCOME_INTERRUPTED)


# -- validation ------------------------------------------------------------------------------


def _number(scale: Scale, value: str | int | float) -> float:
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        raise UserInputError(
            f"{scale.label} rating {text!r} is not a number; give {scale.range_text}"
        ) from None
    if number != number or (scale.whole and not number.is_integer()) or not (
        scale.low <= number <= scale.high
    ):
        raise UserInputError(f"{scale.label} rating {text!r} is out of range; give {scale.range_text}")
    return number


def parse_stress(value: str | int | float) -> int:
    """A stress rating: an integer 0–10, or UserInputError naming the value."""
    return int(_number(SCALES["stress"], value))


def parse_vas(value: str | int | float) -> float:
    """A visual-analogue anxiety rating: a number 0–100 (decimals allowed)."""
    return _number(SCALES["vas"], value)


def parse_heart_rate(value: str | int | float) -> float:
    """Heart rate in beats per minute, 30–220."""
    return _number(SCALES["heart_rate"], value)


def parse_note(value: str) -> str:
    """A free-text note: stripped, at most 2000 characters, no control characters but newlines."""
    text = str(value).strip()
    if len(text) > _NOTE_MAX_CHARS:
        raise UserInputError(f"the note is {len(text)} characters long; keep it under {_NOTE_MAX_CHARS}")
    return "".join(ch for ch in text if ch in "\n\t" or ch.isprintable())


def parse_stai6(answers: str | Sequence[int | str]) -> tuple[float, tuple[int, ...]]:
    """Score the six-item STAI (Marteau & Bekker 1992).

    answers : six answers 1–4 in the order calm, tense, upset, relaxed, content, worried, as a
        sequence or a string ("2 3 1 4 2 2", "2,3,1,4,2,2" or "231422").
    Returns (score on the 20–80 metric, the raw answers). Items 1, 4, 5 are reverse-scored
    (5 − answer); the sum (6–24) is multiplied by 20/6.
    """
    if isinstance(answers, str):
        text = answers.replace(",", " ").split()
        parts: list[Any] = list(text[0]) if len(text) == 1 and len(text[0]) == 6 else text
    else:
        parts = list(answers)
    if len(parts) != 6:
        raise UserInputError(
            f"STAI-6 answers {answers!r}: give six answers, each 1–4 ({', '.join(STAI6_ITEMS)})"
        )
    items: list[int] = []
    for name, part in zip(STAI6_ITEMS, parts, strict=True):
        try:
            number = float(str(part).strip())
        except ValueError:
            number = -1.0
        if not number.is_integer() or not 1 <= number <= 4:
            raise UserInputError(f"STAI-6 answer for {name!r} is {part!r}; give a whole number from 1 to 4")
        items.append(int(number))
    return stai6_score(items), tuple(items)


def stai6_score(items: Sequence[int]) -> float:
    """The 20–80 score of six valid answers (see :func:`parse_stai6`)."""
    total = sum(5 - a if i in _STAI6_REVERSED else a for i, a in enumerate(items))
    return total * 20.0 / 6.0


def make_rating(
    scale: str, phase: str, raw: Any, *, late: bool = False, recorded_at: str = ""
) -> Rating:
    """Validate one raw answer and make it a Rating (UserInputError if it is invalid).

    raw : the answer as typed (a string), or a number; for ``stai6`` the six answers; for ``note``
        the text.
    """
    if phase not in PHASES:
        raise ValueError(f"phase must be 'before' or 'after', not {phase!r}")
    stamp = recorded_at or now_iso()
    if scale == "stress":
        return Rating("stress", phase, float(parse_stress(raw)), late=late, recorded_at=stamp)
    if scale == "vas":
        return Rating("vas", phase, parse_vas(raw), late=late, recorded_at=stamp)
    if scale == "heart_rate":
        return Rating("heart_rate", phase, parse_heart_rate(raw), late=late, recorded_at=stamp)
    if scale == "stai6":
        score, items = parse_stai6(raw)
        return Rating("stai6", phase, score, items=items, late=late, recorded_at=stamp)
    if scale == "note":
        return Rating("note", phase, None, text=parse_note(raw), late=late, recorded_at=stamp)
    raise UserInputError(f"unknown rating scale {scale!r}; use one of {', '.join(SCALE_NAMES)}")


def validate_rating(r: Rating) -> Rating:
    """Check a Rating built elsewhere (TUI, import) against its scale; returns it unchanged."""
    if r.phase not in PHASES:
        raise UserInputError(f"rating phase {r.phase!r} is not 'before' or 'after'")
    if r.scale not in SCALES:
        raise UserInputError(f"unknown rating scale {r.scale!r}; use one of {', '.join(SCALE_NAMES)}")
    if r.scale == "note":
        parse_note(r.text)
        return r
    if r.value is None:
        raise UserInputError(f"{SCALES[r.scale].label} rating has no value; give {SCALES[r.scale].range_text}")
    _number(SCALES[r.scale], r.value)
    if r.scale == "stai6" and r.items:
        score, _ = parse_stai6(list(r.items))
        if abs(score - r.value) > 0.01:
            raise UserInputError(
                f"STAI-6 score {r.value:g} does not match its answers {list(r.items)} (they give {score:.1f})"
            )
    return r


# -- listeners' scales -------------------------------------------------------------------------


def listener_scales(store: Store, listener: str) -> tuple[str, ...]:
    """The scales asked of this listener, stress first, in a fixed order."""
    chosen = set(store.listener_settings(listener).get("scales", ()))
    return ("stress",) + tuple(s for s in SCALE_NAMES if s != "stress" and s in chosen)


def check_listener_name(name: str) -> str:
    """A listener's name, stripped: 1–64 printable characters, or UserInputError."""
    name = name.strip()
    if not name or len(name) > 64 or not name.isprintable():
        raise UserInputError(f"listener name {name!r}: give 1–64 printable characters")
    return name


def set_listener_scales(store: Store, listener: str, scales: Iterable[str]) -> tuple[str, ...]:
    """Choose the optional scales asked of a listener (stress is always asked). Creates the listener."""
    listener = check_listener_name(listener)
    wanted = [s.strip() for s in scales if s.strip()]
    unknown = [s for s in wanted if s not in SCALES]
    if unknown:
        raise UserInputError(f"unknown scale {unknown[0]!r}; choose from {','.join(SCALE_NAMES)}")
    settings = dict(store.listener_settings(listener))
    settings["scales"] = [s for s in SCALE_NAMES if s == "stress" or s in wanted]
    store.set_listener_settings(listener, settings)
    return listener_scales(store, listener)


# -- after the session ---------------------------------------------------------------------------


def rate_late(
    store: Store, session_id: int, ratings: Sequence[Rating], *, replace_existing: bool = False
) -> Session:
    """Add ratings after to an ended session later ("how do you feel now?"), marked late.

    Refuses (UserInputError) a session still playing, and one that already has a rating after on
    the same scale unless ``replace_existing``. Returns the updated session.
    """
    session = store.session(session_id)
    if session.outcome == OUTCOME_IN_PROGRESS:
        raise UserInputError(f"session {session_id} is still in progress; rate it when it has ended")
    late = [replace(validate_rating(r), phase="after", late=True) for r in ratings]
    if not replace_existing:
        for r in late:
            old = session.rating("after", r.scale)
            if old is not None:
                shown = old.text if r.scale == "note" else f"{old.value:g}"
                raise UserInputError(
                    f"session {session_id} already has a {SCALES[r.scale].label} rating after "
                    f"({shown}); add --replace to change it"
                )
    store.add_ratings(session_id, late)
    return store.session(session_id)


def last_unrated(store: Store, listener: str) -> Session | None:
    """The most recent ended session of this listener with no rating after, or None."""
    for s in reversed(store.sessions(listener=listener)):
        if s.outcome != OUTCOME_IN_PROGRESS and not any(r.phase == "after" for r in s.ratings):
            return s
    return None


def recover_interrupted(
    store: Store, *, now: datetime | None = None, stale_after_s: float = STALE_HEARTBEAT_S
) -> list[Session]:
    """Mark sessions left ``in_progress`` by a process that is gone as ``interrupted``.

    A session is left alone while its process is alive, is a companion process started before the
    session, and heartbeat within ``stale_after_s``; sessions of this very process always are.
    Otherwise (pid dead or a zombie, pid reused by another program, heartbeat too old) it becomes
    ``interrupted``, keeping its minutes listened and ending at its last heartbeat.
    Returns the sessions recovered. Call it at start-up; it is cheap when nothing is open.
    Sessions kept in pending files by a session whose database was unwritable are imported
    first (:func:`recover_pending`).
    """
    recover_pending(store)
    now = now or datetime.now().astimezone()
    recovered = []
    for sid, pid, heartbeat_at in store.in_progress_sessions():
        session = store.session(sid)
        if _still_running(pid, session.started_at, heartbeat_at, now, stale_after_s):
            continue
        store.mark_interrupted(sid, OUTCOME_INTERRUPTED)
        recovered.append(store.session(sid))
    return recovered


def pending_dir() -> Path:
    """Where sessions wait that the database could not take when they ended."""
    return paths.home() / "pending"


def keep_pending(session: Session, *, pid: int | None = None) -> Path:
    """Save one session (with its ratings) to a pending file, owner-only; returns its path.

    The format is the JSON history export, so the file is readable and importable by hand too
    (``companion history import FILE``); :func:`recover_pending` imports it at the next start.
    pid : the process still playing it; while that process lives, the file is its own.
    """
    folder = pending_dir()
    folder.mkdir(mode=0o700, exist_ok=True)
    drop_pending(session)
    path = folder / f"session-{session.uid}.{pid or 0}.json"
    write_private(path, export_history([session], "json"))  # safefile: no link followed
    return path


def drop_pending(session: Session) -> None:
    """Remove the pending file of a session the database now holds (if there is one)."""
    folder = pending_dir()
    if folder.is_dir():
        for path in folder.glob(f"session-{session.uid}.*.json"):
            path.unlink(missing_ok=True)


def recover_pending(store: Store) -> list[Session]:
    """Write the sessions kept in pending files into the database, then remove the files.

    Written by uid (``Store.save_session``), so a session partly written before is completed,
    never doubled. A file that cannot be read or written stays for the next time.
    """
    folder = pending_dir()
    if not folder.is_dir():
        return []
    saved = []
    for path in sorted(folder.glob("session-*.json")):
        pid = path.stem.rsplit(".", 1)[-1]
        if pid.isdigit() and int(pid) > 0 and _alive(int(pid)):
            continue  # that session is still playing; its own writer saves it
        try:
            for session in parse_history(path.read_text(encoding="utf-8"), source=str(path)):
                store.save_session(session)
                saved.append(session)
            path.unlink()
        except (OSError, UnicodeDecodeError, CompanionError):
            continue
    return saved


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _still_running(
    pid: int | None, started_at: str, heartbeat_at: str | None, now: datetime, stale_after_s: float
) -> bool:
    if pid is None or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process: ours would be ours (the database is owner-only)
    except OSError:
        pass
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():
        try:
            stat = (proc / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if fields[0] in ("Z", "X"):
                return False  # killed, not yet reaped
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "companion" not in cmdline:
                return False
            started_epoch = _process_start_epoch(int(fields[19]))
            session_epoch = _parse_time(started_at).timestamp()
            if started_epoch is not None and started_epoch > session_epoch + _PID_REUSE_SLACK_S:
                return False
        except (OSError, ValueError, IndexError):
            pass
    if heartbeat_at:
        try:
            if (now - _parse_time(heartbeat_at)).total_seconds() > stale_after_s:
                return False
        except ValueError:
            pass
    return True


def _process_start_epoch(start_ticks: int) -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return int(line.split()[1]) + start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None
    return None


def _parse_time(text: str) -> datetime:
    t = datetime.fromisoformat(text)
    return t if t.tzinfo else t.astimezone()


# -- snapshots -----------------------------------------------------------------------------------


def snapshot_of(playlist: Playlist) -> dict[str, Any]:
    """What to keep of a playlist with its session: name, arc, plan parameters and entries.

    The shape insights reads: ``{"name", "arc", "meta", "entries": [{"path", "title", "artist",
    "bpm", "duration_s", "start_s", "silence_s"}]}``.
    """
    return {
        "name": playlist.name,
        "arc": playlist.arc,
        "meta": dict(playlist.meta),
        "entries": [
            {"path": e.path, "title": e.title, "artist": e.artist, "bpm": e.bpm,
             "duration_s": e.duration_s, "start_s": e.start_s, "silence_s": e.silence_s}
            for e in playlist.entries
        ],
    }


# -- history rows, export and import -------------------------------------------------------------

# The first six columns are the contract of issue 2; the others follow.
HISTORY_COLUMNS = (
    "started_at", "playlist", "minutes_listened", "completed", "stress_before", "stress_after",
    "session_id", "uid", "listener", "arc", "ended_at", "outcome", "underruns", "stress_after_late",
    "vas_before", "vas_after", "stai6_before", "stai6_after", "heart_rate_before", "heart_rate_after",
    "note_before", "note_after",
)


def _plain(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else round(float(value), 2)


def history_row(session: Session) -> dict[str, Any]:
    """One flat row per session with the :data:`HISTORY_COLUMNS` keys (table, CSV, TUI)."""
    after = session.rating("after", "stress")
    row: dict[str, Any] = {
        "started_at": session.started_at,
        "playlist": session.playlist,
        "minutes_listened": round(session.minutes_listened, 2),
        "completed": session.completed,
        "stress_before": _plain(session.value("before", "stress")),
        "stress_after": _plain(session.value("after", "stress")),
        "session_id": session.id,
        "uid": session.uid,
        "listener": session.listener,
        "arc": session.arc,
        "ended_at": session.ended_at,
        "outcome": session.outcome,
        "underruns": session.underruns,
        "stress_after_late": None if after is None else after.late,
    }
    for scale in ("vas", "stai6", "heart_rate"):
        for phase in PHASES:
            row[f"{scale}_{phase}"] = _plain(session.value(phase, scale))
    for phase in PHASES:
        note = session.rating(phase, "note")
        row[f"note_{phase}"] = note.text if note else ""
    return row


def _csv_cell(v: Any) -> Any:
    from companion.core.untrusted import for_spreadsheet

    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else for_spreadsheet(v)


def _rating_dict(r: Rating) -> dict[str, Any]:
    return {"scale": r.scale, "phase": r.phase, "value": r.value, "text": r.text,
            "items": list(r.items), "late": r.late, "recorded_at": r.recorded_at}


def export_history(sessions: Sequence[Session], fmt: str) -> str:
    """The history as CSV (the flat rows) or JSON (rows plus every rating and the snapshot)."""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(HISTORY_COLUMNS), lineterminator="\n")
        writer.writeheader()
        for s in sessions:
            writer.writerow({k: _csv_cell(v) for k, v in history_row(s).items()})
        return buf.getvalue()
    if fmt == "json":
        records = []
        for s in sessions:
            record = history_row(s)
            try:
                record["snapshot"] = json.loads(s.snapshot or "{}")
            except json.JSONDecodeError:
                record["snapshot"] = {}
            record["ratings"] = [_rating_dict(r) for r in s.ratings]
            records.append(record)
        return json.dumps(records, indent=2, ensure_ascii=False) + "\n"
    raise ValueError(f"export format must be csv or json, not {fmt!r}")


def parse_history(text: str, *, source: str = "history", listener: str | None = None) -> list[Session]:
    """Read a CSV or JSON export back into Sessions (not stored). UserInputError names the bad line.

    listener : put every session under this listener instead of the one in the file.
    A CSV row without a ``uid`` gets one derived from listener, start time and playlist, so importing
    the same file twice adds nothing. CSV keeps STAI-6 scores but not the six answers; JSON keeps all.
    """
    stripped = text.lstrip()
    if not stripped:
        raise UserInputError(f"{source} is empty; give a file written by `companion history --format csv|json`")
    if "\0" in text:
        raise UserInputError(f"{source}: holds NUL bytes, so it is not a history export; give a file "
                             "written by `companion history --format csv|json`")
    if stripped[0] in "[{":
        data = _load_json(text, source)
        records = data.get("sessions") if isinstance(data, dict) else data
        if not isinstance(records, list):
            raise UserInputError(f"{source}: expected a list of sessions, as `companion history --format json` writes")
        out = []
        for i, record in enumerate(records, start=1):
            where = f"{source} record {i}"
            if not isinstance(record, dict):
                raise UserInputError(f"{where}: expected an object with started_at and playlist")
            out.append(_session_from_record(record, where, listener))
        return out
    reader = csv.DictReader(io.StringIO(text))
    try:
        missing = [c for c in ("started_at", "playlist") if c not in (reader.fieldnames or [])]
        if missing:
            raise UserInputError(f"{source} line 1: the CSV header lacks {', '.join(missing)}; "
                                 "give a file written by `companion history --format csv`")
        sessions = []
        for row in reader:
            where = f"{source} line {reader.line_num}"
            if None in row:
                raise UserInputError(f"{where}: more cells than the header has columns")
            sessions.append(_session_from_record(row, where, listener))
    except csv.Error as exc:  # a cell over csv's field limit (128 KiB), a stray quote ...
        raise UserInputError(f"{source} after line {reader.line_num}: not a valid CSV row ({exc}); give "
                             "a file written by `companion history --format csv`") from None
    return sessions


def _load_json(text: str, source: str) -> Any:
    """Parse a JSON export, turning every way json can fail into one line naming the file.

    Besides malformed text, json raises ValueError for integers of more than 4300 digits and
    RecursionError for deeply nested arrays; ``Infinity``/``NaN`` parse, and are refused by the
    bounds checks of each value instead.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{source} line {exc.lineno}: not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise UserInputError(f"{source}: JSON nested too deeply to be a history export") from None
    except ValueError as exc:
        raise UserInputError(f"{source}: not a valid history export ({str(exc).splitlines()[0]})") from None


def _session_from_record(rec: Mapping[str, Any], where: str, listener: str | None) -> Session:
    def text(key: str, default: str = "", limit: int = _TEXT_MAX_CHARS) -> str:
        v = rec.get(key)
        if v is None:
            return default
        if isinstance(v, dict | list):
            raise UserInputError(f"{where}: {key} must be text, not a JSON {type(v).__name__}")
        out = str(v).strip()
        if len(out) > limit:
            raise UserInputError(f"{where}: {key} is {len(out)} characters long; at most {limit} are allowed")
        return out

    started = text("started_at")
    try:
        _parse_time(started)
    except ValueError:
        raise UserInputError(f"{where}: started_at {started!r} is not an ISO date and time") from None
    ended = text("ended_at") or None
    if ended:
        try:
            _parse_time(ended)
        except ValueError:
            raise UserInputError(f"{where}: ended_at {ended!r} is not an ISO date and time") from None
    playlist = text("playlist")
    if not playlist:
        raise UserInputError(f"{where}: playlist is empty")
    who = listener or text("listener") or DEFAULT_LISTENER
    if len(who) > 64 or not who.isprintable():
        raise UserInputError(f"{where}: listener name {who[:64]!r} must be 1–64 printable characters")
    try:
        minutes = float(text("minutes_listened") or 0)
        underruns_f = float(text("underruns") or 0)
    except ValueError:
        raise UserInputError(f"{where}: minutes_listened and underruns must be numbers") from None
    if not 0 <= minutes <= 24 * 60:
        raise UserInputError(f"{where}: minutes_listened {minutes!r} must be from 0 to 1440")
    # NaN and infinity fail these comparisons too; int() of them would raise
    if not (0 <= underruns_f <= _UNDERRUNS_MAX and underruns_f.is_integer()):
        raise UserInputError(f"{where}: underruns {underruns_f!r} must be a whole number from 0 to "
                             f"{_UNDERRUNS_MAX}")
    underruns = int(underruns_f)
    outcome = text("outcome")
    if not outcome:
        outcome = OUTCOME_COMPLETED if _truthy(rec.get("completed")) else OUTCOME_STOPPED
    if outcome not in ENDED_OUTCOMES + (OUTCOME_IN_PROGRESS,):
        raise UserInputError(f"{where}: outcome {outcome!r} is not one of {', '.join(ENDED_OUTCOMES)}")
    try:
        ratings = _ratings_of(rec)
    except UserInputError as exc:
        raise UserInputError(f"{where}: {exc}") from None
    snapshot = rec.get("snapshot") or {}
    snapshot_text = snapshot if isinstance(snapshot, str) else _dump_snapshot(snapshot, where)
    uid = text("uid", limit=64) or uuid.uuid5(uuid.NAMESPACE_URL, f"companion:{who}|{started}|{playlist}").hex
    return Session(
        id=0, listener=who, playlist=playlist, arc=text("arc"), started_at=started, ended_at=ended,
        minutes_listened=minutes, outcome=outcome, underruns=underruns, uid=uid,
        snapshot=snapshot_text, ratings=tuple(ratings),
    )


def _dump_snapshot(snapshot: Any, where: str) -> str:
    try:
        text = json.dumps(snapshot)
    except (ValueError, RecursionError):
        raise UserInputError(f"{where}: snapshot cannot be stored (nested too deeply)") from None
    if len(text) > _SNAPSHOT_MAX_CHARS:
        raise UserInputError(f"{where}: snapshot is {len(text)} characters long; at most "
                             f"{_SNAPSHOT_MAX_CHARS} are allowed")
    return text


def _ratings_of(rec: Mapping[str, Any]) -> list[Rating]:
    if isinstance(rec.get("ratings"), list):
        out = []
        for r in rec["ratings"]:
            if not isinstance(r, dict):
                raise UserInputError("a rating is not an object")
            raw_items = r.get("items") or ()
            if not isinstance(raw_items, list | tuple) or len(raw_items) > len(STAI6_ITEMS):
                raise UserInputError(f"STAI-6 items {str(raw_items)[:40]!r}: give at most six answers 1–4")
            try:
                items = tuple(int(i) for i in raw_items)
            except (TypeError, ValueError, OverflowError):
                raise UserInputError(f"STAI-6 items {str(raw_items)[:40]!r} are not whole numbers") from None
            if len(str(r.get("recorded_at") or "")) > 64:
                raise UserInputError("a rating's recorded_at is not a date and time")
            rating = Rating(
                scale=str(r.get("scale", "")), phase=str(r.get("phase", "")),
                value=None if r.get("value") is None else _float(r["value"], str(r.get("scale"))),
                text=str(r.get("text") or ""), items=items, late=_truthy(r.get("late")),
                recorded_at=str(r.get("recorded_at") or ""),
            )
            out.append(validate_rating(rating))
        return out
    out = []
    late_after = _truthy(rec.get("stress_after_late"))
    stamp = str(rec.get("ended_at") or rec.get("started_at") or "")
    for scale in SCALE_NAMES:
        for phase in PHASES:
            raw = rec.get(f"{scale}_{phase}")
            if raw is None or str(raw).strip() == "":
                continue
            late = late_after and phase == "after"
            if scale == "note":
                out.append(make_rating("note", phase, str(raw), late=late, recorded_at=stamp))
            else:
                value = _float(raw, f"{scale}_{phase}")
                out.append(validate_rating(Rating(scale, phase, value, late=late, recorded_at=stamp)))
    return out


def _truthy(raw: Any) -> bool:
    return raw is True or str(raw or "").strip().lower() in ("true", "1", "yes")


def _float(raw: Any, name: str) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise UserInputError(f"{name} {raw!r} is not a number") from None


def import_history(store: Store, path: str | Path, *, listener: str | None = None) -> tuple[int, int]:
    """Restore an export: every session whose uid is new, all in one transaction.

    Returns (added, already there). A malformed file raises UserInputError and adds nothing.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UserInputError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise UserInputError(f"{path}: not a text file; give a csv or json history export") from None
    sessions = parse_history(text, source=str(path), listener=listener)
    return store.import_sessions(sessions)
