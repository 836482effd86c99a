"""Write a synthetic history export (JSON) to try `companion stats` on, without real sessions.

    python bench/sample_history.py /tmp/sample.json --sessions 36 --seed 1
    COMPANION_HOME=/tmp/stats-home companion history import /tmp/sample.json
    COMPANION_HOME=/tmp/stats-home companion stats

The numbers are made up (a modest average drop of about one point, as in the literature
outside clinics); never import them into a real listener's history.
"""

from __future__ import annotations

import argparse
import json
import random
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from companion.core.models import (
    OUTCOME_COMPLETED,
    OUTCOME_INTERRUPTED,
    OUTCOME_STOPPED,
    Rating,
    Session,
)
from companion.core.sessions import export_history

PLAYLISTS = (("evening", "u-sequence"), ("short-break", "step-down"), ("bedtime", "sleep"))
TRACKS = ("Harbour at Dusk", "Quiet Lake", "Still Water", "Cradle Song", "Snowfall", "Deep Rest")


def sample_sessions(n: int, seed: int) -> list[Session]:
    rng = random.Random(seed)
    start = datetime.now().astimezone().replace(hour=21, minute=0, second=0, microsecond=0)
    sessions = []
    for i in range(n):
        when = start - timedelta(days=n - i + rng.choice((0, 0, 1)), minutes=rng.randint(0, 90))
        playlist, arc = rng.choice(PLAYLISTS)
        outcome = rng.choices((OUTCOME_COMPLETED, OUTCOME_STOPPED, OUTCOME_INTERRUPTED), (8, 1, 1))[0]
        minutes = 20.0 if outcome == OUTCOME_COMPLETED else round(rng.uniform(2, 15), 1)
        before = rng.randint(3, 8)
        after = max(0, min(10, before + round(rng.gauss(-1.0, 1.4))))
        ratings = [Rating("stress", "before", before, recorded_at=when.isoformat(timespec="seconds"))]
        if rng.random() > 0.05:
            ratings.append(Rating("stress", "after", after, late=outcome == OUTCOME_INTERRUPTED,
                                  recorded_at=(when + timedelta(minutes=minutes)).isoformat(timespec="seconds")))
        tracks = rng.sample(TRACKS, 4)
        snapshot = {"arc": arc, "tracks": [{"title": t, "artist": "demo", "path": f"/music/{t}.flac",
                                            "start_s": k * 300.0, "length_s": 300.0}
                                           for k, t in enumerate(tracks)]}
        sessions.append(Session(
            id=0, listener="me", playlist=playlist, arc=arc,
            started_at=when.isoformat(timespec="seconds"),
            ended_at=(when + timedelta(minutes=minutes)).isoformat(timespec="seconds"),
            minutes_listened=minutes, outcome=outcome, uid=uuid.UUID(int=rng.getrandbits(128)).hex,
            snapshot=json.dumps(snapshot), ratings=tuple(ratings),
        ))
    return sessions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("output", type=Path)
    ap.add_argument("--sessions", type=int, default=36)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    args.output.write_text(export_history(sample_sessions(args.sessions, args.seed), "json"), encoding="utf-8")
    print(f"wrote {args.sessions} synthetic sessions to {args.output}")


if __name__ == "__main__":
    main()
