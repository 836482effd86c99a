"""Sessions in a store without playing one, written the way the listening session writes them.

``ListeningSession`` keeps its record in memory and writes it whole with ``Store.save_session``
(while playing with its process id, once ended without); so does the import of a pending file.
Tests that need a history (late ratings, recovery, export, the faces' history screens) write
their records through the same call, so they exercise the path the product takes.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from typing import Any

from companion.core import sessions
from companion.core.models import OUTCOME_COMPLETED, OUTCOME_IN_PROGRESS, Rating, Session
from companion.core.store import Store, now_iso

THIS_PROCESS = os.getpid()


def record(
    store: Store, *, listener: str = "me", playlist: str = "demo", arc: str = "",
    before: Sequence[Rating] = (), after: Sequence[Rating] = (), outcome: str = OUTCOME_COMPLETED,
    minutes: float = 20.0, underruns: int = 0, snapshot: dict[str, Any] | None = None,
    pid: int | None = THIS_PROCESS, started_at: str = "",
) -> Session:
    """Write one session and return it as stored (with its id).

    outcome ``in_progress`` leaves it playing, owned by ``pid`` (this process unless told: the
    listening session's own pid), its heartbeat now; any other outcome has ended now.
    The ratings are validated first, as the listening session validates them.
    """
    for r in (*before, *after):
        sessions.validate_rating(r)
    playing = outcome == OUTCOME_IN_PROGRESS
    session = Session(
        id=0, listener=listener, playlist=playlist, arc=arc, started_at=started_at or now_iso(),
        ended_at=None if playing else now_iso(), minutes_listened=minutes, outcome=outcome,
        underruns=underruns, uid=uuid.uuid4().hex, snapshot=json.dumps(snapshot or {}),
        ratings=tuple(before) + tuple(after),
    )
    return store.session(store.save_session(session, pid=pid if playing else None))


def stress(phase: str, value: float) -> Rating:
    """A stress rating as a listener gives it (validated)."""
    return sessions.make_rating("stress", phase, value)
