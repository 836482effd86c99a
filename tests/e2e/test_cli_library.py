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


def test_tracks_table_shows_each_path_so_two_copies_can_be_told_apart(scanned: tuple) -> None:
    lib, home, _ = scanned
    table = companion("tracks", home=home).stdout.splitlines()
    assert table[0].split()[-1] == "path"
    for name in ("tagged.flac", "plain.wav", "broken.mp3"):
        line = next(row for row in table if row.endswith(name))
        assert line.endswith(str((lib / name).resolve()))


def test_tracks_filter_uses_the_apps_query_syntax(scanned: tuple) -> None:
    _, home, _ = scanned

    def titles(query: str) -> list[str]:
        run = companion("tracks", "--filter", query, "--format", "json", home=home)
        assert run.returncode == 0, run.stderr
        return sorted(r["title"] for r in json.loads(run.stdout))

    assert titles("harbour CALM") == ["Harbour Lights"]
    assert titles("error") == ["broken"]
    assert titles("bpm:50-70") == ["plain"]
    assert titles("bpm:70-90") == ["Harbour Lights"]
    assert titles("manual") == []
    bad = companion("tracks", "--filter", "bpm:fast", home=home)
    assert bad.returncode == 2 and "bpm:60-80" in bad.stderr and bad.stderr.count("\n") == 1
    none = companion("tracks", "--filter", "nothing-like-this", home=home)
    assert none.returncode == 0 and "no tracks match" in none.stderr and not none.stdout


def test_a_closed_stdout_ends_quietly(scanned: tuple) -> None:
    """`companion tracks --format csv | head -1`: no message when the reader goes away."""
    _, home, _ = scanned
    env = {**os.environ, "COMPANION_HOME": str(home)}
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first row is written
    try:
        run = subprocess.run([sys.executable, "-m", "companion", "tracks", "--format", "csv"],
                             stdout=write_end, stderr=subprocess.PIPE, text=True, env=env, timeout=60)
    finally:
        os.close(write_end)
    assert run.returncode in (0, 141)
    assert run.stderr == ""


def test_scan_of_a_missing_path_is_one_line_and_exit_2(tmp_path: Path) -> None:
    run = companion("scan", str(tmp_path / "no-such-folder"), home=tmp_path / "home")
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0
    assert run.stderr.startswith("companion: ") and "no-such-folder" in run.stderr


def test_the_decoders_own_notes_stay_off_the_terminal(tmp_path: Path) -> None:
    """A damaged MP3 makes libmpg123 print "Note: Illegal Audio-MPEG-Header ..." on the C
    stderr; companion's one line about the file is what the person sees."""
    lib = tmp_path / "music"
    lib.mkdir()
    (lib / "damaged.mp3").write_bytes(b"\xff\xfb" + b"junk" * 1000)
    run = companion("scan", str(lib), "--jobs", "1", home=tmp_path / "home")
    assert run.returncode == 0
    assert "Note:" not in run.stderr and "MPEG" not in run.stderr
    assert [ln for ln in run.stderr.splitlines() if "damaged.mp3" in ln][0].startswith("companion: ")


def test_only_the_decoders_lines_are_dropped() -> None:
    script = (
        "import os, sys\n"
        "from companion.commands._output import quiet_decoder_chatter\n"
        "with quiet_decoder_chatter():\n"
        "    os.write(2, b'Note: Trying to resync...\\n[src/libmpg123/parse.c:1218] error: bad\\nC says this\\n')\n"
        "    print('python says this', file=sys.stderr)\n"
        "print('after', file=sys.stderr)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert sorted(run.stderr.splitlines()) == ["C says this", "after", "python says this"]
    assert "resync" not in run.stderr and "libmpg123" not in run.stderr
