"""Scanning a music folder: what a user notices in the library afterwards."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from companion.core import analysis, audio_io, scan
from companion.core.errors import UserInputError
from companion.core.models import BPM_MANUAL, STATUS_ERROR, STATUS_OK, TempoEstimate
from companion.core.store import Store

SR = 22050


def write_tone(path: Path, seconds: float = 3.0, *, freq: float = 440.0, sr: int = SR,
               channels: int = 1, amplitude: float = 0.3, pulse_bpm: float | None = 100.0) -> Path:
    """A short tone (pulsed at ``pulse_bpm``) in the format the extension names."""
    t = np.arange(int(seconds * sr)) / sr
    y = amplitude * np.sin(2 * np.pi * freq * t)
    if pulse_bpm:
        phase = (t * pulse_bpm / 60.0) % 1.0
        y *= np.exp(-phase * 8.0)
    data = np.repeat(y[:, None], channels, axis=1).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, sr)
    return path


def write_corrupt(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not audio at all " * 40)
    return path


@pytest.fixture
def quick_tempo(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Replace the tempo estimator with a constant (scan logic is tested here, tempo elsewhere).
    Returns a list that grows by the number of samples each call received."""
    calls: list[int] = []

    def fake(y: np.ndarray, sr: int) -> TempoEstimate:
        calls.append(len(y))
        return TempoEstimate(bpm=100.0, confidence=0.9)

    monkeypatch.setattr("companion.core.tempo.estimate_tempo", fake)
    return calls


@pytest.fixture
def library(tmp_path: Path) -> Path:
    lib = tmp_path / "music"
    write_tone(lib / "one.wav")
    write_tone(lib / "two.flac", channels=2)
    write_tone(lib / "sub" / "three.ogg")
    write_tone(lib / "sub" / "four.mp3")
    (lib / "notes.txt").write_text("not music")
    write_tone(lib / ".hidden" / "ignored.wav")
    return lib


@pytest.fixture
def store() -> Store:
    with Store() as s:
        yield s


def test_scan_reads_every_format_and_lists_tracks(library: Path, store: Store, quick_tempo: list[int]) -> None:
    summary = scan.scan([library], store, jobs=1)
    assert (summary.found, summary.analysed, summary.errors) == (4, 4, 0)
    tracks = store.tracks()
    assert sorted(Path(t.path).name for t in tracks) == ["four.mp3", "one.wav", "three.ogg", "two.flac"]
    for t in tracks:
        assert t.status == STATUS_OK
        assert t.bpm == 100.0
        assert t.title == Path(t.path).stem  # untagged: the file name
        assert t.duration_s == pytest.approx(3.0, abs=0.1)
        assert t.loudness_lufs is not None and -30 < t.loudness_lufs < 0
    assert summary.audio_s == pytest.approx(12.0, abs=0.5)


def test_a_corrupt_file_gets_an_error_row_and_the_scan_goes_on(
    library: Path, store: Store, quick_tempo: list[int]
) -> None:
    bad = write_corrupt(library / "broken.mp3")
    summary = scan.scan([library], store, jobs=1)
    assert (summary.analysed, summary.errors) == (4, 1)
    assert [p for p, _ in summary.failures] == [str(bad.resolve())]
    row = store.track(bad)
    assert row.status == STATUS_ERROR
    assert row.error and "\n" not in row.error
    assert row.title == "broken"


