"""A small character chart: a few series of points over one x axis, with a guide drawn behind.

Built for 80 columns: y labels take 4 cells, every other cell is the plot. A series is a list of
``(x, y)`` points with a mark and a style; the guide (e.g. the arc the plan follows) is drawn first
as faint dots, then each series over it in order, so a second series (arousal beside tempo, after
beside before) is one more :class:`Series` in the list. Pure rendering: :func:`draw` returns the
lines and is tested without an app.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

Point = tuple[float, float]


@dataclass(frozen=True)
class Series:
    """One line of the chart: its points, the character that marks them and how it looks."""

    label: str
    points: tuple[Point, ...]
    mark: str = "●"
    style: str = "bold #88c0d0"
    join: bool = False  # fill the cells between neighbouring points with a thinner mark
    guide: bool = False  # drawn behind (the arc): other marks cover it


@dataclass(frozen=True)
class ChartData:
    """What a chart shows: its series (drawn in order, the first is the guide when ``guide``)."""

    series: tuple[Series, ...] = ()
    y_range: tuple[float, float] | None = None  # fixed range (a 0–10 scale); None: from the data
    x_label: str = ""
    legend: bool = True
    notes: tuple[str, ...] = field(default=())


Y_LABEL_W = 4
BOTH = "◉"  # two series' points in one cell


def _bounds(data: ChartData) -> tuple[float, float, float, float] | None:
    xs = [x for s in data.series for x, _ in s.points]
    ys = [y for s in data.series for _, y in s.points]
    if not xs:
        return None
    x0, x1 = min(xs), max(xs)
    y0, y1 = data.y_range or (min(ys), max(ys))
    if y1 - y0 < 1e-9:
        y0, y1 = y0 - 1, y1 + 1
    if x1 - x0 < 1e-9:
        x0, x1 = x0 - 1, x1 + 1
    return x0, x1, y0, y1


def draw(data: ChartData, width: int, height: int) -> list[list[tuple[str, str]]]:
    """The chart as rows of (character, style) cells, ``height`` rows of ``width`` cells.

    The last row is the legend (when wanted); y labels show the top and bottom values.
    """
    width, height = max(width, Y_LABEL_W + 4), max(height, 2)
    rows = [[(" ", "")] * width for _ in range(height)]
    legend_rows = 1 if data.legend and data.series else 0
    plot_h = height - legend_rows
    plot_w = width - Y_LABEL_W
    bounds = _bounds(data)
    if bounds is None or plot_h < 1:
        return rows
    x0, x1, y0, y1 = bounds

    def col(x: float) -> int:
        return Y_LABEL_W + min(plot_w - 1, max(0, round((x - x0) / (x1 - x0) * (plot_w - 1))))

    def row(y: float) -> int:
        return min(plot_h - 1, max(0, round((y1 - y) / (y1 - y0) * (plot_h - 1))))

    for text, r in ((_num(y1), 0), (_num(y0), plot_h - 1)):
        for i, ch in enumerate(text.rjust(Y_LABEL_W - 1)[: Y_LABEL_W - 1]):
            rows[r][i] = (ch, "dim")
    for r in range(plot_h):
        rows[r][Y_LABEL_W - 1] = ("│", "dim")
    marked: dict[tuple[int, int], str] = {}  # cell -> label of the series whose mark is there
    for s in data.series:
        pts = sorted(s.points)
        if s.join:
            for (xa, ya), (xb, yb) in zip(pts, pts[1:], strict=False):
                ca, cb = col(xa), col(xb)
                for c in range(ca + 1, cb):
                    y = ya + (yb - ya) * (c - ca) / max(cb - ca, 1)
                    rows[row(y)][c] = ("·", s.style)
        for x, y in pts:
            if math.isfinite(x) and math.isfinite(y):
                cell = (row(y), col(x))
                if s.guide:
                    rows[cell[0]][cell[1]] = (s.mark, s.style)
                    continue
                other = marked.get(cell)
                # two series on one cell (before = after): one mark that says both are there
                rows[cell[0]][cell[1]] = (BOTH, s.style) if other not in (None, s.label) else (s.mark, s.style)
                marked[cell] = s.label
    if legend_rows:
        text: list[tuple[str, str]] = []
        for s in data.series:
            text += [(s.mark, s.style)] + [(ch, "dim") for ch in f" {s.label}   "]
        if sum(not s.guide for s in data.series) > 1:
            text += [(BOTH, "")] + [(ch, "dim") for ch in " both   "]
        text += [(ch, "dim") for ch in data.x_label]
        rows[-1] = (text + [(" ", "")] * width)[:width]
    return rows


def _num(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 10 or v == int(v) else f"{v:.1f}"


class Chart(Widget):
    """Shows a :class:`ChartData` at whatever size the layout gives it."""

    DEFAULT_CSS = "Chart { height: 7; width: 1fr; }"

    def __init__(self, data: ChartData | None = None, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.data = data or ChartData()

    def set_data(self, data: ChartData) -> None:
        self.data = data
        self.refresh()

    def render(self) -> Text:
        out = Text(no_wrap=True, overflow="crop")
        lines = draw(self.data, self.size.width, self.size.height)
        for i, line in enumerate(lines):
            for ch, style in line:
                out.append(ch, Style.parse(style) if style else None)
            if i < len(lines) - 1:
                out.append("\n")
        return out


def plan_chart(entries: Sequence[object], arc_points: Sequence[Point] = ()) -> ChartData:
    """Tempo against time for a playlist's entries, the arc's planned tempo drawn behind, and the
    tracks' arousal (0 calm … 1 energetic) when the plan knew it, drawn across the tempo range.

    ``entries`` are PlaylistEntry values; each track is one point at its middle (minutes).
    """
    tempo: list[Point] = []
    arousal: list[Point] = []
    for e in entries:
        bpm = getattr(e, "used_bpm", None) or getattr(e, "bpm", None)
        if getattr(e, "is_silence", False) or not bpm:
            continue
        mid = (getattr(e, "start_s", 0.0) + getattr(e, "duration_s", 0.0) / 2) / 60.0
        tempo.append((mid, float(bpm)))
        level = getattr(e, "arousal", None)
        if level is not None:
            arousal.append((mid, float(level)))
    series = []
    if arc_points:
        series.append(Series("arc", tuple(arc_points), mark="·", style="#4c566a", guide=True))
    series.append(Series("tempo (BPM)", tuple(tempo), mark="●", style="bold #88c0d0"))
    if arousal and tempo:
        bpms = [y for _, y in tempo] + [y for _, y in arc_points]
        low, high = min(bpms), max(bpms)
        series.append(Series("arousal", tuple((x, low + a * (high - low)) for x, a in arousal),
                             mark="▲", style="#a3be8c"))
    return ChartData(series=tuple(series), x_label="→ minutes")
