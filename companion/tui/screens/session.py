"""A listening session: the rating before, listening, the rating after, then the history.

The rating before is stored (``sessions.begin``) only after the sound output has been checked,
so a missing device or PortAudio leaves nothing behind: its one-line message is shown and the
person stays here. While listening, the player's ``status()`` is polled four times a second; the controls are
called from the UI thread and return at once (fades happen in the player).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import ContentSwitcher, Footer, Label, ProgressBar, Static

from companion.core import playlists, sessions
from companion.core.errors import CompanionError
from companion.core.models import OUTCOME_COMPLETED, OUTCOME_STOPPED, Playlist
from companion.tui import format as fmt
from companion.tui.screens.base import WorkerScreen
from companion.tui.widgets.arc import TempoArc
from companion.tui.widgets.bars import TitleBar
from companion.tui.widgets.pulse import BeatPulse
from companion.tui.widgets.rating import RatingPrompt

if TYPE_CHECKING:
    from collections.abc import Callable

    from companion.core.player import Player, PlayerStatus

POLL_S = 0.25  # how often the player's status is read
HEARTBEAT_S = 15.0  # how often minutes listened are saved, so a crash loses little
VOLUME_STEP = 0.1  # a tenth of full volume per key press
STOP_FADE_S = 3.0  # stopping fades out gently rather than cutting off

BEFORE, PLAYING, AFTER = "before", "playing", "after"


class SessionScreen(WorkerScreen):
    """One session with one playlist, from the rating before to the rating after."""

    # One key can mean different things in each phase; check_action enables the right one.
    BINDINGS = [
        Binding("space", "pause", "Pause/resume", id="pause"),
        Binding("n", "skip", "Skip", id="skip"),
        Binding("p", "previous", "Previous", id="previous"),
        Binding("e", "sleep", "End after track", id="sleep"),
        Binding("s", "stop", "Stop", id="stop"),
        Binding("escape", "stop", "Stop", show=False),
        Binding("plus,equals_sign", "volume(1)", "Volume +", key_display="+", id="volume-up"),
        Binding("minus", "volume(-1)", "Volume −", key_display="-", id="volume-down"),
        Binding("escape", "back", "Back", id="back"),
        Binding("escape", "skip_rating", "Skip rating", id="skip-rating"),
    ]

    @dataclass
    class PlaybackStarted(Message):
        player: Player
        session_id: int

    @dataclass
    class PlaybackFailed(Message):
        """Playback could not start: the worker's error is shown by the app.

        stored : whether the session had already been stored (then it is kept as stopped early).
        """

        stored: bool = False

    def __init__(self, playlist: Playlist) -> None:
        super().__init__()
        self.playlist = playlist
        self.phase = BEFORE
        self.player: Player | None = None
        self.session_id: int | None = None
        self.stopping = False  # fading out after s / escape
        self.opening = False  # the playback worker is checking the output and starting
        self.gone = False  # the screen has gone (the app is quitting)
        self.outcome = ""
        self._poll_timer: Timer | None = None
        self._last_heartbeat = time.monotonic()
        self._notices_shown = 0

    # -- layout -----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        p = self.playlist
        yield TitleBar(f"Session · {p.name}")
        with ContentSwitcher(initial=BEFORE, id="phases"):
            with Vertical(id=BEFORE, classes="phase"), Vertical(classes="column"):
                yield Static(
                    f"[b]{p.name}[/b] · {p.arc or 'playlist'} · {len(p.tracks)} tracks · "
                    f"{fmt.clock(playlists.played_s(p))} · {fmt.tempo_span(p)}",
                    classes="session-about",
                )
                yield RatingPrompt("Before you listen: how stressed do you feel right now?",
                                   begins=True, id="rate-before")
                yield Static("type a number and press enter to begin · escape goes back",
                             classes="muted hint", id="before-hint")
            with Vertical(id=PLAYING, classes="phase"), Vertical(classes="column wide"):
                yield Label("", id="np-title", classes="np-title")
                yield Label("", id="np-artist", classes="np-artist")
                yield Label("", id="np-meta", classes="np-meta")
                yield BeatPulse(id="pulse")
                with Horizontal(classes="np-row"):
                    yield Label("track", classes="np-label")
                    yield ProgressBar(total=100, show_eta=False, show_percentage=False,
                                      id="track-bar")
                    yield Label("", id="track-time", classes="np-time")
                with Horizontal(classes="np-row"):
                    yield Label("session", classes="np-label")
                    yield ProgressBar(total=100, show_eta=False, show_percentage=False,
                                      id="session-bar")
                    yield Label("", id="session-time", classes="np-time")
                with Horizontal(classes="np-row"):
                    yield Label("tempo", classes="np-label")
                    yield TempoArc(self.playlist, id="arc")
                    yield Label("", id="arc-tempo", classes="np-time")
                yield Label("", id="np-state", classes="np-state")
                yield Label("", id="np-next", classes="np-next")
            with Vertical(id=AFTER, classes="phase"), Vertical(classes="column"):
                yield Static("", id="after-summary", classes="session-about")
                yield RatingPrompt("And now: how stressed do you feel?", begins=False,
                                   id="rate-after")
                yield Static("type a number and press enter · escape skips this rating",
                             classes="muted hint")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#rate-before", RatingPrompt).focus_input()

    def _show_phase(self, phase: str) -> None:
        self.phase = phase
        self.query_one("#phases", ContentSwitcher).current = phase
        if phase == AFTER:
            self.query_one("#rate-after", RatingPrompt).focus_input()
        elif phase == PLAYING:
            self.set_focus(None)
        self.refresh_bindings()

    # -- bindings ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("pause", "skip", "previous", "sleep", "stop", "volume"):
            return self.phase == PLAYING and not self.stopping
        if action == "back":
            return self.phase == BEFORE and not self.opening
        if action == "skip_rating":
            return self.phase == AFTER
        return True

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_skip_rating(self) -> None:
        self._go_to_history()

    def action_pause(self) -> None:
        self._transport(lambda p: p.toggle_pause())

    def action_skip(self) -> None:
        self._transport(lambda p: p.skip())

    def action_previous(self) -> None:
        """Restarts the track once 3 s of it have played; sooner, the one before."""
        self._transport(lambda p: p.previous())

    def action_sleep(self) -> None:
        """Sleep timer: end after this track; pressed again, cancelled."""
        self._transport(lambda p: p.toggle_sleep())

    def _transport(self, command: Callable[[Player], object]) -> None:
        """A transport key: tell the player (when there is one), then show its new state."""
        if self.player is not None:
            command(self.player)
            self._poll()

    def action_stop(self) -> None:
        if self.player is None or self.stopping:
            return
        self.stopping = True
        self.player.stop(fade_s=STOP_FADE_S)
        self.query_one("#np-state", Label).update("fading out gently…")
        self.refresh_bindings()

    def action_volume(self, direction: int) -> None:
        if self.player is None:
            return
        self.player.set_volume(self.player.volume + direction * VOLUME_STEP)
        self._poll()

    # -- before -----------------------------------------------------------------------------

    @on(RatingPrompt.Rated, "#rate-before")
    def _rated_before(self, message: RatingPrompt.Rated) -> None:
        if self.opening:
            return
        self.opening = True
        self.query_one("#before-hint", Static).update("opening the sound output…")
        self.open_player(message.value)

    @work(thread=True, exclusive=True, exit_on_error=False, group="playback")
    def open_player(self, stress_before: int) -> None:
        """Check the output, store the session with its rating before, then start playing.

        A missing device is found before anything is stored; the app shows its message.
        """
        from companion.core.player import Player, check_output

        app: Any = self.app
        try:
            output = app.output_factory() if app.output_factory else None
            if output is None:
                check_output()
            # With the crossfade it was planned for, so it lasts as long as the plan said.
            player = Player(self.playlist, output=output,
                            crossfade_s=playlists.crossfade_of(self.playlist))
            session_id = sessions.begin(
                app.store, listener=app.listener, playlist=self.playlist.name,
                arc=self.playlist.arc, snapshot=sessions.snapshot_of(self.playlist),
                before=[sessions.make_rating("stress", "before", stress_before)],
            )
        except BaseException:
            self.post_message(self.PlaybackFailed(stored=False))
            raise
        try:
            player.start()
        except BaseException:
            # The device went away between the check and the start: end the session honestly.
            player.close()
            sessions.finish(app.store, session_id, outcome=OUTCOME_STOPPED, minutes_listened=0.0)
            self.post_message(self.PlaybackFailed(stored=True))
            raise
        if self.gone:  # the app quit while the output was opening
            player.close()
            sessions.finish(app.store, session_id, outcome=OUTCOME_STOPPED, minutes_listened=0.0)
            return
        self.post_message(self.PlaybackStarted(player, session_id))

    @on(PlaybackFailed)
    def _playback_failed(self, message: PlaybackFailed) -> None:
        self.opening = False
        kept = ("the session was kept as stopped early" if message.stored
                else "nothing was stored")
        self.query_one("#before-hint", Static).update(
            f"{kept} · fix the sound output and press enter to try again · escape goes back"
        )
        self.query_one("#rate-before", RatingPrompt).focus_input()

    @on(PlaybackStarted)
    def _playback_started(self, message: PlaybackStarted) -> None:
        self.opening = False
        self.player = message.player
        self.session_id = message.session_id
        self._show_phase(PLAYING)
        self._poll()
        self._poll_timer = self.set_interval(POLL_S, self._poll)

    # -- playing ----------------------------------------------------------------------------

    def _poll(self) -> None:
        if self.player is None or self.phase != PLAYING:
            return
        st: PlayerStatus = self.player.status()
        entry = st.entry
        track_no, track_count = _track_number(self.playlist, st.index)
        if entry is None:
            title, artist, meta = "starting…", "", ""
        elif entry.is_silence:
            title, artist, meta = "silence", "rest here for a moment", ""
        else:
            title, artist = entry.title or entry.display_name, entry.artist
            meta = f"track {track_no} of {track_count}"
            if st.bpm:
                meta += f" · {st.bpm:.0f} BPM"
        self.query_one("#np-title", Label).update(title)
        self.query_one("#np-artist", Label).update(artist)
        self.query_one("#np-meta", Label).update(meta)
        self.query_one("#pulse", BeatPulse).sync(
            bpm=st.bpm if entry is not None and not entry.is_silence else None,
            position_s=st.position_s, playing=not st.paused and not self.stopping,
        )
        length = st.entry_length_s
        self.query_one("#track-bar", ProgressBar).update(
            total=max(length, 0.001), progress=min(st.position_s, length))
        self.query_one("#track-time", Label).update(
            f"{fmt.clock(st.position_s)} / {fmt.clock(length)} · "
            f"{fmt.clock(length - st.position_s)} left")
        self.query_one("#session-bar", ProgressBar).update(
            total=max(st.total_s, 0.001), progress=min(st.elapsed_s, st.total_s))
        self.query_one("#session-time", Label).update(
            f"{fmt.clock(st.elapsed_s)} / {fmt.clock(st.total_s)} · "
            f"{fmt.clock(st.remaining_s)} left")
        if not self.stopping:
            state = "paused · space resumes" if st.paused else "playing"
            state += f" · volume {st.volume * 100:.0f} %"
            if st.sleep:
                state += f" · sleep timer: {st.sleep}"
            self.query_one("#np-state", Label).update(state)
        self.query_one("#np-next", Label).update(
            "then the session ends · e keeps it going" if st.ends_after_track and not self.stopping
            else _coming_next(self.playlist, st.index))
        self.query_one("#arc", TempoArc).show(st.index)
        self.query_one("#arc-tempo", Label).update(fmt.tempo_span(self.playlist))
        for notice in st.notices[self._notices_shown:]:
            self.notify(notice, severity="warning", timeout=8)
        self._notices_shown = len(st.notices)

        if self.session_id is not None and time.monotonic() - self._last_heartbeat >= HEARTBEAT_S:
            self._last_heartbeat = time.monotonic()  # paused or not: the session is alive
            self.core(sessions.progress, self.app.store, self.session_id,  # type: ignore[attr-defined]
                      st.minutes_listened, st.underruns)
        if st.finished:
            self._end(st)

    def _end(self, st: PlayerStatus) -> None:
        """Playback is over (the end, or a stop that has faded): record how it ended."""
        if self._poll_timer is not None:
            self._poll_timer.stop()
        self.outcome = OUTCOME_STOPPED if st.stopped_early else OUTCOME_COMPLETED
        if self.session_id is not None:
            self.core(
                sessions.finish, self.app.store, self.session_id,  # type: ignore[attr-defined]
                outcome=self.outcome, minutes_listened=st.minutes_listened, underruns=st.underruns,
            )
        if st.error:
            self.notify(st.error, title="Playback ended", severity="error", timeout=15)
        if self.player is not None:
            self.player.close()
        self.player = None
        self.stopping = False
        how = "to the end" if self.outcome == OUTCOME_COMPLETED else "and stopped early"
        self.query_one("#after-summary", Static).update(
            f"You listened for {fmt.clock(st.elapsed_s)} {how}."
        )
        self._show_phase(AFTER)

    # -- after ------------------------------------------------------------------------------

    @on(RatingPrompt.Rated, "#rate-after")
    def _rated_after(self, message: RatingPrompt.Rated) -> None:
        if self.session_id is not None:
            rating = sessions.make_rating("stress", "after", message.value)
            saved, _ = self.core(sessions.rate_after, self.app.store, self.session_id, [rating])  # type: ignore[attr-defined]
            if not saved:
                return  # stay, so the rating can be given again
        self._go_to_history()

    def _go_to_history(self) -> None:
        self.app.pop_screen()
        self.app.switch_mode("history")

    def on_unmount(self) -> None:
        # Leaving the screen any other way (quitting the app) still ends the session honestly.
        self.gone = True
        if self.player is not None:
            st = self.player.status()
            self.player.close()
            if self.session_id is not None:
                with contextlib.suppress(CompanionError):  # the app is closing: nothing to show
                    sessions.finish(
                        self.app.store, self.session_id, outcome=OUTCOME_STOPPED,  # type: ignore[attr-defined]
                        minutes_listened=st.minutes_listened, underruns=st.underruns,
                    )


def _coming_next(playlist: Playlist, index: int | None) -> str:
    """``next: Willow Shade · 80 BPM`` for the entry after ``index``; "" at the last one."""
    if index is None or index + 1 >= len(playlist.entries):
        return ""
    e = playlist.entries[index + 1]
    if e.is_silence:
        return f"next: a silence of {fmt.clock(e.silence_s)}"
    tempo = e.used_bpm or e.bpm
    return f"next: {e.title or e.display_name}" + (f" · {tempo:.0f} BPM" if tempo else "")


def _track_number(playlist: Playlist, index: int | None) -> tuple[int, int]:
    """(n, N): which track of the playlist entry ``index`` is, silences not counted."""
    count = len(playlist.tracks)
    if index is None:
        return 1, count
    return sum(1 for e in playlist.entries[: index + 1] if not e.is_silence) or 1, count
