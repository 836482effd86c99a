"""Tempo benchmark: accuracy on the development corpus and speed against librosa's beat tracker.

    python bench/tempo.py                 # build/reuse the corpus, evaluate, time both
    python bench/tempo.py --fit           # refit the level model, print WEIGHTS for tempo.py
    python bench/tempo.py --no-speed      # accuracy only
    python bench/tempo.py --scan          # also time `companion scan --jobs 1` (whole process)
    python bench/tempo.py --no-demo       # skip the held-out check on the demo library
    python bench/tempo.py --seed 7 --n 80 # a held-out corpus (other seed, never fitted on)
    python bench/tempo.py --cv-repeats 0  # skip the repeated random-split cross-validation

Besides the shipped estimator's figures (its level model was fitted on this same corpus, so
they are in-sample), it prints k-fold cross-validated figures: the level model refitted
without each fold and its choice among the candidate levels of the held-out pieces. The
demo library (companion/core/demo.py, never used for fitting) is a further held-out check.

Prints Acc1 (within 4 % of the notated-beat tempo) and Acc2 (also at ×2, ×3, ×½, ×⅓) by tempo
band and category, librosa's own Acc1/Acc2 (librosa.load + librosa.beat.beat_track) as a
baseline, the speed ratio measured in the same run, and the confidence reliability table.
Speed is timed as whole processes (imports included), one after the other, on one core each.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import corpus  # noqa: E402

TOL = 0.04
# both contenders on one core, as a `--jobs 1` scan would run
ONE_THREAD = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")

OURS = r"""
import json, sys
from companion.core.audio_io import load_mono
from companion.core.tempo import ANALYSIS_SR, estimate_tempo
out = {}
for path in sys.argv[1:]:
    e = estimate_tempo(load_mono(path, sample_rate=ANALYSIS_SR), ANALYSIS_SR)
    out[path] = [e.bpm, e.confidence]
print(json.dumps(out))
"""

LIBROSA = r"""
import json, sys
import numpy as np
import librosa
out = {}
for path in sys.argv[1:]:
    y, sr = librosa.load(path)
    tempo, _ = librosa.beat.beat_track(y=y, sr=sr)
    out[path] = [float(np.atleast_1d(tempo)[0]), None]
print(json.dumps(out))
"""


def run_timed(code: str, files: list[str], env: dict[str, str] | None = None) -> tuple[dict, float, float]:
    """Run ``code`` over ``files`` in a fresh process: (its output, wall s, CPU s)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", code, *files], capture_output=True, text=True,
                         env=env, check=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads(res.stdout.strip().splitlines()[-1]), wall, cpu


def time_scan(folder: Path) -> tuple[float, float] | None:
    """(wall s, CPU s) of a whole `companion scan --jobs 1 FOLDER` process, or None if it fails."""
    import resource

    with tempfile.TemporaryDirectory() as home:
        env = dict(ONE_THREAD, COMPANION_HOME=home)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        res = subprocess.run([sys.executable, "-m", "companion", "scan", "--jobs", "1", str(folder)],
                             capture_output=True, text=True, env=env)
        took = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if res.returncode != 0:
            print(f"  (companion scan failed: {res.stderr.strip().splitlines()[-1:]})")
            return None
        return took, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


# -- accuracy ------------------------------------------------------------------------------------


def acc1(est: float, truth: float) -> bool:
    return abs(est - truth) <= TOL * truth


def acc2(est: float, truth: float) -> bool:
    return any(acc1(est, truth * m) for m in (1, 2, 3, 0.5, 1 / 3))


def band(bpm: float) -> str:
    return "<70" if bpm < 70 else ("70-100" if bpm < 100 else ">=100")


