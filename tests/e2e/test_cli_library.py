"""`companion scan` and `companion tracks` as a user runs them, in a temporary COMPANION_HOME."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_scan import write_corrupt, write_tone

REQUIRED_CSV = {"path", "title", "artist", "duration_s", "bpm", "status", "error", "bpm_confidence",
                "bpm_source", "album", "genre", "loudness_lufs", "bpm_start", "bpm_end", "bpm_alternatives"}


def companion(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COMPANION_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "companion", *args], capture_output=True, text=True,
                          env=env, timeout=180)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    """A small library scanned once; the tests below read it."""
    import mutagen

    root = tmp_path_factory.mktemp("cli")
    lib, home = root / "music", root / "home"
    song = write_tone(lib / "tagged.flac", seconds=8.0, channels=2, pulse_bpm=80.0)
    f = mutagen.File(str(song))
    f["title"], f["artist"] = "Harbour Lights", "The Calm"
    f.save()
    write_tone(lib / "plain.wav", seconds=8.0, pulse_bpm=60.0)
    write_corrupt(lib / "broken.mp3")
    return lib, home, companion("scan", str(lib), "--jobs", "1", home=home)


def test_scan_reports_errors_in_one_line_each_and_succeeds(scanned: tuple) -> None:
    lib, _, run = scanned
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    broken = [line for line in run.stderr.splitlines() if "broken.mp3" in line]
    assert len(broken) == 1 and broken[0].startswith("companion: ")
    assert "3 files: 2 analysed" in run.stdout


def test_rescan_skips_unchanged_files(scanned: tuple) -> None:
    lib, home, _ = scanned
    run = companion("scan", str(lib), "--jobs", "2", home=home)
    assert run.returncode == 0, run.stderr
    assert "0 analysed, 3 unchanged" in run.stdout


def test_tracks_csv_has_the_contract_columns(scanned: tuple) -> None:
    _, home, _ = scanned
    run = companion("tracks", "--format", "csv", home=home)
    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    assert REQUIRED_CSV <= set(rows[0])
    assert run.stdout.startswith("path,title,artist,")
    by_title = {r["title"]: r for r in rows}
    assert by_title["Harbour Lights"]["artist"] == "The Calm"
    assert float(by_title["Harbour Lights"]["duration_s"]) == pytest.approx(8.0, abs=0.05)
    assert float(by_title["plain"]["bpm"]) > 0
    assert by_title["broken"]["status"] == "error" and by_title["broken"]["error"]


def test_tracks_json_gives_every_field(scanned: tuple) -> None:
    _, home, _ = scanned
    run = companion("tracks", "--format", "json", home=home)
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)
    assert len(rows) == 3
    for row in rows:
        assert REQUIRED_CSV | {"unsure", "peak_dbfs", "bpm_auto"} <= set(row)
        assert isinstance(row["unsure"], bool)
        for alt in row["bpm_alternatives"]:
            assert set(alt) == {"bpm", "score", "ratio"}


def test_tracks_table_and_filters(scanned: tuple) -> None:
    _, home, _ = scanned
    table = companion("tracks", home=home)
    assert table.returncode == 0
    assert "Harbour Lights" in table.stdout and "0:08" in table.stdout
    errors = companion("tracks", "--errors", "--format", "json", home=home)
    assert [r["title"] for r in json.loads(errors.stdout)] == ["broken"]
    unsure = companion("tracks", "--unsure", "--format", "json", home=home)
    assert all(r["unsure"] and r["bpm_source"] != "manual" for r in json.loads(unsure.stdout))


def test_scan_of_a_missing_path_is_one_line_and_exit_2(tmp_path: Path) -> None:
    run = companion("scan", str(tmp_path / "no-such-folder"), home=tmp_path / "home")
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0
    assert run.stderr.startswith("companion: ") and "no-such-folder" in run.stderr
