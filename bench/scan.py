"""Scan benchmark: `companion scan` as a whole process against librosa's load + beat tracker.

    python bench/scan.py                  # the demo library, synthesised into bench/.out/scan-lib
    python bench/scan.py FOLDER           # any folder of music (e.g. bench/.corpus/v2-fluid-120)
    python bench/scan.py --repeat 3       # best of 3 runs of each contender

Each contender runs as a fresh process over the same files, one after the other, in the same run:

- ``librosa``: ``librosa.load(f)`` + ``librosa.beat.beat_track(y=y, sr=sr)`` for every file, one
  process, one thread (the issue's baseline);
- ``scan --jobs 1`` and ``scan --jobs 2``: ``python -m companion scan FOLDER`` in a fresh
  COMPANION_HOME (so every file is analysed), BLAS/OpenMP limited to one thread per process;
- ``rescan``: ``companion scan FOLDER --jobs 1`` again in the home the last ``--jobs 1`` run
  filled: nothing changed, so it must analyse nothing (checked: the bench fails otherwise).

CPU seconds are user + system time of *every* process a run starts: the bench makes itself a
child subreaper (Linux prctl), so the scan's forkserver and the workers forked from it are
re-parented to the bench when the scan exits and reaped here; their CPU lands in this
process's RUSAGE_CHILDREN. Wall seconds are the run's elapsed time. Each figure is the best of
``--repeat`` runs (the baseline first in one, last in the next). Ratios are the baseline's
time divided by the contender's (> 1: faster than librosa). The machine may be shared: CPU
ratios are the steady figure, wall ratios vary.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

ONE_THREAD = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
                  PYTHONPATH=str(ROOT))
BASELINE = (
    "import sys, librosa\n"
    "for f in sys.argv[1:]:\n"
    "    y, sr = librosa.load(f)\n"
    "    librosa.beat.beat_track(y=y, sr=sr)\n"
)
_PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _reap_all(deadline_s: float = 10.0) -> None:
    """Wait for every remaining descendant (an orphaned forkserver exits once its parent has)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.02)


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall s, CPU s of the process and all its descendants, stdout) of one command."""
    _reap_all()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    _reap_all()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd[:4])} ... failed:\n{proc.stderr[-2000:]}")
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return wall, cpu, proc.stdout


def audio_files(folder: Path) -> list[str]:
    from companion.core.audio_io import is_audio_file

    return sorted(str(p) for p in folder.rglob("*")
                  if p.is_file() and is_audio_file(p) and not p.name.startswith("."))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", nargs="?", help="folder of music (default: the demo library)")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each contender; best is kept")
    args = ap.parse_args()

    if args.folder:
        folder = Path(args.folder).resolve()
    else:
        from companion.core.demo import synthesise_library

        folder = HERE / ".out" / "scan-lib"
        print(f"synthesising the demo library into {folder} (kept for later runs) ...", flush=True)
        synthesise_library(folder, jobs=None)
    files = audio_files(folder)
    if not files:
        sys.exit(f"bench: no audio files under {folder}")
    from companion.core.audio_io import info

    audio_s = sum(info(f).duration_s for f in files)
    counted = _become_subreaper()

    py = sys.executable
    times: dict[str, list[tuple[float, float]]] = {}
    rescan_out = ""
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:

        def baseline() -> None:
            w, c, _ = run([py, "-c", BASELINE, *files], ONE_THREAD)
            times.setdefault("librosa", []).append((w, c))

        for r in range(args.repeat):
            # the baseline runs first in even rounds and last in odd ones, so that a machine
            # getting busier (or quieter) during the run does not favour either side
            if r % 2 == 0:
                baseline()
            for jobs in (1, 2):
                home = Path(tmp) / f"home-{r}-{jobs}"
                env = dict(ONE_THREAD, COMPANION_HOME=str(home))
                cmd = [py, "-m", "companion", "scan", str(folder), "--jobs", str(jobs)]
                w, c, out = run(cmd, env)
                if f"{len(files)} analysed" not in out:
                    sys.exit(f"bench: scan --jobs {jobs} did not analyse every file: {out.strip()}")
                times.setdefault(f"scan --jobs {jobs}", []).append((w, c))
                if jobs == 1:
                    w, c, rescan_out = run(cmd, env)
                    if not re.search(r"\b0 analysed\b", rescan_out):
                        sys.exit(f"bench: the rescan analysed files again: {rescan_out.strip()}")
                    times.setdefault("rescan (unchanged)", []).append((w, c))
            if r % 2 == 1:
                baseline()

    print(f"{folder}: {len(files)} files, {audio_s / 60:.1f} min of audio; best of {args.repeat}")
    print("CPU = user+system s of every process of the run"
          + ("" if counted else " (WARNING: no subreaper: forkserver workers not counted)"))
    best = {k: (min(w for w, _ in v), min(c for _, c in v)) for k, v in times.items()}
    base_w, base_c = best["librosa"]
    for name, (w, c) in best.items():
        speed = "  no audio work  " if name.startswith("rescan") else f"{audio_s / w:6.0f}x real time"
        line = f"{name:20s} wall {w:6.2f} s  cpu {c:6.2f} s  {speed}"
        if name != "librosa":
            line += f"   vs librosa: cpu {base_c / c:4.2f}x  wall {base_w / w:4.2f}x"
        print(line)
    j1, j2 = best["scan --jobs 1"], best["scan --jobs 2"]
    print(f"--jobs 2 vs --jobs 1 (same folder): wall {j1[0] / j2[0]:4.2f}x faster, "
          f"cpu {j2[1] / j1[1]:4.2f}x as much")
    print(f"rescan: {rescan_out.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
