"""Playback benchmark: underruns and memory of a long session while the CPU is busy scanning.

    python bench/playback.py                  # a 20-minute session vs a 2-minute one (~22 min)
    python bench/playback.py --minutes 4      # shorter: a 4-minute session vs a 2-minute one
    python bench/playback.py --load 0         # without the scan-like load
    python bench/playback.py --period 256     # 5.8 ms periods instead of 23 ms (a harsher card)

Needs Debian's jackd2 and jack-capture (the same private JACK server as the real-time test,
tests/e2e/realtime.py).

What it does:

1. synthesises FLAC tracks (44.1 kHz stereo, soft chords with noise, ``--track-minutes`` long)
   into a temporary folder;
2. starts ``--load`` processes (default 2, one per core), each scanning the bench's tracks
   again and again with companion's own scan (decoding, loudness, tempo analysis);
3. plays the baseline 2-minute session, then the ``--minutes`` session, each in a fresh process,
   through the real engine (decoding, levelling, 6 s crossfades, fades) and PortAudio's JACK
   host API into a private JACK server on the dummy driver: a sound card paced in real time,
   with no hardware. (The ALSA ``file`` plugin's ``null`` sink used by other tests is not
   paced, so underruns through it mean nothing.);
4. prints, per session: underruns (the ring buffer ran dry; want 0), late cycles (JACK periods
   the player's callback did not finish in time, where a real card clicks; want 0), the lowest
   the ring buffer ran (seconds of audio queued ahead of the card), the peak of Python
   allocations (tracemalloc) and the peak resident size (VmHWM), and the ratio of the long
   session's peaks to the baseline's (want about 1: memory must not grow with the session or
   track length).
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
import zlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.e2e import realtime  # noqa: E402  (the JACK server and its checks, shared with the tests)

SR = 44100

# One real library scan per load process (companion's own analysis: decode, loudness, tempo),
# re-analysing the bench's tracks over and over.
LOAD = r"""
import os, sys, tempfile
os.environ["COMPANION_HOME"] = tempfile.mkdtemp(prefix="companion-bench-load-")
from companion.core.scan import scan
from companion.core.store import Store
store = Store()
print("ready", flush=True)
while True:
    scan([sys.argv[1]], store, jobs=1, force=True)
"""

SESSION = r"""
import json, sys, time, tracemalloc
# Import what playback needs first: tracemalloc then sees the engine's data, not module code.
import numpy, scipy.signal, soundfile, soxr, pyloudnorm
from companion.core import loudness, render
from companion.core.models import Playlist, PlaylistEntry
from companion.core.player import Player, SoundDeviceOutput
tracemalloc.start()
paths = json.loads(sys.argv[1])
playlist = Playlist("bench", tuple(PlaylistEntry(path=p, title=p) for p in paths))
out = SoundDeviceOutput("system")  # JACK's card, through PortAudio: JACK_DEFAULT_SERVER says which
player = Player(playlist, output=out)
tracemalloc.reset_peak()
t0 = time.monotonic()
player.start()
lowest = float("inf")
while not player.wait(0.05):
    deck = player._deck
    if deck.played > deck.sr and not deck.eof:  # not the pre-filled start, nor the final drain
        lowest = min(lowest, deck.available() / deck.sr)
status = player.status()
player.close()
wall = time.monotonic() - t0
peak = tracemalloc.get_traced_memory()[1]
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"audio_s": status.elapsed_s, "wall_s": wall, "underruns": status.underruns,
                  "lowest_lead_s": lowest, "tracemalloc_mib": peak / 2**20,
                  "rss_mib": hwm / 1024, "error": status.error, "notices": list(status.notices)}))
