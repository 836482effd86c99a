"""The real-time part of playback: a lock-free ring buffer and the consumer that empties it.

One producer (the feeder thread) pushes rendered frames; one consumer (the PortAudio callback,
or a plain thread for file and null outputs) copies them out with :meth:`Deck.process`, applies
the pause/skip/stop fader, the sleep-timer fade and the volume, in place into pre-allocated
buffers, zero-pads and counts an underrun when the ring runs dry, and updates counters. It never
blocks, logs, takes locks, or touches files, the database or a UI. Every output hears the same
consumer, so a file output records exactly what the sound card would play.

The read and write counters are monotonic frame counts; each side writes only its own (plain
attribute assignments are atomic under the GIL), which is what makes the ring safe without a lock.
"""

from __future__ import annotations

import time

import numpy as np

from companion.core.render import RAMP_S, make_safe

MAX_BLOCK = 8192  # the consumer processes bigger callbacks in pieces of this size


class Deck:
    """Ring buffer plus the consumer's state. Single producer (feeder), single consumer.

    The consumer side (:meth:`process`) only does in-place numpy work on pre-allocated
    arrays and assigns plain attributes. The control side (:meth:`retarget`, :meth:`stop`,
    :meth:`sleep_fade`) is called by the player and the feeder under the player's lock.
    """

    def __init__(self, sample_rate: int, channels: int, capacity: int, volume: float,
                 *, paused: bool = False) -> None:
        self.sr = sample_rate
        self.cap = capacity
        self.ring = np.zeros((capacity, channels), dtype=np.float32)
        self.read = 0  # frames consumed (monotonic; consumer writes it)
        self.write = 0  # frames queued (monotonic; feeder writes it)
        self.eof = False  # no frames will follow ``write``
        # fader: pause / hold (skip) / stop; ramps toward target at ``step`` per frame
        self.paused = paused  # the listener paused
        self.holding = False  # the feeder is changing the plan (skip, previous, a fault)
        self.gain = 0.0 if paused else 1.0
        self.target = self.gain
        self.step = self.rate(RAMP_S)
        self.stopping = False
        self.muted = False  # consumer acknowledges: at zero gain, holding, not consuming
        self.finished = False
        # sleep timer: a slow fade of its own, so pause and skip still work during it
        self.sleep_gain = 1.0
        self.sleep_target = 1.0
        self.sleep_step = self.rate(RAMP_S)
        # volume, ramped at the same short rate
        self.volume = volume
        self.volume_target = volume
        self._volume_step = self.rate(RAMP_S)
        self.underruns = 0
        self.played = 0  # audible frames consumed (excludes pauses)
        self.last_call = time.monotonic()
        self._ramp = np.zeros((MAX_BLOCK, 1), dtype=np.float32)
        self._idx = np.arange(1, MAX_BLOCK + 1, dtype=np.float32)[:, None]
        self.retarget()

    def rate(self, seconds: float) -> float:
        """Per-frame gain step of a ramp lasting ``seconds``."""
        return 1.0 / max(seconds * self.sr, 1.0)

    def available(self) -> int:
        return self.write - self.read

    # -- control side (player and feeder, under the player's lock) ------------------------------

    def retarget(self) -> None:
        """Ramp to silence while paused or holding, back to full otherwise (unless stopping)."""
        if self.stopping:
            return
        self.step = self.rate(RAMP_S)
        self.target = 0.0 if (self.paused or self.holding) else 1.0

    def stop(self, fade_s: float) -> None:
        """Fade out over ``fade_s`` (at least the short ramp), then finish. A second stop can
        only make the fade quicker."""
        step = self.rate(max(fade_s, RAMP_S))
        self.step = max(step, self.step) if self.stopping else step
        self.stopping = True
        self.target = 0.0

    def sleep_fade(self, minutes: float | None) -> None:
        """Sleep timer: fade to silence over ``minutes`` and finish; None brings the level
        back over a second."""
        if minutes is None:
            self.sleep_step = self.rate(1.0)
            self.sleep_target = 1.0
        else:
            self.sleep_step = self.rate(minutes * 60.0)
            self.sleep_target = 0.0

    # -- consumer side (the audio callback) ------------------------------------------------------

    def process(self, out: np.ndarray, *, count_underruns: bool = True) -> int:
        """Fill ``out`` (frames, channels) in place. Returns how many frames are sound worth
        recording: 0 while holding (paused, mid-skip), fewer than asked at the very end.
        The real-time part: no allocation beyond tiny views and floats."""
        self.last_call = time.monotonic()
        n = len(out)
        if n > MAX_BLOCK:
            emitted = 0
            for i in range(0, n, MAX_BLOCK):
                emitted += self.process(out[i : i + MAX_BLOCK], count_underruns=count_underruns)
            return emitted
        avail = self.write - self.read
        if avail < 0:  # only if the feeder stalled mid-rewrite; play silence until it catches up
            avail = 0
        if self.target == 0.0 and (self.gain == 0.0 or avail == 0):
            self.gain = 0.0
            out.fill(0.0)
            if self.stopping:
                self.finished = True
            self.muted = True
            return 0
        self.muted = False
        if self.finished:
            out.fill(0.0)
            return 0
        take = n if avail >= n else avail
        start = self.read % self.cap
        first = min(take, self.cap - start)
        out[:first] = self.ring[start : start + first]
        if take > first:
            out[first:take] = self.ring[: take - first]
        emitted = n
        if take < n:
            out[take:].fill(0.0)
            if self.eof:
                emitted = take
            elif count_underruns:
                self.underruns += 1
        self.read += take
        self.played += take
        self.gain = self._apply(out, n, self.gain, self.target, self.step)
        self.volume = self._apply(out, n, self.volume, self.volume_target, self._volume_step)
        self.sleep_gain = self._apply(out, n, self.sleep_gain, self.sleep_target, self.sleep_step)
        if (self.stopping and self.gain == 0.0) or (self.sleep_target == 0.0 and self.sleep_gain == 0.0):
            self.finished = True
            emitted = min(emitted, take)
        if self.eof and self.read >= self.write:
            self.finished = True
        return emitted

    def _apply(self, out: np.ndarray, n: int, g: float, t: float, step: float) -> float:
        if g == t:
            if g != 1.0:
                out *= g
            return g
        buf = self._ramp[:n]
        np.multiply(self._idx[:n], step if t > g else -step, out=buf)
        buf += g
        if t > g:
            np.minimum(buf, t, out=buf)
        else:
            np.maximum(buf, t, out=buf)
        out *= buf
        return float(buf[n - 1, 0])

    # -- producer side (the feeder) ---------------------------------------------------------------

    def push(self, block: np.ndarray) -> None:
        """Append ``block`` (made safe in place first); the caller made sure there is room.

        Every frame any output plays passes here, and the consumer only scales it by gains of
        at most 1: :func:`render.make_safe` here is the last line of defence for the ears.
        """
        make_safe(block)
        n = len(block)
        start = self.write % self.cap
        first = min(n, self.cap - start)
        self.ring[start : start + first] = block[:first]
        if n > first:
            self.ring[: n - first] = block[first:]
        self.write += n

    def discard(self) -> None:
        """While the consumer holds: forget everything queued."""
        self.write = self.read
