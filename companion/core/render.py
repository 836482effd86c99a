"""Pure mixing for playback: the session timeline, crossfades, fades, levelling, peak guard.

Everything here is deterministic number crunching on numpy blocks; no threads, no devices.
:mod:`companion.core.player` drives a :class:`SessionRenderer` from its feeder thread and
sends the blocks to PortAudio, a file or nowhere, so every output hears the same mix.

The timeline is counted in output frames ("session frames") from the start of the session:

- each track is a *slot* ``[start, start + length)``; a track following a track starts
  ``crossfade`` frames before the previous one ends and the two cross with equal-power
  curves (sin/cos, so the summed power stays constant); a crossfade of 0 is gapless:
  the next track's first frame follows the previous track's last frame, nothing added;
- a silence entry is a gap of its length; the tracks around it fade out and in
  (raised-cosine, :data:`SILENCE_FADE_S` or the crossfade when that is longer);
- the whole session fades in over ``fade_in_s`` and out over the last ``fade_out_s``;
- each track is levelled to ``target_lufs`` (EBU R128 integrated loudness), its gain
  capped so its sample peak stays under :data:`PEAK_CEILING_DBFS`; a soft knee on the
  summed mix keeps overlaps (crossfades) from ever reaching full scale;
- optionally the level follows the arc: ``level_drop_db`` quieter at the slowest track.

What a playlist stores about how it sounds (its arc's ending ``fade_out_s``, the crossfade it
was planned with) drives the session: :func:`settings_for` reads it, so every face honours it.
Nothing the renderer is given can make it unbounded: a silence entry plays at most
:data:`MAX_SILENCE_S`, and a file that ends long before the length its header states ends the
track there (:data:`MAX_PAD_S`) instead of playing hours of padding. Nothing it makes can hurt: :func:`make_safe` is the last stage before
any output (the player's ring applies it to every block): non-finite samples become silence and
no sample exceeds :data:`OUTPUT_CEILING`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from companion.core.errors import ReadError, UserInputError
from companion.core.models import Playlist, PlaylistEntry

__all__ = [
    "DEFAULT_CROSSFADE_S",
    "DEFAULT_FADE_IN_S",
    "DEFAULT_FADE_OUT_S",
    "DEFAULT_TARGET_LUFS",
    "LIFT_S",
    "MAX_CROSSFADE_S",
    "MAX_FADE_S",
    "MAX_SILENCE_S",
    "OUTPUT_CEILING",
    "PEAK_CEILING_DBFS",
    "RAMP_S",
    "SILENCE_FADE_S",
    "RenderSettings",
    "SessionRenderer",
    "Slot",
    "arc_drops_db",
    "equal_power",
    "level_gain_db",
    "make_safe",
    "plan_slots",
    "raised_cosine",
    "settings_for",
    "soft_limit",
]

DEFAULT_CROSSFADE_S = 6.0
DEFAULT_FADE_IN_S = 5.0
DEFAULT_FADE_OUT_S = 15.0
DEFAULT_TARGET_LUFS = -20.0
PEAK_CEILING_DBFS = -1.0  # levelling never lifts a track's sample peak above this
SILENCE_FADE_S = 3.0  # fade around a silence segment when the crossfade is shorter
RAMP_S = 0.05  # pause/resume/skip/stop ramps: short enough to feel instant, long enough not to click
LIFT_S = 1.0  # a fade-out cancelled part-way comes back to full level over this
MAX_CROSSFADE_S = 60.0
MAX_FADE_S = 600.0  # session fade-in / fade-out
MAX_SILENCE_S = 600.0  # a silence entry longer than this plays this long: a pause, not an ending
MAX_PAD_S = 2.0  # a file ending this much earlier than its header says is padded; more ends it
OUTPUT_CEILING = 0.999  # no sample reaching an output is louder: below full scale after 16-bit rounding

_KNEE = 10.0 ** (PEAK_CEILING_DBFS / 20.0)
_LIMIT = OUTPUT_CEILING  # the soft knee's asymptote
_CEILING32 = np.float32(OUTPUT_CEILING)


# -- curves -----------------------------------------------------------------------------------


def equal_power(x: np.ndarray) -> np.ndarray:
    """Equal-power fade gain for progress ``x`` in [0, 1] (0 = silent, 1 = full).

    An outgoing track at progress ``1 - x`` and an incoming one at ``x`` have gains
    cos and sin of the same angle: their powers sum to 1 through the crossfade.
    """
    return np.sin(0.5 * np.pi * np.clip(x, 0.0, 1.0))


def raised_cosine(x: np.ndarray) -> np.ndarray:
    """Smooth S-shaped fade gain for ``x`` in [0, 1]: no corner at either end."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0))