"""


def synth_track(path: Path, seconds: float, seed: int) -> None:
    """A soft pad chord with a little noise, written blockwise (the bench's own memory stays low)."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    root = 110.0 * 2 ** (rng.integers(0, 12) / 12)
    freqs = root * np.array([1.0, 1.25, 1.5, 2.0])
    amp = 10 ** (rng.uniform(-18, -6) / 20)  # different levels: levelling has work to do
    block = SR * 10
    with sf.SoundFile(path, "w", samplerate=SR, channels=2, subtype="PCM_16") as f:
        for start in range(0, int(seconds * SR), block):
            n = min(block, int(seconds * SR) - start)
            t = (start + np.arange(n)) / SR
            tone = sum(np.sin(2 * np.pi * fr * t + i) for i, fr in enumerate(freqs)) / len(freqs)
            swell = 0.6 + 0.4 * np.sin(2 * np.pi * t / 17.0)
            left = amp * (tone * swell + 0.02 * rng.standard_normal(n))
            right = amp * (np.roll(tone, 37) * swell + 0.02 * rng.standard_normal(n))
            f.write(np.stack([left, right], axis=1).astype(np.float32))


def make_session(folder: Path, minutes: float, track_minutes: float, tag: str) -> list[str]:
    n = max(1, math.ceil(minutes / track_minutes))
    seconds = minutes * 60 / n + 6.0 * (n - 1) / n  # crossfades overlap: keep the session length
    paths = []
    for i in range(n):
        path = folder / f"{tag}-{i:02d}.flac"
        synth_track(path, seconds, seed=zlib.crc32(f"{tag}-{i}".encode()))
        paths.append(str(path))
    return paths


def run_session(paths: list[str], jack: realtime.JackServer) -> dict:
    late = jack.late_cycles()
    proc = subprocess.run([sys.executable, "-c", SESSION, json.dumps(paths)],
                          capture_output=True, text=True, cwd=HERE.parent, env=jack.env)
    if proc.returncode != 0:
        raise SystemExit(f"session failed:\n{proc.stderr[-3000:]}")
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "late": jack.late_cycles() - late}


def start_load(n: int, niceness: int, folder: Path) -> list[subprocess.Popen]:
    procs = [subprocess.Popen(["nice", "-n", str(niceness), sys.executable, "-c", LOAD, str(folder)],
                              stdout=subprocess.PIPE, text=True, cwd=HERE.parent)
             for _ in range(n)]
    for p in procs:  # wait until each is really working
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    return procs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=20.0, help="the long session (default 20)")
    ap.add_argument("--baseline", type=float, default=2.0, help="the short session (default 2)")
    ap.add_argument("--track-minutes", type=float, default=5.0, help="track length (default 5)")
    ap.add_argument("--load", type=int, default=2, help="busy library scans (default 2)")
    ap.add_argument("--period", type=int, default=1024,
                    help="JACK frames per period at 44.1 kHz (default 1024: 23 ms to fill each)")
    ap.add_argument("--load-nice", type=int, default=0,
                    help="niceness of the load processes (default 0: same priority as playback)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="companion-bench-") as tmp:
        folder = Path(tmp)
        t0 = time.monotonic()
        # Two tracks in the baseline too, so both sessions have crossfades (two voices at once).
        short = make_session(folder, args.baseline, min(args.track_minutes, args.baseline / 2), "short")
        long = make_session(folder, args.minutes, args.track_minutes, "long")
        print(f"synthesised {len(short)} + {len(long)} tracks in {time.monotonic() - t0:.1f} s", flush=True)
        with realtime.jack_server(folder, period=args.period) as jack:
            load = start_load(args.load, args.load_nice, folder)
            print(f"load: {args.load} library scans busy (nice {args.load_nice}); "
                  f"cores: {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}", flush=True)
            try:
                rows = []
                for label, paths, minutes in (("baseline", short, args.baseline),
                                              ("long", long, args.minutes)):
                    print(f"playing the {minutes:g}-minute session ({len(paths)} tracks) through "
                          f"JACK's dummy card, {args.period}-frame periods …", flush=True)
                    rows.append((label, minutes, run_session(paths, jack)))
            finally:
                for p in load:
                    p.kill()
                    p.wait()

    print()
    print(f"{'session':>9} {'audio':>8} {'wall':>8} {'underruns':>9} {'late':>5} {'lowest lead':>11} "
          f"{'tracemalloc':>11} {'peak RSS':>9}")
    for label, _minutes, r in rows:
        print(f"{label:>9} {r['audio_s'] / 60:7.1f}m {r['wall_s'] / 60:7.1f}m {r['underruns']:>9} "
              f"{r['late']:>5} {r['lowest_lead_s']:10.2f}s {r['tracemalloc_mib']:9.1f}Mi "
              f"{r['rss_mib']:7.1f}Mi")
        if r["error"] or r["notices"]:
            print(f"          error: {r['error']}  notices: {r['notices']}")
    base, longr = rows[0][2], rows[1][2]
    print()
    print(f"long / baseline: tracemalloc peak ×{longr['tracemalloc_mib'] / base['tracemalloc_mib']:.2f}, "
          f"peak RSS ×{longr['rss_mib'] / base['rss_mib']:.2f}; "
          f"underruns {base['underruns']} and {longr['underruns']}, late cycles {base['late']} and "
          f"{longr['late']} (want 0)")
    return 0 if all(r["underruns"] == 0 and r["late"] == 0 for _, _, r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
