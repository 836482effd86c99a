"""A gentle beat pulse: a dot that glows on each beat of the current track and fades between."""

from __future__ import annotations

import time

from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.widget import Widget

_DIM = Color.parse("#3b4a54")
_BRIGHT = Color.parse("#9fd3c7")
_FPS = 15
_MIN_WIDTH, _MAX_WIDTH = 4, 24  # cells


class BeatPulse(Widget):
    """Glows at ``bpm`` beats per minute, in phase with the track position it was last given.

    The player's status arrives four times a second; between updates the phase runs on the
    monotonic clock so the pulse stays smooth.
    """

    DEFAULT_CSS = "BeatPulse { height: 1; width: 100%; content-align: center middle; }"

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's own name
        super().__init__(id=id)
        self.bpm: float | None = None
        self.playing = False
        self._position_s = 0.0
        self._synced_at = time.monotonic()

    def on_mount(self) -> None:
        self.set_interval(1 / _FPS, self.refresh)

    def sync(self, *, bpm: float | None, position_s: float, playing: bool) -> None:
        """Follow the player: tempo of the current track, its position, whether it is playing."""
        self.bpm, self.playing = bpm, playing
        self._position_s = position_s
        self._synced_at = time.monotonic()

    def glow(self) -> float:
        """0–1: how bright the dot is now (1 on the beat, decaying over the beat)."""
        if not self.playing or not self.bpm:
            return 0.0
        position = self._position_s + (time.monotonic() - self._synced_at)
        phase = (position * self.bpm / 60.0) % 1.0
        return (1.0 - phase) ** 3

    def render(self) -> Text:
        """A short line that swells and brightens on the beat and settles between beats."""
        glow = self.glow()
        color = _DIM.blend(_BRIGHT, glow)
        width = _MIN_WIDTH + round(glow * (_MAX_WIDTH - _MIN_WIDTH) / 2) * 2
        return Text("━" * width, style=Style(color=color.rich_color))
