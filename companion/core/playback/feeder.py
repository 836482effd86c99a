"""The producer side of playback: a thread that keeps the ring full and changes the plan under it.

The feeder renders the session with :class:`companion.core.render.SessionRenderer` (decoding each
track blockwise, converted to the output's rate and channels, levelled, crossfaded) into the
ring about ``ring_s`` seconds ahead of the consumer. It keeps *marks* that map ring frames to
session frames, so the player can say which entry is heard now although the renderer is ahead.

Skip, previous, jump and a track that fails mid-session use one handshake
(:meth:`Feeder.transition`): the consumer ramps to silence and holds, the feeder throws away
what is queued, re-plans from the chosen entry, refills, and the consumer ramps back up. The
sleep timer's "end after this track" and its cancellation change the plan without a gap
(:meth:`Feeder.rewrite`): the queued audio past a short margin is rendered again.
"""

from __future__ import annotations

import collections
import functools
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from companion.core import render
from companion.core.playback.outputs import Output
from companion.core.playback.ring import Deck

RESTART_AFTER_S = 3.0  # "previous" restarts a track heard this long as the current one
REWRITE_MARGIN_S = 0.3  # queued audio kept when the plan changes under it (> any callback period)
HOLD_TIMEOUT_S = 2.0  # a consumer that does not ramp down in this long is not listening

SlotView = tuple[int, int, int, int]  # a published slot: entry index, start, length, fade-in (frames)
Command = tuple[str, Any]  # ("skip" | "previous" | "jump" | "end_after" | "continue", argument)


