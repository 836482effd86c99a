"""While the app runs, a decoder's notes on fd 2 never reach the screen Textual draws on."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import os, sys
from companion.tui.terminal import decoder_chatter_off_screen
with decoder_chatter_off_screen():
    os.write(2, b"Note: Illegal Audio-MPEG-Header 0x428e62e5 at offset 12582.\n")  # as libmpg123 does
    sys.__stderr__.write("drawn by the app\n")  # Textual's driver writes here
    sys.__stderr__.flush()
os.write(2, b"after the app\n")
"""


def _run_on_a_terminal(code: str) -> str:
    """Run ``code`` with a pseudo-terminal as its stderr; what the terminal showed."""
    main, child = os.openpty()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=child, env=env)
    os.close(child)
    shown = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    proc.wait(timeout=30)
    os.close(main)
    return shown.decode(errors="replace")


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_decoder_notes_do_not_reach_the_apps_screen() -> None:
    shown = _run_on_a_terminal(CHILD)
    assert "drawn by the app" in shown
    assert "Illegal Audio-MPEG-Header" not in shown
    assert "after the app" in shown  # the terminal is fd 2 again once the app has ended
