"""How companion writes a duration, everywhere: the CLI, the app and the planner's notes."""

from __future__ import annotations


def format_duration(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss`` from an hour on), as players show time."""
    total = max(0, int(round(seconds)))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
