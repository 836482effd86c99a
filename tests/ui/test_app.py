"""The app as a person uses it: Pilot drives the keys, the store says what was kept."""

from __future__ import annotations

import html
import re
import threading
from pathlib import Path

import pytest
from textual.widgets import DataTable, Footer
from textual.widgets._footer import FooterKey

from companion.core import demo
from companion.core.errors import AudioDeviceError
from companion.core.models import OUTCOME_STOPPED, Playlist
from companion.core.player import NullOutput
from companion.core.store import Store
from companion.tui.app import CompanionApp, make_app
from companion.tui.screens.session import AFTER, BEFORE, PLAYING, SessionScreen
from companion.tui.widgets.bars import JobPanel
from tests.ui.conftest import add_library, row_text, save_playlist, wait_until

SIZE = (120, 36)


def paced_output() -> NullOutput:
    """Silent, but paced like a sound card, so there is time to press keys while it plays."""
    return NullOutput(realtime=True)


def notes(app: CompanionApp) -> list[tuple[str, str]]:
    return [(n.message, n.severity) for n in app._notifications]


def footer_keys(app: CompanionApp) -> dict[str, str]:
    return {k.key_display or k.key: k.description for k in app.screen.query_one(Footer).query(FooterKey)
            if k.display}


def session_screen(app: CompanionApp) -> SessionScreen:
    assert isinstance(app.screen, SessionScreen)
    return app.screen


async def test_session_flow_stores_both_ratings_and_shows_them_in_history(
    store: Store, library: Playlist
) -> None:
    app = make_app(store=store, output_factory=paced_output)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")  # listen to the highlighted playlist
        screen = session_screen(app)
        assert screen.phase == BEFORE
        assert set(footer_keys(app).values()) == {"Begin", "Back", "Listener"}  # no leaving mid-rating
        await pilot.press("7", "enter")
        await wait_until(pilot, lambda: screen.phase == PLAYING)
        await pilot.pause()
        playing = footer_keys(app)
        assert {"Pause", "Next", "Previous", "End after", "Breathe", "Stop", "Volume"} <= set(playing.values())
        assert "Library" not in playing.values() and "Quit" not in playing.values()
        assert "Harbour Lights" in str(screen.query_one("#np-title").render())
        assert "track 1 of 3" in str(screen.query_one("#np-meta").render())
        # The rating before is stored as soon as playback starts.
        (running,) = store.sessions()
        assert running.value("before") == 7 and running.outcome == "in_progress"

        await pilot.press("space")
        await wait_until(pilot, lambda: screen.player.status().paused)
        await pilot.press("space")
        await pilot.press("s")  # stop, with a fade
        await wait_until(pilot, lambda: screen.phase == AFTER)
        await pilot.pause()
        assert set(footer_keys(app).values()) == {"Save rating", "Skip rating"}
        await pilot.press("3", "enter")
        await wait_until(pilot, lambda: app.current_mode == "history")
        await app.workers.wait_for_complete()
        await pilot.pause()

        (session,) = store.sessions()
        assert (session.value("before"), session.value("after")) == (7, 3)
        assert session.outcome == OUTCOME_STOPPED
        table = app.screen.query_one("#sessions", DataTable)
        row = row_text(table, 0)
        assert row[1] == "evening" and row[4] == "7 → 3  (−4)"
        assert "One session" in str(app.screen.query_one("#insight").render())


