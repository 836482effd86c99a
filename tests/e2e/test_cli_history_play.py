"""Kill a real `companion play` with SIGKILL mid-session: the next start finds it interrupted.

ALSA's null device plays faster than real time, so the playlist is long (hours of a short
tone, repeated) and the test waits for the session's first heartbeat in the database before it
kills: whatever the machine's speed, the kill lands mid-session.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from companion.cli import main
from companion.core.store import Store
from tests.e2e.test_cli_play import null_device_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]

ENTRIES = 3000  # × 10 s: hours of audio, far more than renders before the first heartbeat


def _long_playlist(folder: Path) -> Path:
    import soundfile as sf

    sr = 22050
    t = np.arange(10 * sr) / sr
    tone = folder / "tone.wav"
    sf.write(tone, (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr)
    m3u = folder / "long.m3u8"
    m3u.write_text("#EXTM3U\n" + "".join(f"#EXTINF:10,tone {i}\n{tone}\n" for i in range(ENTRIES)))
    return m3u


def test_sigkilled_companion_play_is_found_interrupted(tmp_path, companion_home, capsys):
    pytest.importorskip("companion.commands.play")
    m3u = _long_playlist(tmp_path)
    log = (tmp_path / "play.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "companion", "play", str(m3u), "--pre", "6", "--post", "2"],
        env={**os.environ, "COMPANION_HOME": str(companion_home), **null_device_env(tmp_path)},
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        session = None
        while time.monotonic() < deadline and proc.poll() is None:
            if (companion_home / "companion.db").exists():
                with Store() as store:
                    rows = store.sessions()
                if rows and rows[0].minutes_listened > 0:  # the first heartbeat
                    session = rows[0]
                    break
            time.sleep(0.2)
        assert proc.poll() is None, (tmp_path / "play.log").read_text()[-2000:]
        assert session is not None and session.outcome == "in_progress"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()

    assert main(["history", "--format", "json"]) == 0
    out, err = capsys.readouterr()
    [row] = json.loads(out)
    assert row["outcome"] == "interrupted"
    assert row["minutes_listened"] >= round(session.minutes_listened, 2) > 0  # its last heartbeat
    assert row["stress_before"] == 6 and row["stress_after"] is None
    assert f"session {row['session_id']} (long) was interrupted" in err

    assert main(["rate", "--last", "--post", "3"]) == 0
    capsys.readouterr()
    with Store() as store:
        after = store.session(row["session_id"]).rating("after")
    assert after.value == 3 and after.late
