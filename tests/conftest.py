"""Shared fixtures: every test gets its own COMPANION_HOME, so no test sees a user's data.

Before any test module is imported (this file is imported first), COMPANION_HOME and
XDG_DATA_HOME point into a temporary folder of this process (each xdist worker has its own):
code that runs at import time, in a session fixture or in a subprocess that lost the per-test
home lands there, never in the person's real data folder. A session check fails the run loudly
if the real folder changed all the same.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest


def _real_data_folders() -> list[Path]:
    """The folders a run must not touch: the user's COMPANION_HOME and the platform's data dir.

    Read from the environment the run started in: xdist workers inherit the sandboxed one, so
    the first process passes the real folders down in COMPANION_TESTS_REAL_FOLDERS."""
    inherited = os.environ.get("COMPANION_TESTS_REAL_FOLDERS")
    if inherited is not None:
        return [Path(f) for f in inherited.split(os.pathsep) if f]
    from platformdirs import user_data_dir

    folders = [Path(user_data_dir("companion", appauthor=False))]
    if os.environ.get("COMPANION_HOME"):
        folders.append(Path(os.environ["COMPANION_HOME"]).expanduser())
    os.environ["COMPANION_TESTS_REAL_FOLDERS"] = os.pathsep.join(map(str, folders))
    return folders


def _fingerprint(folder: Path) -> tuple:
    """What changes when anything is created, removed or written at the folder's top level."""
    if not folder.exists():
        return ()
    return tuple(sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir()))


REAL_FOLDERS = _real_data_folders()
BEFORE = {folder: _fingerprint(folder) for folder in REAL_FOLDERS}

_SANDBOX = Path(tempfile.mkdtemp(prefix="companion-tests-"))
atexit.register(shutil.rmtree, _SANDBOX, ignore_errors=True)
os.environ["COMPANION_HOME"] = str(_SANDBOX / "home")
os.environ["XDG_DATA_HOME"] = str(_SANDBOX / "xdg-data")


@pytest.fixture(scope="session", autouse=True)
def real_data_folders_untouched() -> None:
    """Fail the run if any test created or wrote anything in the person's real data folder."""
    yield
    changed = [str(f) for f in REAL_FOLDERS if _fingerprint(f) != BEFORE[f]]
    if changed:
        pytest.fail(
            f"the tests changed the real data folder {', '.join(changed)}: a test or module ran "
            "companion outside its COMPANION_HOME (use the companion_home fixture)",
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def companion_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "companion-home"
    monkeypatch.setenv("COMPANION_HOME", str(home))
    return home
