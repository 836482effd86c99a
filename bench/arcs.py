"""How a therapist would judge the plans on a real library: arousal and style along the arc.

    COMPANION_HOME=DIR python bench/arcs.py          # the library scanned into DIR
    python bench/arcs.py --synthetic                 # a synthetic library (no audio)

For each arc (step-down, u-sequence, sleep) and seed, a 20-minute plan from the library's
default start to 60 BPM, and per plan:

- arousal monotonicity: Spearman's rank correlation of the tracks' arousal against their
  position, from the first track to the trough (target <= -0.5);
- style continuity: the share of neighbouring steps whose timbre distance is smaller than
  the median distance from the earlier track to the library's tracks of the later track's
  tempo range (+-8 %, at least the minimum length): closer than random pairs of the same
  tempo range (target >= 75 %);
- the hard rules: no track under the minimum length, none nearly silent, no recording twice,
  the tempo never rising more than 4 % during the descent.

The arousal is the planner's own measure (``companion.core.character``); the timbre distance
is the planner's too (standardised timbre over the library). With ``--independent`` the
descent's tracks are also measured by librosa (decoded again, 22.05 kHz mono): the mean of
the z-scores of RMS level (dB), onset strength and spectral centroid, a common arousal proxy
computed by other code, and its Spearman correlation is printed beside ours. Say which library the figures
come from: a real one (``COMPANION_HOME``) or ``--synthetic``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from companion.core import duplicates, planner  # noqa: E402
from companion.core.errors import PlanError  # noqa: E402
from companion.core.models import Playlist, Track  # noqa: E402

ARCS = ("step-down", "u-sequence", "sleep")


def load_library(synthetic: bool) -> tuple[list[Track], str]:
    if synthetic:
        from plan import library  # bench/plan.py's synthetic library with characters

        return library(3000, seed=11), "synthetic (bench/plan.py, 3000 tracks)"
    from companion.core import paths
    from companion.core.store import Store

    with Store() as store:
        tracks = store.tracks(status="ok", fingerprints=True)
    return tracks, f"{paths.db_path()} ({len(tracks)} analysed tracks)"


def spearman(x: list[float], y: list[float]) -> float:
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    if len(x) < 3 or np.std(rx) == 0 or np.std(ry) == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


_INDEPENDENT: dict[str, tuple[float, float, float]] = {}


def librosa_features(path: str) -> tuple[float, float, float]:
    """RMS level (dB), mean onset strength and mean spectral centroid (Hz), by librosa."""
    if path not in _INDEPENDENT:
        import librosa

        y, sr = librosa.load(path, sr=22050, mono=True, duration=240)
        rms = librosa.feature.rms(y=y)[0]
        _INDEPENDENT[path] = (float(20 * np.log10(np.mean(rms) + 1e-9)),
                              float(np.mean(librosa.onset.onset_strength(y=y, sr=sr))),
                              float(np.mean(librosa.feature.spectral_centroid(y=y, sr=sr))))
    return _INDEPENDENT[path]


def independent_rho(down: list) -> float:
    """Spearman of librosa's arousal proxy against position along the descent."""
    feats = np.array([librosa_features(e.path) for e in down])
    z = (feats - feats.mean(axis=0)) / (feats.std(axis=0) + 1e-9)
    return spearman(list(range(len(down))), list(z.mean(axis=1)))


def descent(pl: Playlist) -> list:
    tracks = list(pl.tracks)
    trough = min(range(len(tracks)), key=lambda i: (tracks[i].used_bpm, i))
    return tracks[: trough + 1]


class Timbre:
    """Standardised timbre of the usable library, and each track's tempo."""

    def __init__(self, usable: list[Track]) -> None:
        raw = np.array([t.character.timbre for t in usable])
        self.z = (raw - raw.mean(axis=0)) / (raw.std(axis=0) + 1e-9)
        self.index = {t.path: i for i, t in enumerate(usable)}
        self.bpm = np.array([t.bpm for t in usable])

    def continuity(self, pl: Playlist) -> tuple[int, int]:
        """(steps closer than the median same-tempo pair, steps)."""
        closer = steps = 0
        tracks = pl.tracks
        for a, b in zip(tracks, tracks[1:], strict=False):
            ia, ib = self.index.get(a.path), self.index.get(b.path)
            if ia is None or ib is None:
                continue
            same = np.flatnonzero(np.abs(self.bpm - b.used_bpm) / b.used_bpm <= 0.08)
            same = same[same != ia]
            if same.size < 2:
                continue
            d = np.linalg.norm(self.z[same] - self.z[ia], axis=1)
            closer += float(np.linalg.norm(self.z[ib] - self.z[ia])) < float(np.median(d))
            steps += 1
        return closer, steps


