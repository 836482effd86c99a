"""Hear a track before trusting its tempo: 20 s from its middle, faded in and out.

The excerpt plays through the ordinary :class:`~companion.core.player.Player` (the only owner of
PortAudio) as a one-track playlist whose source starts at the excerpt and ends after it: the
decoder's blocks are faded, and silenced after the excerpt, in the feeder thread, never in the audio
callback; :attr:`Preview.done` is reached once the excerpt has been heard and the face closes it
(the UI polls, as it does for a session).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from companion.core import render
from companion.core.models import Playlist, PlaylistEntry, Track

__all__ = ["PREVIEW_S", "FADE_S", "excerpt_start_s", "Preview"]

PREVIEW_S = 20.0
FADE_S = 2.0


def excerpt_start_s(duration_s: float, seconds: float = PREVIEW_S) -> float:
    """Where the excerpt begins: centred on the middle, from 0 for a short track."""
    return max(0.0, duration_s / 2 - seconds / 2)


def _excerpt(blocks: Iterator[np.ndarray], frames: int, fade: int) -> Iterator[np.ndarray]:
    """``blocks`` with everything outside their first ``frames`` frames silent, and those
    raised-cosine faded over ``fade`` at each end.

    The blocks after the excerpt are still read and come out as silence: the track keeps the
    length the player planned (a source that stopped early would be taken for a truncated file).
    """
    done = 0
    try:
        for block in blocks:
            block = np.array(block, dtype=np.float32, copy=True)
            idx = np.arange(done, done + len(block))
            gain = np.minimum(1.0, np.minimum(idx / max(fade, 1), (frames - idx) / max(fade, 1)))
            block *= render.raised_cosine(np.clip(gain, 0.0, 1.0)).astype(np.float32)[:, None]
            done += len(block)
            yield block
    finally:
        close = getattr(blocks, "close", None)
        if close is not None:
            close()


class Preview:
    """One excerpt of ``track`` playing; :meth:`close` it when :attr:`done` or to stop early."""

    def __init__(self, track: Track, *, output: Any = None, seconds: float = PREVIEW_S) -> None:
        from companion.core.player import Player

        self.track = track
        self.seconds = min(seconds, track.duration_s) if track.duration_s > 0 else seconds
        self.start_s = excerpt_start_s(track.duration_s, seconds)
        entry = PlaylistEntry(path=track.path, title=track.title, artist=track.artist,
                              duration_s=track.duration_s, bpm=track.bpm,
                              loudness_lufs=track.loudness_lufs)

        def source(path: str, settings: render.RenderSettings, start_s: float) -> Iterator[np.ndarray]:
            blocks = render.open_track(path, settings, start_s + self.start_s)
            return _excerpt(blocks, settings.frames(self.seconds), settings.frames(FADE_S))

        def length(path: str, settings: render.RenderSettings) -> int:
            # the session ends with the excerpt (a file gets 20 s, not the track's length)
            whole = render.track_frames(path, settings) - settings.frames(self.start_s)
            return max(0, min(settings.frames(self.seconds), whole))

        self.player = Player(Playlist(name="preview", entries=(entry,)), output=output,
                             crossfade_s=0.0, fade_in_s=0.0, fade_out_s=0.0, open_source=source,
                             length_of=length)

    def start(self) -> None:
        """Open the output and play. AudioDeviceError / UserInputError if it cannot."""
        self.player.start()

    @property
    def heard_s(self) -> float:
        return self.player.status().elapsed_s

    @property
    def done(self) -> bool:
        status = self.player.status()
        return status.finished or status.elapsed_s >= self.seconds

    def close(self) -> None:
        self.player.close()
