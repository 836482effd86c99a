"""Arc presets: the bundled files, their shapes, and a person's own presets."""

from __future__ import annotations

from pathlib import Path

import pytest

import companion
from companion.core import arcs
from companion.core.errors import NotFoundError, UserInputError

PACKAGE_PRESETS = Path(companion.__file__).resolve().parent / "presets"


def test_the_three_arcs_are_bundled_and_listed_by_name():
    names = [a.name for a in arcs.list_arcs()]
    assert {"step-down", "u-sequence", "sleep"} <= set(names)
    assert names == sorted(names)
    for name in arcs.BUILTIN_ARCS:
        arc = arcs.load_arc(name)
        assert arc.description
        assert (PACKAGE_PRESETS / f"{name}.arc").is_file()


def test_each_preset_file_documents_its_format_at_the_top():
    for f in PACKAGE_PRESETS.glob("*.arc"):
        head = f.read_text().splitlines()[:8]
        assert any("[curve]" in line for line in head), f.name


def test_step_down_goes_from_start_to_target():
    arc = arcs.load_arc("step-down")
    assert arc.bpm_at(0, 90, 60) == pytest.approx(90)
    assert arc.bpm_at(1, 90, 60) == pytest.approx(60)
    values = [arc.bpm_at(t / 20, 90, 60) for t in range(21)]
    assert values == sorted(values, reverse=True)
    assert arc.silence_at is None


def test_u_sequence_descends_about_three_quarters_pauses_then_rises_15_percent():
    arc = arcs.load_arc("u-sequence")
    assert arc.bpm_at(0, 90, 60) == pytest.approx(90)
    trough = arc.lowest_fraction()
    assert 0.6 <= trough <= 0.8
    assert arc.bpm_at(trough, 90, 60) == pytest.approx(60)
    assert arc.silence_s == 120 and abs(arc.silence_at - 0.75) <= 0.05
    assert arc.bpm_at(1, 90, 60) == pytest.approx(60 * 1.15)


def test_sleep_ends_at_the_target_with_a_fade():
    arc = arcs.load_arc("sleep")
    assert arc.bpm_at(1, 90, 60) == pytest.approx(60)
    assert max(arc.bpm_at(t / 10, 90, 60) for t in range(8, 11)) <= 60 * 1.05
    assert arc.fade_out_s > 0


def test_a_user_preset_overrides_a_bundled_one_and_can_be_loaded_by_path(companion_home: Path):
    d = companion_home / "presets"
    d.mkdir(parents=True)
    (d / "step-down.arc").write_text("[arc]\ndescription = mine\n[curve]\n0 = start\n1 = target * 1.1\n")
    assert arcs.load_arc("step-down").description == "mine"
    assert arcs.load_arc(str(d / "step-down.arc")).bpm_at(1, 90, 60) == pytest.approx(66)
    (d / "absolute.arc").write_text("[curve]\n0.0 = 80\n1.0 = 62  # plain BPM\n")
    assert arcs.load_arc("absolute").bpm_at(0, 100, 50) == pytest.approx(80)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[arc]\n", "[curve]"),
        ("[curve]\n0 = start\n", "at least two points"),
        ("[curve]\n0 = start\n0.5 = target\n", "points at 0 and at 1"),
        ("[curve]\n0 = start\n1 = slow\n", "'slow'"),
        ("[curve]\nlate = start\n1 = target\n", "'late'"),
        ("[curve]\n0 = start\n1 = target\n[silence]\nat = 2\n", "[silence]"),
        ("not ini at all", "not a valid arc file"),
    ],
)
def test_a_broken_preset_is_named_with_what_to_fix(companion_home: Path, text: str, says: str):
    d = companion_home / "presets"
    d.mkdir(parents=True)
    (d / "broken.arc").write_text(text)
    with pytest.raises(UserInputError) as err:
        arcs.load_arc("broken")
    assert "broken.arc" in str(err.value) and says in str(err.value)
    assert "broken" not in [a.name for a in arcs.list_arcs()]  # the others still list


def test_an_unknown_arc_lists_the_known_ones():
    with pytest.raises(NotFoundError, match="u-sequence"):
        arcs.load_arc("zigzag")