class Feeder:
    """Fills ``deck`` from ``renderer`` and runs the player's commands, in a thread of its own.

    lock : the player's lock; guards the marks, the published plan and the deck's fader.
    commands : the player puts transport commands here; the feeder runs them between blocks.
    done : set when the session is over, whatever the reason.
    after_track : the sleep timer "end after this track" as the feeder last applied it.
    """

    def __init__(self, deck: Deck, renderer: render.SessionRenderer, output: Output, *,
                 block: int, lock: threading.Lock, commands: queue.SimpleQueue[Command],
                 done: threading.Event) -> None:
        self.deck = deck
        self.renderer = renderer
        self.output = output
        self.block = block
        self.lock = lock
        self.commands = commands
        self.done = done
        self.after_track = False
        self.cut_by_sleep = False  # "end after this track" has dropped entries from the plan
        self.error: str | None = None  # why playback ended early (one line)
        self.slots: tuple[SlotView, ...] = ()  # the plan as published to the player
        self.total = 0  # session frames as now planned
        self.notices: list[str] = []
        self.closed = False
        self._marks: collections.deque[tuple[int, int]] = collections.deque(maxlen=4096)
        self._thread: threading.Thread | None = None
        self.publish()

    # -- the thread -----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="companion-feeder", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None

    def join(self, timeout: float) -> None:
        self.closed = True
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def _loop(self) -> None:
        deck = self.deck
        try:
            while not self.closed and not deck.finished:
                self._run_commands()
                self.fill()
                err = self.output.failure()
                if err:
                    self._end(err)
                    break
                if not deck.finished:
                    self.output.wait_for_room(0.01)
        except Exception as exc:  # never leave a face waiting on a dead feeder
            self._end(f"playback failed: {exc}")
        finally:
            self.done.set()

    def _end(self, reason: str) -> None:
        self.error = reason
        self.deck.finished = True

    # -- what is heard --------------------------------------------------------------------------

    def heard_position(self) -> int:
        """Session frame the consumer is playing now."""
        with self.lock:
            return self._map(self.deck.read)

    def _map(self, ring_index: int) -> int:
        """Session frame queued at ``ring_index`` (hold the lock)."""
        for ring_at, pos in reversed(self._marks):
            if ring_at <= ring_index:
                return pos + (ring_index - ring_at)
        return 0

    def publish(self) -> None:
        """Copy the renderer's plan and notices where the player's status reads them."""
        r = self.renderer
        self.slots = tuple((s.index, s.start, s.length, s.fade_in) for s in r.slots)
        self.total = r.total
        for n in r.notices[len(self.notices):]:
            self.notices.append(n)

    # -- filling --------------------------------------------------------------------------------

    def fill(self) -> None:
        """Render into the ring until it is full or the session is rendered."""
        deck, r = self.deck, self.renderer
        while not deck.eof:
            if deck.cap - deck.available() < self.block:
                return
            faults = r.faults
            pos = r.position
            data = r.render(self.block)
            if r.faults != faults:
                # A track failed: its tail was cut. Ramp what is queued out, drop it, go on.
                self.publish()
                self.transition(self._after_fault, keep=(r.position - len(data), data))
                continue
            self._queue(pos, data)
            if r.finished:
                deck.eof = True
            self.output.notify()

    def _queue(self, pos: int, data: np.ndarray) -> None:
        deck = self.deck
        if not len(data):
            return
        with self.lock:
            if not self._marks or self._marks[-1][1] + (deck.write - self._marks[-1][0]) != pos:
                self._marks.append((deck.write, pos))
        deck.push(data)

    # -- commands -------------------------------------------------------------------------------

    def _run_commands(self) -> None:
        while True:
            try:
                cmd, arg = self.commands.get_nowait()
            except queue.Empty:
                return
            pos = self.heard_position()
            slot = current_slot(self.slots, pos)
            heard = slot[0] if slot else None
            if cmd in ("end_after", "continue"):
                self.after_track = cmd == "end_after"
                if cmd == "continue":
                    self.rewrite(self._continue)
                elif heard is not None:
                    self.rewrite(functools.partial(self._end_after, heard))
                continue
            if heard is None:
                heard = 0
            if cmd == "previous":
                as_current = (pos - slot[1] - slot[3] // 2) / self.deck.sr if slot else 0.0
                silence = self.renderer.entries[heard].is_silence
                target = heard if as_current > RESTART_AFTER_S and not silence else heard - 1
            else:
                target = heard + 1 if cmd == "skip" else arg
            self.transition(functools.partial(self._seek, target, cmd))

    # Plan changes, run under the lock (from rewrite / transition).

    def _end_after(self, index: int) -> None:
        r = self.renderer
        before = len(r.slots)
        r.end_after(index)
        self.cut_by_sleep = self.cut_by_sleep or len(r.slots) < before

    def _continue(self) -> None:
        self.renderer.continue_after()
        self.cut_by_sleep = False

    def _after_fault(self) -> None:
        """A track failed and the renderer went on with the next entry (and those after)."""
        r = self.renderer
        self.cut_by_sleep = False
        if r.slots and self.after_track:
            self._end_after(r.slots[0].index)

    def _seek(self, index: int, cmd: str) -> None:
        r = self.renderer
        self.cut_by_sleep = False
        if r.seek_entry(next_playable(r, index, cmd)) and self.after_track:
            self._end_after(r.slots[0].index)  # the timer follows to the track now playing

    def rewrite(self, change: Callable[[], object]) -> None:
        """Change the plan from just after what is being heard, without a gap: the queued audio
        past the next :data:`REWRITE_MARGIN_S` is thrown away and rendered again."""
        deck, r = self.deck, self.renderer
        with self.lock:
            cut = deck.read + int(REWRITE_MARGIN_S * deck.sr)
            if cut < deck.write:
                pos = self._map(cut)
                deck.eof = False
                deck.write = cut
                while self._marks and self._marks[-1][0] >= cut:
                    self._marks.pop()
                if deck.read > deck.write:  # the consumer overtook us (a stalled feeder)
                    deck.write = deck.read
                    self._marks.append((deck.read, pos))
                r.rewind(pos)
            change()
            self.publish()
            deck.eof = r.finished  # a cancelled end can bring back what follows
        self.fill()

    def transition(self, change: Callable[[], object], keep: tuple[int, np.ndarray] | None = None) -> None:
        """Ramp the consumer to silence, drop the queue, apply ``change``, refill, ramp up."""
        deck, r = self.deck, self.renderer
        with self.lock:
            deck.holding = True
            deck.retarget()
        deadline = time.monotonic() + HOLD_TIMEOUT_S
        while (self.running and not deck.muted and not deck.finished
               and time.monotonic() < deadline):  # before the output opens nothing is heard
            self.output.notify()
            time.sleep(0.002)
        with self.lock:
            deck.discard()
            while self._marks and self._marks[-1][0] >= deck.write:
                self._marks.pop()
            deck.eof = False
            change()
            self.publish()
        if keep is not None:
            self._queue(*keep)
        if r.finished:
            deck.eof = True
        self.fill()
        with self.lock:
            deck.holding = False
            deck.retarget()
        self.output.notify()


def current_slot(slots: Sequence[SlotView], pos: int) -> SlotView | None:
    """The published slot heard at session frame ``pos``: a track becomes the current one
    half-way through its crossfade."""
    current = None
    for s in slots:
        if s[1] + s[3] // 2 > pos:
            break
        current = s
    if current is None and slots:
        current = slots[0]
    return current


def next_playable(r: render.SessionRenderer, index: int, cmd: str) -> int:
    """Skip and previous step over silences and failed entries in their direction."""
    n = len(r.entries)
    step = -1 if cmd == "previous" else 1
    i = max(0, index)
    while 0 <= i < n and (i in r.failed or r.entries[i].is_silence):
        i += step
    if i < 0:
        return next_playable(r, 0, "skip")
    return i