def hard_rules(pl: Playlist, usable_recs: dict[str, int], min_length_s: float) -> list[str]:
    problems = []
    tracks = pl.tracks
    if any(e.duration_s < min_length_s for e in tracks):
        problems.append("short track")
    recs = [usable_recs.get(e.path, hash(e.path)) for e in tracks]
    if len(recs) != len(set(recs)):
        problems.append("recording twice")
    down = descent(pl)
    for a, b in zip(down, down[1:], strict=False):
        if b.used_bpm > a.used_bpm * 1.04:
            problems.append(f"rise {a.used_bpm}->{b.used_bpm}")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synthetic", action="store_true", help="a synthetic library instead of COMPANION_HOME's")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--target", type=float, default=60.0)
    ap.add_argument("--independent", action="store_true", help="also librosa's arousal proxy (decodes the tracks)")
    args = ap.parse_args()

    tracks, source = load_library(args.synthetic)
    usable = [t for t in planner.filter_tracks(tracks, min_length_s=planner.DEFAULT_MIN_LENGTH_S)
              if t.character is not None]
    silent = sum(planner.is_near_silent(t) for t in tracks)
    short = sum(0 < t.duration_s < planner.DEFAULT_MIN_LENGTH_S for t in tracks)
    recs = duplicates.recording_ids(usable)
    print(f"library: {source}; usable {len(usable)} (left out: {short} under 60 s, {silent} nearly silent; "
          f"{len(usable) - len(set(recs.tolist()))} duplicate recordings)")
    timbre = Timbre(usable)
    rec_of = {t.path: int(r) for t, r in zip(usable, recs, strict=True)}
    print(f"{'arc':<11} {'seed':>4} {'tracks':>6} {'spearman':>9} {'style':>9}  rules  arousal along the descent")
    rhos: dict[str, list[float]] = {}
    indep: dict[str, list[float]] = {}
    styles: dict[str, list[tuple[int, int]]] = {}
    for arc in ARCS:
        for seed in range(args.seeds):
            try:
                pl = planner.plan(tracks, arc=arc, target_bpm=args.target, minutes=args.minutes, seed=seed)
            except PlanError as exc:
                print(f"{arc:<11} {seed:>4}  no plan: {exc}")
                continue
            down = descent(pl)
            rho = spearman(list(range(len(down))), [e.arousal if e.arousal is not None else np.nan for e in down])
            c, n = timbre.continuity(pl)
            rhos.setdefault(arc, []).append(rho)
            if args.independent and not args.synthetic:
                indep.setdefault(arc, []).append(independent_rho(down))
            styles.setdefault(arc, []).append((c, n))
            rules = hard_rules(pl, rec_of, planner.DEFAULT_MIN_LENGTH_S) or ["ok"]
            shape = " ".join(f"{e.arousal:.2f}" if e.arousal is not None else "?" for e in down)
            extra = f" (librosa {indep[arc][-1]:.2f})" if arc in indep else ""
            print(f"{arc:<11} {seed:>4} {len(pl.tracks):>6} {rho:>9.2f} {c:>4}/{n:<4}  {','.join(rules)}  "
                  f"{shape}{extra}")
    print()
    print(f"{'arc':<11} {'median spearman':>16} {'target':>7} {'style continuity':>17} {'target':>7}")
    for arc in ARCS:
        if arc not in rhos:
            continue
        c = sum(x for x, _ in styles[arc])
        n = sum(y for _, y in styles[arc])
        extra = f"   librosa proxy: median spearman {statistics.median(indep[arc]):.2f}" if arc in indep else ""
        print(f"{arc:<11} {statistics.median(rhos[arc]):>16.2f} {'<=-0.5':>7} "
              f"{(c / n if n else float('nan')):>16.0%} {'>=75%':>7}{extra}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