def report(rows: list[dict], key: str, title: str) -> None:
    """Acc1/Acc2 of ``key`` estimates, overall, by band and by category."""
    print(f"\n== {title} ==")
    groups: dict[str, list[dict]] = {"all": rows}
    for r in rows:
        for g in (
            f"band {band(r['true_bpm'])}",
            "percussive" if r["percussion"] else "drumless",
            r["timbre"],
            "compound" if corpus.METERS[r["meter"]][1] == 3 else "simple",
            f"format {r['fmt']}",
            f"style {r['style']}",
            f"timing {r['timing']}",
        ):
            groups.setdefault(g, []).append(r)
    print(f"  {'group':<18} {'n':>4} {'Acc1':>7} {'Acc2':>7}")
    for g, rs in groups.items():
        a1 = np.mean([acc1(r[key], r["true_bpm"]) for r in rs]) * 100
        a2 = np.mean([acc2(r[key], r["true_bpm"]) for r in rs]) * 100
        print(f"  {g:<18} {len(rs):>4} {a1:>6.1f}% {a2:>6.1f}%")


def calibration(rows: list[dict]) -> None:
    print("\n== confidence calibration (ours) ==")
    print(f"  {'bin':<10} {'n':>4} {'mean conf':>10} {'accuracy':>9}")
    edges = [0, 0.4, 0.6, 0.8, 0.9, 1.0001]
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        rs = [r for r in rows if lo <= r["conf"] < hi]
        if rs:
            mc = np.mean([r["conf"] for r in rs])
            ac = np.mean([acc1(r["ours"], r["true_bpm"]) for r in rs])
            print(f"  {lo:.1f}-{min(hi, 1):.1f}    {len(rs):>4} {mc:>10.2f} {ac * 100:>8.1f}%")
    from companion.core.tempo import UNSURE_CONFIDENCE

    sure = [r for r in rows if r["conf"] >= UNSURE_CONFIDENCE]
    if sure:
        print(f"  confident (>= {UNSURE_CONFIDENCE}): {len(sure)}/{len(rows)} tracks, "
              f"Acc1 {np.mean([acc1(r['ours'], r['true_bpm']) for r in sure]) * 100:.1f}%")


# -- fitting the level model ---------------------------------------------------------------------


def candidate_table(rows: list[dict], cache: Path) -> list[tuple[list[float], np.ndarray, int]]:
    """Per track: candidate BPMs, all features (ALL_FEATURES), index of the true level (-1 when
    absent). Cached in the corpus folder, keyed by the estimator's source."""
    import hashlib
    import inspect

    from companion.core import tempo
    from companion.core.audio_io import load_mono

    parts = [tempo.onset_envelopes, tempo._detrend, tempo._acf, tempo._at, tempo.candidate_levels,
             tempo._level_evidence, tempo._peaks, tempo._pulse_evidence, tempo.track_beats,
             tempo._onsets, tempo._peak_near, tempo._comb, tempo._mel_filterbank, tempo.Envelopes]
    key = "".join(inspect.getsource(f) for f in parts)
    key += repr((tempo.ALL_FEATURES, tempo.ANALYSIS_SR, tempo.MAX_ANALYSIS_S, tempo._RATIOS,
                 tempo._N_FFT, tempo._HOP, tempo._N_MELS, tempo._LOW_HZ, len(rows)))
    sig = hashlib.sha1(key.encode()).hexdigest()
    stamp = cache / "features.json"
    if stamp.exists():
        data = json.loads(stamp.read_text())
        if data.get("sig") == sig:
            return [(c, np.array(f), t) for c, f, t in data["items"]]
    items = []
    for i, r in enumerate(rows):
        y = load_mono(r["path"], sample_rate=tempo.ANALYSIS_SR)
        y, sr = tempo._prepare(y, tempo.ANALYSIS_SR)
        env = tempo.onset_envelopes(y, sr).window(tempo.MAX_ANALYSIS_S)
        cands, feats = tempo.candidate_levels(env, env.autocorrelations(), tempo.ALL_FEATURES)
        hits = [j for j, c in enumerate(cands) if acc1(c, r["true_bpm"])]
        items.append((cands, feats.tolist(), hits[0] if hits else -1))
        print(f"\r  features {i + 1}/{len(rows)}", end="", file=sys.stderr)
    print(file=sys.stderr)
    stamp.write_text(json.dumps({"sig": sig, "items": items}))
    return [(c, np.array(f), t) for c, f, t in items]


