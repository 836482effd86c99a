"""End-to-end fixtures: the demo library, built once per test run and shared.

Synthesising and scanning the demo library costs tens of seconds, so ``demo_template`` runs
``companion demo`` once per test run (the xdist workers share it) in its own COMPANION_HOME.
A test that needs the library asks for ``demo_home``: its own COMPANION_HOME (the per-test one
from tests/conftest.py) with a copy of the template's database and playlists, and
``demo-library`` linked to the template's folder. The library's files are shared and must not be changed by tests; everything a test
writes (sessions, playlists, scans of other folders) stays in its own home.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

DB_FILES = ("companion.db", "companion.db-wal", "companion.db-shm")


@dataclass(frozen=True)
class DemoTemplate:
    """The result of the session's first ``companion demo``.

    home : the COMPANION_HOME it ran in.
    library : the demo library folder (resolved).
    first_run : the finished ``companion demo`` process (stdout, stderr, returncode).
    seconds : how long that first run took, wall clock.
    """

    home: Path
    library: Path
    first_run: subprocess.CompletedProcess[str]
    seconds: float


def run_companion(
    args: Sequence[str], *, home: Path | None = None, timeout: float = 600, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m companion ARGS`` in a subprocess, with COMPANION_HOME set to ``home``
    (default: the environment's, i.e. the current test's home)."""
    env = dict(os.environ)
    if home is not None:
        env["COMPANION_HOME"] = str(home)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return subprocess.run(
        [sys.executable, "-m", "companion", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input if input is not None else "",
    )


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> DemoTemplate:
    """``companion demo`` run once per test run, in a COMPANION_HOME of its own.

    Under pytest-xdist the workers share one template: the first to take the lock builds it in
    the run's common temporary folder and records the result; the others wait and read it."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        folder = tmp_path_factory.getbasetemp().parent / "demo-template"  # one per run
        folder.mkdir(exist_ok=True)
        with open(folder / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            template = _read_template(folder) or _build_template(folder)
    else:
        template = _build_template(tmp_path_factory.mktemp("demo-template"))
    run = template.first_run
    if run.returncode != 0:
        pytest.fail(f"`companion demo` failed (exit {run.returncode}):\n{run.stderr[-3000:]}",
                    pytrace=False)
    return template


def _build_template(folder: Path) -> DemoTemplate:
    """Run ``companion demo`` in ``folder/home`` and record the run in ``folder/run.json``."""
    home = folder / "home"
    started = time.monotonic()
    run = run_companion(["demo"], home=home)
    seconds = time.monotonic() - started
    (folder / "run.json").write_text(json.dumps({
        "args": run.args, "returncode": run.returncode, "stdout": run.stdout,
        "stderr": run.stderr, "seconds": seconds}))
    return DemoTemplate(home, (home / "demo-library").resolve(), run, seconds)


def _read_template(folder: Path) -> DemoTemplate | None:
    """The template another worker built in ``folder``, or None when none has yet."""
    record = folder / "run.json"
    if not record.exists():
        return None
    r = json.loads(record.read_text())
    run = subprocess.CompletedProcess(r["args"], r["returncode"], r["stdout"], r["stderr"])
    home = folder / "home"
    return DemoTemplate(home, (home / "demo-library").resolve(), run, r["seconds"])


@pytest.fixture
def demo_home(demo_template: DemoTemplate, companion_home: Path) -> Path:
    """This test's COMPANION_HOME, already holding the scanned demo library and playlist 'demo'."""
    companion_home.mkdir(parents=True, exist_ok=True)
    companion_home.chmod(0o700)
    for name in DB_FILES:
        src = demo_template.home / name
        if src.exists():
            shutil.copy2(src, companion_home / name)
    shutil.copytree(demo_template.home / "playlists", companion_home / "playlists")
    (companion_home / "demo-library").symlink_to(demo_template.library, target_is_directory=True)
    return companion_home
