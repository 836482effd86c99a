"""The breathing guide: a bar that grows while you breathe in and shrinks while you breathe out,
over a whole number of the track's beats (``companion.core.breathing`` decides how many)."""

from __future__ import annotations

from rich.text import Text

from companion.core.breathing import breath_counts, breath_cue
from companion.tui.widgets.pulse import FollowsBeat

_WIDTH = 30  # cells of the bar at the top of a breath


class BreathingGuide(FollowsBeat):
    """``breathe in · 2 of 4`` beside a bar that fills on the inhale and empties on the exhale.

    descent : how far down the arc the session is (0–1); the breaths slow as it grows.
    """

    DEFAULT_CSS = "BreathingGuide { height: 1; width: 100%; content-align: center middle; }"

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.descent = 0.0

    def text(self) -> str:
        """The cue in words (what a screen reader or a test reads)."""
        beats = self.beats_passed()
        if beats is None or not self.bpm:
            return "breathing guide · waits for the music"
        cue = breath_cue(beats, self.bpm, breath_counts(self.bpm, self.descent))
        word = "breathe in " if cue.phase == "in" else "breathe out"
        return f"{word} · {cue.beat} of {cue.beats}"

    def render(self) -> Text:
        beats = self.beats_passed()
        if beats is None or not self.bpm:
            return Text(self.text(), style="dim")
        counts = breath_counts(self.bpm, self.descent)
        cue = breath_cue(beats, self.bpm, counts)
        # Smooth, like lungs: fills over the inhale, empties over the exhale.
        fill = cue.progress if cue.phase == "in" else 1.0 - cue.progress
        cells = round(fill * _WIDTH)
        text = Text(f"{self.text():<22}", style="bold" if cue.phase == "in" else "")
        text.append("█" * cells, style="#9fd3c7")
        text.append("·" * (_WIDTH - cells), style="dim")
        text.append(f"  {counts[0]} in · {counts[1]} out · {cue.breaths_per_min:.1f}/min", style="dim")
        return text