def soft_limit(block: np.ndarray) -> np.ndarray:
    """Peak guard on the mix, in place: samples below the ceiling pass untouched; above it a
    tanh knee bends them so they never reach full scale (|y| < 0.999). Returns ``block``."""
    mag = np.abs(block)
    over = mag > _KNEE
    if over.any():
        k, room = _KNEE, _LIMIT - _KNEE
        bent = k + room * np.tanh((mag[over].astype(np.float64) - k) / room)
        block[over] = np.copysign(bent, block[over]).astype(block.dtype, copy=False)
    return block


def make_safe(block: np.ndarray) -> np.ndarray:
    """The last stage before any output, in place: NaN and ±Inf become silence and no sample
    exceeds :data:`OUTPUT_CEILING`. A float file holding NaN or Inf would otherwise reach a
    sound card as a full-scale square wave or DC, and a rendered file as NaN. The renderer's mix
    is already under the ceiling (:func:`soft_limit` bends it musically); this hard clip only
    catches what did not come through it, and leaves the renderer's output unchanged.
    Returns ``block``."""
    if not np.isfinite(block).all():
        np.nan_to_num(block, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    np.clip(block, -_CEILING32, _CEILING32, out=block)
    return block


# -- loudness ---------------------------------------------------------------------------------


def level_gain_db(
    lufs: float | None, peak_dbfs: float | None, *, target_lufs: float = DEFAULT_TARGET_LUFS
) -> float:
    """Gain (dB) that brings a track to ``target_lufs`` without lifting its peak past the ceiling.

    lufs : integrated loudness of the track; None (silent or unknown) → no levelling (0 dB).
    peak_dbfs : sample peak; None → unknown, so never boost.
    """
    gain = 0.0 if lufs is None or not math.isfinite(lufs) else target_lufs - lufs
    if peak_dbfs is None:
        return min(gain, 0.0)
    if math.isfinite(peak_dbfs):
        gain = min(gain, PEAK_CEILING_DBFS - peak_dbfs)
    return gain


def arc_drops_db(entries: Sequence[PlaylistEntry], drop_db: float) -> list[float]:
    """Per-entry level offsets (dB, ≤ 0) so the session gets quieter as the arc slows.

    With tempi known, the fastest entry stays at 0 dB and the slowest drops ``drop_db``
    (a U-sequence comes back up with its tempo); without them, a linear drop over the list.
    """
    n = len(entries)
    if drop_db <= 0 or n == 0:
        return [0.0] * n
    bpms = [e.planned_bpm or e.used_bpm or e.bpm for e in entries]
    known = [b for b in bpms if b]
    if len(known) >= 2 and max(known) > min(known):
        hi, lo = max(known), min(known)
        out, last = [], 0.0
        for b in bpms:
            last = -drop_db * (hi - b) / (hi - lo) if b else last
            out.append(last)
        return out
    return [-drop_db * i / max(n - 1, 1) for i in range(n)]


# -- the timeline -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderSettings:
    """How a session sounds. Times in seconds, levels in dB / LUFS.

    sample_rate, channels : the output format (the device's); tracks are converted to it.
    crossfade_s : equal-power crossfade between tracks; 0 = gapless.
    """

    sample_rate: int = 44100
    channels: int = 2
    crossfade_s: float = DEFAULT_CROSSFADE_S
    fade_in_s: float = DEFAULT_FADE_IN_S
    fade_out_s: float = DEFAULT_FADE_OUT_S
    target_lufs: float = DEFAULT_TARGET_LUFS
    level_drop_db: float = 0.0
    block_frames: int = 4096

    def __post_init__(self) -> None:
        for name, most in _BOUNDS.items():
            value = getattr(self, name)
            if not (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and 0 <= value <= most):
                raise UserInputError(f"{name.removesuffix('_s').replace('_', '-')} {value!r} must be "
                                     f"between 0 and {most:g}")
        if not -70.0 <= self.target_lufs <= 0.0:
            raise UserInputError(f"target loudness {self.target_lufs} LUFS is out of range; use -70 to 0 (default -20)")
        if self.channels not in (1, 2) or self.sample_rate <= 0:
            raise UserInputError(f"unsupported output format {self.sample_rate} Hz × {self.channels} channels")

    def frames(self, seconds: float) -> int:
        return int(round(seconds * self.sample_rate))


_BOUNDS = {"crossfade_s": MAX_CROSSFADE_S, "fade_in_s": MAX_FADE_S, "fade_out_s": MAX_FADE_S,
           "level_drop_db": 60.0}
STORED = ("crossfade_s", "fade_in_s", "fade_out_s")  # what a playlist may say about its sound


def settings_for(playlist: Playlist, **given: float | None) -> tuple[RenderSettings, list[str]]:
    """How ``playlist`` sounds, and notices about stored values that were ignored.

    given : RenderSettings fields chosen by the listener (a flag, a setting); None or absent
        means "as the playlist says": its stored ``crossfade_s`` (planned with), ``fade_in_s``
        and ``fade_out_s`` (its arc's ending, e.g. the sleep arc's 60 s), else the defaults.
    A stored value that is not a number in range (a hand-edited or hostile file) is ignored
    with a notice; a value given by the caller is checked and refused (UserInputError).
    """
    chosen: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    notices = []
    for name in STORED:
        if name in chosen or name not in playlist.meta:
            continue
        value = playlist.meta[name]
        try:
            RenderSettings(**{name: value})  # type: ignore[arg-type]  # checked here, at run time
        except (UserInputError, TypeError):
            notices.append(f"playlist setting {name} = {str(value)[:40]!r} is not usable; "
                           "playing with the default")
            continue
        chosen[name] = float(value)
    return RenderSettings(**chosen), notices


@dataclass
class Slot:
    """One entry placed on the timeline (session frames). Fades are counted in frames."""

    index: int  # position in the playlist's entries
    start: int
    length: int
    silence: bool = False
    fade_in: int = 0
    fade_out: int = 0
    fade_in_equal_power: bool = True  # crossfade (equal power) or fade from silence (raised cosine)
    fade_out_equal_power: bool = True

    @property
    def end(self) -> int:
        return self.start + self.length


def plan_slots(
    items: Sequence[tuple[int, int, bool]], settings: RenderSettings, *, start: int = 0,
    not_before: int = 0,
) -> list[Slot]:
    """Place ``(entry_index, length_frames, is_silence)`` items from ``start`` on.

    Adjacent tracks overlap by the crossfade (at most half of either track); a silence
    never overlaps: the tracks around it fade out before and in after it.
    not_before : no fade begins before this session frame (already rendered: a fade there
    would start part-way, a step); the fade is shortened instead.
    """
    xfade = settings.frames(settings.crossfade_s)
    sfade = settings.frames(max(settings.crossfade_s, SILENCE_FADE_S))
    slots: list[Slot] = []
    pos = start
    for index, length, silence in items:
        if length <= 0:
            continue
        slot = Slot(index=index, start=pos, length=length, silence=silence)
        prev = slots[-1] if slots else None
        left = max(0, prev.end - not_before) if prev is not None else 0  # of prev, unrendered
        if prev is not None and not prev.silence and not silence:
            x = min(xfade, prev.length // 2, length // 2, left)
            slot.start = prev.end - x
            prev.fade_out, slot.fade_in = x, x
        elif prev is not None and prev.silence and not silence:
            slot.fade_in, slot.fade_in_equal_power = min(sfade, length // 2), False
        elif prev is not None and silence and not prev.silence:
            prev.fade_out, prev.fade_out_equal_power = min(sfade, prev.length // 2, left), False
        slots.append(slot)
        pos = slot.end
    return slots


class _EndedEarly(Exception):
    """The decoder ran out long before the length the file's header states."""

    def __init__(self, missing_frames: int) -> None:
        super().__init__(missing_frames)
        self.missing_frames = missing_frames


class _Voice:
    """Exactly ``length`` frames of one track: decoder output padded or trimmed to the plan.

    A file a little shorter than its header says (rounding, an MP3's estimated length) is
    padded with silence; one that ends more than ``pad_limit`` frames early raises
    :class:`_EndedEarly`, so that a header claiming hours of audio that are not there (a
    truncated or crafted file) cannot hold a session in silence for those hours.
    """

    def __init__(self, blocks: Generator[np.ndarray, None, None], length: int, channels: int,
                 pad_limit: int) -> None:
        self._blocks = blocks
        self._left = length
        self._channels = channels
        self._pad_limit = pad_limit
        self._buf = np.zeros((0, channels), dtype=np.float32)
        self._done = False

    def read(self, n: int) -> np.ndarray:
        n = min(n, self._left)
        while len(self._buf) < n and not self._done:
            try:
                block = next(self._blocks)
            except StopIteration:
                self._done = True
                break
            self._buf = np.concatenate([self._buf, block]) if len(self._buf) else block
        out = self._buf[:n]
        self._buf = self._buf[n:]
        if len(out) < n:
            if self._left - len(out) > self._pad_limit:
                raise _EndedEarly(self._left - len(out))
            out = np.concatenate([out, np.zeros((n - len(out), self._channels), dtype=np.float32)])
        self._left -= n
        return out

    def close(self) -> None:
        self._blocks.close()  # the decoder's file closes now, not when garbage is collected


# (path, settings, start_s) -> the track's blocks from start_s, converted to the output format.
# A generator, so that dropping a track closes its file at once.
SourceOpener = Callable[[str, RenderSettings, float], Generator[np.ndarray, None, None]]
GainOf = Callable[[int], float]


def open_track(path: str, settings: RenderSettings, start_s: float = 0.0) -> Generator[np.ndarray, None, None]:
    """Decode ``path`` blockwise from ``start_s`` seconds, converted to the output rate and channels."""
    from companion.core import audio_io

    yield from audio_io.read_blocks(
        path, block_frames=16384, sample_rate=settings.sample_rate, channels=settings.channels,
        start_s=start_s,
    )


def track_frames(path: str, settings: RenderSettings) -> int:
    """Length of a track in output frames (after rate conversion)."""
    from companion.core import audio_io

    i = audio_io.info(path)
    return int(round(i.frames * settings.sample_rate / i.sample_rate))


class _SlotFailed(Exception):
    def __init__(self, slot: int, reason: str, *, played: bool = False) -> None:
        super().__init__(reason)
        self.slot, self.reason, self.played = slot, reason, played


@dataclass
class _Fade:
    start: int
    end: int
    low: float = 0.0  # a lift (see continue_after) rises from this gain to 1


@dataclass
class SessionRenderer:
    """Renders a playlist's session block by block. Not thread-safe: one thread drives it.

    entries : the playlist's entries (tracks and silences).
    gain_db_of : levelling gain (dB) for entry i, asked when the track starts; default 0 dB.
    length_of / open_source : injectable for tests; default decode via audio_io.
    """

    entries: Sequence[PlaylistEntry]
    settings: RenderSettings = field(default_factory=RenderSettings)
    gain_db_of: GainOf | None = None
    open_source: SourceOpener = open_track
    length_of: Callable[[str, RenderSettings], int] = track_frames

    def __post_init__(self) -> None:
        self.notices: list[str] = []  # what the listener should know (skipped files ...)
        self.failed: set[int] = set()
        self._lengths: dict[int, int] = {}
        self._path_frames: dict[str, int] = {}  # a file repeated in the list is probed once
        self._first = 0  # slots before this one have ended (render skips them)
        items = []
        for i, e in enumerate(self.entries):
            n = self._length(i)
            if n:
                items.append((i, n, e.is_silence))
        self._drops = arc_drops_db(self.entries, self.settings.level_drop_db)
        self.slots: list[Slot] = plan_slots(items, self.settings)
        self.position = 0  # next session frame to render
        self._voices: dict[int, tuple[_Voice, float]] = {}  # slot index in self.slots -> voice, gain
        fo = self.settings.frames(self.settings.fade_out_s)
        self._fade_in = self.settings.frames(self.settings.fade_in_s)
        self._fade_out = _Fade(max(self.total - fo, 0), self.total)
        self._lift: _Fade | None = None  # a cancelled fade-out's level coming back
        self.faults = 0  # tracks that failed mid-session (the player ramps over the cut)

    # -- queries ------------------------------------------------------------------------

    @property
    def total(self) -> int:
        """Session length in frames as currently planned (changes on skip / faults)."""
        return self.slots[-1].end if self.slots else 0

    @property
    def finished(self) -> bool:
        return self.position >= self.total

    # -- rendering ----------------------------------------------------------------------

    def render(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames of the mix, float32 (frames, channels); shorter at the end.

        A track that fails to decode is skipped (a notice is added, :attr:`faults` counts up)
        and the block continues with the next entry from the same position.
        """
        while True:
            try:
                # A broken float file's NaN/Inf mixes quietly here; make_safe silences it later.
                with np.errstate(invalid="ignore", over="ignore"):
                    return self._render(frames)
            except _SlotFailed as failed:
                self._fail(failed.slot, failed.reason, played=failed.played)

    def _render(self, frames: int) -> np.ndarray:
        s = self.settings
        frames = max(0, min(frames, self.total - self.position))
        out = np.zeros((frames, s.channels), dtype=np.float32)
        if not frames:
            return out
        p0, p1 = self.position, self.position + frames
        while self._first < len(self.slots) and self.slots[self._first].end <= p0:
            self._first += 1
        for k in range(self._first, len(self.slots)):
            slot = self.slots[k]
            if slot.start >= p1:
                break
            if slot.end <= p0 or slot.silence:
                continue
            a, b = max(p0, slot.start), min(p1, slot.end)
            voice, gain = self._voice(k, slot, a)
            try:
                data = voice.read(b - a)
            except ReadError as exc:
                raise _SlotFailed(k, exc.reason) from exc
            except _EndedEarly as short:
                missing_s = short.missing_frames / s.sample_rate
                raise _SlotFailed(k, f"the file ended {missing_s:.0f} s before the length its header "
                                     "states; went on with the next", played=True) from None
            q = np.arange(a - slot.start, b - slot.start, dtype=np.float64)
            env = np.full(len(q), gain)
            if slot.fade_in:
                x = q / slot.fade_in
                env *= equal_power(x) if slot.fade_in_equal_power else raised_cosine(x)
            if slot.fade_out:
                x = (slot.length - q) / slot.fade_out
                env *= equal_power(x) if slot.fade_out_equal_power else raised_cosine(x)
            out[a - p0 : b - p0] += data * env[:, None].astype(np.float32)
        self._apply_session_fades(out, p0)
        self.position = p1
        for k in [k for k in self._voices if self.slots[k].end <= p1]:
            self._drop_voice(k)
        return soft_limit(out)

    def _apply_session_fades(self, out: np.ndarray, p0: int) -> None:
        p1 = p0 + len(out)
        if self._fade_in and p0 < self._fade_in:
            q = np.arange(p0, p1, dtype=np.float64)
            out *= raised_cosine(q / self._fade_in)[:, None].astype(np.float32)
        f = self._fade_out
        if f.end > f.start and p1 > f.start:
            q = np.arange(p0, p1, dtype=np.float64)
            out *= raised_cosine((f.end - q) / (f.end - f.start))[:, None].astype(np.float32)
        lift = self._lift
        if lift is not None and p0 < lift.end and p1 > lift.start:
            q = np.arange(p0, p1, dtype=np.float64)
            rise = raised_cosine((q - lift.start) / (lift.end - lift.start))
            out *= (lift.low + (1.0 - lift.low) * rise)[:, None].astype(np.float32)

    # -- changes of plan ----------------------------------------------------------------

    def seek_entry(self, index: int) -> bool:
        """Continue, from the current render position, with entry ``index`` (and those after).

        The caller ramps the output down before and up after (see player). Returns False
        when there is nothing left to play from there (the session ends).
        """
        for k in list(self._voices):
            self._drop_voice(k)
        index = max(0, index)
        items = [
            (i, self._lengths[i], self.entries[i].is_silence)
            for i in range(index, len(self.entries))
            if i not in self.failed and self._lengths.get(i)
        ]
        self.slots = plan_slots(items, self.settings, start=self.position)
        self._first = 0
        self._replan_fade_out()
        return bool(self.slots)

    def rewind(self, position: int) -> None:
        """Render again from ``position`` (≤ the current one) with the same plan: the player
        throws away queued audio it has not played yet, then changes the plan from there."""
        for k in list(self._voices):
            self._drop_voice(k)
        self.position = min(max(0, position), self.position)
        self._first = 0

    def end_after(self, index: int) -> None:
        """Sleep timer "end after this track": drop the entries after ``index``; the session
        fade-out then covers the end of that track (shortened if it is nearly over)."""
        keep = index
        for k, s in enumerate(self.slots):
            nxt = self.slots[k + 1] if k + 1 < len(self.slots) else None
            if s.index == index and nxt is not None and nxt.start < self.position:
                keep = nxt.index  # already audible: cutting it now would click
        cut = [k for k, s in enumerate(self.slots) if s.index > keep]
        for k in cut:
            self._drop_voice(k)
        self.slots = [s for s in self.slots if s.index <= keep]
        if self.slots:
            last = self.slots[-1]
            # Its tail was shaped for a crossfade; the session fade-out takes over instead.
            last.fade_out = 0
        self._replan_fade_out()

    def continue_after(self) -> None:
        """Cancel :meth:`end_after`: the entries it dropped follow again, from the render
        position. Where the session fade-out had begun, the level comes back over
        :data:`LIFT_S` from where it had got to; fades that would have begun in the past are
        shortened to begin now. Nothing changes when nothing was dropped."""
        if not self.slots:
            return
        last = self.slots[-1]
        items = [
            (i, self._lengths[i], self.entries[i].is_silence)
            for i in range(last.index + 1, len(self.entries))
            if i not in self.failed and self._lengths.get(i)
        ]
        if not items:
            return
        p, f = self.position, self._fade_out
        low = 1.0
        if f.end > f.start and p > f.start:
            low = float(raised_cosine(np.array([(f.end - p) / (f.end - f.start)]))[0])
        plan = plan_slots([(last.index, last.length, last.silence), *items], self.settings,
                          start=last.start, not_before=p)
        last.fade_out, last.fade_out_equal_power = plan[0].fade_out, plan[0].fade_out_equal_power
        self.slots.extend(plan[1:])
        self._replan_fade_out()
        if low < 1.0:
            self._lift = _Fade(p, p + max(self.settings.frames(LIFT_S), 1), low)

    def _replan_fade_out(self) -> None:
        fo = self.settings.frames(self.settings.fade_out_s)
        self._fade_out = _Fade(max(self.total - fo, self.position), self.total)

    def _fail(self, k: int, reason: str, *, played: bool = False) -> None:
        slot = self.slots[k]
        self.failed.add(slot.index)
        self.faults += 1
        self.notices.append(f"{'' if played else 'skipped '}{self._name(slot.index)}: {reason}")
        self.seek_entry(slot.index + 1)

    # -- internals ----------------------------------------------------------------------

    def _length(self, i: int) -> int:
        e = self.entries[i]
        if e.is_silence:
            seconds = e.silence_s
            if not seconds <= MAX_SILENCE_S:
                self.notices.append(f"a silence of {e.silence_s:g} s plays for {MAX_SILENCE_S:g} s, "
                                    "the longest pause a session has")
                seconds = MAX_SILENCE_S
            n = self.settings.frames(seconds)
        else:
            try:
                if e.path not in self._path_frames:
                    self._path_frames[e.path] = self.length_of(e.path, self.settings)
                n = self._path_frames[e.path]
            except ReadError as exc:
                self.failed.add(i)
                self.notices.append(f"skipped {self._name(i)}: {exc.reason}")
                n = 0
        self._lengths[i] = n
        return n

    def _name(self, i: int) -> str:
        e = self.entries[i]
        return e.display_name or Path(e.path).name

    def _voice(self, k: int, slot: Slot, at: int) -> tuple[_Voice, float]:
        if k in self._voices:
            return self._voices[k]
        e = self.entries[slot.index]
        skip = max(0, at - slot.start)  # joined mid-slot (rewind): start decoding there
        try:
            blocks = self.open_source(e.path, self.settings, skip / self.settings.sample_rate)
            voice = _Voice(blocks, slot.length - skip, self.settings.channels,
                           pad_limit=self.settings.frames(MAX_PAD_S))
        except ReadError as exc:
            raise _SlotFailed(k, exc.reason) from exc
        gain_db = (self.gain_db_of(slot.index) if self.gain_db_of else 0.0) + self._drops[slot.index]
        self._voices[k] = (voice, 10.0 ** (gain_db / 20.0))
        return self._voices[k]

    def _drop_voice(self, k: int) -> None:
        v = self._voices.pop(k, None)
        if v is not None:
            v[0].close()
