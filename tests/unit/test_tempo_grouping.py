"""A 2/3 reading needs triple-grouping evidence: duple music with a 3+3+2 figure (kick and
chord stabs on eighths 1, 4 and 7 of each bar, common in game and dance soundtracks) is tapped
at its quarter notes, not at the dotted quarter its figure repeats at."""

from __future__ import annotations

import numpy as np
import pytest

from companion.core.tempo import ANALYSIS_SR, estimate_tempo

SR = ANALYSIS_SR


def three_three_two(bpm: float = 120.0, seconds: float = 40.0, hats: bool = True) -> np.ndarray:
    n = int(seconds * SR)
    y = np.zeros(n, dtype=np.float32)
    eighth = 60.0 / bpm / 2
    t = np.arange(int(0.3 * SR)) / SR
    rng = np.random.default_rng(2)
    kick = np.sin(2 * np.pi * (50 + 80 * np.exp(-t / 0.03)) * t) * np.exp(-t / 0.15)
    stab = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) * np.exp(-t / 0.12) * 0.5
    hat = rng.standard_normal(len(t)) * np.exp(-t / 0.008) * 0.05
    for k in range(int((seconds - 0.5) / eighth)):
        i = int(k * eighth * SR)
        m = min(len(t), n - i)
        if k % 8 in (0, 3, 6):
            y[i : i + m] += (kick + stab)[:m].astype(np.float32)
        if hats:
            y[i : i + m] += hat[:m].astype(np.float32)
    return 0.5 * y / np.abs(y).max()


@pytest.mark.parametrize("hats", [True, False])
def test_duple_music_with_a_three_three_two_figure_is_not_read_at_two_thirds(hats: bool) -> None:
    est = estimate_tempo(three_three_two(hats=hats), SR)
    assert est.bpm == pytest.approx(120.0, rel=0.02)
    # the level the figure suggests is kept as an alternative, and the reading is not "sure"
    assert any(a.ratio == "2/3" and a.bpm == pytest.approx(80.0, rel=0.02) for a in est.alternatives)
    assert est.confidence < 0.9
