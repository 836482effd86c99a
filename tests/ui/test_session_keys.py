"""The session screen's transport keys: previous restarts a track under way, and `e` sets and
cancels the sleep timer "end after this track", with its state on the screen."""

from __future__ import annotations

from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from companion.core.models import Playlist
from companion.core.player import NullOutput
from companion.core.store import Store
from companion.tui.app import CompanionApp, make_app
from companion.tui.screens.session import AFTER, PLAYING, SessionScreen
from tests.ui.conftest import wait_until

SIZE = (120, 36)


def paced_output() -> NullOutput:
    """Silent, paced like a sound card. Not faster: the 6 s test tracks crossfade from their
    3rd second, so track 2 stays the current one from 3.5 s for only ~1 s of audio; at 4x that
    was 0.25 s, and on a busy machine the `p` key arrived after track 3 had taken over."""
    return NullOutput(realtime=True, speed=1.0)


def text(screen: SessionScreen, selector: str) -> str:
    return str(screen.query_one(selector).render())


def footer_keys(app: CompanionApp) -> dict[str, str]:
    return {k.key_display or k.key: k.description for k in app.screen.query_one(Footer).query(FooterKey)}


async def test_previous_restarts_the_track_and_e_toggles_end_after_this_track(
    store: Store, library: Playlist
) -> None:
    app = make_app(store=store, output_factory=paced_output)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter", "5", "enter")
        screen = app.screen
        assert isinstance(screen, SessionScreen)
        await wait_until(pilot, lambda: screen.phase == PLAYING)
        await pilot.pause()
        keys = footer_keys(app)
        assert keys.get("p") == "Previous" and keys.get("e") == "End after"

        await pilot.press("n")  # to the second track ...
        await wait_until(pilot, lambda: screen.player.status().index == 1
                         and screen.player.status().position_s > 3.5)
        await pilot.press("p")  # ... 3.5 s into it, previous starts it again
        await wait_until(pilot, lambda: screen.player.status().position_s < 2.0)
        assert screen.player.status().index == 1
        await pilot.press("space")  # paused, so track 2 is still the one playing below
        assert "track 2 of 3" in text(screen, "#np-meta")

        await pilot.press("e")
        assert text(screen, "#np-state") == (
            "paused · space resumes · volume 100 % · sleep timer: after this track")
        assert text(screen, "#np-next") == "then the session ends · e keeps it going"
        await pilot.press("e")  # cancelled: the session goes on as planned
        assert "sleep timer" not in text(screen, "#np-state")
        assert text(screen, "#np-next").startswith("next: Evening Fern")
        assert not screen.player.status().ends_after_track

        await pilot.press("space", "s")
        await wait_until(pilot, lambda: screen.phase == AFTER)
