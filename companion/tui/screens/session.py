"""A listening session: the ratings before, listening, the ratings after, then the history.

A thin face over ``companion.core.listening.ListeningSession`` (the CLI's ``play`` drives the
same object): the listener's scales are asked here with widgets (stress, anxiety as a slider,
STAI-6 as six quick items, heart rate, a note), the core checks them, opens the output (in a
worker: a missing device or PortAudio leaves nothing behind and offers this app's remedies),
plays, writes the record off this thread (a locked database never freezes the screen) and
keeps it in a pending file if the database stays unwritable.

Keys while listening: space pause · n next · p previous · e end after this track · b breathing
guide · + / - volume · s, q or escape stop with the session's one gentle fade.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widgets import ContentSwitcher, Footer, Label, ProgressBar, Static

from companion.core import listening, playlists
from companion.core.breathing import arc_descent
from companion.core.errors import CompanionError, NoOutputDeviceError, UserInputError
from companion.core.listening import Ending, ListeningSession, SaveReport
from companion.core.models import OUTCOME_COMPLETED, Playlist
from companion.core.player import PlayerStatus
from companion.tui import format as fmt
from companion.tui.screens.base import WorkerScreen
from companion.tui.widgets.arc import TempoArc
from companion.tui.widgets.bars import TitleBar
from companion.tui.widgets.breathing import BreathingGuide
from companion.tui.widgets.pulse import BeatPulse
from companion.tui.widgets.rating import RatingForm

POLL_S = 0.25  # how often the session's status is read
BEFORE, PLAYING, AFTER = "before", "playing", "after"
_TRANSPORT = ("pause", "skip", "previous", "sleep", "stop", "volume", "breathing")
_BEFORE_HINT = "enter: next, then begin · ctrl+l: another listener · escape: back"


class SessionScreen(WorkerScreen):
    """One session with one playlist, from the ratings before to the ratings after."""

    DEFAULT_CSS = """
    SessionScreen #before-form, SessionScreen #after-form { height: auto; max-height: 100%; }
    SessionScreen .phase { padding: 0 1; }
    SessionScreen #breathing { margin-bottom: 1; }
    """

    # One key can mean different things in each phase; check_action enables the right one.
    BINDINGS = [
        Binding("space", "pause", "Pause", id="pause"),
        Binding("n", "skip", "Next", id="skip"),
        Binding("p", "previous", "Previous", id="previous"),
        Binding("e", "sleep", "End after", id="sleep"),
        Binding("b", "breathing", "Breathe", id="breathing"),
        Binding("s", "stop", "Stop", id="stop"),
        Binding("q", "stop", "Stop", show=False),
        Binding("escape", "stop", "Stop", show=False),
        Binding("plus,equals_sign", "volume(1)", "Volume", key_display="+/-", id="volume-up"),
        Binding("minus", "volume(-1)", "Volume −", show=False, id="volume-down"),
        Binding("escape", "back", "Back", id="back"),
        Binding("ctrl+l", "listener", "Listener", id="listener"),
        Binding("ctrl+r", "render", "Render to file", id="render"),
        Binding("ctrl+o", "device", "Output", id="device"),
        Binding("escape", "skip_rating", "Skip rating", id="skip-rating"),
    ]

    @dataclass
    class PlaybackStarted(Message):
        pass

    @dataclass
    class PlaybackFailed(Message):
        """Playback could not start: nothing was stored. ``device`` : another output may help."""

        message: str
        device: bool = False

    @dataclass
    class PlaybackEnded(Message):
        ending: Ending

    @dataclass
    class Closed(Message):
        report: SaveReport

    def __init__(self, playlist: Playlist) -> None:
        super().__init__()
        self.playlist = playlist
        self.phase = BEFORE
        self.session: ListeningSession | None = None
        self.device: str | None = None
        self.stopping = False  # fading out after s / q / escape
        self.opening = False  # the worker is opening the output
        self.ending_now = False  # the worker is ending playback
        self.closed = False
        self.gone = False  # the screen has gone (the app is quitting)
        self.failed_output = False  # the last try found no output: offer the remedies
        self.device_remedy = False
        self.breathing = False
        self._poll_timer: Timer | None = None
        self._notices_shown = 0
        self._toasts = 0
        self._tempos = [e.used_bpm or e.bpm for e in playlist.tracks]

    @property
    def player(self) -> Any:
        """The session's player (tests read its status); None before playback."""
        return self.session.player if self.session is not None else None

    # -- layout -----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        p = self.playlist
        self.session = self._new_session()
        scales = self.session.scales
        yield TitleBar(f"Session · {p.name}")
        with ContentSwitcher(initial=BEFORE, id="phases"):
            with VerticalScroll(id=BEFORE, classes="phase"), Vertical(classes="column"):
                yield Static(
                    f"[b]{fmt.escape(p.name)}[/b] · {fmt.escape(p.arc or 'playlist')} · {len(p.tracks)} tracks · "
                    f"{fmt.clock(playlists.played_s(p))} · {fmt.tempo_span(p)}",
                    classes="session-about",
                )
                yield RatingForm("Before you listen: how stressed do you feel right now?", scales,
                                 begins=True, id="rate-before")
                yield Static(_BEFORE_HINT, classes="muted hint", id="before-hint")
            with Vertical(id=PLAYING, classes="phase"), Vertical(classes="column wide"):
                yield Label("", id="np-title", classes="np-title")
                yield Label("", id="np-artist", classes="np-artist")
                yield Label("", id="np-meta", classes="np-meta")
                yield BeatPulse(id="pulse")
                yield BreathingGuide(id="breathing")
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
            with VerticalScroll(id=AFTER, classes="phase"), Vertical(classes="column"):
                yield Static("", id="after-summary", classes="session-about")
                yield RatingForm("And now: how stressed do you feel?", scales, begins=False,
                                 id="rate-after")
                yield Static("enter: next, then save · escape: skip the rating", classes="muted hint")
        yield Footer()

    def _new_session(self) -> ListeningSession:
        app: Any = self.app
        output = app.output_factory() if app.output_factory else None
        return ListeningSession(app.store, self.playlist, listener=app.listener, output=output,
                                device=self.device)

    def on_mount(self) -> None:
        self.set_interval(0.5, self._repaint_after_toasts)
        self.query_one("#rate-before", RatingForm).focus_input()
        self.breathing = listening.breathing_on(self.app.store, self.app.listener)  # type: ignore[attr-defined]
        self.query_one("#breathing", BreathingGuide).display = self.breathing

    def _show_phase(self, phase: str) -> None:
        self.phase = phase
        self.query_one("#phases", ContentSwitcher).current = phase
        if phase == AFTER:
            self.query_one("#rate-after", RatingForm).focus_input()
        elif phase == PLAYING:
            self.set_focus(None)
        self.refresh_bindings()

    # -- bindings ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in _TRANSPORT:
            return self.phase == PLAYING and not self.stopping
        if action in ("back", "listener"):
            return self.phase == BEFORE and not self.opening
        if action == "render":
            return self.phase == BEFORE and self.failed_output and not self.opening
        if action == "device":
            return self.phase == BEFORE and self.device_remedy and not self.opening
        if action == "skip_rating":
            return self.phase == AFTER and not self.closed
        return True

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_skip_rating(self) -> None:
        self._close([])

    def action_pause(self) -> None:
        self._transport(lambda s: s.toggle_pause())

    def action_skip(self) -> None:
        self._transport(lambda s: s.skip())

    def action_previous(self) -> None:
        """Restarts the track once 3 s of it have played; sooner, the one before."""
        self._transport(lambda s: s.previous())

    def action_sleep(self) -> None:
        """Sleep timer: end after this track; pressed again, cancelled."""
        self._transport(lambda s: s.toggle_sleep())

    def action_volume(self, direction: int) -> None:
        self._transport(lambda s: s.volume_step(direction))

    def _transport(self, command: Any) -> None:
        """A transport key: tell the session (when it plays), then show its new state."""
        if self.session is not None and self.session.player is not None:
            command(self.session)
            self._poll()

    def action_stop(self) -> None:
        if self.session is None or self.session.player is None or self.stopping:
            return
        self.stopping = True
        self.session.stop()
        self.query_one("#np-state", Label).update("fading out gently…")
        self.refresh_bindings()

    def action_breathing(self) -> None:
        """The breathing guide on or off; remembered for this listener."""
        self.breathing = not self.breathing
        self.query_one("#breathing", BreathingGuide).display = self.breathing
        self.remember_breathing(self.app.listener, self.breathing)  # type: ignore[attr-defined]
        self._poll()

    @work(thread=True, exit_on_error=False, group="settings")
    def remember_breathing(self, listener: str, on: bool) -> None:
        listening.set_breathing(self.app.store, listener, on)  # type: ignore[attr-defined]

    def action_listener(self) -> None:
        from companion.tui.screens.session_choices import ListenerScreen

        app: Any = self.app
        self.app.push_screen(ListenerScreen(app.listener, app.store.listeners()), self._listener_chosen)

    async def _listener_chosen(self, name: str | None) -> None:
        if name is None:
            return
        try:
            name = listening.check_listener_name(name)
        except UserInputError as exc:
            self.notify(str(exc), title="Not a name", severity="error")
            return
        app: Any = self.app
        app.listener = name
        self.query_one(".title-right", Static).update(f"listener: {fmt.escape(name)}")
        self.session = self._new_session()
        self.breathing = listening.breathing_on(app.store, name)
        self.query_one("#breathing", BreathingGuide).display = self.breathing
        scales = self.session.scales
        for form_id, question, begins in (
            ("rate-before", "Before you listen: how stressed do you feel right now?", True),
            ("rate-after", "And now: how stressed do you feel?", False),
        ):
            old = self.query_one(f"#{form_id}", RatingForm)
            parent, siblings = old.parent, list(old.parent.children)  # type: ignore[union-attr]
            above = siblings[siblings.index(old) - 1]
            await old.remove()
            await parent.mount(RatingForm(question, scales, begins=begins, id=form_id), after=above)  # type: ignore[union-attr]
        self.query_one("#rate-before", RatingForm).focus_input()

    def action_render(self) -> None:
        """No sound output: render this session to a file instead (not stored as a session)."""
        from companion.core import paths

        folder = paths.home() / "renders"
        self.query_one("#before-hint", Static).update("rendering to a file…")
        self.render_to_file(folder / f"{_file_name(self.playlist.name)}.wav")

    @work(thread=True, exclusive=True, exit_on_error=False, group="playback")
    def render_to_file(self, path: Any) -> None:
        from companion.core.player import FileOutput

        path.parent.mkdir(parents=True, exist_ok=True)
        app: Any = self.app
        render = ListeningSession(app.store, self.playlist, listener=app.listener, record=False,
                                  output=FileOutput(path))
        render.begin()
        render.wait()
        ending = render.finish()
        render.close()
        self.app.call_from_thread(
            self.notify, f"Wrote {path} ({fmt.clock(ending.heard_s)}). A render is not a "
            "session: nothing was stored.", title="Rendered", timeout=15)
        self.app.call_from_thread(
            self.query_one("#before-hint", Static).update,
            f"wrote {path.name} · ctrl+r renders again · enter tries the sound output again")

    def action_device(self) -> None:
        self.choose_device()

    @work(thread=True, exclusive=True, exit_on_error=False, group="playback")
    def choose_device(self) -> None:
        from companion.core.player import list_devices

        devices = [(str(d.index), d.name) for d in list_devices()]
        if not devices:
            raise NoOutputDeviceError("PortAudio sees no output device; connect one, or render "
                                      "this session to a file (ctrl+r)")
        self.app.call_from_thread(self._pick_device, devices)

    def _pick_device(self, devices: list[tuple[str, str]]) -> None:
        from companion.tui.screens.session_choices import DeviceScreen

        def chosen(device: str | None) -> None:
            if device is not None:
                self.device = device
                self.session = self._new_session()
                self.query_one("#before-hint", Static).update(
                    f"output {device} chosen · press enter in the last field to begin")

        self.app.push_screen(DeviceScreen(devices), chosen)

    # -- before -----------------------------------------------------------------------------

    @on(RatingForm.Submitted, "#rate-before")
    def _rated_before(self, message: RatingForm.Submitted) -> None:
        if self.opening or self.session is None:
            return
        before = self._ratings(self.session, "before", message.answers)
        if before is None:
            return
        self.opening = True
        self.refresh_bindings()
        self.query_one("#before-hint", Static).update("opening the sound output…")
        self.open_player(self.session, before)

    @work(thread=True, exclusive=True, exit_on_error=False, group="playback")
    def open_player(self, session: ListeningSession, before: list[Any]) -> None:
        """Open the output and begin; a missing device is found before anything is stored."""
        try:
            session.begin(before)
        except CompanionError as exc:
            self.post_message(self.PlaybackFailed(str(exc), device=isinstance(exc, NoOutputDeviceError)))
            return
        except BaseException:
            self.post_message(self.PlaybackFailed("playback could not start"))
            raise
        if self.gone:  # the app quit while the output was opening
            session.finish()
            session.close(wait_s=2.0)
            return
        self.post_message(self.PlaybackStarted())

    @on(PlaybackFailed)
    def _playback_failed(self, message: PlaybackFailed) -> None:
        self.opening = False
        self.failed_output = True
        self.device_remedy = message.device
        self.notify(message.message, title="No sound", severity="error", timeout=12)
        remedies = "ctrl+r renders this session to a file"
        if message.device:
            remedies += " · ctrl+o chooses another output"
        self.query_one("#before-hint", Static).update(
            f"nothing was stored · {remedies} · enter tries again · escape goes back")
        self.session = self._new_session()
        self.query_one("#rate-before", RatingForm).focus_input()
        self.refresh_bindings()

    @on(PlaybackStarted)
    def _playback_started(self, message: PlaybackStarted) -> None:
        self.opening = False
        self.failed_output = False
        self._show_phase(PLAYING)
        self._poll()
        self._poll_timer = self.set_interval(POLL_S, self._poll)

    # -- playing ----------------------------------------------------------------------------

    def _poll(self) -> None:
        session = self.session
        if session is None or session.player is None or self.phase != PLAYING:
            return
        st: PlayerStatus = session.status()
        self._show_track(st)
        self._show_beat(session, st)
        self._show_times(st)
        if not self.stopping:
            state = "paused · space resumes" if st.paused else "playing"
            state += f" · volume {st.volume * 100:.0f} %"
            if st.sleep:
                state += f" · sleep timer: {st.sleep}"
            if session.write_problem:
                state += " · not saved yet, the music goes on"
            self.query_one("#np-state", Label).update(state)
        self.query_one("#np-next", Label).update(
            "then the session ends · e keeps it going" if st.ends_after_track and not self.stopping
            else _coming_next(self.playlist, st.index))
        self.query_one("#arc", TempoArc).show(st.index)
        self.query_one("#arc-tempo", Label).update(fmt.tempo_span(self.playlist))
        for notice in st.notices[self._notices_shown:]:
            self.notify(notice, severity="warning", timeout=8)
        self._notices_shown = len(st.notices)
        if st.finished and not self.ending_now:
            self.ending_now = True
            if self._poll_timer is not None:
                self._poll_timer.stop()
            self.end_playback(session)

    def _show_track(self, st: PlayerStatus) -> None:
        entry = st.entry
        if entry is None:
            title, artist, meta = "starting…", "", ""
        elif entry.is_silence:
            title, artist, meta = "silence", "rest here for a moment", ""
        else:
            title, artist = entry.title or entry.display_name, entry.artist
            meta = f"track {st.track_no} of {st.track_count}"
            if st.bpm:
                meta += f" · {st.bpm:.0f} BPM"
        self.query_one("#np-title", Label).update(fmt.escape(title))
        self.query_one("#np-artist", Label).update(fmt.escape(artist))
        self.query_one("#np-meta", Label).update(meta)

    def _show_beat(self, session: ListeningSession, st: PlayerStatus) -> None:
        """The pulse and the breathing guide, on the stored beats of the track heard."""
        music = st.entry is not None and not st.entry.is_silence
        playing = music and not st.paused and not self.stopping
        beats = session.beat_times(st.index) if music else ()
        for widget in (self.query_one("#pulse", BeatPulse), self.query_one("#breathing", BreathingGuide)):
            widget.sync(bpm=st.bpm if music else None, position_s=st.position_s, playing=playing,
                        beats=beats)
        self.query_one("#breathing", BreathingGuide).descent = arc_descent(self._tempos, st.bpm)

    def _show_times(self, st: PlayerStatus) -> None:
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

    def _repaint_after_toasts(self) -> None:
        """When a toast goes, repaint the whole screen: the region it covered kept stale
        fragments of it (until the terminal was resized) while only the small widgets that
        change every tick were redrawn."""
        toasts = len(self.app._notifications)
        if toasts < self._toasts:
            self.refresh(repaint=True, layout=True)
            for widget in self.query("*"):
                widget.refresh()
        self._toasts = toasts

    @work(thread=True, exclusive=True, exit_on_error=False, group="playback")
    def end_playback(self, session: ListeningSession) -> None:
        """Playback is over (the end, or a stop that has faded): record how it ended."""
        self.post_message(self.PlaybackEnded(session.finish()))

    @on(PlaybackEnded)
    def _playback_ended(self, message: PlaybackEnded) -> None:
        ending = message.ending
        self.stopping = False
        if ending.error:
            self.notify(f"{ending.error}; reconnect it and begin again, or render to a file",
                        title="Playback ended", severity="error", timeout=15)
        how = "to the end" if ending.outcome == OUTCOME_COMPLETED else "and stopped early"
        self.query_one("#after-summary", Static).update(
            f"You listened for {fmt.clock(ending.heard_s)} {how}.")
        self._show_phase(AFTER)

    # -- after ------------------------------------------------------------------------------

    @on(RatingForm.Submitted, "#rate-after")
    def _rated_after(self, message: RatingForm.Submitted) -> None:
        if self.session is None or self.closed:
            return
        after = self._ratings(self.session, "after", message.answers)
        if after is not None:
            self._close(after)

    def _ratings(self, session: ListeningSession, phase: str, answers: dict[str, Any]) -> list[Any] | None:
        """The form's answers checked by the core; None (and why, in a toast) if one is not valid."""
        try:
            return session.ratings_from(phase, answers)
        except UserInputError as exc:
            self.notify(str(exc), title="Not a rating", severity="error")
            return None

    def _close(self, after: list[Any]) -> None:
        if self.closed or self.session is None:
            return
        self.closed = True
        self.refresh_bindings()
        self.session.rate_after(after)  # in memory at once; never lost
        self.close_session(self.session)

    @work(thread=True, exclusive=True, exit_on_error=False, group="playback")
    def close_session(self, session: ListeningSession) -> None:
        """Wait (here, not on the screen's thread) for the record to reach the database."""
        self.post_message(self.Closed(session.close()))

    @on(Closed)
    def _closed(self, message: Closed) -> None:
        report = message.report
        if report.message:
            kept = report.pending is not None
            self.notify(report.message, title="Kept for later" if kept else "Not saved",
                        severity="warning" if kept else "error", timeout=20)
        self.app.pop_screen()
        self.app.switch_mode("history")

    def on_unmount(self) -> None:
        # Leaving the screen any other way (quitting the app) still ends the session honestly.
        self.gone = True
        session = self.session
        if session is not None and session.player is not None and not self.closed:
            try:
                session.finish()
                session.close(wait_s=2.0)
            except CompanionError:
                pass  # the app is closing: nothing to show; the pending file keeps the record


def _file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_ " else "_" for c in name).strip() or "session"


def _coming_next(playlist: Playlist, index: int | None) -> str:
    """``next: Willow Shade · 80 BPM`` for the entry after ``index``; "" at the last one."""
    if index is None or index + 1 >= len(playlist.entries):
        return ""
    e = playlist.entries[index + 1]
    if e.is_silence:
        return f"next: a silence of {fmt.clock(e.silence_s)}"
    tempo = e.used_bpm or e.bpm
    return fmt.escape(f"next: {e.title or e.display_name}" + (f" · {tempo:.0f} BPM" if tempo else ""))


