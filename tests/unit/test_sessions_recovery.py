"""A session whose process is killed is found as interrupted at the next start, minutes kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from companion.core import sessions
from companion.core.models import (
    OUTCOME_COMPLETED,
    OUTCOME_IN_PROGRESS,
    OUTCOME_INTERRUPTED,
    Session,
)
from companion.core.store import Store
from tests.records import record

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

# A `companion play` playing a long playlist: a real listening session on a paced null output
# (a minute of music a second), its writer heartbeating often, until it is killed.
_PLAYER = textwrap.dedent("""
    import sys, time
    from companion.core import listening, sessions
    from companion.core.models import Playlist, PlaylistEntry
    from companion.core.player import NullOutput
    from companion.core.store import Store

    listening.HEARTBEAT_S = 0.05
    entry = PlaylistEntry(path=sys.argv[1], title="long", bpm=60.0, duration_s=float(sys.argv[2]))
    session = listening.ListeningSession(
        Store(), Playlist("long", (entry,)), listener="me", crossfade_s=0.0,
        output=NullOutput(realtime=True, speed=60.0))
    session.begin([sessions.make_rating("stress", "before", 7)])
    while True:
        session.status()
        print("heard", session.heard_s / 60.0, flush=True)
        time.sleep(0.02)
""")
_LONG_S = 240.0


def _start_player(companion_home: Path, music: Path) -> subprocess.Popen:
    import numpy as np
    import soundfile as sf

    sr = 8000
    tone = 0.1 * np.sin(2 * np.pi * 220 * np.arange(int(_LONG_S * sr)) / sr)
    sf.write(music, tone.astype(np.float32), sr, subtype="PCM_16")
    return subprocess.Popen([sys.executable, "-c", _PLAYER, str(music), str(_LONG_S)],
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "COMPANION_HOME": str(companion_home)})


def _wait_until_written(proc: subprocess.Popen, store: Store, minutes: float) -> Session:
    """Until the player says it has played ``minutes`` and its writer has stored as much."""
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline().split()
        if not line:
            raise AssertionError(f"the player ended ({proc.wait()})")
        rows = store.sessions()
        if line[0] == "heard" and float(line[1]) >= minutes and rows and rows[0].minutes_listened >= minutes:
            return rows[0]
    raise AssertionError("the player never got that far")


def _wait_until_dead_unreaped(pid: int) -> None:
    stat = Path(f"/proc/{pid}/stat")
    deadline = time.monotonic() + 10
    while stat.exists() and time.monotonic() < deadline:
        text = stat.read_text()
        if text[text.rindex(")") + 2] == "Z":
            return
        time.sleep(0.01)
    if not stat.exists():  # no /proc: nothing to wait for but the kill itself
        time.sleep(0.2)


def test_sigkilled_session_is_found_interrupted_with_minutes_listened(companion_home, tmp_path):
    proc = _start_player(companion_home, tmp_path / "long.wav")
    try:
        with Store() as store:
            playing = _wait_until_written(proc, store, 1.0)
            sid = playing.id
            # alive, a companion process, fresh heartbeat: left alone
            assert sessions.recover_interrupted(store) == []
            assert store.session(sid).outcome == OUTCOME_IN_PROGRESS
            proc.send_signal(signal.SIGKILL)
            # not reaped yet: a zombie still answers kill(pid, 0) and must count as dead
            _wait_until_dead_unreaped(proc.pid)
            recovered = sessions.recover_interrupted(store)
            proc.wait(timeout=10)
            assert [s.id for s in recovered] == [sid]
            s = store.session(sid)
            assert s.outcome == OUTCOME_INTERRUPTED
            assert 1.0 <= s.minutes_listened < _LONG_S / 60
            assert s.value("before") == 7  # the rating before survived the kill
            assert s.ended_at  # its last heartbeat
            # found once only; a late rating can follow
            assert sessions.recover_interrupted(store) == []
            assert sessions.last_unrated(store, "me").id == sid
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_dead_pid_and_reused_pid_count_as_interrupted(companion_home):
    with Store() as store:
        # a pid that no longer exists (a finished child's pid is free until reused)
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        sid_dead = record(store, playlist="a", outcome=OUTCOME_IN_PROGRESS, pid=dead.pid).id
        # a live process that is not companion (cmdline lacks the word)
        other = subprocess.Popen(["sleep", "30"])
        try:
            sid_other = record(store, playlist="b", outcome=OUTCOME_IN_PROGRESS, pid=other.pid).id
            mine = record(store, playlist="c", outcome=OUTCOME_IN_PROGRESS).id  # this very process
            found = {s.id for s in sessions.recover_interrupted(store)}
            assert found == {sid_dead, sid_other}
            assert store.session(mine).outcome == OUTCOME_IN_PROGRESS
        finally:
            other.kill()
            other.wait()


def test_a_stale_heartbeat_from_a_live_companion_process_counts_as_interrupted(companion_home):
    # a live process whose command line mentions companion, started before the session
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "companion"])
    try:
        with Store() as store:
            sid = record(store, playlist="a", outcome=OUTCOME_IN_PROGRESS, pid=proc.pid, minutes=4.5).id
            assert sessions.recover_interrupted(store) == []
            later = datetime.now().astimezone() + timedelta(seconds=sessions.STALE_HEARTBEAT_S + 60)
            [s] = sessions.recover_interrupted(store, now=later)
            assert (s.id, s.outcome, s.minutes_listened) == (sid, OUTCOME_INTERRUPTED, 4.5)
    finally:
        proc.kill()
        proc.wait()


def test_recovery_never_overrides_a_session_that_ended(companion_home):
    with Store() as store:
        sid = record(store, playlist="a", outcome=OUTCOME_COMPLETED, minutes=20).id
        store.mark_interrupted(sid, OUTCOME_INTERRUPTED)  # a late-running recovery
        assert store.session(sid).outcome == OUTCOME_COMPLETED