def model_columns(table: list) -> list:
    """The table restricted to the model's features (FEATURE_NAMES)."""
    from companion.core import tempo

    idx = [tempo.ALL_FEATURES.index(n) for n in tempo.FEATURE_NAMES]
    return [(c, f[:, idx], t) for c, f, t in table]


def fit(table: list, l2: float = 0.05) -> np.ndarray:
    from scipy.optimize import minimize

    from companion.core.tempo import level_scores

    data = [(f, t) for _, f, t in table if t >= 0 and len(f) > 1]
    d = data[0][0].shape[1]
    fixed = [level_scores(f, np.zeros(d)) for f, _ in data]  # the unfitted part of the score

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros(d)
        for (f, t), off in zip(data, fixed, strict=True):
            s = f @ w + off
            s -= s.max()
            p = np.exp(s) / np.exp(s).sum()
            total -= math.log(max(p[t], 1e-12))
            grad -= f[t] - p @ f
        n = len(data)
        return total / n + l2 * w @ w, grad / n + 2 * l2 * w

    res = minimize(loss, np.zeros(d), jac=True, method="L-BFGS-B")
    return res.x


def platt(probs: list[float], hits: np.ndarray) -> tuple[float, float]:
    """(a, b) so that sigmoid(a * logit(p) + b) matches the hit rate (maximum likelihood)."""
    from scipy.optimize import minimize

    p = np.clip(np.array(probs), 1e-4, 1 - 1e-4)
    z = np.log(p / (1 - p))

    def nll(ab: np.ndarray) -> float:
        q = 1 / (1 + np.exp(-(ab[0] * z + ab[1])))
        q = np.clip(q, 1e-9, 1 - 1e-9)
        return float(-(hits * np.log(q) + (1 - hits) * np.log(1 - q)).sum())

    res = minimize(nll, np.array([1.0, 0.0]), method="Nelder-Mead")
    return float(res.x[0]), float(res.x[1])


def crossval(table: list, k: int = 5, shuffle: int | None = None) -> list[tuple[float, float]]:
    """Out-of-fold (bpm, probability) per piece: the level model fitted without piece i's fold.

    Folds are piece index mod ``k``; with ``shuffle`` (a seed), a random split instead."""
    out: list[tuple[float, float]] = [(0.0, 0.0)] * len(table)
    order = (np.arange(len(table)) if shuffle is None
             else np.random.default_rng(shuffle).permutation(len(table)))
    fold_of = {int(i): pos % k for pos, i in enumerate(order)}
    for fold in range(k):
        train = [t for i, t in enumerate(table) if fold_of[i] != fold]
        test_idx = [i for i in range(len(table)) if fold_of[i] == fold]
        w = fit(train)
        for i, bp in zip(test_idx, pick([table[i] for i in test_idx], w), strict=True):
            out[i] = bp
    return out


def repeated_cv(rows: list[dict], table: list, repeats: int) -> None:
    """Acc1 of the cross-validated level choice over ``repeats`` random 5-fold splits (mean and
    spread): a gain of a piece or two under the fixed split can be the luck of that split."""
    res: dict[str, list[float]] = {}
    for rep in range(repeats):
        cv = crossval(table, shuffle=rep)
        for g in ("all", "<70", "70-100", ">=100"):
            sel = [(b, r) for (b, _), r in zip(cv, rows, strict=True)
                   if g == "all" or band(r["true_bpm"]) == g]
            res.setdefault(g, []).append(np.mean([acc1(b, r["true_bpm"]) for b, r in sel]) * 100)
    print(f"\n== 5-fold CV over {repeats} random splits: Acc1 mean ± sd ==")
    print("  " + "   ".join(f"{g} {np.mean(v):.1f} ± {np.std(v):.1f} %" for g, v in res.items()))


