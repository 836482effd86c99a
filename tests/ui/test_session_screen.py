"""The Session screen as a listener uses it: their own scales, another listener, the breathing
guide on the music's beats, the stop keys, the time heard, and 80×24."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from companion.core import listening, sessions
from companion.core.models import AnalysisResult, Loudness, Playlist, Tags, TempoEstimate
from companion.core.store import Store
from companion.tui.app import make_app
from companion.tui.screens.session import AFTER, BEFORE, PLAYING, SessionScreen
from companion.tui.widgets.breathing import BreathingGuide
from companion.tui.widgets.pulse import BeatPulse
from tests.ui.conftest import wait_until
from tests.ui.test_app import footer_keys, paced_output, session_screen

SIZE = (80, 24)


async def stop_and_skip_the_rating(pilot, screen: SessionScreen) -> None:
    await pilot.press("s")
    await wait_until(pilot, lambda: screen.phase == AFTER)
    await pilot.press("escape")
    await wait_until(pilot, lambda: pilot.app.current_mode == "history")


async def test_the_listeners_scales_are_asked_with_a_slider_and_six_quick_items(
    store: Store, library: Playlist
) -> None:
    sessions.set_listener_scales(store, "me", ["vas", "stai6"])
    app = make_app(store=store, output_factory=paced_output)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        screen = session_screen(app)
        await pilot.press("6", "enter")  # stress, then on to the slider
        await pilot.press("right", "shift+right", "shift+right", "left")  # 50 → 51 → 71 → 70
        await pilot.press("enter")  # on to the six items: 1–4 each, then it begins
        await pilot.press("2", "3", "1", "4", "2", "2")
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.phase == PLAYING)
        await pilot.press("s")
        await wait_until(pilot, lambda: screen.phase == AFTER)
        await pilot.press("3", "enter", "enter", "enter")  # after: stress only, the rest skipped
        await wait_until(pilot, lambda: app.current_mode == "history")
    (s,) = store.sessions()
    assert (s.value("before"), s.value("before", "vas"), s.value("after")) == (6, 70, 3)
    assert s.rating("before", "stai6").items == (2, 3, 1, 4, 2, 2)
    assert s.rating("after", "vas") is None and s.rating("after", "stai6") is None


async def test_half_answered_stai6_is_explained_and_nothing_begins(store: Store, library: Playlist) -> None:
    sessions.set_listener_scales(store, "me", ["stai6"])
    app = make_app(store=store, output_factory=paced_output)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter", "6", "enter", "2", "3", "enter")
        await pilot.pause()
        assert session_screen(app).phase == BEFORE
        assert "STAI-6" in list(app._notifications)[-1].message
    assert store.sessions() == []


async def test_another_listener_can_be_chosen_and_gets_their_own_scales(store: Store, library: Playlist) -> None:
    sessions.set_listener_scales(store, "anna", ["vas"])
    app = make_app(store=store, output_factory=paced_output)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        screen = session_screen(app)
        assert not screen.query("#answer-vas")
        await pilot.press("ctrl+l")
        field = app.screen.query_one("#listener-name")
        field.value = "anna"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen and app.listener == "anna"
        assert "listener: anna" in str(screen.query_one(".title-right").render())
        assert screen.query("#answer-vas")
        await pilot.press("4", "enter", "enter")  # the slider untouched: skipped
        await wait_until(pilot, lambda: screen.phase == PLAYING)
        await pilot.press("q")  # q stops with the fade, as in the CLI
        await wait_until(pilot, lambda: screen.phase == AFTER)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.current_mode == "history")
    (s,) = store.sessions()
    assert s.listener == "anna" and s.value("before") == 4 and s.outcome == "stopped_early"


async def test_breathing_guide_follows_the_stored_beats_and_is_remembered(
    store: Store, library: Playlist, tmp_path: Path
) -> None:
    # The first track's beats, as the analysis stored them: the first at 0.3 s, not at 0.
    first = library.entries[0]
    beats = tuple(round(0.3 + k * 60 / 84, 3) for k in range(8))  # stored to the millisecond
    store.save_analysis([AnalysisResult(
        path=first.path, size=1, mtime=1.0,
        tags=Tags(title=first.title, artist=first.artist, album="", genre="", duration_s=6.0),
        tempo=TempoEstimate(bpm=84.0, confidence=0.9, beat_times=beats),
        loudness=Loudness(lufs=-24.0, peak_dbfs=-12.0))])
    app = make_app(store=store, output_factory=paced_output)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter", "5", "enter")
        screen = session_screen(app)
        await wait_until(pilot, lambda: screen.phase == PLAYING)
        guide = screen.query_one("#breathing", BreathingGuide)
        assert not guide.display
        await pilot.press("b")
        assert guide.display
        await wait_until(pilot, lambda: screen.player.status().position_s > 0.5)
        await pilot.pause(0.3)
        pulse = screen.query_one("#pulse", BeatPulse)
        assert tuple(pulse.beats) == beats and tuple(guide.beats) == beats
        assert guide.text().startswith("breathe in ")  # 84 BPM: 6 in, 8 out; beat 1 is at 0.3 s
        await stop_and_skip_the_rating(pilot, screen)
        await app.workers.wait_for_complete()
    assert listening.breathing_on(store, "me")


async def test_you_listened_for_counts_a_restarted_track_once(store: Store, library: Playlist) -> None:
    app = make_app(store=store, output_factory=paced_output)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter", "5", "enter")
        screen = session_screen(app)
        await wait_until(pilot, lambda: screen.phase == PLAYING)
        await wait_until(pilot, lambda: screen.player.status().position_s >= 3.3)
        await pilot.press("p")  # heard 3.3 s of it: it starts again
        await wait_until(pilot, lambda: screen.player.status().position_s < 1.0)
        await wait_until(pilot, lambda: 2.0 <= screen.player.status().position_s < 3.0)
        played = screen.player.status().elapsed_s
        await pilot.press("s")
        await wait_until(pilot, lambda: screen.phase == AFTER)
        heard = screen.session.heard_s
        summary = str(screen.query_one("#after-summary").render())
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.current_mode == "history")
    assert played >= 5.0 and 3.0 <= heard <= 4.5  # the replayed seconds count once
    assert f"You listened for 0:0{round(heard)} and stopped early." == summary
    assert store.sessions()[0].minutes_listened * 60 <= 4.5


async def test_at_80_by_24_the_footer_keeps_the_keys_that_matter(store: Store, library: Playlist) -> None:
    app = make_app(store=store, output_factory=paced_output)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter", "5", "enter")
        screen = session_screen(app)
        await wait_until(pilot, lambda: screen.phase == PLAYING)
        await pilot.pause()
        keys = footer_keys(app)
        assert {"space", "n", "p", "e", "b", "s", "+/-"} <= set(keys)
        footer = screen.query_one(Footer)
        shown = sum(k.region.width for k in footer.query(FooterKey) if k.region.width)
        assert shown <= SIZE[0]
        assert all(k.region.right <= SIZE[0] for k in footer.query(FooterKey))
        await pilot.press("escape")  # escape stops too
        await wait_until(pilot, lambda: screen.phase == AFTER)
