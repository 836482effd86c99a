"""The Build form at 80×24: why a playlist cannot be made is on screen, not below the fold, and a
value out of range is the planner's to refuse, in the same words the command line uses."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from companion.core import planner
from companion.core.errors import UserInputError
from companion.core.store import Store
from companion.tui.app import make_app
from tests.ui.conftest import add_library
from tests.ui.test_app import screen_text, submit_build

SMALL = (80, 24)


def shown(app) -> str:
    """The screen's text with the dialog's borders taken off and wrapped lines joined."""
    return " ".join(line.strip("│ ") for line in screen_text(app).splitlines())


async def test_a_refusal_is_on_screen_at_80x24_with_its_options(store: Store, tmp_path: Path) -> None:
    bpms = (84, 80, 76, 72, 70, 60, 58, 56, 54)  # a gap between 70 and 60 BPM
    add_library(store, tmp_path / "music", tuple((f"Piece {b}", "Tester", float(b), 40.0) for b in bpms))
    app = make_app(store=store)
    async with app.run_test(size=SMALL) as pilot:
        await submit_build(app, pilot, "gap", start="84", minutes="3")
        assert "cannot make this playlist: no music between 60 and 70 BPM" in shown(app)
        assert "1 · Target 70 BPM" in shown(app)


async def test_an_out_of_range_value_is_refused_by_the_planner_and_its_field_focused(
        store: Store, tmp_path: Path) -> None:
    add_library(store, tmp_path / "music")
    with_cli_words = ""
    try:
        planner.plan(store.tracks(), target_bpm=900)
    except UserInputError as exc:  # what `companion build --target 900` says
        with_cli_words = str(exc)
    assert with_cli_words.startswith("target BPM 900 is out of range")
    app = make_app(store=store)
    async with app.run_test(size=SMALL) as pilot:
        form = await submit_build(app, pilot, "fast", target="900")
        assert with_cli_words[1:] in shown(app)  # capitalised as a sentence
        assert form.query_one("#target", Input).has_focus
        form.query_one("#target", Input).value = "abc"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "arget BPM 'abc' is not a number" in shown(app)
        assert app.screen is form and not (store.path.parent / "playlists" / "fast.m3u8").exists()


async def test_the_form_allows_shorter_tracks_as_the_command_lines_min_length_does(
        store: Store, tmp_path: Path) -> None:
    from companion.core import playlists

    pieces = tuple((f"Piece {i}", "Tester", 84.0 - i * 2, 40.0) for i in range(12))  # 40 s each
    add_library(store, tmp_path / "music", pieces)
    app = make_app(store=store)
    async with app.run_test(size=SMALL) as pilot:
        form = await submit_build(app, pilot, "short", start="84", target="62", minutes="4",
                                  **{"min-length": "60"})  # the planner's default
        assert "shorter than 1:00" in shown(app) and app.screen is form
        form.query_one("#min-length", Input).value = "30"
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen is not form
    built = playlists.load("short")
    assert built.tracks and built.meta["min_length_s"] == 30