def demo_check() -> None:
    """The demo library's intended tempi against the shipped estimator (held out: not fitted)."""
    import soxr

    from companion.core import demo
    from companion.core.tempo import ANALYSIS_SR, estimate_tempo

    print("\n== held out: the demo library (intended tempo -> reading) ==")
    hits = 0
    for spec in demo.DEMO_TRACKS:
        y = soxr.resample(demo.render_track(spec).mean(axis=1), demo.SAMPLE_RATE, ANALYSIS_SR)
        e = estimate_tempo(y.astype(np.float32), ANALYSIS_SR)
        ok = acc1(e.bpm, spec.bpm)
        hits += ok
        print(f"  {spec.stem:<28} {spec.meter:<4} {spec.timbre:<6} {spec.percussion or '-':<7} "
              f"{spec.bpm:6.1f} -> {e.bpm:6.1f} conf {e.confidence:.2f}{'' if ok else '  MISS'}")
    print(f"  demo Acc1: {hits}/{len(demo.DEMO_TRACKS)}")


def pick(table: list, w: np.ndarray) -> list[tuple[float, float]]:
    from companion.core.tempo import level_scores

    out = []
    for c, f, _ in table:
        s = level_scores(f, w)
        p = np.exp(s - s.max())
        p /= p.sum()
        i = int(np.argmax(p))
        out.append((c[i], float(p[i])))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description="tempo benchmark on the development corpus")
    ap.add_argument("--n", type=int, default=160, help="corpus size (default 160)")
    ap.add_argument("--fit", action="store_true", help="refit the level model and print weights")
    ap.add_argument("--no-speed", action="store_true", help="skip the timed runs")
    ap.add_argument("--scan", action="store_true", help="also time `companion scan --jobs 1`")
    ap.add_argument("--no-demo", action="store_true", help="skip the demo-library check")
    ap.add_argument("--seed", type=int, default=corpus.DEV_SEED,
                    help="corpus seed; another one is a HELD-OUT corpus (never fitted on)")
    ap.add_argument("--rounds", type=int, default=1, help="timed rounds, alternating (default 1)")
    ap.add_argument("--cv-repeats", type=int, default=5,
                    help="also cross-validate over this many random 5-fold splits (default 5; 0: off)")
    a = ap.parse_args()

    rows = corpus.ensure_corpus(n=a.n, seed=a.seed)
    heldout = a.seed != corpus.DEV_SEED
    folder = Path(rows[0]["path"]).parent
    files = [r["path"] for r in rows]
    audio_s = 0.0
    import soundfile as sf

    for r in rows:
        r["dur"] = sf.info(r["path"]).duration
        audio_s += r["dur"]
    print(f"corpus: {len(rows)} pieces, {audio_s / 60:.1f} min of audio, in {folder}")

    if a.fit:
        from companion.core import tempo

        table = model_columns(candidate_table(rows, folder))
        missing = sum(t < 0 for _, _, t in table)
        print(f"true level among candidates: {len(table) - missing}/{len(table)}")
        w = fit(table)
        # honesty check: 5-fold cross-validation; the out-of-fold probabilities also
        # calibrate the confidence (Platt scaling)
        cv = crossval(table)
        ins = pick(table, w)
        a1 = np.mean([acc1(b, r["true_bpm"]) for (b, _), r in zip(ins, rows, strict=True)])
        hits = np.array([acc1(b, r["true_bpm"]) for (b, _), r in zip(cv, rows, strict=True)])
        print(f"level model: Acc1 in-sample {a1 * 100:.1f}%, 5-fold cross-validated {hits.mean() * 100:.1f}%")
        print("WEIGHTS = np.array([" + ", ".join(f"{x:.3f}" for x in w) + "])")
        for name, x in zip(tempo.FEATURE_NAMES, w, strict=True):
            print(f"  {name:<24} {x:+.3f}")
        ca, cb = platt([p for _, p in cv], hits)
        print(f"CALIBRATION = ({ca:.3f}, {cb:.3f})")
        return

    lib: dict = {}
    t_scan = None
    if a.no_speed:
        ours, t_ours, c_ours = run_timed(OURS, files, env=ONE_THREAD)
    else:
        # alternate the two so that load from other processes hits both alike; keep the best
        walls: dict[str, list[float]] = {"ours": [], "lib": []}
        cpus: dict[str, list[float]] = {"ours": [], "lib": []}
        for k in range(a.rounds):
            print(f"round {k + 1}/{a.rounds}: librosa.load + beat_track, then ours ...", file=sys.stderr)
            lib, w, c = run_timed(LIBROSA, files, env=ONE_THREAD)
            walls["lib"].append(w)
            cpus["lib"].append(c)
            ours, w, c = run_timed(OURS, files, env=ONE_THREAD)
            walls["ours"].append(w)
            cpus["ours"].append(c)
        t_ours, c_ours = min(walls["ours"]), min(cpus["ours"])
        t_lib, c_lib = min(walls["lib"]), min(cpus["lib"])
        t_scan = time_scan(folder) if a.scan else None
    for r in rows:
        r["ours"], r["conf"] = ours[r["path"]]
        if lib:
            r["librosa"] = lib[r["path"]][0]

    if heldout:
        report(rows, "ours", f"companion.core.tempo on a HELD-OUT corpus (seed {a.seed})")
    else:
        report(rows, "ours", "companion.core.tempo (shipped weights: IN-SAMPLE on this corpus)")
        table = model_columns(candidate_table(rows, folder))
        for r, (b, _) in zip(rows, crossval(table), strict=True):
            r["cv"] = b
        report(rows, "cv", "5-fold CROSS-VALIDATED level choice (model refitted without each fold)")
        if a.cv_repeats:
            repeated_cv(rows, table, a.cv_repeats)
    if lib:
        report(rows, "librosa", "baseline: librosa.load + librosa.beat.beat_track")
    calibration(rows)
    print("\n== speed (whole processes incl. imports, same run, best of rounds) ==")
    print(f"  ours (load_mono at ANALYSIS_SR + estimate_tempo): wall {t_ours:.1f} s "
          f"({audio_s / t_ours:.0f}x real time), CPU {c_ours:.1f} s")
    if lib:
        print(f"  librosa.load + beat_track:                      wall {t_lib:.1f} s "
              f"({audio_s / t_lib:.0f}x real time), CPU {c_lib:.1f} s")
        print(f"  speed ratio librosa/ours: CPU {c_lib / c_ours:.2f}x, wall {t_lib / t_ours:.2f}x")
        if t_scan:
            print(f"  companion scan --jobs 1 (whole process, tags + tempo + loudness + store): "
                  f"wall {t_scan[0]:.1f} s, CPU {t_scan[1]:.1f} s")
            print(f"  speed ratio librosa/scan: CPU {c_lib / t_scan[1]:.2f}x, wall {t_lib / t_scan[0]:.2f}x")
    if not a.no_demo:
        demo_check()
    errs = [r for r in rows if not acc1(r["ours"], r["true_bpm"])]
    print(f"\n== misses ({len(errs)}) ==")
    for r in errs:
        ratio = r["ours"] / r["true_bpm"]
        print(f"  {Path(r['path']).name:<44} truth {r['true_bpm']:6.1f} ours {r['ours']:6.1f} "
              f"(x{ratio:.2f}) conf {r['conf']:.2f}" + (f" librosa {r['librosa']:6.1f}" if lib else ""))


if __name__ == "__main__":
    main()
