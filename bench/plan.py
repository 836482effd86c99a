"""Planner benchmark: plan times over synthetic libraries of 1 k, 20 k and 100 k tracks.

    python bench/plan.py                  # all three sizes, every bundled arc
    python bench/plan.py --sizes 20000    # one size
    python bench/plan.py --store          # also `build` through a Store (SQLite read included)

Prints, per size and arc, the median time of ``planner.plan`` (library arrays built inside,
as a caller pays them) and its growth against the previous size, plus a yardstick measured in
the same run: one Python pass over the library (reading every track's tempo). "arrays s" is
the part of the plan time spent turning Track objects into the tempo-sorted numpy arrays
(linear in the library); the rest is the beam search, which looks only at the tracks near
the arc at each step and so grows more slowly. "vs tempo" is the plan time against the same
library planned on tempo alone (no character, no fingerprints: no arousal, timbre or duplicate
work), in the same run. The issue asks that 20 k tracks plan well under a second on this kind
of machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from companion.core import planner, playlists  # noqa: E402
from companion.core.models import Character, TempoAlternative, Track  # noqa: E402

ARCS = ("step-down", "u-sequence", "sleep")


def library(n: int, seed: int = 0) -> list[Track]:
    """A plausible personal library: tempi log-normal around 95 BPM (40–190), 2–8 minutes,
    a quarter unsure with half/double alternatives, about ten tracks per artist; each with a
    character (arousal, a timbre from one of 30 styles) and a fingerprint, 1 % of them a
    second copy of another track's recording (so the duplicate search has work to do)."""
    tracks = _plain_library(n, seed)
    rng = np.random.default_rng(seed + 1)
    styles = rng.normal(0, 3, (30, 16))
    style = rng.integers(0, 30, n)
    out = []
    for i, t in enumerate(tracks):
        ch = Character(
            onset_density=float(rng.uniform(0.5, 8)), percussive_share=float(rng.uniform(0, 0.8)),
            centroid_hz=float(rng.uniform(300, 3000)), rolloff_hz=2000.0, dynamic_range_db=10.0,
            timbre=tuple((styles[style[i]] + rng.normal(0, 1, 16)).round(3).tolist()),
            arousal=float(np.clip(rng.normal(0.2 + 0.5 * ((t.bpm or 95) - 40) / 150, 0.15), 0, 1)),
        )
        fp = rng.integers(0, 2**16, 256, dtype=np.uint16).astype("<u2").tobytes()
        out.append(replace(t, character=ch, fingerprint=fp))
    for i in rng.choice(n, n // 100, replace=False).tolist():
        j = int(rng.integers(0, n))
        out[i] = replace(out[i], duration_s=out[j].duration_s, character=out[j].character,
                         fingerprint=out[j].fingerprint)
    return out


def _plain_library(n: int, seed: int) -> list[Track]:
    rng = np.random.default_rng(seed)
    bpm = np.clip(np.exp(rng.normal(np.log(95), 0.3, n)), 40, 190).round(1)
    dur = rng.uniform(120, 480, n).round(1)
    conf = rng.uniform(0, 1, n).round(2)
    loud = rng.uniform(-30, -10, n).round(1)
    artist = rng.integers(0, max(1, n // 10), n)
    out = []
    for i in range(n):
        b = float(bpm[i])
        alts = (TempoAlternative(round(b * 2, 1), 0.5, "2"), TempoAlternative(round(b / 2, 1), 0.3, "1/2"))
        out.append(Track(
            path=f"/library/artist{artist[i]:05d}/track{i:07d}.flac", title=f"Track {i}",
            artist=f"Artist {artist[i]}", duration_s=float(dur[i]), bpm=b,
            bpm_confidence=float(conf[i]), bpm_alternatives=alts if conf[i] < 0.6 else (),
            loudness_lufs=float(loud[i]), bpm_start=b * 1.01, bpm_end=b * 0.99,
        ))
    return out


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 20_000, 100_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--store", action="store_true", help="also time build() through a Store")
    args = ap.parse_args()

    print(f"{'tracks':>8} {'arc':<11} {'plan s':>8} {'growth':>7} {'arrays s':>9} {'yardstick s':>12} "
          f"{'plan/yard':>10} {'vs tempo':>10}  plan")
    prev: dict[str, float] = {}
    prev_n = None
    for n in args.sizes:
        lib = library(n)
        bare = [replace(t, character=None, fingerprint=b"") for t in lib]
        yard = timed(lambda lib=lib: sum(t.bpm or 0 for t in lib), args.repeat)
        arrays = timed(lambda lib=lib: planner._uses(planner.filter_tracks(lib), 0), args.repeat)
        for arc in ARCS:
            def run(arc: str = arc, lib: list[Track] = lib) -> None:
                planner.plan(lib, arc=arc, start_bpm=95, target_bpm=60, minutes=20)

            def plain(arc: str = arc, bare: list[Track] = bare) -> None:  # tempo alone: the baseline
                planner.plan(bare, arc=arc, start_bpm=95, target_bpm=60, minutes=20)

            run()  # warm caches (arc file, numpy paths)
            t = timed(run, args.repeat)
            base = timed(plain, args.repeat)
            pl = planner.plan(lib, arc=arc, start_bpm=95, target_bpm=60, minutes=20)
            growth = f"{t / prev[arc]:.1f}x" if arc in prev else "-"
            shape = " ".join(f"{e.used_bpm:.0f}" if not e.is_silence else "·" for e in pl.entries)
            print(f"{n:>8} {arc:<11} {t:>8.3f} {growth:>7} {arrays:>9.3f} {yard:>12.4f} "
                  f"{t / yard:>10.0f} {t / base:>9.2f}x  {shape}")
            prev[arc] = t
        if prev_n:
            print(f"{'':>8} (library grew {n / prev_n:.0f}x)")
        prev_n = n
        if args.store:
            from companion.core.store import Store
            from tests.unit.test_plan import analysis_rows

            with tempfile.TemporaryDirectory() as d:
                import os

                os.environ["COMPANION_HOME"] = d
                with Store() as store:
                    store.save_analysis(analysis_rows(lib))
                    t = timed(lambda store=store: playlists.build(
                        store, name="bench", arc="u-sequence", start_bpm=95), args.repeat)
                    read = timed(lambda store=store: store.tracks(status="ok"), args.repeat)
                print(f"{n:>8} build (store read {read:.3f} s + plan + save): {t:.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
