"""The playlist's tempo arc drawn as bars, one per entry, as wide as its share of the session."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from companion.core.models import Playlist

_BARS = "▁▂▃▄▅▆▇█"


class TempoArc(Widget):
    """Bars whose heights follow each entry's tempo (a silence is a gap); ``current`` is lit.

    Each entry is as wide as its share of the session, so the arc lines up with a session
    progress bar of the same width.
    """

    DEFAULT_CSS = "TempoArc { height: 1; width: 1fr; }"

    def __init__(self, playlist: Playlist | None = None, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.playlist = playlist or Playlist(name="", entries=())
        self.current: int | None = None

    def set_playlist(self, playlist: Playlist) -> None:
        self.playlist, self.current = playlist, None
        self.refresh()

    def show(self, index: int | None) -> None:
        if index != self.current:
            self.current = index
            self.refresh()

    def render(self) -> Text:
        tempos = [None if e.is_silence else (e.used_bpm or e.bpm) for e in self.playlist.entries]
        known = [t for t in tempos if t]
        low, high = (min(known), max(known)) if known else (0.0, 1.0)
        span = max(high - low, 1.0)
        text = Text()
        for i, (tempo, cells) in enumerate(zip(tempos, self._widths(), strict=True)):
            if tempo is None or cells == 0:
                text.append(" " * cells)
                continue
            level = round((tempo - low) / span * (len(_BARS) - 2)) + 1
            bar = _BARS[level] * max(cells - 1, 1) + " " * min(cells - 1, 1)
            lit = i == self.current
            text.append(bar, style=Style(color="#9fd3c7" if lit else "#4c566a", bold=lit))
        return text

    def _widths(self) -> list[int]:
        """Cells per entry, proportional to its length, summing to the widget's width."""
        lengths = [e.length_s for e in self.playlist.entries]
        total = sum(lengths) or 1.0
        width, edges, acc = max(self.size.width, 1), [0], 0.0
        for length in lengths:
            acc += length
            edges.append(round(acc / total * width))
        return [b - a for a, b in zip(edges, edges[1:], strict=False)]