def test_rescan_skips_unchanged_files_without_touching_audio(
    library: Path, store: Store, quick_tempo: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_corrupt(library / "broken.mp3")
    scan.scan([library], store, jobs=1)

    def no_audio_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("a rescan of unchanged files decoded audio")

    for name in ("analyse_file", "prepare_worker"):
        monkeypatch.setattr(analysis, name, no_audio_work)
    for name in ("read_blocks", "info", "load", "load_mono"):
        monkeypatch.setattr(audio_io, name, no_audio_work)
    monkeypatch.setattr(scan._Run, "analyse_in_workers", no_audio_work)

    summary = scan.scan([library], store)  # default jobs: would use worker processes
    assert (summary.found, summary.skipped_unchanged, summary.analysed, summary.errors) == (5, 5, 0, 0)


def test_a_changed_file_is_analysed_again(library: Path, store: Store, quick_tempo: list[int]) -> None:
    scan.scan([library], store, jobs=1)
    write_tone(library / "one.wav", seconds=5.0)
    summary = scan.scan([library], store, jobs=1)
    assert (summary.analysed, summary.skipped_unchanged) == (1, 3)
    assert store.track(library / "one.wav").duration_s == pytest.approx(5.0, abs=0.05)

    os.utime(library / "two.flac", (1_000_000_000, 1_000_000_000))  # same size, new mtime
    assert scan.scan([library], store, jobs=1).analysed == 1


def test_files_deleted_from_disk_are_removed(
    library: Path, tmp_path: Path, store: Store, quick_tempo: list[int]
) -> None:
    elsewhere = write_tone(tmp_path / "elsewhere" / "keep.wav")
    scan.scan([library, elsewhere], store, jobs=1)
    (library / "sub" / "three.ogg").unlink()
    elsewhere.unlink()  # gone too, but not under the folder scanned next
    summary = scan.scan([library], store, jobs=1)
    assert summary.removed == 1
    names = {Path(t.path).name for t in store.tracks()}
    assert "three.ogg" not in names
    assert "keep.wav" in names


def test_an_emptied_folder_keeps_its_tracks_like_an_unplugged_drive(
    tmp_path: Path, store: Store, quick_tempo: list[int]
) -> None:
    drive = tmp_path / "drive"
    write_tone(drive / "album" / "song.wav")
    scan.scan([drive], store, jobs=1)
    store.set_manual_bpm(drive / "album" / "song.wav", 58.0)
    (drive / "album" / "song.wav").unlink()
    (drive / "album").rmdir()  # the mount point is all that is left
    summary = scan.scan([drive], store, jobs=1)
    assert summary.removed == 0
    assert summary.notes and "kept" in summary.notes[0]
    assert store.tracks()[0].bpm == 58.0


def test_links_pipes_and_hidden_files(tmp_path: Path, store: Store, quick_tempo: list[int]) -> None:
    real = write_tone(tmp_path / "elsewhere" / "real.wav")
    lib = tmp_path / "music"
    lib.mkdir()
    (lib / "link.wav").symlink_to(real)
    (lib / "dangling.wav").symlink_to(tmp_path / "nothing.wav")
    os.mkfifo(lib / "pipe.wav")
    write_tone(lib / "._resource-fork.wav")
    summary = scan.scan([lib], store, jobs=1)
    assert (summary.found, summary.analysed, summary.errors) == (1, 1, 0)
    assert [t.path for t in store.tracks()] == [str(real.resolve())]


def test_manual_bpm_survives_a_rescan(library: Path, store: Store, quick_tempo: list[int]) -> None:
    scan.scan([library], store, jobs=1)
    store.set_manual_bpm(library / "one.wav", 63.0)
    write_tone(library / "one.wav", seconds=4.0)  # changed: analysed again
    scan.scan([library], store, jobs=1, force=True)
    track = store.track(library / "one.wav")
    assert (track.bpm, track.bpm_source, track.bpm_auto) == (63.0, BPM_MANUAL, 100.0)
    assert track.duration_s == pytest.approx(4.0, abs=0.05)


def test_m4a_without_ffmpeg_is_a_clear_error(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch, quick_tempo: list[int]
) -> None:
    monkeypatch.setattr(audio_io, "has_ffmpeg", lambda: False)
    song = tmp_path / "music" / "song.m4a"
    song.parent.mkdir()
    song.write_bytes(b"\0" * 100)
    summary = scan.scan([song.parent], store, jobs=1)
    assert summary.errors == 1
    assert "ffmpeg" in store.track(song).error


def test_a_path_that_does_not_exist_is_refused_before_any_work(tmp_path: Path, store: Store) -> None:
    with pytest.raises(UserInputError, match="no such file or folder"):
        scan.scan([tmp_path / "nowhere"], store, jobs=1)
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    with pytest.raises(UserInputError, match="not an audio file"):
        scan.scan([notes], store, jobs=1)
    with pytest.raises(UserInputError, match="jobs"):
        scan.scan([tmp_path], store, jobs=0)
    assert store.tracks() == []


def test_progress_reports_every_file_and_cancel_stops_early(
    library: Path, store: Store, quick_tempo: list[int]
) -> None:
    seen: list[tuple[int, int, str, int]] = []
    scan.scan([library], store, jobs=1, progress=lambda *a: seen.append(a))
    assert seen[0] == (0, 4, "", 0)
    assert [s[0] for s in seen] == [0, 1, 2, 3, 4]
    assert all(s[1] == 4 for s in seen)

    with Store(store.path.with_name("other.db")) as other:
        done: list[int] = []
        summary = scan.scan(
            [library], other, jobs=1, progress=lambda d, *_: done.append(d), cancel=lambda: bool(done[1:])
        )
        assert summary.cancelled
        assert summary.analysed == 1
        assert len(other.tracks()) == 1  # what was done is kept


def test_an_exception_from_progress_stops_the_scan_and_keeps_what_was_done(
    library: Path, store: Store, quick_tempo: list[int]
) -> None:
    class Quit(Exception):
        pass

    def progress(done: int, total: int, path: str, errors: int) -> None:
        if done == 2:
            raise Quit  # how the TUI stops a scan when the app quits

    with pytest.raises(Quit):
        scan.scan([library], store, jobs=1, progress=progress)
    assert len(store.tracks()) == 2


def test_analyse_file_never_raises(tmp_path: Path) -> None:
    for path in (write_corrupt(tmp_path / "x.flac"), tmp_path / "missing.wav", tmp_path):
        result = analysis.analyse_file(path)
        assert result.error and "\n" not in result.error
        assert result.tags is None


def test_analyse_file_reads_tags_tempo_and_loudness_in_one_go(tmp_path: Path) -> None:
    song = write_tone(tmp_path / "pulse.flac", seconds=20.0, sr=44100, channels=2, pulse_bpm=90.0)
    result = analysis.analyse_file(song)
    assert result.error == ""
    assert result.tags is not None and result.tags.title == "pulse"
    assert result.tags.duration_s == pytest.approx(20.0, abs=0.01)
    assert result.tempo is not None and result.tempo.bpm > 0
    assert result.loudness is not None and result.loudness.lufs is not None
    assert result.size == song.stat().st_size


def test_silence_is_a_track_without_tempo(tmp_path: Path) -> None:
    quiet = tmp_path / "quiet.wav"
    sf.write(str(quiet), np.zeros((SR * 3, 1), dtype=np.float32), SR)
    result = analysis.analyse_file(quiet)
    assert result.error == ""
    assert result.loudness is not None and result.loudness.lufs is None


# -- worker processes ---------------------------------------------------------------------------

_FAKE_WORKER = textwrap.dedent(
    """
    import os
    from companion.core.models import AnalysisResult, Tags, TempoEstimate

    def init():
        pass

    def analyse(path):
        if "crash" in os.path.basename(path):
            os._exit(3)  # what a decoder segfault looks like from outside
        st = os.stat(path)
        return AnalysisResult(path=path, size=st.st_size, mtime=st.st_mtime,
                              tags=Tags("t", "", "", "", 1.0), tempo=TempoEstimate(80.0, 0.9))
    """
)


@pytest.fixture
def fake_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Worker processes that skip real analysis (fast) and die on files named "crash..."."""
    # Workers import functions by name: put the stand-ins in a module they can import.
    (tmp_path / "fake_scan_worker.py").write_text(_FAKE_WORKER)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("fake_scan_worker", None)
    import fake_scan_worker  # type: ignore[import-not-found]

    monkeypatch.setattr(scan, "_init_worker", fake_scan_worker.init)
    monkeypatch.setattr(scan, "_analyse_in_worker", fake_scan_worker.analyse)


def test_a_file_that_crashes_a_worker_is_an_error_and_the_rest_is_analysed(
    tmp_path: Path, store: Store, fake_workers: None
) -> None:
    lib = tmp_path / "music"
    for name in ("a.wav", "b.wav", "crash.wav", "d.wav", "e.wav"):
        write_tone(lib / name, seconds=0.5)

    summary = scan.scan([lib], store, jobs=2)
    assert (summary.analysed, summary.errors) == (4, 1)
    crashed = store.track(lib / "crash.wav")
    assert crashed.status == STATUS_ERROR and "crashed" in crashed.error
    assert {t.bpm for t in store.tracks() if t.status == STATUS_OK} == {80.0}


def test_cancelling_a_parallel_scan_keeps_what_was_analysed(
    tmp_path: Path, store: Store, fake_workers: None
) -> None:
    lib = tmp_path / "music"
    for i in range(12):
        write_tone(lib / f"{i:02d}.wav", seconds=0.2)
    done: list[int] = []
    summary = scan.scan([lib], store, jobs=2, progress=lambda d, *_: done.append(d),
                        cancel=lambda: len(done) > 3)
    assert summary.cancelled
    assert 3 <= summary.analysed < 12
    assert len(store.tracks()) == summary.analysed


def test_analysis_buffer_grows_when_the_header_undercounts() -> None:
    buf = analysis._Buffer(4)
    for piece in (np.ones(3), np.full(5, 2.0), np.full(2, 3.0)):
        buf.append(piece.astype(np.float32))
    assert buf.data.tolist() == [1.0] * 3 + [2.0] * 5 + [3.0] * 2


@pytest.mark.parametrize(("sr", "channels"), [(44100, 2), (48000, 1), (11025, 1), (8000, 2)])
def test_scanned_loudness_is_the_full_measurement(tmp_path: Path, sr: int, channels: int) -> None:
    from companion.core.loudness import measure_loudness

    song = write_tone(tmp_path / "pulse.flac", seconds=6.0, sr=sr, channels=channels, pulse_bpm=90.0)
    result = analysis.analyse_file(song)
    assert result.loudness is not None and result.loudness.lufs is not None
    want = measure_loudness(song)
    assert want.lufs is not None
    assert result.loudness.lufs == pytest.approx(want.lufs, abs=0.1)
    assert result.loudness.peak_dbfs == want.peak_dbfs


def test_analysis_workers_yield_the_cpu_to_playback() -> None:
    """A scan in the background must not make the player late for the sound card."""
    import os
    from concurrent.futures import ProcessPoolExecutor

    from companion.core import scan as scan_mod

    with ProcessPoolExecutor(1, mp_context=scan_mod._worker_context(),
                             initializer=scan_mod._init_worker) as pool:
        worker_niceness = pool.submit(os.nice, 0).result(timeout=60)
    assert worker_niceness >= min(19, os.nice(0) + scan_mod.WORKER_NICENESS)
