"""Fuzz `history import`: CSV and JSON exports, mutated, imported into a store with a history.

    nice -n 10 python bench/fuzz_history.py --minutes 2

Seeds: companion's own CSV and JSON exports of a small made-up history (every scale, notes,
a snapshot). Besides crashes (exceptions that are not CompanionError), it checks the promise
that a refused file imports nothing: the session count must not change after a refusal.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

import _fuzz  # noqa: E402

TOKENS = [
    b"Infinity", b"-Infinity", b"NaN", b"1e400", b"1e30", b"-1", b"9" * 5000, b"[" * 3000, b"{" * 3000,
    b'"underruns": Infinity', b'"minutes_listened": 1e30', b'"items": [1e400]', b'"ratings": {}',
    b'"snapshot": "x"', b'"listener": "\\u001b[2J"', b'"value": "x"', b'"scale": "stai6"', b"\x00",
    b'"' + b"x" * 140_000 + b'"', b",,,,,,,,,,", b'"', b"\r", b"\xff\xfe", b"=cmd|' /C calc'!A0",
    b"2026-13-45T99:99:99", b"true", b"null",
]


def _history() -> list:
    from companion.core.models import Rating, Session

    out = []
    for i in range(4):
        day = f"2026-10-{i + 1:02d}T20:00:00+00:00"
        out.append(Session(
            id=0, listener="me", playlist=f"evening {i}", arc="u-sequence", started_at=day, ended_at=day,
            minutes_listened=20.0 - i, outcome="completed", underruns=i, uid=f"seed-{i}",
            snapshot='{"name": "evening", "entries": [{"path": "/m/a.flac", "bpm": 80}]}',
            ratings=(Rating("stress", "before", 7.0 - i, recorded_at=day),
                     Rating("stress", "after", 4.0, recorded_at=day, late=i == 2),
                     Rating("vas", "before", 55.5, recorded_at=day),
                     Rating("stai6", "after", 40.0, items=(2, 3, 2, 3, 2, 2), recorded_at=day),
                     Rating("heart_rate", "before", 72.0, recorded_at=day),
                     Rating("note", "after", None, text="calmer, \"quoted\", a, b", recorded_at=day)),
        ))
    return out


def seeds() -> list[bytes]:
    from companion.core.sessions import export_history

    history = _history()
    return [export_history(history, "csv").encode(), export_history(history, "json").encode()]


def target(data: bytes, work: Path) -> str | None:
    from companion.core import sessions
    from companion.core.errors import CompanionError
    from companion.core.store import Store

    f = work / "in.json"
    f.write_bytes(data)
    with Store() as store:
        if not store.session_uids():
            store.import_sessions(_history())
        before = len(store.sessions())
        try:
            sessions.import_history(store, f)
        except CompanionError:
            if len(store.sessions()) != before:
                return "a refused import changed the history"
            raise
        after = store.sessions()
        for s in after:
            sessions.history_row(s)
        sessions.export_history(after, "csv")
        sessions.export_history(after, "json")
        if len(after) > 60:  # keep the store small: start afresh
            store.close()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{store.path}{suffix}").unlink(missing_ok=True)
    return None


def main() -> int:
    args = _fuzz.arguments(__doc__.splitlines()[0])
    return _fuzz.run("history", seeds(), TOKENS, target, minutes=args.minutes, seed=args.seed)


if __name__ == "__main__":
    _fuzz.main_guard(main)
