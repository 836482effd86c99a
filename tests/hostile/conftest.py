"""The hostile-input suite: every input is built here, by the test that uses it.

Each test plays a person (or a file from anywhere) doing something unkind — odd names, vanished
folders, crafted playlists, presets and histories, planted links — and checks what a person would
notice: one line that names the file or value, a documented exit code (2 for every error), the
work going on where it can, nothing saved lost, and nothing raw reaching the terminal.
"""

from __future__ import annotations

import contextlib
import io
import subprocess

import pytest

from companion.core.store import Store
from tests.unit.test_scan import quick_tempo, write_tone  # noqa: F401  (fixture and helper)


def call(*args: str) -> subprocess.CompletedProcess[str]:
    """``companion ARGS`` through ``companion.cli.main`` in this process."""
    from companion.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def one_line_error(p: subprocess.CompletedProcess[str], *words: str) -> str:
    """The error of a failed verb: exit 2, one line on stderr starting ``companion:``, no
    traceback; it contains every one of ``words``."""
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("companion: "), p.stderr
    assert "Traceback" not in p.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


@pytest.fixture
def store():
    with Store() as s:
        yield s
