"""Per-track levelling gains for a session, without ever making a listener wait for them.

A playlist entry built or loaded with the library carries the loudness (LUFS) and sample peak
(dBFS) the scan measured: its gain is known at once and its file is never read for it. Only the
entries that do not say (an imported playlist, a file the library has not scanned, a playlist
saved before entries kept their peak) are measured, one blockwise pass per file, in a background
thread, in playlist order (the track the feeder asks for jumps the queue).

The feeder asks for a track's gain when the track starts. If its pass is not done yet:

- while nobody is listening (the ring is filling before the sound card opens, or the output is a
  file) the feeder measures it itself, so a render hears exactly the levels a session would;
- otherwise it must not wait (the ring holds two seconds): the track gets a provisional gain
  that never boosts: from its stored loudness when there is one, else as if it were mastered as
  loud as :data:`PROVISIONAL_LUFS` (a quiet track then plays quieter than the others, never
  louder).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

from companion.core.errors import ReadError
from companion.core.models import Loudness, PlaylistEntry
from companion.core.render import level_gain_db

PROVISIONAL_LUFS = -9.0  # a loud modern master: assumed for an unmeasured track, so never boosted
FIRST_MEASURE_MAX_S = 900.0  # before the first sound, a longer track starts on a provisional gain


class Levels:
    """Gains (dB) for ``entries`` at ``target_lufs``; :meth:`gain_db` is what the renderer asks.

    wait_up_to_s : how long a track may be for :meth:`gain_db` to measure it there and then when
        its pass is not done: ``math.inf`` (a file output: always), a number (before the first
        sound), or None (a listener is listening: never).
    """

    def __init__(self, entries: Sequence[PlaylistEntry], target_lufs: float, *,
                 wait_up_to_s: float | None = math.inf) -> None:
        self._entries = entries
        self._target = target_lufs
        self.wait_up_to_s = wait_up_to_s
        self._lock = threading.Lock()
        self._levels: dict[str, Loudness | None] = {}  # path -> measured (None: unreadable)
        self._todo: list[int] = []  # entries whose file is still to be measured, in order
        seen: set[str] = set()
        for i, e in enumerate(entries):
            if e.is_silence or e.path in seen:
                continue
            seen.add(e.path)
            if e.peak_dbfs is not None and math.isfinite(e.peak_dbfs):
                self._levels[e.path] = Loudness(e.loudness_lufs, e.peak_dbfs)  # from the library
            else:
                self._todo.append(i)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def gain_db(self, i: int) -> float:
        """Levelling gain of entry ``i`` in dB; never reads a file unless allowed to wait."""
        e = self._entries[i]
        with self._lock:
            known = e.path in self._levels
            level = self._levels.get(e.path)
        if not known and self._may_measure_now(e.path):
            level = self._measure(e.path)
            known = True
        if known:
            if level is None:
                return 0.0  # unreadable: the renderer skips it with a notice
            return level_gain_db(level.lufs, level.peak_dbfs, target_lufs=self._target)
        self._jump_queue(e.path)
        lufs = e.loudness_lufs if e.loudness_lufs is not None else PROVISIONAL_LUFS
        return level_gain_db(lufs, None, target_lufs=self._target)  # peak unknown: never boosts

    def start(self) -> None:
        """Measure what the entries do not say, in a background thread."""
        if self._todo:
            self._thread = threading.Thread(target=self._run, name="companion-levels", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- internals -------------------------------------------------------------------------------

    def _may_measure_now(self, path: str) -> bool:
        limit = self.wait_up_to_s
        if limit is None:
            return False
        if math.isinf(limit):
            return True
        from companion.core import audio_io

        try:
            return audio_io.info(path).duration_s <= limit
        except ReadError:
            return True  # the measurement fails at once and records it as unreadable

    def _measure(self, path: str) -> Loudness | None:
        from companion.core.loudness import measure_loudness

        try:
            level: Loudness | None = measure_loudness(path)
        except ReadError:
            level = None
        with self._lock:
            self._levels[path] = level
            self._todo = [j for j in self._todo if self._entries[j].path != path]
        return level

    def _jump_queue(self, path: str) -> None:
        with self._lock:
            first = next((j for j in self._todo if self._entries[j].path == path), None)
            if first is not None:
                self._todo.remove(first)
                self._todo.insert(0, first)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                if not self._todo:
                    return
                path = self._entries[self._todo[0]].path
            self._measure(path)
