"""Development corpus for tempo estimation: generated music with a known notated-beat tempo.

Each piece is composed from a seed (chord progression, melody with varied note lengths, an
accompaniment texture, optional light percussion, accents, phrase dynamics and expressive
timing), written as a Standard MIDI File, rendered with fluidsynth and the General MIDI
soundfont FluidR3 (sampled, recorded-instrument timbres with reverb tails), and saved as
WAV, FLAC, OGG Vorbis or MP3. When fluidsynth or the soundfont is missing, it installs them
(``apt-get install -y fluidsynth fluid-soundfont-gm``) if it runs as root with apt-get;
otherwise it falls back, loudly, to a small numpy synth.

The truth is the tempo of the notated beat: the quarter note in 2/4, 3/4 and 4/4, the dotted
quarter in 6/8, 9/8 and 12/8, averaged over the piece (beats / seconds).

The composer knows nothing of the estimator; the corpus design was fixed before tuning.

Usage: ``python bench/corpus.py [--n 160] [--out bench/.corpus]`` (cached: existing files are
kept; the manifest ``manifest.json`` lists every piece with its truth and categories).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

CORPUS_VERSION = 3
DEV_SEED = 20261126  # the development corpus; any other seed gives a held-out one
DEFAULT_DIR = Path(__file__).resolve().parent / ".corpus"
# another General MIDI soundfont (e.g. Debian's timgm6mb-soundfont) renders the same pieces with
# other sampled instruments: a second "generator" for the cross-source figures of bench/tempo.py
SOUNDFONT = Path(os.environ.get("COMPANION_CORPUS_SF2", "/usr/share/sounds/sf2/FluidR3_GM.sf2"))
FLUID_NAME = "fluid" if SOUNDFONT.stem == "FluidR3_GM" else f"fluid-{SOUNDFONT.stem}"
RENDER_SR = 44100
FORMATS = ("wav", "flac", "ogg", "mp3")

# General MIDI programs (0-based)
SUSTAINED = {
    "strings": 48, "slow_strings": 49, "choir": 52, "warm_pad": 89, "organ": 19,
    "reed_organ": 20, "flute": 73, "clarinet": 71, "cello": 42, "violin": 40, "oboe": 68,
    "halo_pad": 94, "french_horn": 60,
}
PLUCKED = {
    "piano": 0, "bright_piano": 1, "epiano": 4, "harp": 46, "nylon_guitar": 24,
    "steel_guitar": 25, "celesta": 8, "vibraphone": 11, "marimba": 12, "music_box": 10,
}
BELLS = {"celesta": 8, "glockenspiel": 9, "music_box": 10, "vibraphone": 11, "tubular_bells": 14}

METERS = {  # beats per bar, subdivisions per beat
    "2/4": (2, 2), "3/4": (3, 2), "4/4": (4, 2), "6/8": (2, 3), "9/8": (3, 3), "12/8": (4, 3),
}


@dataclass(frozen=True)
class Piece:
    name: str
    seed: int
    bpm: float  # nominal notated-beat tempo
    meter: str
    style: str  # chorale, pad_melody, arpeggio, folk, quartet, pluck_shaker, bells
    timbre: str  # sustained | plucked
    percussion: bool
    timing: str  # steady | drift | rubato
    fmt: str
    duration_s: float
    programs: dict = field(default_factory=dict)
    synth: str = "fluid"  # fluid (sampled instruments) | numpy (the built-in additive synth)

    @property
    def compound(self) -> bool:
        return METERS[self.meter][1] == 3


@dataclass
class Note:
    beat: float  # position in beats from the piece start (score time)
    dur: float  # beats
    pitch: int
    vel: int
    ch: int


# -- the pieces ----------------------------------------------------------------------------------


def plan_corpus(n: int = 160, seed: int = DEV_SEED) -> list[Piece]:
    """The list of pieces: a fixed, seeded spread over tempo, meter, texture and format.

    Tempi follow the evaluation's spread (48-133 BPM, about 40 % below 70, a few at 45-48 and
    133-160 at the edges). Two demo-like textures are included on purpose: plucked broken
    chords with a soft shaker at 96-116 BPM, and bell tones at 80-100 BPM. About one piece in
    five is rendered with the built-in additive synth instead of the sampled instruments.
    """
    rng = np.random.default_rng(seed)
    pieces = []
    for i in range(n):
        band = rng.choice(3, p=[0.46, 0.30, 0.24])
        compound = rng.random() < 0.3
        lo, hi = [(48, 70), (70, 100), (100, 133)][band]
        if rng.random() < 0.08:  # the edges
            lo, hi = (45, 48) if band == 0 else ((133, 160) if band == 2 else (lo, hi))
        if compound and hi > 130:
            lo, hi = min(lo, 120), 130
        bpm = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        meter = str(rng.choice(["6/8", "9/8", "12/8"], p=[0.55, 0.15, 0.3]) if compound
                    else rng.choice(["2/4", "3/4", "4/4"], p=[0.15, 0.3, 0.55]))
        styles = ["pad_melody", "arpeggio", "folk", "quartet"] + ([] if compound else ["chorale"])
        style = str(rng.choice(styles))
        demo_like = rng.random()
        if demo_like < 0.10 and not compound:
            style, bpm, meter = "pluck_shaker", float(rng.uniform(96, 116)), "4/4"
        elif demo_like < 0.18:
            style, bpm = "bells", float(rng.uniform(80, 100))
        if style in ("pad_melody", "chorale", "quartet"):
            timbre = "sustained" if style != "chorale" or rng.random() < 0.8 else "plucked"
        elif style in ("arpeggio", "pluck_shaker", "bells"):
            timbre = "plucked"
        else:
            timbre = str(rng.choice(["sustained", "plucked"], p=[0.3, 0.7]))
        if style == "quartet":
            progs = {"melody": SUSTAINED["violin"], "inner": SUSTAINED["strings"],
                     "bass": SUSTAINED["cello"]}
        elif style == "bells":
            bell = BELLS[str(rng.choice(list(BELLS)))]
            progs = {"melody": bell, "inner": bell,
                     "bass": int(rng.choice([bell, SUSTAINED["warm_pad"], SUSTAINED["cello"]]))}
        elif timbre == "sustained":
            names = list(SUSTAINED)
            progs = {"melody": SUSTAINED[str(rng.choice(["flute", "clarinet", "violin", "oboe",
                                                           "choir", "french_horn", "strings"]))],
                     "inner": SUSTAINED[str(rng.choice(names))],
                     "bass": SUSTAINED[str(rng.choice(["cello", "strings", "slow_strings",
                                                        "organ", "warm_pad"]))]}
        else:
            inst = PLUCKED[str(rng.choice(list(PLUCKED)))]
            mel = inst if rng.random() < 0.6 else SUSTAINED[str(rng.choice(["flute", "violin",
                                                                           "clarinet", "oboe"]))]
            progs = {"melody": mel, "inner": inst, "bass": inst}
        percussion = bool(rng.random() < 0.35) or style == "pluck_shaker"
        if style == "bells":
            percussion = False
        timing = str(rng.choice(["steady", "drift", "rubato"], p=[0.3, 0.35, 0.35]))
        fmt = FORMATS[i % 4]
        duration = float(rng.uniform(40, 75))
        synth = "numpy" if rng.random() < 0.2 else "fluid"
        pieces.append(Piece(
            name=f"p{i:03d}_{int(round(bpm))}bpm_{meter.replace('/', '-')}_{style}",
            seed=int(rng.integers(1 << 30)), bpm=round(bpm, 2), meter=meter, style=style,
            timbre=timbre, percussion=percussion, timing=timing, fmt=fmt, duration_s=duration,
            programs=progs, synth=synth,
        ))
    return pieces


EXTENSION_SEED = 20261127  # the extension set (sparse textures), added to the development corpus
EXTENSION_STYLES = ("sparse_pad", "piano_solo")


def plan_extension(n: int = 160, seed: int = EXTENSION_SEED) -> list[Piece]:
    """Sparse slow textures the main plan lacks: few onsets per beat (pads changing each bar with
    a bass note on the downbeat, or a piano left hand in half and whole notes) under a melody
    of mostly one- and two-beat notes that rests every other bar at times. Same tempo spread
    and formats as plan_corpus. (Added in round two: the main plan's slow pieces all subdivide
    their beats, so a model fitted on them alone learned that slow music is dense.)"""
    rng = np.random.default_rng(seed)
    pieces = []
    for i in range(n):
        band = rng.choice(3, p=[0.46, 0.30, 0.24])
        compound = rng.random() < 0.25
        lo, hi = [(45, 70), (70, 100), (100, 133)][band]
        bpm = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        meter = str(rng.choice(["6/8", "9/8", "12/8"], p=[0.6, 0.1, 0.3]) if compound
                    else rng.choice(["2/4", "3/4", "4/4"], p=[0.15, 0.35, 0.5]))
        style = str(rng.choice(EXTENSION_STYLES))
        if style == "sparse_pad":
            timbre = "sustained"
            mel = str(rng.choice(["flute", "clarinet", "oboe", "violin", "choir", "french_horn"]))
            mel_prog = SUSTAINED[mel] if rng.random() < 0.6 else PLUCKED[str(rng.choice(
                ["piano", "harp", "celesta", "vibraphone", "nylon_guitar"]))]
            progs = {"melody": mel_prog,
                     "inner": SUSTAINED[str(rng.choice(["warm_pad", "halo_pad", "strings",
                                                        "slow_strings", "choir", "organ"]))],
                     "bass": SUSTAINED[str(rng.choice(["cello", "slow_strings", "warm_pad"]))]
                     if rng.random() < 0.5 else PLUCKED["piano"]}
        else:
            timbre = "plucked"
            inst = PLUCKED[str(rng.choice(["piano", "bright_piano", "epiano", "harp"]))]
            progs = {"melody": inst, "inner": inst, "bass": inst}
        timing = str(rng.choice(["steady", "drift", "rubato"], p=[0.3, 0.35, 0.35]))
        pieces.append(Piece(
            name=f"x{i:03d}_{int(round(bpm))}bpm_{meter.replace('/', '-')}_{style}",
            seed=int(rng.integers(1 << 30)), bpm=round(bpm, 2), meter=meter, style=style,
            timbre=timbre, percussion=bool(rng.random() < 0.15), timing=timing,
            fmt=FORMATS[i % 4], duration_s=float(rng.uniform(40, 75)), programs=progs,
            synth="numpy" if rng.random() < 0.2 else "fluid",
        ))
    return pieces


# -- composition ---------------------------------------------------------------------------------

MAJOR = [0, 2, 4, 5, 7, 9, 11]
MINOR = [0, 2, 3, 5, 7, 8, 10]
PROGRESSIONS = [
    [0, 5, 3, 4], [0, 3, 4, 0], [0, 4, 5, 3], [0, 3, 0, 4], [5, 3, 0, 4], [0, 1, 4, 0],
    [0, 5, 1, 4], [0, 2, 3, 4], [0, 3, 5, 4, 0, 3, 4, 0],
]


def _chord(degree: int, scale: list[int], root: int) -> list[int]:
    """Triad (as MIDI pitches around ``root``) on a scale degree."""
    out = []
    for k in (0, 2, 4):
        d = degree + k
        out.append(root + scale[d % 7] + 12 * (d // 7))
    return out


def _cells(meter: str, bpm: float, rng: np.random.Generator) -> list[tuple[list[float], float]]:
    """Melody rhythm cells (durations in beats) with weights; slow tempi subdivide more."""
    slow = bpm < 75
    if METERS[meter][1] == 2:
        cells = [([1.0], 3), ([2.0], 2), ([0.5, 0.5], 3 if slow else 1.5), ([1.5, 0.5], 2),
                 ([3.0], 0.7), ([4.0], 0.4), ([0.75, 0.25], 1 if slow else 0.3),
                 ([0.5, 0.25, 0.25], 0.8 if slow else 0.2), ([0.25, 0.25, 0.5], 0.5 if slow else 0.1),
                 ([1.0, 1.0], 1.5)]
    else:
        t = 1 / 3
        cells = [([1.0], 3), ([2 * t, t], 3), ([t, t, t], 2 if slow else 1), ([2.0], 1.5),
                 ([t, 2 * t], 0.7), ([0.5 * t, 0.5 * t, t, t], 0.6 if slow else 0.1),
                 ([3.0], 0.4), ([1.0 + 2 * t, t], 0.8)]
    return cells


def _sparse_cells(meter: str) -> list[tuple[list[float], float]]:
    """Melody rhythm cells of sparse textures: mostly whole beats and longer, at any tempo."""
    if METERS[meter][1] == 2:
        return [([1.0], 3), ([2.0], 3), ([0.5, 0.5], 1), ([1.5, 0.5], 1.5), ([3.0], 1),
                ([4.0], 0.7), ([1.0, 1.0], 1.5)]
    t = 1 / 3
    return [([1.0], 3), ([2 * t, t], 2), ([2.0], 1.5), ([3.0], 0.6), ([t, t, t], 0.5)]


def _melody_rhythm(meter: str, bpm: float, bars: int, rng: np.random.Generator,
                   sparse: bool = False) -> list[tuple[float, float]]:
    """(start, duration) in beats for the melody; phrase ends (every 4 bars) hold long notes.
    ``sparse``: long notes (see _sparse_cells), and now and then a bar of rest every other bar."""
    per_bar = METERS[meter][0]
    cells = _sparse_cells(meter) if sparse else _cells(meter, bpm, rng)
    resting = sparse and rng.random() < 0.4
    notes = []
    for bar in range(bars):
        pos = 0.0
        phrase_end = bar % 4 == 3 or bar == bars - 1
        if resting and bar % 2 == 1 and not phrase_end:
            continue
        if phrase_end:
            # a long note (or two) closes the phrase
            first = float(rng.choice([1.0, 2.0])) if per_bar >= 3 else 1.0
            notes.append((bar * per_bar, first))
            if per_bar - first > 0:
                notes.append((bar * per_bar + first, per_bar - first))
            continue
        while pos < per_bar - 1e-6:
            room = per_bar - pos
            ok = [(c, w) for c, w in cells if sum(c) <= room + 1e-6]
            # cells longer than one beat start on beats only
            ok = [(c, w) for c, w in ok if sum(c) <= 1 + 1e-6 or abs(pos - round(pos)) < 1e-6]
            w = np.array([w for _, w in ok], dtype=float)
            cell = ok[int(rng.choice(len(ok), p=w / w.sum()))][0]
            for d in cell:
                # occasional rests
                if rng.random() > 0.06:
                    notes.append((bar * per_bar + pos, d))
                pos += d
    return notes


def compose(p: Piece) -> tuple[list[Note], float]:
    """The score as notes (in beats) and the number of beats."""
    rng = np.random.default_rng(p.seed)
    per_bar, sub = METERS[p.meter]
    bars = max(8, int(round(p.duration_s * p.bpm / 60 / per_bar)))
    total_beats = bars * per_bar
    minor = rng.random() < 0.4
    scale = MINOR if minor else MAJOR
    tonic = 48 + int(rng.integers(0, 12))
    prog = PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))]
    if minor:
        prog = [d if d != 4 else 4 for d in prog]
    # harmonic rhythm: chorale changes every beat (mostly), others every 1 or 2 bars
    if p.style == "chorale":
        harm_beats = 1.0 if rng.random() < 0.7 or per_bar % 2 else 2.0
    else:
        harm_beats = float(per_bar * (1 if rng.random() < 0.6 else 2))
    if p.style == "chorale":
        chord_seq = []
        for i in range(int(total_beats / harm_beats)):
            if i % int(per_bar / harm_beats) == 0:
                chord_seq.append(prog[(i // int(per_bar / harm_beats)) % len(prog)])
            else:
                chord_seq.append(int(rng.choice([0, 1, 3, 4, 5])))
    else:
        chord_seq = [prog[i % len(prog)] for i in range(int(math.ceil(total_beats / harm_beats)))]
    chord_seq[-1] = 0

    base_vel = int(rng.integers(40, 72))
    notes: list[Note] = []

    def vel(beat: float, extra: int = 0) -> int:
        in_bar = beat % per_bar
        acc = 12 if in_bar < 1e-6 else (5 if abs(in_bar - round(in_bar)) < 1e-6 else -5)
        if per_bar == 4 and abs(in_bar - 2) < 1e-6:
            acc = 8
        phrase = 8 * math.sin(math.pi * ((beat / per_bar) % 4) / 4)  # swell over 4 bars
        return int(np.clip(base_vel + acc + phrase + extra + rng.normal(0, 5), 12, 120))

    def chord_at(beat: float) -> list[int]:
        return _chord(chord_seq[min(int(beat // harm_beats), len(chord_seq) - 1)], scale, tonic)

    # melody
    mel_oct = 24 if p.programs.get("melody") not in (SUSTAINED["cello"],) else 12
    degree = 7 + int(rng.integers(-2, 3))
    for start, dur in _melody_rhythm(p.meter, p.bpm, bars, rng, sparse=p.style in EXTENSION_STYLES):
        on_beat = abs(start - round(start)) < 1e-6
        if on_beat and rng.random() < 0.6:  # chord tones on beats
            ct = chord_at(start)
            cands = [c - tonic for c in ct]
            target = [d for d in range(0, 16) if (scale[d % 7] + 12 * (d // 7)) % 12 in [c % 12 for c in cands]]
            degree = min(target, key=lambda d: abs(d - degree))
        else:
            degree += int(rng.choice([-2, -1, -1, 1, 1, 2, 0, 3, -3], p=[.1, .2, .2, .2, .15, .05, .04, .03, .03]))
            degree = int(np.clip(degree, 2, 13))
        pitch = tonic + mel_oct + scale[degree % 7] + 12 * (degree // 7)
        notes.append(Note(start, dur * 0.95, pitch, vel(start, 8), 0))

    # accompaniment
    n_chords = len(chord_seq)
    for i in range(n_chords):
        c0 = i * harm_beats
        if c0 >= total_beats:
            break
        span = min(harm_beats, total_beats - c0)
        triad = chord_at(c0)
        bass = triad[0] - 12
        if p.style in ("pad_melody",):
            for q in triad:
                notes.append(Note(c0, span * 0.98, q, vel(c0, -10), 1))
            notes.append(Note(c0, span * 0.98, bass, vel(c0, -4), 2))
        elif p.style == "chorale":
            voicing = [bass, triad[1] - 12 + 12 * (rng.random() < 0.5), triad[2], triad[0] + 12]
            for q in voicing:
                notes.append(Note(c0, span * 0.97, q, vel(c0, -2), 1 if q != bass else 2))
            if rng.random() < 0.25 and span >= 1:  # passing eighth in an inner voice
                notes.append(Note(c0 + 0.5, 0.45, triad[1] + 2, vel(c0 + 0.5, -8), 1))
        elif p.style in ("arpeggio", "pluck_shaker", "bells"):
            step = 1.0 / sub if p.bpm < 110 or sub == 3 else 0.5
            if p.style == "pluck_shaker":
                step = 0.5
            if p.bpm > 125 and sub == 2:
                step = 1.0
            order = [bass, triad[0], triad[1], triad[2], triad[1] + 12, triad[2]]
            k, t = 0, c0
            while t < c0 + span - 1e-6:
                q = order[k % len(order)] if k else bass
                notes.append(Note(t, step * 2.5, q, vel(t, -10 if k else -2), 1))
                k += 1
                t += step
        elif p.style == "folk":
            for b in range(int(span)):
                t = c0 + b
                if sub == 2:
                    if (t % per_bar) in (0, 2):
                        notes.append(Note(t, 0.9, bass, vel(t, -2), 2))
                    else:
                        for q in triad:
                            notes.append(Note(t, 0.6, q, vel(t, -12), 1))
                else:  # compound: bass on the beat, chord on eighths 2 and 3
                    notes.append(Note(t, 0.9, bass, vel(t, -2), 2))
                    for e in (1, 2):
                        for q in triad:
                            notes.append(Note(t + e / 3, 0.3, q, vel(t + e / 3, -14), 1))
        elif p.style == "sparse_pad":
            # pad chord with a slow swell, changing with the harmony; bass note on each downbeat
            for q in triad:
                notes.append(Note(c0, span * 0.98, q, vel(c0, -14), 1))
            for b in range(0, int(span), per_bar):
                notes.append(Note(c0 + b, per_bar * 0.9, bass, vel(c0 + b, -4), 2))
        elif p.style == "piano_solo":
            # left hand: bass on the downbeat, the chord in half notes (simple) or on the beat
            # (compound), or held for the bar
            held = rng.random() < 0.4
            for b in range(0, int(span), per_bar):
                t = c0 + b
                notes.append(Note(t, per_bar * 0.95, bass, vel(t, -2), 2))
                if held:
                    for q in triad:
                        notes.append(Note(t, per_bar * 0.95, q, vel(t, -12), 1))
                    continue
                step = 2 if sub == 2 and per_bar in (2, 4) else 1
                for k in range(0, per_bar, step):
                    if k == 0 and sub == 2:
                        continue
                    for q in triad:
                        notes.append(Note(t + k, step * 0.9, q, vel(t + k, -12), 1))
        elif p.style == "quartet":
            # inner voices: repeated notes in subdivisions (slow movements) or held
            repeated = rng.random() < 0.5
            if repeated:
                step = 1.0 / sub
                t = c0
                while t < c0 + span - 1e-6:
                    for q in triad[1:]:
                        notes.append(Note(t, step * 0.9, q, vel(t, -14), 1))
                    t += step
            else:
                for q in triad[1:]:
                    notes.append(Note(c0, span * 0.98, q, vel(c0, -12), 1))
            for b in range(0, int(span), 1 if p.bpm < 80 else max(1, per_bar // 2)):
                t = c0 + b
                notes.append(Note(t, 0.95 if p.bpm < 80 else per_bar / 2 * 0.95, bass, vel(t, -4), 2))

    if p.percussion:
        pattern = 3 if p.style == "pluck_shaker" else int(rng.integers(3))
        step = 1.0 / sub
        t = 0.0
        while t < total_beats - 1e-6:
            in_bar = t % per_bar
            on_beat = abs(t - round(t)) < 1e-6
            if pattern == 0:  # shaker on subdivisions, soft kick on the downbeat
                notes.append(Note(t, 0.1, 82 if sub == 2 else 70, vel(t, -20 if not on_beat else -12), 9))
                if in_bar < 1e-6:
                    notes.append(Note(t, 0.2, 36, vel(t, -15), 9))
            elif pattern == 3:  # a soft shaker alone, a little louder on the beats
                notes.append(Note(t, 0.1, 82 if sub == 2 else 70, vel(t, -24 if not on_beat else -16), 9))
            elif pattern == 1:  # hand drums: low on 1, high on the other beats
                if on_beat:
                    notes.append(Note(t, 0.2, 64 if in_bar < 1e-6 else 63, vel(t, -10), 9))
                elif rng.random() < 0.3:
                    notes.append(Note(t, 0.1, 62, vel(t, -25), 9))
            else:  # side stick on beats, kick on beat 1 (and 3 in 4/4)
                if on_beat:
                    if in_bar < 1e-6 or (per_bar == 4 and abs(in_bar - 2) < 1e-6):
                        notes.append(Note(t, 0.2, 36, vel(t, -12), 9))
                    else:
                        notes.append(Note(t, 0.1, 37, vel(t, -18), 9))
                if rng.random() < 0.4 and not on_beat:
                    notes.append(Note(t, 0.1, 42, vel(t, -30), 9))
            t = round(t + step, 9)
    return notes, float(total_beats)


def beat_clock(p: Piece, total_beats: float) -> np.ndarray:
    """Seconds at each beat 0..total_beats (inclusive): the expressive tempo curve."""
    rng = np.random.default_rng(p.seed + 1)
    per_bar = METERS[p.meter][0]
    n = int(total_beats) + 1
    b = np.arange(n, dtype=float)
    x = b / max(total_beats, 1)
    factor = np.ones(n)
    if p.timing == "drift":
        amount = rng.uniform(0.03, 0.07) * rng.choice([-1, 1])
        factor *= 1 + amount * (x - 0.5)
    elif p.timing == "rubato":
        period_bars = rng.choice([4, 8])
        phase = rng.uniform(0, 2 * np.pi)
        factor *= 1 + rng.uniform(0.03, 0.06) * np.sin(2 * np.pi * b / (per_bar * period_bars) + phase)
        # ritardando into each 8-bar phrase end, a tempo after
        pos = (b % (8 * per_bar)) / (8 * per_bar)
        factor *= 1 - 0.12 * np.clip((pos - 0.85) / 0.15, 0, 1) ** 2
    factor[-per_bar:] *= np.linspace(1, 0.85, per_bar)  # final ritardando
    local = p.bpm * factor  # BPM at each beat
    dt = 60.0 / local[:-1]
    return np.concatenate([[0.0], np.cumsum(dt)])


def perform(p: Piece) -> tuple[list[tuple[float, float, int, int, int]], float]:
    """Notes in seconds (onset, offset, pitch, velocity, channel) and the true mean BPM."""
    notes, total_beats = compose(p)
    clock = beat_clock(p, total_beats)
    rng = np.random.default_rng(p.seed + 2)
    jitter_sd = {"steady": 0.008, "drift": 0.012, "rubato": 0.02}[p.timing]

    def sec(beat: float) -> float:
        i = min(int(beat), len(clock) - 2)
        return float(clock[i] + (beat - i) * (clock[i + 1] - clock[i]))

    out = []
    for nt in notes:
        start = sec(nt.beat)
        on = start + rng.normal(0, jitter_sd) + (0.015 if nt.ch == 0 else 0.0)
        off = on + sec(nt.beat + nt.dur) - start  # the played length follows the onset
        out.append((max(0.0, on) + 0.3, max(on + 0.05, off) + 0.3, nt.pitch, nt.vel, nt.ch))
    # truth: beats per minute over the performed beats, excluding the final held bar
    per_bar = METERS[p.meter][0]
    k = int(total_beats) - per_bar
    true_bpm = 60.0 * k / (clock[k] - clock[0])
    return out, float(true_bpm)


# -- MIDI and rendering ---------------------------------------------------------------------------


def _varlen(v: int) -> bytes:
    out = [v & 0x7F]
    v >>= 7
    while v:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    return bytes(reversed(out))


def write_midi(path: Path, events: list[tuple[float, float, int, int, int]], programs: dict) -> None:
    """A type-0 SMF with 1 tick = 1 ms (division 1000, tempo 1 000 000 µs per quarter)."""
    msgs: list[tuple[int, int, bytes]] = []
    chans = {"melody": 0, "inner": 1, "bass": 2}
    for role, ch in chans.items():
        msgs.append((0, 0, bytes([0xC0 | ch, programs.get(role, 0)])))
        msgs.append((0, 0, bytes([0xB0 | ch, 91, 70])))  # reverb send
    for on, off, pitch, vel, ch in events:
        msgs.append((int(on * 1000), 2, bytes([0x90 | ch, pitch & 0x7F, vel & 0x7F])))
        msgs.append((int(off * 1000), 1, bytes([0x80 | ch, pitch & 0x7F, 0])))
    msgs.sort(key=lambda m: (m[0], m[1]))
    body = bytearray(b"\x00\xff\x51\x03" + (1_000_000).to_bytes(3, "big"))
    last = 0
    for t, _, data in msgs:
        body += _varlen(t - last) + data
        last = t
    body += _varlen(2500) + b"\xff\x2f\x00"
    path.write_bytes(b"MThd" + struct.pack(">IHHH", 6, 0, 1, 1000)
                     + b"MTrk" + struct.pack(">I", len(body)) + bytes(body))


def fluidsynth_ok() -> bool:
    return shutil.which("fluidsynth") is not None and SOUNDFONT.exists()


def install_fluidsynth() -> bool:
    """Install fluidsynth and the FluidR3 GM soundfont with apt-get when they are missing and
    this runs as root on a system with apt-get; True when they are available afterwards."""
    if fluidsynth_ok():
        return True
    apt = shutil.which("apt-get")
    if apt is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False
    print("corpus: installing fluidsynth and fluid-soundfont-gm (apt-get) ...", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = [apt, "install", "-y", "fluidsynth", "fluid-soundfont-gm"]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if res.returncode != 0:  # stale package lists: update once and retry
            subprocess.run([apt, "update"], capture_output=True, env=env, timeout=600)
            res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"corpus: apt-get failed: {exc}", file=sys.stderr)
        return False
    if res.returncode != 0:
        print(f"corpus: apt-get failed: {res.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
    return fluidsynth_ok()


def render_fluidsynth(mid: Path, wav: Path) -> np.ndarray:
    subprocess.run(
        ["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", str(RENDER_SR), "-F", str(wav),
         "-o", "synth.reverb.room-size=0.6", "-o", "synth.reverb.level=0.8",
         "-o", "audio.driver=file", str(SOUNDFONT), str(mid)],
        check=True, capture_output=True, timeout=600,
    )
    import soundfile as sf

    data, _ = sf.read(str(wav), dtype="float32", always_2d=True)
    return data


def render_numpy(events: list[tuple[float, float, int, int, int]], programs: dict,
                 seed: int) -> np.ndarray:
    """Fallback synth: additive tones (sustained or plucked envelopes) plus a noise reverb."""
    sr = RENDER_SR
    end = max(off for _, off, *_ in events) + 3.0
    out = np.zeros(int(end * sr), dtype=np.float32)
    plucked_progs = set(PLUCKED.values())
    rng = np.random.default_rng(seed)
    for on, off, pitch, vel, ch in events:
        amp = (vel / 127) ** 2 * 0.2
        if ch == 9:
            n = int(0.08 * sr)
            tone = rng.normal(0, 1, n) * np.exp(-np.arange(n) / (0.015 * sr))
            if pitch in (35, 36):
                tt = np.arange(n) / sr
                tone = np.sin(2 * np.pi * 60 * tt) * np.exp(-tt / 0.05)
        else:
            f = 440.0 * 2 ** ((pitch - 69) / 12)
            plucked = programs.get({0: "melody", 1: "inner", 2: "bass"}.get(ch, "inner"), 0) in plucked_progs
            length = (off - on) + (1.2 if plucked else 0.3)
            tt = np.arange(int(length * sr)) / sr
            if plucked:
                env = np.exp(-tt / (0.5 + 60 / f))
                env[: int(0.003 * sr)] *= np.linspace(0, 1, int(0.003 * sr))
            else:
                env = np.minimum(tt / 0.12, 1.0) * np.where(tt < off - on, 1.0, np.exp(-(tt - (off - on)) / 0.2))
            tone = sum(np.sin(2 * np.pi * f * k * tt) / k ** 1.5 for k in range(1, 6)) * env
        i = int(on * sr)
        seg = out[i : i + len(tone)]
        seg += (amp * tone[: len(seg)]).astype(np.float32)
    ir_n = int(1.5 * sr)
    ir = rng.normal(0, 1, ir_n) * np.exp(-np.arange(ir_n) / (0.35 * sr)) * 0.02
    ir[0] = 1.0
    from scipy.signal import fftconvolve

    wet = fftconvolve(out, ir)[: len(out)].astype(np.float32)
    return np.stack([wet, wet], axis=1)


def build_piece(args: tuple[Piece, str, bool]) -> dict:
    p, out_dir, use_fluid = args
    use_fluid = use_fluid and p.synth == "fluid"
    import soundfile as sf

    path = Path(out_dir) / f"{p.name}.{p.fmt}"
    events, true_bpm = perform(p)
    row = asdict(p) | {"path": str(path), "true_bpm": round(true_bpm, 3),
                       "renderer": f"fluidsynth:{SOUNDFONT.stem}" if use_fluid else "numpy"}
    if path.exists():
        return row
    rng = np.random.default_rng(p.seed + 3)
    with tempfile.TemporaryDirectory() as tmp:
        if use_fluid:
            mid = Path(tmp) / "x.mid"
            write_midi(mid, events, p.programs)
            data = render_fluidsynth(mid, Path(tmp) / "x.wav")
        else:
            data = render_numpy(events, p.programs, p.seed)
    # trim trailing silence, set a soft-ish peak level
    energy = np.abs(data).max(axis=1)
    nz = np.nonzero(energy > 1e-4)[0]
    data = data[: (nz[-1] + 1) if len(nz) else len(data)]
    peak = float(np.abs(data).max()) or 1.0
    data = data / peak * 10 ** (rng.uniform(-12, -3) / 20)
    tmp_path = path.with_name(path.name + ".part" + path.suffix)
    kw = {"format": "MP3"} if p.fmt == "mp3" else {}
    # blockwise: libsndfile's Vorbis encoder crashes on one huge write
    with sf.SoundFile(str(tmp_path), "w", RENDER_SR, data.shape[1], **kw) as fh:
        for i in range(0, len(data), 32768):
            fh.write(np.ascontiguousarray(data[i : i + 32768], dtype=np.float32))
    os.replace(tmp_path, path)
    return row


def ensure_corpus(out: Path = DEFAULT_DIR, n: int = 160, jobs: int = 2, quiet: bool = False,
                  seed: int = DEV_SEED, extension: bool = False) -> list[dict]:
    """Build (or reuse) the corpus (``seed``: another seed gives pieces never fitted on;
    ``extension``: the sparse-texture set of plan_extension); returns the manifest rows."""
    use_fluid = install_fluidsynth()
    if not use_fluid:
        print("corpus: fluidsynth or the FluidR3 soundfont is missing (Debian: apt-get install "
              "fluidsynth fluid-soundfont-gm); FALLING BACK to the built-in numpy synth, whose "
              "timbres are cruder", file=sys.stderr)
    base = EXTENSION_SEED if extension else DEV_SEED
    folder = out / (f"v{CORPUS_VERSION}{'x' if extension else ''}-{FLUID_NAME if use_fluid else 'numpy'}-{n}"
                    + ("" if seed == base else f"-seed{seed}"))
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "manifest.json"
    pieces = plan_extension(n, seed) if extension else plan_corpus(n, seed)
    todo = [(p, str(folder), use_fluid) for p in pieces]
    missing = sum(not (folder / f"{p.name}.{p.fmt}").exists() for p in pieces)
    if missing and not quiet:
        print(f"corpus: rendering {missing} pieces into {folder} ...", file=sys.stderr)
    if missing and jobs > 1:
        with ProcessPoolExecutor(jobs) as ex:
            rows = list(ex.map(build_piece, todo))
    else:
        rows = [build_piece(t) for t in todo]
    manifest.write_text(json.dumps(rows, indent=1))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=160, help="number of pieces (default 160)")
    ap.add_argument("--out", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=None, help="another seed: a held-out corpus")
    ap.add_argument("--extension", action="store_true", help="the sparse-texture extension set")
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else (EXTENSION_SEED if a.extension else DEV_SEED)
    rows = ensure_corpus(a.out, a.n, a.jobs, seed=seed, extension=a.extension)
    print(f"{len(rows)} pieces in {Path(rows[0]['path']).parent}")


if __name__ == "__main__":
    main()
