"""How the screens write times, tempos and ratings: one place, so every screen agrees."""

from __future__ import annotations

from rich.text import Text

from companion.core.models import OUTCOME_COMPLETED, OUTCOME_INTERRUPTED, OUTCOME_STOPPED, Playlist
from companion.core.timefmt import format_duration

OUTCOME_LABELS = {
    OUTCOME_COMPLETED: "completed",
    OUTCOME_STOPPED: "stopped early",
    OUTCOME_INTERRUPTED: "interrupted",
    "in_progress": "in progress",
}


def clock(seconds: float | None) -> str:
    """``m:ss`` (or ``h:mm:ss``) for a duration in seconds; ``–`` when unknown."""
    return "–" if seconds is None else format_duration(seconds)


def minutes_phrase(minutes: float) -> str:
    """``12 minutes``, ``1 minute``, ``less than a minute``."""
    whole = int(round(minutes))
    if minutes < 0.5:
        return "less than a minute"
    return f"{whole} minute{'s' if whole != 1 else ''}"


def bpm(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def tempo_span(playlist: Playlist, *, unit: bool = True) -> str:
    """The tempo the playlist starts at and ends at, ``92 → 61 BPM``, with the lowest if it dips."""
    tempos = [e.used_bpm or e.bpm for e in playlist.tracks]
    known = [t for t in tempos if t]
    if not known:
        return "–"
    first, last, low = known[0], known[-1], min(known)
    span = f"{first:.0f} → {last:.0f}"
    if low < min(first, last) - 0.5:
        span = f"{first:.0f} → {low:.0f} → {last:.0f}"
    return f"{span} BPM" if unit else span


def stress_change(before: float | None, after: float | None) -> str:
    """``7 → 3`` for a session's stress ratings; ``–`` for a missing one."""

    def one(v: float | None) -> str:
        return "–" if v is None else f"{v:g}"

    text = f"{one(before)} → {one(after)}"
    if before is not None and after is not None and after != before:
        text += f"  ({signed(after - before, '+g')})"
    return text


def signed(value: float, spec: str = "+.1f") -> str:
    """A change with its sign, a true minus for falls: ``−1.5``, ``+2.0``."""
    return format(value, spec).replace("-", "−")


def date_time(iso: str) -> str:
    """``2026-11-26 18:05`` from a stored ISO 8601 time."""
    return iso[:16].replace("T", " ") if iso else ""


def escape(text: object) -> str:
    """``text`` made safe to put into Textual markup (Static, notify, labels): shown as typed.

    Tags, playlist names and notes are data; a title like ``[/b]`` or ``[@click=app.quit]`` must
    be printed, not interpreted (an unmatched closing tag raised MarkupError and crashed the app).
    Textual reads ``\\[`` as a literal bracket and every other backslash as itself.
    """
    return str(text).replace("[", "\\[")


def cell(text: object) -> Text:
    """A DataTable cell showing ``text`` literally (a str cell is parsed as Rich markup)."""
    return Text(str(text), end="")


def count(n: int, word: str) -> str:
    """``1 track``, ``12 tracks``."""
    return f"{n} {word}{'' if n == 1 else 's'}"
