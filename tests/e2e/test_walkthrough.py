"""The walking skeleton of issue 2, end to end through the CLI as a person would type it:

demo → demo again (nothing changes) → scan → tracks → build → play (rendered to a file) →
history, and a rating out of range that stores nothing. Every verb runs as
``python -m companion ...`` in a subprocess, on the demo library, in a temporary COMPANION_HOME.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.conftest import DemoTemplate, run_companion

TRACK_COLUMNS = ("path", "title", "artist", "duration_s", "bpm", "status", "error")
HISTORY_COLUMNS = ("started_at", "playlist", "minutes_listened", "completed", "stress_before", "stress_after")


def ok(result, what: str) -> str:
    """stdout of a finished command, failing the test with its stderr when it did not succeed."""
    assert result.returncode == 0, f"`companion {what}` exited {result.returncode}:\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


def csv_rows(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    return list(reader.fieldnames or []), list(reader)


def library_state(home: Path) -> dict:
    """What `companion demo` could change: the database rows, the files and their mtimes."""
    from companion.core.store import Store

    with Store() as store:
        tracks = store.tracks()
    library = home / "demo-library"
    files = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(library.iterdir())}
    playlist = home / "playlists" / "demo.m3u8"
    return {
        "tracks": tracks,
        "files": files,
        "playlist": (playlist.read_bytes(), playlist.stat().st_mtime_ns),
    }


def read_m3u8(path: Path) -> list[tuple[float, str, str]]:
    """(seconds, "artist - title", path) per entry of an extended M3U."""
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    assert lines[0] == "#EXTM3U"
    entries, extinf = [], None
    for ln in lines[1:]:
        if ln.startswith("#EXTINF:"):
            seconds, _, name = ln[len("#EXTINF:"):].partition(",")
            extinf = (float(seconds), name)
        elif not ln.startswith("#"):
            assert extinf is not None, f"{ln} has no #EXTINF line before it"
            entries.append((extinf[0], extinf[1], ln))
            extinf = None
    return entries


def _used_tempi(m3u8: Path) -> dict[str, float]:
    out, info = {}, {}
    for ln in m3u8.read_text(encoding="utf-8").splitlines():
        if ln.startswith("#COMPANION-TRACK:"):
            info = json.loads(ln.split(":", 1)[1])
        elif ln and not ln.startswith("#"):
            if info.get("used_bpm"):
                out[ln] = float(info["used_bpm"])
            info = {}
    return out


def test_demo_creates_library_and_playlist_and_a_second_run_changes_nothing(
    demo_template: DemoTemplate, demo_home: Path
) -> None:
    first = demo_template.first_run
    ok(first, "demo")
    assert "companion play demo" in first.stdout  # it says what to do next
    library = demo_template.library
    audio = sorted(p for p in library.iterdir() if not p.name.startswith("."))
    assert len(audio) >= 16
    assert {p.suffix for p in audio} >= {".flac", ".ogg", ".mp3", ".wav"}
    assert (demo_home / "playlists" / "demo.m3u8").is_file()

    before = library_state(demo_home)
    assert len(before["tracks"]) == len(audio)
    assert all(t.status == "ok" and t.bpm for t in before["tracks"])
    ok(run_companion(["demo"]), "demo (again)")
    assert library_state(demo_home) == before


def test_scan_and_tracks_list_the_library_and_a_bad_file(demo_home: Path, tmp_path: Path) -> None:
    import soundfile as sf

    extra = tmp_path / "music"
    extra.mkdir()
    sr = 22050
    t = np.arange(20 * sr) / sr
    clicks = (np.sin(2 * np.pi * 880 * t) * np.exp(-(t % 0.6) * 30)).astype(np.float32) * 0.3
    sf.write(extra / "clicks at 100 bpm.wav", clicks, sr)
    (extra / "broken.mp3").write_bytes(b"ID3 this is not audio at all" * 10)

    from companion.core.store import Store

    with Store() as store:
        analysed_before = {t.path: t.analysed_at for t in store.tracks()}
    ok(run_companion(["scan", str(demo_home / "demo-library"), str(extra)]), "scan")
    with Store() as store:
        analysed_after = {t.path: t.analysed_at for t in store.tracks()}
    # the demo library was scanned already: unchanged files are skipped, not analysed again
    assert {p: analysed_after[p] for p in analysed_before} == analysed_before
    library_files = [p for p in (demo_home / "demo-library").iterdir() if not p.name.startswith(".")]

    header, rows = csv_rows(ok(run_companion(["tracks", "--format", "csv"]), "tracks --format csv"))
    assert set(TRACK_COLUMNS) <= set(header), header
    by_name = {Path(r["path"]).name: r for r in rows}
    assert len(rows) == len(library_files) + 2
    assert all(Path(r["path"]).is_absolute() for r in rows)
    broken = by_name["broken.mp3"]
    assert broken["status"] == "error" and broken["error"]
    clicks_row = by_name["clicks at 100 bpm.wav"]
    assert clicks_row["status"] == "ok" and clicks_row["title"] == "clicks at 100 bpm"
    assert abs(float(clicks_row["duration_s"]) - 20.0) < 0.1
    demo_rows = [r for r in rows if "demo-library" in r["path"]]
    assert all(r["status"] == "ok" and r["title"] and r["artist"] for r in demo_rows)
    assert all(60 <= float(r["duration_s"]) <= 150 for r in demo_rows)


@pytest.mark.slow
def test_build_play_and_history(demo_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import soundfile as sf

    _, rows = csv_rows(ok(run_companion(["tracks", "--format", "csv"]), "tracks"))
    bpm_of = {r["path"]: float(r["bpm"]) for r in rows if r["bpm"]}

    # build: a 20-minute step-down from 90 to 60 BPM
    out = ok(run_companion(["build", "--start", "90", "--target", "60", "--minutes", "20", "--name", "x"]),
             "build")
    m3u8 = demo_home / "playlists" / "x.m3u8"
    entries = read_m3u8(m3u8)
    assert len(entries) >= 5
    for seconds, name, path in entries:
        assert os.path.isabs(path) and Path(path).is_file()
        assert seconds > 0 and " - " in name
        assert name.split(" - ", 1)[1] in out  # the printed plan names every track
    paths = [p for _, _, p in entries]
    assert len(set(paths)) == len(paths), "a track is used twice"
    # the tempo each track is played as: the library's, or the metrical level the plan chose
    # for a track whose tempo is unsure (its #COMPANION-TRACK line says which)
    used = _used_tempi(m3u8)
    tempi = [used.get(p) or bpm_of[p] for p in paths]
    plan = "\n".join(f"{t:6.1f} (library {bpm_of[p]:.1f})  {Path(p).name}" for t, p in zip(tempi, paths, strict=True))
    assert all(b <= a for a, b in zip(tempi, tempi[1:], strict=False)), plan
    assert all((a - b) / a <= 0.10 for a, b in zip(tempi, tempi[1:], strict=False)), plan
    assert abs(tempi[0] - 90) / 90 <= 0.10 and abs(tempi[-1] - 60) / 60 <= 0.10, plan
    # the plan is for the length as heard: neighbouring tracks overlap by the crossfade (6 s)
    from companion.core import playlists

    played_s = playlists.played_s(playlists.load("x"))
    music_s = sum(s for s, _, _ in entries)
    assert abs(played_s - 20 * 60) <= 0.05 * 20 * 60, played_s
    # #EXTINF holds whole seconds: each entry's length may be off by half a second
    rounding_s = 0.5 * len(entries)
    assert music_s - 6 * (len(entries) - 1) - rounding_s <= played_s < music_s + rounding_s, (played_s, music_s)

    # play: render the session to a file instead of the sound card
    wav = tmp_path / "out.wav"
    ok(run_companion(["play", "x", "--pre", "6", "--post", "3", "--output", str(wav)]), "play")
    audio, sr = sf.read(wav, dtype="float32", always_2d=True)
    length_s = len(audio) / sr
    assert abs(length_s - played_s) <= 1.0, (length_s, played_s)  # played as planned
    mono = audio.mean(axis=1)
    window = 30 * sr
    quiet = [i / sr for i in range(0, len(mono) - window, window)
             if np.sqrt(np.mean(mono[i : i + window] ** 2)) < 10 ** (-50 / 20)]
    assert not quiet, f"silence in the rendering at {quiet} s"
    first_track, track_sr = sf.read(paths[0], dtype="float32", always_2d=True)
    assert _similarity(mono, sr, first_track.mean(axis=1), track_sr, at_s=20.0) > 0.9

    # a render is not a listening session: nothing in the history
    _, sessions = csv_rows(ok(run_companion(["history", "--format", "csv"]), "history"))
    assert sessions == []

    # play: on a sound card (ALSA's null device, faster than real time), with ratings
    from tests.e2e.test_cli_play import null_device_env

    monkeypatch.setenv("ALSA_CONFIG_PATH", null_device_env(tmp_path)["ALSA_CONFIG_PATH"])
    ok(run_companion(["play", "x", "--pre", "6", "--post", "3"]), "play")
    monkeypatch.delenv("ALSA_CONFIG_PATH")

    # history: the session, with both ratings
    header, sessions = csv_rows(ok(run_companion(["history", "--format", "csv"]), "history"))
    assert set(HISTORY_COLUMNS) <= set(header), header
    assert len(sessions) == 1
    s = sessions[0]
    assert s["playlist"] == "x"
    assert s["completed"] in ("true", "True", "1", "yes")
    assert float(s["stress_before"]) == 6 and float(s["stress_after"]) == 3
    assert abs(float(s["minutes_listened"]) - length_s / 60) < 1.0

    # a rating out of range or not a whole number: one clear line, nothing stored
    for bad in ("11", "-1", "4.5", "calm"):
        result = run_companion(["play", "x", "--pre", bad, "--post", "3", "--output", str(tmp_path / "bad.wav")])
        assert result.returncode != 0, f"--pre {bad} was accepted"
        assert "Traceback" not in result.stderr
        assert result.stderr.strip().startswith("companion:") and len(result.stderr.strip().splitlines()) == 1
    _, after = csv_rows(ok(run_companion(["history", "--format", "csv"]), "history"))
    assert len(after) == 1


def _similarity(out: np.ndarray, out_sr: int, track: np.ndarray, track_sr: int, *, at_s: float) -> float:
    """Peak normalised cross-correlation of 5 s of ``track`` at ``at_s`` with the rendering
    around the same time (±1 s): close to 1 when the rendering plays this track there,
    whatever gain was applied."""
    from scipy.signal import correlate

    if track_sr != out_sr:
        import soxr

        track = soxr.resample(track, track_sr, out_sr)
    n = 5 * out_sr
    start = int(at_s * out_sr)
    ref = track[start : start + n].astype(np.float64)
    seg = out[start - out_sr : start + n + out_sr].astype(np.float64)
    corr = correlate(seg, ref, mode="valid", method="fft")
    power = np.concatenate(([0.0], np.cumsum(seg**2)))
    energy = np.sqrt(np.maximum(power[n:] - power[:-n], 0.0))
    return float(np.max(np.abs(corr) / np.maximum(energy * np.linalg.norm(ref), 1e-12)))
