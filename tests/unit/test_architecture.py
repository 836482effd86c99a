"""The house rules of docs/DESIGN: a headless engine, one owner per resource, fast start-up."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "companion" / "core"


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_core_imports_no_textual() -> None:
    modules = sorted(p.stem for p in CORE.glob("*.py") if p.stem != "__init__")
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module('companion.core.' + m)\n"
        "print(sorted(k for k in sys.modules if k.split('.')[0] in ('textual', 'rich')))"
    )
    assert _run(code) == "[]"


def test_help_and_tui_import_do_not_load_librosa() -> None:
    code = (
        "import sys, companion.cli as c\n"
        "c.build_parser()\n"
        "import companion.tui.app\n"
        "print(sorted(k for k in sys.modules if k.split('.')[0] in ('librosa', 'numba', 'sounddevice')))"
    )
    assert _run(code) == "[]"


def _files_matching(pattern: str) -> set[str]:
    rx = re.compile(pattern, re.MULTILINE)
    return {
        str(p.relative_to(ROOT))
        for p in (ROOT / "companion").rglob("*.py")
        if rx.search(p.read_text(encoding="utf-8"))
    }


def test_only_the_store_speaks_sql() -> None:
    assert _files_matching(r"^\s*(import sqlite3|from sqlite3)") == {"companion/core/store.py"}


def test_only_the_player_touches_portaudio() -> None:
    assert _files_matching(r"^\s*(import sounddevice|from sounddevice)") <= {"companion/core/player.py"}


def test_an_unwritable_home_is_one_line_not_a_traceback(tmp_path) -> None:
    import os

    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    env = {**os.environ, "COMPANION_HOME": str(blocked / "home")}
    out = subprocess.run([sys.executable, "-m", "companion", "tracks"], capture_output=True, text=True,
                         cwd=ROOT, env=env, timeout=120)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert str(blocked) in out.stderr
