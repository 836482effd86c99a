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
from companion.core.models import OUTCOME_COMPLETED, OUTCOME_IN_PROGRESS, OUTCOME_INTERRUPTED
from companion.core.store import Store

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

# A stand-in for a playing `companion play`: begins a session, then heartbeats until killed.
_PLAYER = textwrap.dedent("""
    import time
    from companion.core import sessions
    from companion.core.store import Store

    store = Store()
    before = [sessions.make_rating("stress", "before", 7)]
    sid = sessions.begin(store, listener="me", playlist="long", before=before)
    print("session", sid, flush=True)
    minutes = 0.0
    while True:
        minutes += 0.5
        sessions.progress(store, sid, minutes)
        print("heartbeat", minutes, flush=True)
        time.sleep(0.02)
""")


def _start_player(companion_home: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-c", _PLAYER], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "COMPANION_HOME": str(companion_home)})
    assert proc.stdout is not None
    first = proc.stdout.readline().split()
    assert first[0] == "session", first
    return proc, int(first[1])


def _wait_for_heartbeat(proc: subprocess.Popen, minutes: float) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stdout.readline().split()
        if line and line[0] == "heartbeat" and float(line[1]) >= minutes:
            return
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


def test_sigkilled_session_is_found_interrupted_with_minutes_listened(companion_home):
    proc, sid = _start_player(companion_home)
    try:
        _wait_for_heartbeat(proc, 2.0)
        with Store() as store:
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
            assert s.minutes_listened >= 2.0
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
        sid_dead = store.start_session(listener="me", playlist="a", pid=dead.pid)
        # a live process that is not companion (cmdline lacks the word)
        other = subprocess.Popen(["sleep", "30"])
        try:
            sid_other = store.start_session(listener="me", playlist="b", pid=other.pid)
            mine = store.start_session(listener="me", playlist="c")  # this very process
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
            sid = store.start_session(listener="me", playlist="a", pid=proc.pid)
            store.heartbeat(sid, 4.5)
            assert sessions.recover_interrupted(store) == []
            later = datetime.now().astimezone() + timedelta(seconds=sessions.STALE_HEARTBEAT_S + 60)
            [s] = sessions.recover_interrupted(store, now=later)
            assert (s.id, s.outcome, s.minutes_listened) == (sid, OUTCOME_INTERRUPTED, 4.5)
    finally:
        proc.kill()
        proc.wait()


def test_recovery_never_overrides_a_session_that_ended(companion_home):
    with Store() as store:
        sid = store.start_session(listener="me", playlist="a", pid=None)
        sessions.finish(store, sid, outcome=OUTCOME_COMPLETED, minutes_listened=20)
        store.mark_interrupted(sid, OUTCOME_INTERRUPTED)  # a late-running recovery
        assert store.session(sid).outcome == OUTCOME_COMPLETED
