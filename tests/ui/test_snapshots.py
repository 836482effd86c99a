"""What the main screens look like, with fixed data (``pytest --snapshot-update`` to accept)."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Input

from companion.core.models import Playlist
from companion.core.store import Store
from companion.tui.app import make_app
from tests.ui.conftest import add_past_sessions

SIZE = (120, 36)


async def settle(pilot: Pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


def test_playlists_screen(snap_compare, store: Store, library: Playlist) -> None:
    assert snap_compare(make_app(store=store), run_before=settle, terminal_size=SIZE)


def test_session_screen_asks_the_rating_before(snap_compare, store: Store, library: Playlist) -> None:
    async def run_before(pilot: Pilot) -> None:
        await pilot.press("enter", "6")
        await settle(pilot)

    # 80×24: the smallest terminal the app is made for
    assert snap_compare(make_app(store=store), run_before=run_before, terminal_size=(80, 24))


def test_history_screen(snap_compare, store: Store, library: Playlist) -> None:
    add_past_sessions(store)

    async def run_before(pilot: Pilot) -> None:
        await pilot.press("h")
        await settle(pilot)

    assert snap_compare(make_app(store=store), run_before=run_before, terminal_size=SIZE)
