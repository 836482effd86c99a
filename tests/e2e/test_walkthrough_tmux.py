"""The tmux walkthrough (tests/walkthrough_tmux.sh) as a test: build, a session with its ratings,
the history chart, in a real 80x24 terminal, every pane checked for errors and clipped text."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "walkthrough_tmux.sh"


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_a_new_user_can_build_listen_and_see_the_history_in_80x24(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run([str(SCRIPT), "--quick", str(tmp_path / "walk")], capture_output=True,
                          text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "walkthrough passed" in done.stdout
    history = next((tmp_path / "walk").glob("*-history.txt")).read_text()
    assert "○ before" in history and "● after" in history and "walk" in history
