"""What the CLI does for library folders, history import and listeners, done with keys in the app;
the store says what was kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import OptionList

from companion.core import library, sessions
from companion.core import scan as scan_mod
from companion.core.store import Store
from companion.tui.app import CALM_THEME, CONTRAST_THEME, CompanionApp, make_app
from companion.tui.screens.listeners import ListenersScreen
from tests.ui.conftest import add_library, add_past_sessions
from tests.ui.test_screens import SIZE, answer, settle


def notes(app: CompanionApp) -> list[str]:
    return [n.message for n in app._notifications]


def options(app: CompanionApp, widget_id: str) -> list[str]:
    found = app.screen.query_one(widget_id, OptionList)
    return [str(found.get_option_at_index(i).prompt) for i in range(found.option_count)]


@pytest.fixture
def fake_scan(monkeypatch: pytest.MonkeyPatch):
    """Scanning stores the pieces as analysed (the real analysis has tests of its own)."""

    def scan(paths, store_, **kwargs):
        add_library(store_, Path(paths[0]))
        return scan_mod.ScanSummary(found=3, analysed=3)

    monkeypatch.setattr(scan_mod, "scan", scan)


async def test_library_folders_are_listed_added_and_removed_with_hand_set_tempos_kept(
        store: Store, tmp_path: Path, fake_scan) -> None:
    jazz = tmp_path / "Jazz"
    jazz.mkdir()
    app = make_app(store=store, auto_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot, "l", "F")
        assert "a adds a folder" in str(app.screen.query_one(".hint").render())
        await settle(app, pilot, "a")  # add: the scan dialog, then the screen's scan worker
        app.screen.query_one("#folder").value = str(jazz)
        await settle(app, pilot, "enter")
        await settle(app, pilot)
        assert [(f.path, f.tracks) for f in library.folders(store)] == [(str(jazz.resolve()), 3)]
        store.set_manual_bpm(store.tracks()[0].path, 63.0)

        await settle(app, pilot, "F")
        assert options(app, "#folders") == [f"{jazz.resolve()} · 3 tracks"]
        await settle(app, pilot, "x")
        assert "tempos you set by hand are kept" in str(app.screen.query_one(".dialog-note").render())
        await settle(app, pilot, "n")  # no: nothing leaves
        assert store.track_count() == 3
        await settle(app, pilot, "F", "x", "y")
        assert store.track_count() == 0 and library.folders(store) == []
        assert any("3 tracks left the library; 1 hand-set tempo kept" in n for n in notes(app))
        assert app.screen.query_one("#tracks").row_count == 0


async def test_history_import_adds_sessions_and_says_why_a_bad_file_is_refused(
        store: Store, tmp_path: Path) -> None:
    add_past_sessions(store, listener="other")
    export = tmp_path / "old.csv"
    export.write_text(sessions.export_history(store.sessions(listener="other"), "csv"))
    store.forget_listener("other")  # as on a new machine: the export is all there is
    bad = tmp_path / "notes.txt"
    bad.write_text("just some words\n")
    app = make_app(listener="me", store=store, auto_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot, "h", "i")
        await answer(app, pilot, str(bad))
        await settle(app, pilot)
        assert any(str(bad) in n for n in notes(app)) and store.sessions(listener="me") == []

        await settle(app, pilot, "i")
        await answer(app, pilot, str(export))
        await settle(app, pilot)
        assert len(store.sessions(listener="me")) == 3
        assert any("3 sessions imported" in n for n in notes(app))
        assert app.screen.query_one("#sessions").row_count == 3  # table and chart refreshed

        await settle(app, pilot, "i")
        await answer(app, pilot, str(export))
        await settle(app, pilot)
        assert len(store.sessions(listener="me")) == 3  # no duplicates
        assert any("0 sessions imported" in n and "3 already here" in n for n in notes(app))


async def test_listeners_scales_are_chosen_and_a_listener_is_forgotten_only_by_typed_name(
        store: Store) -> None:
    add_past_sessions(store, listener="client-a")
    sessions.set_listener_scales(store, "me", ["stress"])
    app = make_app(listener="me", store=store, auto_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot, "h", "ctrl+l")
        shown = options(app, "#listeners")
        assert shown[0].startswith("client-a · 3 sessions") and shown[1].startswith("me (listening now)")

        await settle(app, pilot, "up", "s")  # scales of client-a (the cursor starts on me), typed as the CLI takes them
        await answer(app, pilot, "stress,vas,stai6")
        assert sessions.listener_scales(store, "client-a") == ("stress", "vas", "stai6")
        await settle(app, pilot, "s")
        await answer(app, pilot, "stress,mood")  # the core refuses; nothing changes
        assert any("unknown scale 'mood'" in n for n in notes(app))
        assert sessions.listener_scales(store, "client-a") == ("stress", "vas", "stai6")

        await settle(app, pilot, "x")
        await answer(app, pilot, "client")  # not the name: nothing deleted
        assert len(store.sessions(listener="client-a")) == 3
        await settle(app, pilot, "x")
        await answer(app, pilot, "client-a")
        assert store.sessions(listener="client-a") == [] and "client-a" not in store.listeners()
        assert options(app, "#listeners")[0].startswith("me (listening now)")

        await settle(app, pilot, "x")  # the listener now is never forgotten from here
        assert isinstance(app.screen, ListenersScreen) and "me" in store.listeners()


async def test_switching_listener_from_history_shows_their_sessions_in_their_colours(store: Store) -> None:
    add_past_sessions(store, listener="client-a")
    store.set_listener_settings("client-a", {"theme": CONTRAST_THEME.name})
    app = make_app(listener="me", store=store, auto_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        assert app.theme == CALM_THEME
        await settle(app, pilot, "h")
        assert app.screen.query_one("#sessions").display is False  # me: no sessions yet
        await settle(app, pilot, "ctrl+l")
        assert options(app, "#listeners")[0].startswith("client-a")
        await settle(app, pilot, "up", "enter")
        assert app.listener == "client-a" and app.theme == CONTRAST_THEME.name
        assert options(app, "#listeners")[0].startswith("client-a (listening now)")
        await settle(app, pilot, "escape")
        assert app.screen.query_one("#sessions").row_count == 3


async def test_keys_and_palette_offer_the_new_actions(store: Store) -> None:
    from companion.tui.screens.help import keys_of

    app = make_app(store=store, auto_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot, "l")
        assert "Folders" in str(keys_of(app.screen, app))
        commands = [c.title for c in app.get_system_commands(app.screen)]
        assert "Folders" in commands
        await settle(app, pilot, "h")
        described = str(keys_of(app.screen, app))
        assert "Import" in described and "Listeners" in described
