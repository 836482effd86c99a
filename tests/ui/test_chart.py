"""The character chart: what a person reads off it at 80 columns."""

from __future__ import annotations

from companion.tui.widgets.chart import BOTH, ChartData, Series, draw


def text(rows) -> list[str]:
    return ["".join(ch for ch, _ in r) for r in rows]


def test_points_land_where_their_values_are_with_the_range_labelled():
    data = ChartData(series=(Series("tempo", ((0, 90), (10, 60)), mark="●"),), y_range=None)
    lines = text(draw(data, 20, 6))
    assert lines[0].startswith(" 90│●") and lines[4][19] == "●"  # first point top left, last bottom right
    assert lines[4].startswith(" 60│") and "tempo" in lines[5]


def test_a_guide_is_drawn_behind_and_two_series_in_one_cell_show_both():
    arc = Series("arc", ((0, 5), (10, 5)), mark="·", guide=True)
    before = Series("before", ((0, 5), (10, 8)), mark="○")
    after = Series("after", ((0, 5), (10, 2)), mark="●")
    lines = text(draw(ChartData(series=(arc, before, after), y_range=(0, 10)), 60, 6))
    assert lines[2][4] == BOTH  # before = after in session 1, the guide under them
    assert lines[2][59] == "·" and lines[1][59] == "○" and lines[3][59] == "●"
    assert "both" in lines[-1]


def test_a_second_series_is_one_more_entry():
    tempo = Series("tempo", ((0, 80), (5, 70)), mark="●")
    arousal = Series("arousal", ((0, 75), (5, 72)), mark="▲")
    lines = text(draw(ChartData(series=(tempo, arousal)), 30, 6))
    assert any("▲" in line for line in lines[:-1]) and "arousal" in lines[-1]


def test_the_plan_chart_adds_arousal_when_the_entries_carry_it():
    from types import SimpleNamespace

    from companion.tui.widgets.chart import plan_chart

    def entry(start_s: float, bpm: float, arousal: float | None) -> SimpleNamespace:
        return SimpleNamespace(start_s=start_s, duration_s=60.0, used_bpm=bpm, bpm=bpm,
                               is_silence=False, arousal=arousal)

    calm = plan_chart([entry(0, 90, 1.0), entry(60, 60, 0.0)])
    assert [s.label for s in calm.series] == ["tempo (BPM)", "arousal"]
    assert calm.series[1].points == ((0.5, 90.0), (1.5, 60.0))  # 1 at the top, 0 at the bottom
    assert [s.label for s in plan_chart([entry(0, 90, None)]).series] == ["tempo (BPM)"]


def test_the_history_chart_keeps_the_most_recent_sessions_one_column_each():
    from companion.core.models import Rating, Session
    from companion.tui.screens.history import CHART_SESSIONS, stress_chart

    found = [Session(id=i, listener="me", playlist="p", arc="step-down", started_at=f"2025-01-{1 + i % 28:02d}",
                     ended_at=None, minutes_listened=20, outcome="completed",
                     ratings=(Rating("stress", "before", 7.0), Rating("stress", "after", float(i % 10))))
             for i in range(100)]
    data = stress_chart(found)
    after = data.series[1].points
    assert len(after) == CHART_SESSIONS and after[0][0] == 31 and after[-1] == (100.0, 9.0)
    assert "last 70 sessions" in data.x_label
