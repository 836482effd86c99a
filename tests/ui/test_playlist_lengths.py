"""Lengths in the app are those heard: the Playlists screen (list, details, the "Playlist built"
toast) and the Session screen show ``played_s`` (tracks overlapping by the playlist's crossfade),
and a session plays with the crossfade the playlist was built for."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable

from companion.core import planner, playlists
from companion.core.models import Playlist
from companion.core.player import NullOutput
from companion.core.store import Store
from companion.tui import format as fmt
from companion.tui.app import CompanionApp, make_app
from companion.tui.screens.session import AFTER, SessionScreen
from tests.ui.conftest import SR, add_library, wait_until

SIZE = (120, 36)
# Six 10 s pieces stepping down from 84 to 70 BPM: a plan from 84 to 70 uses every one.
PIECES = tuple((f"Piece {bpm:g}", "Tester", bpm, 10.0) for bpm in (84.0, 81.0, 78.0, 75.0, 72.0, 70.0))
MUSIC_S = sum(p[3] for p in PIECES)
OVERLAPS_S = (len(PIECES) - 1) * 5.0  # the default 6 s crossfade, at most half a 10 s piece


@pytest.fixture
def built(store: Store, tmp_path: Path) -> dict[str, Playlist]:
    """What `companion build` saves, once for the default crossfade and once --gapless (the plan
    keeps its crossfade_s)."""
    add_library(store, tmp_path / "music", PIECES)
    out = {}
    for name, crossfade_s in (("evening", planner.DEFAULT_CROSSFADE_S), ("night", 0.0)):
        playlists.build(store, name=name, start_bpm=84, target_bpm=70, crossfade_s=crossfade_s,
                      minutes=(MUSIC_S - (OVERLAPS_S if crossfade_s else 0)) / 60)
        out[name] = playlists.load(name)
        assert len(out[name].tracks) == len(PIECES)
        assert playlists.crossfade_of(out[name]) == crossfade_s
    return out


def listed_length(app: CompanionApp, name: str) -> str:
    table = app.screen.query_one("#playlists", DataTable)
    return str(table.get_row(name)[1])


async def test_playlists_screen_shows_the_length_as_played(
    store: Store, built: dict[str, Playlist]
) -> None:
    evening = built["evening"]
    assert playlists.played_s(evening) < evening.total_s - 1  # the overlaps shorten it
    app = make_app(store=store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert listed_length(app, "evening") == fmt.clock(playlists.played_s(evening))
        assert listed_length(app, "night") == fmt.clock(MUSIC_S)  # gapless: every track in full
        meta = str(app.screen.query_one("#detail-meta").render()).splitlines()
        assert f" · {fmt.clock(playlists.played_s(evening))} · " in meta[0]
        assert meta[1] == f"6 s crossfades · {fmt.clock(MUSIC_S)} of music"
        await pilot.press("down")
        meta = str(app.screen.query_one("#detail-meta").render()).splitlines()
        assert f" · {fmt.clock(MUSIC_S)} · " in meta[0] and meta[1] == "gapless"


async def test_the_playlist_built_toast_gives_the_length_as_played(store: Store, tmp_path: Path) -> None:
    from companion.tui.screens.build import BuildScreen

    # Four 20 s pieces overlapping by 6 s: 62 s as played, for a minute asked (80 s of music).
    add_library(store, tmp_path / "music",
                tuple((f"Piece {bpm:g}", "Tester", bpm, 20.0) for bpm in (84.0, 80.0, 76.0, 72.0)))
    app = make_app(store=store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("b", *"sunday")
        form = app.screen
        assert isinstance(form, BuildScreen)
        for field, value in (("start", "84"), ("target", "72"), ("minutes", "1")):
            form.query_one(f"#{field}").value = value
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen is not form  # built
        built = playlists.load("sunday")
        assert playlists.played_s(built) < built.total_s - 1
        toasts = [n.message for n in app._notifications if n.title == "Playlist built"]
        assert len(toasts) == 1 and f", {fmt.clock(playlists.played_s(built))}, " in toasts[0]
        assert listed_length(app, "sunday") == fmt.clock(playlists.played_s(built))


@pytest.mark.parametrize("name", ["evening", "night"])
async def test_a_session_plays_with_the_playlists_own_crossfade(
    store: Store, built: dict[str, Playlist], name: str
) -> None:
    pl = built[name]
    out = NullOutput(keep=True)  # flat out: the session is over in a moment
    app = make_app(store=store, output_factory=lambda: out)
    async with app.run_test(size=SIZE) as pilot:
        if name == "night":
            await pilot.press("down")
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, SessionScreen)
        about = str(screen.query_one(".session-about").render())
        assert f" · {fmt.clock(playlists.played_s(pl))} · " in about
        await pilot.press("5", "enter")
        await wait_until(pilot, lambda: screen.phase == AFTER)
    heard_s = len(out.frames) / SR
    assert heard_s == pytest.approx(playlists.played_s(pl), abs=0.01)
    # gapless: the sum of the tracks; the default: shorter by the overlaps
    assert heard_s == pytest.approx(MUSIC_S if name == "night" else MUSIC_S - OVERLAPS_S, abs=0.01)
