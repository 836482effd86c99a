"""`companion play` plays a playlist with the crossfade it was built for (`build --crossfade S |
--gapless`), so the session lasts as long as the plan said; `play --crossfade/--gapless` still
override it. Sessions are rendered to a file (no sound card), their length read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from companion.cli import main
from companion.core import playlists
from companion.core.models import AnalysisResult, Loudness, Tags, TempoEstimate
from companion.core.store import Store

SR = 8000
SECONDS = 20.0
BPMS = (84.0, 81.0, 78.0, 75.0, 72.0, 70.0)  # steps under 4 %: a step-down uses every one
MUSIC_S = SECONDS * len(BPMS)
JOINS = len(BPMS) - 1


@pytest.fixture
def library(tmp_path: Path, companion_home: Path) -> None:
    """Six 20 s tones in the store, as analysed (no scan needed)."""
    import soundfile as sf

    results = []
    t = np.arange(int(SECONDS * SR)) / SR
    for i, bpm in enumerate(BPMS):
        path = tmp_path / f"{i + 1:02d} tone.wav"
        sf.write(path, (0.2 * np.sin(2 * np.pi * (220 + 30 * i) * t)).astype(np.float32), SR)
        st = path.stat()
        results.append(AnalysisResult(
            path=str(path.resolve()), size=st.st_size, mtime=st.st_mtime,
            tags=Tags(title=f"Tone {i + 1}", artist="Synth", album="", genre="", duration_s=SECONDS),
            tempo=TempoEstimate(bpm=bpm, confidence=0.9), loudness=Loudness(lufs=-20.0, peak_dbfs=-14.0),
        ))
    with Store() as store:
        store.save_analysis(results)


def build(name: str, minutes: float, *flags: str) -> None:
    assert main(["build", "--start", "84", "--target", "70", "--minutes", f"{minutes:g}",
                 "--name", name, "--min-length", "0", *flags]) == 0  # 20 s tones
    assert len(playlists.load(name).tracks) == len(BPMS)


def rendered_s(name: str, out: Path, *flags: str) -> float:
    import soundfile as sf

    assert main(["play", name, "--pre", "5", "--post", "4", "--output", str(out), *flags]) == 0
    info = sf.info(out)
    return info.frames / info.samplerate


def test_a_playlist_built_gapless_plays_gapless(library, tmp_path: Path, capsys) -> None:
    build("night", MUSIC_S / 60, "--gapless")
    length = rendered_s("night", tmp_path / "night.wav")
    assert length == pytest.approx(MUSIC_S, abs=0.01)  # no overlap: every track in full
    assert length == pytest.approx(playlists.played_s(playlists.load("night")), abs=0.01)


def test_a_playlist_built_with_a_crossfade_plays_with_that_crossfade(library, tmp_path: Path, capsys) -> None:
    build("default", (MUSIC_S - JOINS * 6) / 60)  # the default crossfade, 6 s
    build("long", (MUSIC_S - JOINS * 10) / 60, "--crossfade", "10")
    default = rendered_s("default", tmp_path / "default.wav")
    long = rendered_s("long", tmp_path / "long.wav")
    assert default == pytest.approx(MUSIC_S - JOINS * 6, abs=0.01)  # shorter by the overlaps
    assert long == pytest.approx(MUSIC_S - JOINS * 10, abs=0.01)
    assert default == pytest.approx(playlists.played_s(playlists.load("default")), abs=0.01)
    assert long == pytest.approx(playlists.played_s(playlists.load("long")), abs=0.01)


def test_play_flags_override_the_playlists_crossfade(library, tmp_path: Path, capsys) -> None:
    build("night", MUSIC_S / 60, "--gapless")
    build("default", (MUSIC_S - JOINS * 6) / 60)
    assert rendered_s("night", tmp_path / "a.wav", "--crossfade", "2") == pytest.approx(
        MUSIC_S - JOINS * 2, abs=0.01)
    assert rendered_s("default", tmp_path / "b.wav", "--gapless") == pytest.approx(MUSIC_S, abs=0.01)
