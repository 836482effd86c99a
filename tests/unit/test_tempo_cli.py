"""`companion tempo set|halve|double|auto`: manual tempo that is marked and survives rescans."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from companion.commands import tempo as tempo_cmd
from companion.core.errors import CompanionError
from companion.core.models import BPM_AUTO, BPM_MANUAL, AnalysisResult, Tags, TempoEstimate
from companion.core.store import Store


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="companion")
    sub = parser.add_subparsers(dest="verb")
    tempo_cmd.register(sub)
    args = parser.parse_args(list(argv))
    return args.func(args)


def scanned(path: Path, bpm: float, confidence: float = 0.7) -> AnalysisResult:
    return AnalysisResult(
        path=str(path), size=1, mtime=1.0,
        tags=Tags(title=path.stem, artist="", album="", genre="", duration_s=60.0),
        tempo=TempoEstimate(bpm=bpm, confidence=confidence),
    )


@pytest.fixture
def track(tmp_path: Path) -> Path:
    path = (tmp_path / "calm.wav").resolve()
    path.write_bytes(b"")
    with Store() as store:
        store.save_analysis([scanned(path, 120.0)])
    return path


def test_halve_marks_manual_and_survives_a_rescan(track: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("tempo", "halve", str(track)) == 0
    out = capsys.readouterr().out.strip()
    assert out.count("\n") == 0 and "60.0 BPM" in out and "manual" in out
    with Store() as store:
        store.save_analysis([scanned(track, 118.0, 0.4)])  # a rescan disagrees
        t = store.track(track)
    assert (t.bpm, t.bpm_source, t.bpm_auto) == (60.0, BPM_MANUAL, 118.0)


def test_double_set_and_auto(track: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run("tempo", "double", str(track))
    assert "240.0 BPM" in capsys.readouterr().out
    run("tempo", "set", str(track), "63.5")
    assert "63.5 BPM (manual)" in capsys.readouterr().out
    run("tempo", "auto", str(track))
    assert "120.0 BPM (auto" in capsys.readouterr().out
    with Store() as store:
        t = store.track(track)
    assert (t.bpm, t.bpm_source) == (120.0, BPM_AUTO)


@pytest.mark.parametrize("value", ["fast", "19.9", "300.5", "nan", "-60", ""])
def test_bad_bpm_is_a_one_line_error_and_changes_nothing(track: Path, value: str) -> None:
    with pytest.raises(CompanionError) as err:
        run("tempo", "set", str(track), value)
    assert "\n" not in str(err.value) and "BPM" in str(err.value)
    with Store() as store:
        assert store.track(track).bpm == 120.0


def test_doubling_past_300_is_refused(track: Path) -> None:
    run("tempo", "set", str(track), "200")
    with pytest.raises(CompanionError, match="outside 20–300"):
        run("tempo", "double", str(track))


def test_unknown_path_is_a_one_line_error(tmp_path: Path) -> None:
    for argv in (("set", "x.wav", "60"), ("halve", "x.wav"), ("double", "x.wav"), ("auto", "x.wav")):
        with pytest.raises(CompanionError) as err:
            run("tempo", *argv[:1], str(tmp_path / argv[1]), *argv[2:])
        assert "not in the library" in str(err.value) and "\n" not in str(err.value)


def test_two_thirds_and_three_halves_are_kept_as_manual(track: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run("tempo", "two-thirds", str(track))
    assert "80.0 BPM (manual)" in capsys.readouterr().out
    run("tempo", "three-halves", str(track))
    assert "120.0 BPM (manual)" in capsys.readouterr().out


def test_the_store_itself_refuses_a_tempo_out_of_range(track: Path) -> None:
    """Every face (the app's halve/double too) gets the same check: it lives in the core."""
    with Store() as store:
        for bpm in (19.0, 301.0, float("nan")):
            with pytest.raises(CompanionError, match="outside 20–300"):
                store.set_manual_bpm(track, bpm)
        store.set_manual_bpm(track, 25.0)
        with pytest.raises(CompanionError, match="outside 20–300"):
            store.scale_manual_bpm(track, "halve")
        assert store.track(track).bpm == 25.0


def test_a_file_gone_since_the_scan_is_refused_with_what_to_do(track: Path) -> None:
    track.unlink()
    for argv in (("set", "60"), ("halve",)):
        with pytest.raises(CompanionError) as err:
            run("tempo", argv[0], str(track), *argv[1:])
        assert "no readable file" in str(err.value) and "scan" in str(err.value)
    with Store() as store:
        assert store.track(track).bpm == 120.0


def test_a_file_the_scan_could_not_read_is_refused(tmp_path: Path) -> None:
    broken = (tmp_path / "broken.mp3").resolve()
    broken.write_bytes(b"\xff\xfb not audio")
    with Store() as store:
        store.save_analysis([AnalysisResult(path=str(broken), size=1, mtime=1.0, error="cannot read audio")])
    with pytest.raises(CompanionError, match="could not read it .*scan it again"):
        run("tempo", "set", str(broken), "63")
    with Store() as store:
        assert store.track(broken).bpm is None
