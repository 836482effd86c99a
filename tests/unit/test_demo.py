"""The bundled demo library: enough calm, varied, honestly metrical music, made reproducibly."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest

from companion.core import demo
from companion.core.demo import DEMO_TRACKS, DemoTrack

# A few tracks of each kind: fast and slow, 4/4 and 6/8, with and without percussion, every
# format. Synthesising them costs a few seconds, so they are written once per module.
SAMPLE = tuple(t for t in DEMO_TRACKS if t.stem[:2] in ("02", "03", "12", "21"))


def by_stem(prefix: str) -> DemoTrack:
    return next(t for t in DEMO_TRACKS if t.stem.startswith(prefix))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    folder = tmp_path_factory.mktemp("demo-a")
    return folder, demo.synthesise_library(folder, tracks=SAMPLE)


def test_library_has_enough_tracks_of_the_right_length():
    assert len(DEMO_TRACKS) >= 16
    assert len({t.filename for t in DEMO_TRACKS}) == len(DEMO_TRACKS)
    assert len({t.title for t in DEMO_TRACKS}) == len(DEMO_TRACKS)
    for t in DEMO_TRACKS:
        assert 60 <= demo.duration_s(t) <= 150, t.title


def test_tempo_ladder_covers_45_to_110_and_allows_a_20_minute_step_down():
    tempi = sorted(t.bpm for t in DEMO_TRACKS)
    assert tempi[0] <= 45 and tempi[-1] >= 110
    assert all(b / a - 1 <= 0.10 for a, b in zip(tempi, tempi[1:], strict=False)), tempi
    ladder = sorted(t.bpm for t in DEMO_TRACKS if 58 <= t.bpm <= 92)
    assert all(b / a - 1 <= 0.08 for a, b in zip(ladder, ladder[1:], strict=False)), ladder
    assert ladder[0] <= 60 * 1.05 and ladder[-1] >= 90
    assert sum(demo.duration_s(t) for t in DEMO_TRACKS if 58 <= t.bpm <= 92) >= 22 * 60


def test_library_is_varied():
    assert {t.timbre for t in DEMO_TRACKS} == {"pad", "pluck", "bell", "piano"}
    assert {t.meter for t in DEMO_TRACKS} == {"4/4", "6/8"}
    with_drums = [t for t in DEMO_TRACKS if t.percussion]
    assert 0.25 * len(DEMO_TRACKS) <= len(with_drums) <= 0.75 * len(DEMO_TRACKS)
    assert {t.fmt for t in DEMO_TRACKS} == {"flac", "ogg", "mp3", "wav"}
    assert 5 <= len({t.artist for t in DEMO_TRACKS}) <= 6
    levels = [t.level_db for t in DEMO_TRACKS]
    assert max(levels) - min(levels) >= 4  # levelling has something to do


def test_files_are_stereo_44k_tagged_and_as_long_as_planned(written):
    import mutagen
    import soundfile as sf

    _, paths = written
    for spec, path in zip(SAMPLE, paths, strict=True):
        info = sf.info(str(path))
        assert (info.samplerate, info.channels) == (44100, 2)
        assert info.duration == pytest.approx(demo.duration_s(spec), abs=0.05)
        tags = mutagen.File(path, easy=True)
        if spec.fmt == "wav":  # ID3 in a WAV: no "easy" interface
            text = {k: str(v) for k, v in mutagen.File(path).tags.items()}
            assert text["TIT2"] == spec.title and text["TPE1"] == spec.artist
            assert text["TALB"] == demo.ALBUM and text["TCON"] == spec.genre
        else:
            assert tags["title"] == [spec.title] and tags["artist"] == [spec.artist]
            assert tags["album"] == [demo.ALBUM] and tags["genre"] == [spec.genre]


def test_loudness_differs_between_tracks(written):
    import soundfile as sf

    _, paths = written
    rms_db = [20 * math.log10(float(np.sqrt(np.mean(sf.read(str(p))[0] ** 2)))) for p in paths]
    assert max(rms_db) - min(rms_db) >= 3, rms_db
    assert all(-30 < r < -12 for r in rms_db), rms_db


def test_synthesis_is_byte_identical_on_another_run(written, tmp_path):
    folder, paths = written
    # the OGG and MP3 encoders are where randomness could hide (Ogg stream serials, LAME)
    risky = [t for t in SAMPLE if t.fmt in ("ogg", "mp3")]
    assert len(risky) == 2
    again = demo.synthesise_library(tmp_path, tracks=risky, jobs=2)  # worker processes too
    paths = [p for p in paths if p.suffix in (".ogg", ".mp3")]
    assert [p.name for p in again] == [p.name for p in paths]
    for a, b in zip(paths, again, strict=True):
        assert sha256(a) == sha256(b), a.name


def test_a_rerun_skips_files_that_are_present_and_rewrites_a_damaged_one(written, monkeypatch):
    folder, paths = written
    mtimes = {p: p.stat().st_mtime_ns for p in paths}
    rendered: list[str] = []
    real_render = demo.render_track

    def counting_render(spec: DemoTrack) -> np.ndarray:
        rendered.append(spec.stem)
        return real_render(spec)

    monkeypatch.setattr(demo, "render_track", counting_render)
    demo.synthesise_library(folder, tracks=SAMPLE)
    assert rendered == []
    assert {p: p.stat().st_mtime_ns for p in paths} == mtimes

    damaged = paths[0]
    good = sha256(damaged)
    data = bytearray(damaged.read_bytes())
    data[5000:5064] = bytes(255 - b for b in data[5000:5064])
    damaged.write_bytes(bytes(data))
    demo.synthesise_library(folder, tracks=SAMPLE)
    assert rendered == [SAMPLE[0].stem]
    assert sha256(damaged) == good
    assert all(p.stat().st_mtime_ns == mtimes[p] for p in paths[1:])


def test_progress_counts_every_track(tmp_path, written):
    folder, _ = written
    seen: list[tuple[int, int, str]] = []
    demo.synthesise_library(folder, tracks=SAMPLE, progress=lambda *a: seen.append(a))
    assert seen == [(i + 1, len(SAMPLE), t.filename) for i, t in enumerate(SAMPLE)]


def test_rendering_is_deterministic_and_clean():
    spec = by_stem("03")
    a, b = demo.render_track(spec), demo.render_track(spec)
    assert a.dtype == np.float32 and a.shape[1] == 2
    assert np.array_equal(a, b)
    assert np.isfinite(a).all() and np.abs(a).max() <= 0.9
    assert not np.array_equal(a[:, 0], a[:, 1])  # stereo, not two copies of mono


def test_music_is_in_time_bass_and_chords_on_the_downbeats():
    spec = by_stem("05")
    composer = demo._Composer(spec)
    notes = composer.notes()
    bar = composer.ticks_per_bar
    bass_onsets = {n.tick % bar for n in notes if n.midi < 48}
    assert 0 in bass_onsets
    downbeats = [n.velocity for n in notes if n.tick % bar == 0 and n.voice == "piano"]
    offbeats = [n.velocity for n in notes if n.tick % 2 == 1 and n.voice == "piano"]
    assert np.mean(downbeats) > np.mean(offbeats)
    melody_lengths = {n.ticks for n in composer._melody(composer._chords())}
    assert len(melody_lengths) >= 4  # long and short notes, not a grid of equal ones


@pytest.mark.parametrize(
    "prefix",
    [
        pytest.param("01", id="110-pluck-shaker"),
        pytest.param("03", id="100-piano-drum"),
        pytest.param("06", id="90-bell"),
        pytest.param("09", id="82-6/8-drum"),
        pytest.param("15", id="66-piano-brush"),
        pytest.param("20", id="54-6/8"),
        pytest.param("23", id="45-pad-drum"),
    ],
)
def test_tempo_estimator_reads_the_intended_tempo(prefix):
    """The tempo a listener would tap (quarter notes; dotted quarters in 6/8), within 4 %.

    The music is metrical on purpose: bass and chord changes on the downbeats, accents on the
    beats, melody notes on the grid. A failure here is the estimator's to fix, not the music's.
    """
    import soxr

    from companion.core.tempo import ANALYSIS_SR, estimate_tempo

    spec = by_stem(prefix)
    mono = soxr.resample(demo.render_track(spec).mean(axis=1), demo.SAMPLE_RATE, ANALYSIS_SR)
    estimate = estimate_tempo(mono.astype(np.float32), ANALYSIS_SR)
    assert estimate.bpm == pytest.approx(spec.bpm, rel=0.04), f"{spec.filename}: {estimate}"


def test_a_cancel_from_progress_stops_the_workers_and_leaves_no_partial_files(tmp_path):
    class Cancelled(Exception):
        pass

    def cancel(done: int, total: int, name: str) -> None:
        raise Cancelled

    short = sorted(DEMO_TRACKS, key=demo.duration_s)[:3]
    with pytest.raises(Cancelled):
        demo.synthesise_library(tmp_path, tracks=short, jobs=2, progress=cancel)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert not [n for n in left if n.endswith(".partial")], left
    assert len([n for n in left if not n.startswith(".")]) == 1  # the one finished first
