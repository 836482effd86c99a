"""Where the consumer's frames go: the :class:`Output` contract, a file, or nowhere.

The sound card is :class:`companion.core.playback.device.SoundDeviceOutput` (the only module
that imports PortAudio). File and null outputs run the consumer in a thread of their own, paced
like a sound card or flat out, so they hear exactly what a sound card would.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from companion.core.errors import UserInputError
from companion.core.playback.ring import Deck


class Output:
    """Where the consumer's frames go. ``open`` starts consuming from the deck."""

    realtime = True  # a listener hears it as it plays: the feeder must never make it wait
    sample_rate = 44100
    channels = 2

    def prepare(self, first_track_rate: int | None) -> None:
        """Settle sample rate and channels before the deck is built (may raise)."""

    def open(self, deck: Deck) -> None:
        raise NotImplementedError

    def failure(self) -> str | None:
        """A one-line reason if the output died mid-session."""
        return None

    def wait_for_room(self, timeout: float) -> None:
        """The feeder found the ring full: wait until the consumer may have made room."""
        time.sleep(timeout)

    def notify(self) -> None:
        """The feeder queued audio or changed the plan: wake a consumer that waits for it."""

    def close(self) -> None:
        pass


class PumpOutput(Output):
    """File and null outputs: a thread plays the consumer's part, paced or flat out."""

    def __init__(self, *, realtime: bool = False, sample_rate: int | None = None, channels: int = 2,
                 block_frames: int | None = None, speed: float = 1.0) -> None:
        self.realtime = realtime
        self.speed = speed
        self._rate_given = sample_rate
        self.channels = channels
        self._block = block_frames
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self.error: str | None = None

    def prepare(self, first_track_rate: int | None) -> None:
        self.sample_rate = int(self._rate_given or first_track_rate or 44100)
        if self._block is None:  # 10 ms, like a sound card's period
            self._block = max(64, self.sample_rate // 100)

    def open(self, deck: Deck) -> None:
        self._deck = deck
        self._thread = threading.Thread(target=self._run, name="companion-output", daemon=True)
        self._thread.start()

    def sink(self, block: np.ndarray) -> None:
        pass

    def wait_for_room(self, timeout: float) -> None:
        with self._wake:
            self._wake.wait(timeout)

    def notify(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def _run(self) -> None:
        deck = self._deck
        assert self._block is not None
        buf = np.zeros((self._block, self.channels), dtype=np.float32)
        t0 = time.monotonic()
        frames_out = 0
        try:
            while not self._stop.is_set() and not deck.finished:
                if self.realtime:
                    due = t0 + frames_out / (self.sample_rate * self.speed)
                    delay = due - time.monotonic()
                    if delay > 0:
                        self._stop.wait(delay)
                    frames_out += self._block
                else:
                    with self._wake:
                        # Flat out: wait for a full block rather than padding (no underruns).
                        while (deck.available() < self._block and not deck.eof and deck.target != 0.0
                               and not self._stop.is_set()):
                            self._wake.wait(0.05)
                emitted = deck.process(buf, count_underruns=self.realtime)
                if emitted:
                    self.sink(buf[:emitted])
                elif not self.realtime:
                    self._stop.wait(0.002)
                self.notify()
        except Exception as exc:  # e.g. disk full while writing
            self.error = f"output failed: {exc}"
            deck.finished = True

    def failure(self) -> str | None:
        return self.error

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


class NullOutput(PumpOutput):
    """Discards the audio (tests, benchmarks). ``realtime=True`` paces it like a sound card.

    keep : also keep every emitted block in ``self.frames`` (tests; memory grows).
    speed : with ``realtime``, consume this many times faster than real time (benchmarks).
    """

    def __init__(self, *, realtime: bool = False, sample_rate: int | None = None, channels: int = 2,
                 keep: bool = False, speed: float = 1.0) -> None:
        super().__init__(realtime=realtime, sample_rate=sample_rate, channels=channels, speed=speed)
        self._keep = keep
        self._blocks: list[np.ndarray] = []

    def sink(self, block: np.ndarray) -> None:
        if self._keep:
            self._blocks.append(block.copy())

    @property
    def frames(self) -> np.ndarray:
        if not self._blocks:
            return np.zeros((0, self.channels), dtype=np.float32)
        return np.concatenate(self._blocks)


class FileOutput(PumpOutput):
    """Renders exactly what would be heard into a WAV (float) or FLAC (24-bit) file,
    faster than real time. sample_rate : Hz; default the first track's rate."""

    def __init__(self, path: str | Path, *, sample_rate: int | None = None, channels: int = 2) -> None:
        super().__init__(realtime=False, sample_rate=sample_rate, channels=channels, block_frames=4096)
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in (".wav", ".flac"):
            raise UserInputError(f"{self.path}: --output must end in .wav or .flac")
        self._subtype = "FLOAT" if suffix == ".wav" else "PCM_24"
        self._file: Any = None

    def open(self, deck: Deck) -> None:
        import soundfile as sf

        from companion.core.safefile import Replacement

        # a new file beside the target, put in its place at close; links, FIFOs, devices and
        # companion's own database are refused as targets
        self._target = Replacement(self.path)
        try:
            self._file = sf.SoundFile(self._target.file, "w", samplerate=self.sample_rate,
                                      channels=self.channels, subtype=self._subtype,
                                      format="WAV" if self._subtype == "FLOAT" else "FLAC")
        except Exception as exc:
            self._target.abort()
            raise UserInputError(f"{self.path}: cannot write here ({exc}); check the folder") from None
        super().open(deck)

    def sink(self, block: np.ndarray) -> None:
        self._file.write(block)

    def close(self) -> None:
        super().close()
        if self._file is not None:
            self._file.close()
            self._file = None
            self._target.commit()
