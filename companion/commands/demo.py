"""Verb ``demo``: synthesise the bundled demo library, scan it and build the ``demo`` playlist."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from companion.commands._output import ProgressLine, format_duration, positive_int


def register_demo(sub: Any) -> None:
    """Add ``companion demo`` to the argparse subparsers ``sub`` (called by library.register)."""
    p = sub.add_parser(
        "demo",
        help="create the bundled demo library and a playlist to try companion with",
        description="Synthesise a library of calm demo tracks (45–110 BPM, made on this machine, "
        "nothing is downloaded) into COMPANION_HOME/demo-library, add it to the library and "
        "build the playlist 'demo': 20 minutes stepping down from 90 to 60 BPM. Running it "
        "again changes nothing.",
    )
    p.add_argument("--jobs", type=positive_int, default=None, metavar="N",
                   help="worker processes for the analysis (default: the number of cores)")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from companion.core import paths
    from companion.core.demo import ensure_demo
    from companion.core.models import STATUS_ERROR
    from companion.core.store import Store

    started = time.monotonic()
    printer = _StagePrinter(sys.stderr)
    try:
        with Store() as store:
            playlist = ensure_demo(store, progress=printer, jobs=args.jobs)
            failed = store.tracks(status=STATUS_ERROR, under=str(paths.demo_library_dir()))
    finally:
        printer.close()
    for track in failed:  # the playlist was built without them; say so rather than hide it
        print(f"companion: {track.path}: {track.error}", file=sys.stderr)
    from companion.core.playlists import played_s

    seconds = time.monotonic() - started
    tempi = [e.used_bpm or e.bpm for e in playlist.tracks if (e.used_bpm or e.bpm)]
    span = f", {tempi[0]:.0f} → {tempi[-1]:.0f} BPM" if tempi else ""
    print(f"demo library: {paths.demo_library_dir()}")
    print(f"playlist 'demo': {playlist.path} ({len(playlist.tracks)} tracks, "
          f"{format_duration(played_s(playlist))} as played{span})")
    print(f"ready in {seconds:.1f} s. Next: `companion play demo` to listen here, "
          "or `companion` to open the app.")
    return 0


class _StagePrinter(ProgressLine):
    """Progress of the two stages (synthesising, analysing)."""

    stage = ""

    def __call__(self, done: int, total: int, what: str) -> None:
        stage, _, name = what.partition(" ")
        if not total:
            return
        self.update(f"demo: {stage} {done}/{total}", name, force=stage != self.stage or done == total)
        self.stage = stage
