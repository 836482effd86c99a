"""Widgets that follow the track's beat: a gentle pulse, and the breathing guide's bar.

Both are told the track's stored beats, its tempo and the position heard (four times a second,
from the session's status); between updates the position runs on the monotonic clock, so they
move smoothly. The timing itself is the core's (``companion.core.breathing``)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.widget import Widget

from companion.core.breathing import beat_position, pulse_glow

_DIM = Color.parse("#3b4a54")
_BRIGHT = Color.parse("#9fd3c7")
_FPS = 15
_MIN_WIDTH, _MAX_WIDTH = 4, 24  # cells


class FollowsBeat(Widget):
    """A widget redrawn on its own clock, in phase with the beats of the track heard."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's own name
        super().__init__(id=id)
        self.bpm: float | None = None
        self.beats: Sequence[float] = ()
        self.playing = False
        self._position_s = 0.0
        self._synced_at = time.monotonic()

    def on_mount(self) -> None:
        self.set_interval(1 / _FPS, self.refresh)

    def sync(self, *, bpm: float | None, position_s: float, playing: bool,
             beats: Sequence[float] = ()) -> None:
        """Follow the session: tempo and stored beats of the current track, its position heard,
        whether it is playing."""
        self.bpm, self.playing, self.beats = bpm, playing, beats
        self._position_s = position_s
        self._synced_at = time.monotonic()

    def beats_passed(self) -> float | None:
        """Beats (at the playlist's tempo) heard so far in this track; None when there is none."""
        if not self.playing or not self.bpm:
            return None
        return beat_position(self.beats, self.bpm,
                             self._position_s + (time.monotonic() - self._synced_at))


class BeatPulse(FollowsBeat):
    """Glows on each beat of the current track (the stored beats, not a grid from 0 s) and
    fades between."""

    DEFAULT_CSS = "BeatPulse { height: 1; width: 100%; content-align: center middle; }"

    def glow(self) -> float:
        """0–1: how bright the dot is now (1 on the beat, decaying over the beat)."""
        return pulse_glow(self.beats_passed())

    def render(self) -> Text:
        """A short line that swells and brightens on the beat and settles between beats."""
        glow = self.glow()
        color = _DIM.blend(_BRIGHT, glow)
        width = _MIN_WIDTH + round(glow * (_MAX_WIDTH - _MIN_WIDTH) / 2) * 2
        return Text("━" * width, style=Style(color=color.rich_color))