async def test_played_to_the_end_is_completed_and_a_rating_the_database_refuses_is_kept(
    store: Store, library: Playlist, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk when the session ends: the screen says in one line where session and
    rating are kept, goes on, and the next start puts them in the history."""
    from companion.core import listening, sessions
    from companion.core.errors import StoreError

    monkeypatch.setattr(listening, "FINAL_WAIT_S", 0.5)
    monkeypatch.setattr(listening, "RETRY_S", 0.1)
    real = Store.save_session
    full = threading.Event()

    def save(self, session, **kw):
        if full.is_set():
            raise StoreError(f"{self.path}: database write failed (database or disk is full)")
        return real(self, session, **kw)

    monkeypatch.setattr(Store, "save_session", save)
    app = make_app(store=store, output_factory=NullOutput)  # flat out: ends in a moment
    # every toast, also one already timed out by the time a loaded machine gets to look
    shown: list[tuple[str, str]] = []
    notify = app.notify

    def spy(message, *args, **kwargs):
        shown.append((str(message), kwargs.get("severity", "information")))
        return notify(message, *args, **kwargs)

    monkeypatch.setattr(app, "notify", spy)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter", "2", "enter")
        screen = session_screen(app)
        await wait_until(pilot, lambda: screen.phase == AFTER)
        assert "to the end" in str(screen.query_one("#after-summary").render())
        full.set()
        await pilot.press("1", "enter")
        await wait_until(pilot, lambda: app.current_mode == "history")
        [(message, severity)] = [n for n in shown if "kept in" in n[0]]
        assert "disk is full" in message and "next time companion starts" in message
        assert "\n" not in message and severity == "warning"
    full.clear()
    sessions.recover_interrupted(store)
    (session,) = store.sessions()
    assert session.outcome == "completed"
    assert session.value("before") == 2 and session.value("after") == 1
    assert session.minutes_listened > 0


async def test_invalid_ratings_are_explained_and_store_nothing(store: Store, library: Playlist) -> None:
    app = make_app(store=store, output_factory=paced_output)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        field = app.screen.query_one(".rating-input")
        for typed in ("11", "abc", "4.5", "-1", ""):
            field.value = typed
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert session_screen(app).phase == BEFORE
            said = repr(typed) if typed else "give your stress before"
            assert said in notes(app)[-1][0] and notes(app)[-1][1] == "error"
    assert store.sessions() == []


async def test_no_sound_device_shows_the_message_and_stores_nothing(
    store: Store, library: Playlist, monkeypatch: pytest.MonkeyPatch
) -> None:
    from companion.core import player

    def no_device(device: object = None) -> None:
        raise AudioDeviceError("no audio output device found; connect one")

    monkeypatch.setattr(player, "check_output", no_device)
    app = make_app(store=store)  # the real sound-device output
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter", "5", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert session_screen(app).phase == BEFORE
        assert ("no audio output device found; connect one", "error") in notes(app)
        # the app's own remedy, not a command-line flag
        hint = str(session_screen(app).query_one("#before-hint").render())
        assert "ctrl+r renders this session to a file" in hint and "--output" not in hint
        assert "Render to file" in footer_keys(app).values()
    assert store.sessions() == []


async def test_first_run_creates_the_demo_library_with_progress(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()

    def fake_ensure_demo(store_: Store, *, progress=None, jobs=None) -> Playlist:
        entries = add_library(store_, tmp_path / "demo-library")
        for i in range(3):
            progress(i + 1, 3, f"piece {i + 1}.flac")
        release.wait(10)  # hold here so the test can look at the progress
        return save_playlist("demo", entries)

    monkeypatch.setattr(demo, "ensure_demo", fake_ensure_demo)
    app = make_app(store=store)
    async with app.run_test(size=SIZE) as pilot:
        panel = app.screen.query_one("#demo-panel", JobPanel)
        await wait_until(pilot, lambda: "3 of 3" in str(panel.query_one(".job-detail").render()))
        assert panel.display
        assert "Create demo" not in " ".join(footer_keys(app).values())  # already under way
        release.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not panel.display
        table = app.screen.query_one("#playlists", DataTable)
        assert row_text(table, 0)[0] == "demo"
        assert any("demo library is ready" in msg for msg, _ in notes(app))


async def test_demo_failure_is_shown_and_can_be_retried(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from companion.core.errors import CompanionError

    def broken(store_: Store, *, progress=None, jobs=None) -> Playlist:
        raise CompanionError("disk full: free some space and try again")

    monkeypatch.setattr(demo, "ensure_demo", broken)
    app = make_app(store=store)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert ("disk full: free some space and try again", "error") in notes(app)
        assert footer_keys(app).get("d") == "Create demo library"


async def test_every_screen_shows_its_bindings_in_the_footer(
    store: Store, library: Playlist
) -> None:
    app = make_app(store=store, output_factory=paced_output)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        keys = footer_keys(app)
        assert {"b": "Build", "l": "Library", "h": "History", "q": "Quit", "?": "Keys"}.items() <= keys.items()
        assert "Listen" in keys.values()
        await pilot.press("l")
        assert footer_keys(app).get("s") == "Scan"
        await pilot.press("h")
        assert footer_keys(app).get("p") == "Playlists"
        await pilot.press("p", "b")
        assert {"Build", "Cancel"} <= set(footer_keys(app).values())
        # The session screen's footers, phase by phase, are checked in the session flow test.


def screen_text(app: CompanionApp) -> str:
    """Every character on the terminal now, line by line (from the app's own screenshot)."""
    svg = app.export_screenshot()
    rows: dict[str, list[str]] = {}
    for y, text in re.findall(r'<text[^>]*\by="([\d.]+)"[^>]*>(.*?)</text>', svg):
        rows.setdefault(y, []).append(html.unescape(text).replace("\xa0", " "))
    return "\n".join("".join(parts) for _, parts in sorted(rows.items(), key=lambda r: float(r[0])))


async def test_build_shows_the_planners_reason_and_keeps_the_form_to_try_again(
    store: Store, tmp_path: Path
) -> None:

    # Six minutes of music from 84 down to 67.5 BPM: not enough for eight minutes.
    pieces = tuple((f"Piece {i}", "Tester", 84.0 - i * 1.5, 30.0) for i in range(12))
    add_library(store, tmp_path / "music", pieces)
    app = make_app(store=store)
    async with app.run_test(size=SIZE) as pilot:
        form = await submit_build(app, pilot, "sunday", start="84", target="72", minutes="8")
        reason = str(form.query_one("#refusal-reason").render())
        assert reason == "Your library cannot make this playlist: 3 minutes short."
        shown = screen_text(app)
        assert "5 minutes" in shown  # what would work
        assert "--" not in shown and not [m for m, sev in notes(app) if sev == "error"]
        assert app.screen is form  # still open, values kept
        assert form.query_one("#target").value == "72"
        assert not (store.path.parent / "playlists" / "sunday.m3u8").exists()
        assert footer_keys(app).get("^n") == "Nearest plan"

        await pilot.press("ctrl+n")  # the nearest plan the library allows
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen is not form
        table = app.screen.query_one("#playlists", DataTable)
        assert row_text(table, table.cursor_row)[0] == "sunday"
        assert "nearest plan: 5 minutes" in str(app.screen.query_one("#detail-meta").render())
        assert (store.path.parent / "playlists" / "sunday.m3u8").exists()
        assert "--" not in screen_text(app)


async def test_a_refused_build_offers_what_would_work_and_one_press_builds_it(
    store: Store, tmp_path: Path
) -> None:
    from companion.core import playlists
    from companion.tui.screens.build import BuildScreen, OptionButton

    # 84 down to 70 BPM, then nothing until 60: a step-down to 60 cannot cross the gap.
    bpms = (84, 80, 76, 72, 70, 60, 58, 56, 54)
    add_library(store, tmp_path / "music", tuple((f"Piece {b}", "Tester", float(b), 40.0) for b in bpms))
    app = make_app(store=store)
    async with app.run_test(size=SIZE) as pilot:

        async def ask(name: str) -> BuildScreen:
            await pilot.press("b", *name)
            form = app.screen
            assert isinstance(form, BuildScreen)
            form.query_one("#start").value = "84"
            form.query_one("#minutes").value = "3"  # target 60, steps up to 8 %: the defaults
            await pilot.press("ctrl+s")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert app.screen is form
            return form

        form = await ask("gap")
        reason = str(form.query_one("#refusal-reason").render())
        assert reason == "Your library cannot make this playlist: no music between 60 and 70 BPM."
        shown = screen_text(app)
        assert "no music between" in shown and "Target 70 BPM" in shown
        assert "--" not in shown and not notes(app)
        buttons = list(form.query(OptionButton))
        # the iso principle: a nearer target, never steps of 18 % across the gap
        assert [str(b.label) for b in buttons] == ["1 · Target 70 BPM"]
        assert buttons[0].has_focus  # enter takes the first
        await pilot.press("escape")

        form = await ask("closer")
        await pilot.press("enter")  # the first: a target the library reaches
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen is not form
        closer = playlists.load("closer")
        assert closer.meta["target_bpm"] == 70 and closer.meta["max_step_pct"] == 8
        assert closer.tracks


async def test_library_lists_tracks_and_flags_unsure_tempi(store: Store, library: Playlist) -> None:
    app = make_app(store=store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("l")
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = app.screen.query_one("#tracks", DataTable)
        rows = [row_text(table, i) for i in range(table.row_count)]
        assert [r[0] for r in rows] == ["Harbour Lights", "Slow Tide", "Evening Fern"]
        assert rows[1][2] == "78" and rows[1][4] == "unsure"
        assert rows[1][5] == "music" and rows[1][6] == library.entries[1].path  # folder, path
        summary = app.screen.query_one("#library-summary")
        assert "3 tracks, by folder · 1 unsure" in str(summary.render())
        assert "Analysed BPM" not in footer_keys(app).values()  # nothing corrected yet

        async def press(*keys: str) -> None:
            await pilot.press(*keys)
            await app.workers.wait_for_complete()
            await pilot.pause()

        await press("o")
        await press("o")  # by tempo, then least sure first
        assert row_text(table, 0)[0] == "Slow Tide" and "by confidence" in str(summary.render())
        await press("o")  # back to folder order

        await press("down", "asterisk")  # Slow Tide was heard at half its tempo
        assert row_text(table, 1)[2] == "156" and row_text(table, 1)[4] == "set by you"
        assert store.track(library.entries[1].path).bpm == 156.0
        await press("u")
        assert row_text(table, 1)[2] == "78" and store.track(library.entries[1].path).bpm == 78.0


async def test_scan_runs_in_the_background_with_progress_and_can_be_cancelled(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from companion.core import scan as scan_mod

    music = tmp_path / "my music"
    music.mkdir()
    started, seen_cancel = threading.Event(), []

    def fake_scan(paths, store_, *, progress=None, cancel=None, **kwargs):
        assert [str(p) for p in paths] == [str(music.resolve())]
        add_library(store_, music)
        progress(1, 3, str(music / "01 Harbour Lights.wav"), 0)
        started.set()
        while not cancel():  # a long scan, until the person cancels it
            threading.Event().wait(0.01)
        seen_cancel.append(True)
        return scan_mod.ScanSummary(found=3, analysed=1)

    monkeypatch.setattr(scan_mod, "scan", fake_scan)
    app = make_app(store=store, auto_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("l", "s")
        field = app.screen.query_one("#folder")
        field.value = str(music)
        await pilot.press("enter")
        panel = app.screen.query_one("#scan-panel", JobPanel)
        await wait_until(pilot, lambda: "1 of 3 · 01 Harbour Lights.wav" in str(
            panel.query_one(".job-detail").render()))
        assert footer_keys(app).get("c") == "Cancel scan" and "s" not in footer_keys(app)
        await pilot.press("c")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert seen_cancel and not panel.display
        assert any("cancelled" in msg for msg, _ in notes(app))
        assert app.screen.query_one("#tracks", DataTable).row_count == 3  # what was analysed is kept


async def test_scan_of_a_missing_folder_is_refused_in_the_dialog(store: Store) -> None:
    app = make_app(store=store, auto_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("l", "s")
        app.screen.query_one("#folder").value = "/no/such/folder"
        await pilot.press("enter")
        await pilot.pause()
        assert ("/no/such/folder is not a folder", "error") in notes(app)


async def test_a_session_without_a_rating_after_can_be_rated_later(store: Store) -> None:
    from companion.core.models import Rating, Session

    store.save_session(Session(
        id=0, listener="me", playlist="evening", arc="step-down",
        started_at="2025-03-03T20:10:00+00:00", ended_at="2025-03-03T20:20:00+00:00",
        minutes_listened=10.0, outcome="interrupted", uid="no-after",
        ratings=(Rating("stress", "before", 8.0, recorded_at="2025-03-03T20:10:00+00:00"),),
    ))
    app = make_app(store=store, auto_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("h")
        await pilot.pause()
        assert footer_keys(app).get("r") == "Rate now"
        await pilot.press("r", "4", "enter")
        await pilot.pause()
        assert "r" not in footer_keys(app)  # rated now
        row = row_text(app.screen.query_one("#sessions", DataTable), 0)
        assert row[4] == "8 → 4  (−4) · given later"
        await app.workers.wait_for_complete()
        await pilot.pause()  # the summary counts the late rating at once
        assert "One session with stress rated before and after" in str(
            app.screen.query_one("#insight").render())
    after = store.sessions()[0].rating("after")
    assert after is not None and after.value == 4 and after.late


def test_the_app_starts_without_loading_audio_analysis_or_statistics(tmp_path: Path) -> None:
    """Opening the app (mounted, first screen drawn) imports no librosa, numba, scipy, sounddevice."""
    import subprocess
    import sys

    code = (
        "import asyncio, sys\n"
        "from companion.tui.app import make_app\n"
        "async def main():\n"
        "    app = make_app(auto_demo=False)\n"
        "    async with app.run_test(size=(120, 36)) as pilot:\n"
        "        await pilot.pause()\n"
        "asyncio.run(main())\n"
        "print(sorted({k.split('.')[0] for k in sys.modules} & "
        "{'librosa', 'numba', 'scipy', 'sounddevice'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**__import__("os").environ, "COMPANION_HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


async def test_quitting_mid_session_stores_it_as_stopped_early(store: Store, library: Playlist) -> None:
    app = make_app("ana", store=store, output_factory=paced_output)  # a therapist's client
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter", "5", "enter")
        screen = session_screen(app)
        await wait_until(pilot, lambda: screen.phase == PLAYING)
        await pilot.press("ctrl+q")
    (session,) = store.sessions()
    assert session.outcome == OUTCOME_STOPPED and session.value("before") == 5
    assert session.listener == "ana"


async def test_an_option_that_changes_two_settings_fills_both_fields_and_builds(
    store: Store, tmp_path: Path
) -> None:
    from companion.core import playlists
    from companion.tui.screens.build import OptionButton

    # nothing below 60 BPM, and 2 minutes are too few to step from 84 down to 60
    bpms = (84, 80, 76, 72, 68, 64, 60)
    add_library(store, tmp_path / "music", tuple((f"Piece {b}", "Tester", float(b), 40.0) for b in bpms))
    app = make_app(store=store)
    async with app.run_test(size=SIZE) as pilot:
        form = await submit_build(app, pilot, "both", start="84", target="50", minutes="2")
        labels = [b.option.label for b in form.query(OptionButton)]
        both = [lab for lab in labels if lab.startswith("target 60 BPM and ")]
        assert both, labels
        minutes = both[0].removeprefix("target 60 BPM and ").removesuffix(" minutes")
        button = next(b for b in form.query(OptionButton) if b.option.label == both[0])
        button.press()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen is not form
        built = playlists.load("both")
        assert built.meta["target_bpm"] == 60 and built.meta["minutes"] == float(minutes)
        assert built.tracks


async def submit_build(app, pilot, name: str, **fields: str):
    """Open the Build screen, type ``name``, fill ``fields`` (input id -> text), submit, and
    return the screen once the build worker is done."""
    from companion.tui.screens.build import BuildScreen

    await pilot.press("b", *name)
    form = app.screen
    assert isinstance(form, BuildScreen)
    for field, text in fields.items():
        form.query_one(f"#{field}").value = text
    await pilot.press("ctrl+s")
    await app.workers.wait_for_complete()
    await pilot.pause()
    return form
