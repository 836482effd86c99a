"""Session lifecycle: rating before, playback progress, ending, rating after. FIRST DRAFT."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from companion.core.errors import UserInputError
from companion.core.models import Rating
from companion.core.store import Store

STRESS_MIN, STRESS_MAX = 0, 10
STRESS_PROMPT = "Stress now, 0 = completely calm … 10 = the most stressed you can imagine"


def parse_stress(value: str | int | float) -> int:
    """A stress rating: an integer 0–10, or UserInputError naming the value."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        raise UserInputError(f"stress rating {text!r} is not a number; give a whole number from 0 to 10") from None
    if not number.is_integer() or not STRESS_MIN <= number <= STRESS_MAX:
        raise UserInputError(f"stress rating {text!r} is out of range; give a whole number from 0 to 10")
    return int(number)


def begin(
    store: Store, *, listener: str, playlist: str, arc: str = "", snapshot: dict[str, Any] | None = None,
    before: Sequence[Rating] = (),
) -> int:
    """Store the session and its ratings before, before playback starts. Returns the session id."""
    return store.start_session(listener=listener, playlist=playlist, arc=arc, snapshot=snapshot, before=before)


def progress(store: Store, session_id: int, minutes_listened: float, underruns: int = 0) -> None:
    store.heartbeat(session_id, minutes_listened, underruns)


def finish(store: Store, session_id: int, *, outcome: str, minutes_listened: float, underruns: int = 0) -> None:
    store.end_session(session_id, outcome=outcome, minutes_listened=minutes_listened, underruns=underruns)


def rate_after(store: Store, session_id: int, ratings: Sequence[Rating]) -> None:
    store.add_ratings(session_id, ratings)
