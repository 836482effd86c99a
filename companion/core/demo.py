"""The bundled demo library: calm tracks synthesised with numpy, so nothing is downloaded.

Every track is real (if modest) music: a chord progression in a key, a melody with varied note
lengths in four-bar phrases, a bass on the downbeats, accompaniment that accents the beat, and
for some tracks gentle percussion. Timbres are built from decaying partials: soft pads with slow
attacks, plucked and bell-like tones, and a piano-like tone with a hammer attack, inharmonic
partials and a two-stage decay. Tempos form a ladder from 45 to 110 BPM (a few tracks in 6/8,
where the beat a listener taps is the dotted quarter), so a 20-minute step-down from 90 to
60 BPM can be planned in steps well under 8 %.

Output is deterministic (fixed seeds; byte-identical on a rerun) and a rerun skips files that
are already present with the content a manifest records, so their mtimes stay put and a rescan
skips them. The intended tempo is written into each file's comment tag for people; analysis
never reads it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Generator, Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from companion.core.models import Playlist
    from companion.core.store import Store

__all__ = [
    "ALBUM",
    "DEMO_PLAYLIST",
    "DEMO_TRACKS",
    "SAMPLE_RATE",
    "DemoTrack",
    "duration_s",
    "ensure_demo",
    "render_track",
    "synthesise_library",
]

SAMPLE_RATE = 44100  # Hz
ALBUM = "companion demo"
DEMO_PLAYLIST = "demo"
# Bump when the music changes: files written by an older generator are then rewritten.
GENERATOR_VERSION = 3
MANIFEST_NAME = ".companion-demo.json"

# progress(done, total, name): called after each track is written or found up to date.
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class DemoTrack:
    """The recipe of one demo track.

    bpm : the tempo a listener would tap, beats per minute (6/8: dotted quarters per minute).
    meter : "4/4" or "6/8".
    timbre : the main colour: "pad", "pluck", "bell" or "piano".
    percussion : "" (none), "brush", "shaker" or "drum".
    key, mode : tonic name ("C", "Eb", "F#" ...) and "major" or "minor".
    target_s : wanted length in seconds; the track ends on a whole bar plus a ringing tail.
    level_db : loudness offset from the library's reference, dB (tracks differ on purpose).
    fmt : file format / extension: "flac", "ogg", "mp3" or "wav".
    """

    stem: str
    title: str
    artist: str
    genre: str
    bpm: float
    meter: str
    timbre: str
    percussion: str
    key: str
    mode: str
    target_s: float
    level_db: float
    fmt: str
    seed: int

    @property
    def filename(self) -> str:
        return f"{self.stem}.{self.fmt}"


_A = (
    "Lumen Vale",
    "The Quiet Harbour",
    "Mira Holt",
    "Slow Rivers",
    "Ansel & Wren",
    "Northlight Ensemble",
)

# fmt: off
DEMO_TRACKS: tuple[DemoTrack, ...] = (
    DemoTrack("01-morning-ferry", "Morning Ferry", _A[1], "Folk", 110, "4/4", "pluck", "shaker", "D", "major", 84, -1.0, "flac", 101),
    DemoTrack("02-kites-over-the-dunes", "Kites over the Dunes", _A[4], "Chillout", 104, "4/4", "bell", "brush", "G", "major", 78, 1.5, "ogg", 102),
    DemoTrack("03-cobblestone-walk", "Cobblestone Walk", _A[2], "Piano", 100, "4/4", "piano", "drum", "F", "major", 66, -3.0, "mp3", 103),
    DemoTrack("04-open-window", "Open Window", _A[3], "Folk", 96, "4/4", "pluck", "brush", "A", "major", 90, 0.5, "flac", 104),
    DemoTrack("05-harbour-at-dusk", "Harbour at Dusk", _A[1], "Piano", 92, "4/4", "piano", "brush", "Eb", "major", 126, -2.0, "flac", 105),
    DemoTrack("06-paper-lanterns", "Paper Lanterns", _A[0], "Ambient", 90, "4/4", "bell", "", "C", "major", 118, 2.0, "ogg", 106),
    DemoTrack("07-linen-and-light", "Linen and Light", _A[5], "Ambient", 88, "4/4", "pad", "shaker", "Bb", "major", 132, -1.5, "flac", 107),
    DemoTrack("08-small-hours-tea", "Small Hours Tea", _A[2], "Piano", 84, "4/4", "piano", "", "G", "major", 138, 0.0, "flac", 108),
    DemoTrack("09-rowing-song", "Rowing Song", _A[3], "Folk", 82, "6/8", "pluck", "drum", "D", "minor", 124, -2.5, "flac", 109),
    DemoTrack("10-willow-shade", "Willow Shade", _A[0], "Ambient", 80, "4/4", "pad", "brush", "F", "major", 130, 1.0, "flac", 110),
    DemoTrack("11-evening-orchard", "Evening Orchard", _A[2], "Piano", 76, "4/4", "piano", "", "Ab", "major", 142, -0.5, "flac", 111),
    DemoTrack("12-moss-and-stone", "Moss and Stone", _A[5], "Neo-classical", 74, "4/4", "bell", "drum", "E", "minor", 118, -3.5, "wav", 112),
    DemoTrack("13-quiet-lake", "Quiet Lake", _A[4], "Folk", 72, "4/4", "pluck", "", "C", "major", 136, 1.5, "flac", 113),
    DemoTrack("14-drifting-clouds", "Drifting Clouds", _A[0], "Ambient", 69, "4/4", "pad", "", "D", "major", 140, -1.0, "ogg", 114),
    DemoTrack("15-sleeping-garden", "Sleeping Garden", _A[2], "Piano", 66, "4/4", "piano", "brush", "F", "major", 128, 0.5, "flac", 115),
    DemoTrack("16-cradle-song", "Cradle Song", _A[5], "Lullaby", 64, "6/8", "bell", "", "G", "major", 124, -2.0, "flac", 116),
    DemoTrack("17-candle-by-the-window", "Candle by the Window", _A[3], "Folk", 63, "4/4", "pluck", "drum", "A", "minor", 138, 2.5, "flac", 117),
    DemoTrack("18-still-water", "Still Water", _A[2], "Piano", 60, "4/4", "piano", "", "Db", "major", 146, -1.5, "flac", 118),
    DemoTrack("19-night-meadow", "Night Meadow", _A[0], "Ambient", 57, "4/4", "pad", "shaker", "Bb", "major", 100, 0.0, "ogg", 119),
    DemoTrack("20-slow-river-barcarolle", "Slow River Barcarolle", _A[4], "Lullaby", 54, "6/8", "pluck", "", "E", "minor", 100, -3.0, "flac", 120),
    DemoTrack("21-snowfall", "Snowfall", _A[5], "Neo-classical", 50, "4/4", "bell", "", "C", "major", 96, 1.0, "flac", 121),
    DemoTrack("22-last-light", "Last Light", _A[1], "Piano", 47, "4/4", "piano", "", "F", "major", 100, -0.5, "flac", 122),
    DemoTrack("23-deep-rest", "Deep Rest", _A[0], "Ambient", 45, "4/4", "pad", "drum", "A", "major", 92, -2.0, "ogg", 123),
)
# fmt: on


# -- public API ------------------------------------------------------------------------------


def synthesise_library(
    folder: str | Path,
    *,
    progress: Progress | None = None,
    tracks: Sequence[DemoTrack] = DEMO_TRACKS,
    jobs: int | None = 1,
) -> list[Path]:
    """Write the demo tracks into ``folder`` (created if needed); return their paths in order.

    Files already present with the recorded content are left untouched (same bytes, same
    mtime). A file that is missing, changed or written by an older generator is rendered again.

    tracks : which recipes to write (default: the whole library).
    jobs : worker processes rendering tracks side by side (None: the number of cores).
        The files are the same whatever the number.

    Raises CompanionError when the folder cannot be written.
    """
    from companion.core.errors import CompanionError

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CompanionError(f"{folder}: cannot create the demo library ({exc.strerror})") from exc
    manifest = _read_manifest(folder)
    paths = [folder / spec.filename for spec in tracks]
    todo = [
        spec
        for spec, path in zip(tracks, paths, strict=True)
        if not (spec.filename in manifest and _file_matches(path, manifest[spec.filename]))
    ]
    done = 0

    def finished(spec: DemoTrack) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, len(tracks), spec.filename)

    for spec in tracks:
        if spec not in todo:
            finished(spec)
    # closing(): when progress raises (a cancel), the workers stop before the exception leaves
    with closing(_encode_all(todo, folder, _job_count(jobs, len(todo)))) as encoded:
        for spec, partial in encoded:
            manifest[spec.filename] = _install(partial, folder / spec.filename)
            _write_manifest(folder, manifest)
            finished(spec)
    return paths


def ensure_demo(
    store: Store, *, progress: Progress | None = None, jobs: int | None = None
) -> Playlist:
    """Synthesise the demo library, scan it into ``store`` and build the ``demo`` playlist.

    Idempotent: a second run writes no audio, the scan skips unchanged files, and a saved
    ``demo`` playlist whose tracks are all still in the demo library is kept as it is (also
    when the listener has curated it), unless the music itself had to be written again. The
    playlist uses the demo tracks only, never the listener's own music.

    progress : progress(done, total, what), first for synthesis ("synthesising NAME"), then
        for the scan ("analysing NAME"); done/total count files within each stage.
    jobs : scan worker processes (default: the number of cores).
    """

    from companion.core import library, planner, playlists, scan
    from companion.core import paths as paths_mod

    folder = paths_mod.demo_library_dir().resolve()

    def synth_progress(done: int, total: int, name: str) -> None:
        if progress is not None:
            progress(done, total, f"synthesising {name}")

    def scan_progress(done: int, total: int, path: str, errors: int) -> None:
        if progress is not None:
            progress(done, total, f"analysing {Path(path).name}" if path else "analysing")

    before = _file_stamps(folder)
    files = synthesise_library(folder, progress=synth_progress, jobs=jobs)
    scan.scan([folder], store, jobs=jobs, progress=scan_progress)
    store.add_folder(folder, library.DEMO)  # its own folder: planned from only until there is other music
    existing = _existing_playlist(files) if _file_stamps(folder) == before else None
    if existing is not None:
        return existing
    pl = planner.plan(
        store.tracks(fingerprints=True),
        name=DEMO_PLAYLIST,
        arc="step-down",
        start_bpm=90,
        target_bpm=60,
        minutes=20,
        filters={"folder": str(folder)},
    )
    return replace(pl, path=str(playlists.save(pl)))


def duration_s(spec: DemoTrack) -> float:
    """The length of the rendered track, seconds (whole bars plus the ringing tail)."""
    c = _Composer(spec)
    return int(round((c.bars * c.bar_s + _TAIL_S) * SAMPLE_RATE)) / SAMPLE_RATE


def render_track(spec: DemoTrack) -> np.ndarray:
    """The audio of one demo track: float32, shape (frames, 2), at :data:`SAMPLE_RATE`."""
    return _Composer(spec).render()


# -- files, tags and the manifest -------------------------------------------------------------


def _existing_playlist(files: list[Path]) -> Playlist | None:
    """The saved demo playlist, when it exists and every track in it is still in the library."""
    from companion.core import playlists
    from companion.core.errors import CompanionError

    if not playlists.exists(DEMO_PLAYLIST):
        return None
    try:
        pl = playlists.load(DEMO_PLAYLIST)
    except CompanionError:
        return None
    names = {str(p.resolve()) for p in files}
    if pl.tracks and all(str(Path(e.path).resolve()) in names for e in pl.tracks):
        return pl
    return None


def _file_stamps(folder: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime) of each file in ``folder``: what a rescan would look at."""
    out = {}
    for p in folder.iterdir():
        try:
            st = p.stat()
        except OSError:
            continue
        out[p.name] = (st.st_size, st.st_mtime_ns)
    return out


def _read_manifest(folder: Path) -> dict[str, dict]:
    try:
        data = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("generator") != GENERATOR_VERSION:
        return {}
    files = data.get("files")
    return dict(files) if isinstance(files, dict) else {}


def _write_manifest(folder: Path, files: dict[str, dict]) -> None:
    text = json.dumps({"generator": GENERATOR_VERSION, "files": files}, indent=1, sort_keys=True)
    tmp = folder / (MANIFEST_NAME + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, folder / MANIFEST_NAME)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _file_matches(path: Path, entry: dict) -> bool:
    try:
        return path.stat().st_size == entry.get("size") and _sha256(path) == entry.get("sha256")
    except OSError:
        return False


_FORMATS = {
    "flac": {"format": "FLAC", "subtype": "PCM_16"},
    "ogg": {"format": "OGG", "subtype": "VORBIS"},
    "mp3": {"format": "MP3", "subtype": "MPEG_LAYER_III"},
    "wav": {"format": "WAV", "subtype": "PCM_16"},
}


def _job_count(jobs: int | None, work: int) -> int:
    if jobs is None:
        from companion.core.scan import default_jobs

        jobs = default_jobs()
    return max(1, min(jobs, work))


def _encode_all(
    specs: Sequence[DemoTrack], folder: Path, jobs: int
) -> Generator[tuple[DemoTrack, Path], None, None]:
    """(recipe, encoded and tagged file beside its final place) as each track is ready."""
    if jobs <= 1:
        for spec in specs:
            yield spec, _encode_track(spec, str(folder))
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

    # never plain fork: the caller may be a TUI with threads
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx)
    waiting = list(specs)
    running: dict[Future[Path], DemoTrack] = {}
    try:
        # no more tracks handed out than there are workers, so a cancel waits for few
        while waiting or running:
            while waiting and len(running) < jobs:
                spec = waiting.pop(0)
                running[pool.submit(_encode_track, spec, str(folder))] = spec
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                yield running.pop(future), future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for spec in running.values():  # finished after a cancel: nobody will install them
            (folder / f".{spec.filename}.partial").unlink(missing_ok=True)


def _encode_track(spec: DemoTrack, folder: str) -> Path:
    """Render, encode and tag one track into a hidden partial file; return its path."""
    import soundfile as sf

    from companion.core.errors import CompanionError

    audio = render_track(spec)
    tmp = Path(folder) / f".{spec.filename}.partial"
    try:
        # Blockwise: libsndfile's Vorbis encoder crashes on very large single writes.
        with sf.SoundFile(str(tmp), "w", SAMPLE_RATE, 2, **_FORMATS[spec.fmt]) as fh:
            for i in range(0, len(audio), 32768):
                fh.write(audio[i : i + 32768])
        if spec.fmt == "ogg":
            _fix_ogg_serial(tmp)
        _tag(tmp, spec)
    except (OSError, RuntimeError) as exc:  # soundfile's LibsndfileError is a RuntimeError
        tmp.unlink(missing_ok=True)
        raise CompanionError(
            f"{tmp.parent}: cannot write the demo library ({exc}); check free space and permissions"
        ) from exc
    return tmp


def _install(partial: Path, path: Path) -> dict:
    """Move ``partial`` to ``path`` unless ``path`` has the same bytes already (its mtime stays)."""
    digest, size = _sha256(partial), partial.stat().st_size
    if path.exists() and path.stat().st_size == size and _sha256(path) == digest:
        partial.unlink()
    else:
        os.replace(partial, path)
    return {"size": size, "sha256": digest}


def _fix_ogg_serial(path: Path) -> None:
    """libsndfile picks a random Ogg stream serial; a fixed one makes the file reproducible."""
    from mutagen.ogg import OggPage

    pages = []
    with open(path, "rb") as fh:
        while True:
            try:
                pages.append(OggPage(fh))
            except EOFError:
                break
    for page in pages:
        page.serial = 0x636F6D70  # "comp"
    path.write_bytes(b"".join(page.write() for page in pages))


def _tag(path: Path, spec: DemoTrack) -> None:
    comment = (
        f"companion demo; intended tempo {spec.bpm:g} BPM ({spec.meter}), synthesised with numpy"
    )
    fields = {"title": spec.title, "artist": spec.artist, "album": ALBUM, "genre": spec.genre}
    if spec.fmt in ("flac", "ogg"):
        from mutagen.flac import FLAC
        from mutagen.oggvorbis import OggVorbis

        f = FLAC(path) if spec.fmt == "flac" else OggVorbis(path)
        for k, v in fields.items():
            f[k] = v
        f["tracknumber"] = spec.stem[:2].lstrip("0")
        f["comment"] = comment
        f.save()
        return
    from mutagen.id3 import COMM, TALB, TCON, TIT2, TPE1, TRCK

    frames = [
        TIT2(encoding=3, text=spec.title),
        TPE1(encoding=3, text=spec.artist),
        TALB(encoding=3, text=ALBUM),
        TCON(encoding=3, text=spec.genre),
        TRCK(encoding=3, text=spec.stem[:2].lstrip("0")),
        COMM(encoding=3, lang="eng", desc="", text=comment),
    ]
    from mutagen.mp3 import MP3
    from mutagen.wave import WAVE

    audio = MP3(path) if spec.fmt == "mp3" else WAVE(path)
    if audio.tags is None:
        audio.add_tags()
    for frame in frames:
        audio.tags.add(frame)  # type: ignore[union-attr,attr-defined]
    audio.save()


# -- music -----------------------------------------------------------------------------------

_NOTE = {
    "C": 0,
    "Db": 1,
    "D": 2,
    "Eb": 3,
    "E": 4,
    "F": 5,
    "F#": 6,
    "G": 7,
    "Ab": 8,
    "A": 9,
    "Bb": 10,
    "B": 11,
}
_SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
# Chord progressions as scale degrees (0 = tonic), one chord per bar; [0] opens the track,
# [1] is the contrasting B section.
_PROGRESSIONS = {
    "major": (
        ((0, 5, 3, 4), (0, 3, 5, 4), (0, 4, 5, 3)),
        ((3, 0, 1, 4), (5, 3, 0, 4), (1, 4, 0, 5)),
    ),
    "minor": (
        ((0, 5, 2, 6), (0, 3, 5, 4), (0, 5, 3, 6)),
        ((5, 6, 0, 0), (3, 6, 2, 5), (5, 3, 6, 4)),
    ),
}
# Melody rhythms for one bar, in ticks (eighth notes): 8 ticks per 4/4 bar, 6 per 6/8 bar.
_RHYTHMS = {
    "4/4": ((2, 2, 4), (4, 2, 2), (3, 1, 4), (2, 2, 2, 2), (6, 2), (2, 1, 1, 4), (4, 4), (3, 3, 2)),
    "6/8": ((3, 3), (2, 1, 3), (1, 1, 1, 3), (3, 2, 1), (2, 1, 2, 1), (4, 2), (3, 1, 1, 1)),
}
_CADENCE_RHYTHMS = {"4/4": ((8,), (4, 4), (6, 2)), "6/8": ((6,), (3, 3))}
_TAIL_S = 3.5  # the last chord rings this long after the final bar
_MelodyNote = tuple[int, int, int, int | None]  # (bar of the phrase, tick, ticks, degree or None)


@dataclass(frozen=True)
class _Note:
    tick: float  # onset, in ticks from the start
    ticks: float  # written length
    voice: str
    midi: int
    velocity: float  # 0–1
    pan: float  # -1 left … +1 right


class _Composer:
    """Writes the notes of one track from its recipe, then renders them."""

    def __init__(self, spec: DemoTrack) -> None:
        self.spec = spec
        self.rng = np.random.default_rng(spec.seed)
        self.ticks_per_bar = 8 if spec.meter == "4/4" else 6
        self.ticks_per_beat = 2 if spec.meter == "4/4" else 3
        self.tick_s = 60.0 / spec.bpm / self.ticks_per_beat
        self.bar_s = self.tick_s * self.ticks_per_bar
        self.scale = _SCALES[spec.mode]
        self.tonic = 53 + (_NOTE[spec.key] - 5) % 12  # F3 … E4
        self.bars = self._bar_count()

    # structure -------------------------------------------------------------------------------

    def _bar_count(self) -> int:
        """Intro (2 bars) + four-bar phrases + a final bar, as close to target_s as allowed."""
        phrases = max(1, round(((self.spec.target_s - _TAIL_S) / self.bar_s - 3) / 4))
        while (3 + 4 * phrases) * self.bar_s + _TAIL_S > 150 and phrases > 1:
            phrases -= 1
        while (3 + 4 * phrases) * self.bar_s + _TAIL_S < 60:
            phrases += 1
        return 3 + 4 * phrases

    def _chords(self) -> list[int]:
        """One chord (scale degree of its root) per bar: A A B A … ending on the tonic."""
        progs = _PROGRESSIONS[self.spec.mode]
        a = progs[0][self.spec.seed % len(progs[0])]
        b = progs[1][self.spec.seed % len(progs[1])]
        phrases = (self.bars - 3) // 4
        plan = ["A", "A", "B", "A"]
        chords = [a[0], a[0]]  # intro on the tonic
        for p in range(phrases):
            chords += list(a if plan[p % 4] == "A" else b)
        return chords + [0]

    def degree_midi(self, degree: int, base: int) -> int:
        return base + 12 * (degree // 7) + self.scale[degree % 7]

    def chord_tones(self, root: int) -> tuple[int, int, int]:
        return root, root + 2, root + 4

    # notes -----------------------------------------------------------------------------------

    def notes(self) -> list[_Note]:
        chords = self._chords()
        out: list[_Note] = []
        for bar, root in enumerate(chords):
            out += self._accompaniment(bar, root, last=bar == len(chords) - 1)
            out += self._bass(bar, root, last=bar == len(chords) - 1)
            out += self._percussion(bar, last=bar == len(chords) - 1)
        out += self._melody(chords)
        return [replace(n, velocity=n.velocity * self._dynamics(n.tick, len(chords))) for n in out]

    def _dynamics(self, tick: float, bars: int) -> float:
        """The shape of the piece: a softer intro and ending, the B phrases a little fuller."""
        bar = int(tick // self.ticks_per_bar)
        phrase = (bar - 2) // 4
        if bar < 2 or bar == bars - 1:
            return 0.85
        if phrase == (bars - 3) // 4 - 1:
            return 0.9
        return 1.05 if "AABA"[phrase % 4] == "B" else 1.0

    def _accent(self, tick_in_bar: int) -> float:
        """Metrical accent: downbeat, other beats, offbeats."""
        if tick_in_bar == 0:
            return 1.0
        if tick_in_bar % self.ticks_per_beat == 0:
            return 0.8 if tick_in_bar * 2 == self.ticks_per_bar else 0.7
        return 0.5

    def _accompaniment(self, bar: int, root: int, *, last: bool) -> list[_Note]:
        spec, t0 = self.spec, bar * self.ticks_per_bar
        base = self.tonic - 12 if self.tonic > 57 else self.tonic
        r, third, fifth = (self.degree_midi(d, base) for d in self.chord_tones(root))
        notes: list[_Note] = []
        if spec.timbre == "pad" or last:
            voicing = (r, third, fifth, r + 12) if spec.timbre == "pad" else (r, third + 12, fifth)
            length = self.ticks_per_bar * (2 if last else 1) + 1
            voice = "pad" if spec.timbre == "pad" else spec.timbre
            notes += [
                _Note(t0, length, voice, m, 0.8, p)
                for m, p in zip(voicing, (-0.5, 0.5, -0.2, 0.2), strict=False)
            ]
            if last:
                return notes
        if spec.timbre == "piano":
            # left hand: root low on the downbeat, then chord tones on the other beats
            notes.append(_Note(t0, self.ticks_per_bar, "piano", r - 12, 0.9, -0.2))
            tones = (third, fifth, r + 12) if spec.meter == "4/4" else (fifth, r + 12)
            beats = range(self.ticks_per_beat, self.ticks_per_bar, self.ticks_per_beat)
            for i, tick in enumerate(beats):
                notes.append(
                    _Note(
                        t0 + tick,
                        self.ticks_per_beat,
                        "piano",
                        tones[i % len(tones)],
                        0.55 * self._accent(tick) + 0.1,
                        -0.15,
                    )
                )
            return notes
        # broken chord on every tick (pluck/bell), or on every beat under a pad
        figure: tuple[int, ...]
        if spec.meter == "4/4":
            figure = (r, fifth, third + 12, fifth, r + 12, fifth, third + 12, fifth)
        else:
            figure = (r, fifth, r + 12, third + 12, r + 12, fifth)
        voice = "pluck" if spec.timbre in ("pluck", "pad") else "bell"
        step = self.ticks_per_beat if spec.timbre == "pad" or spec.bpm < 58 else 1
        for tick in range(0, self.ticks_per_bar, step):
            vel = self._accent(tick) * (0.55 if spec.timbre == "pad" else 0.8)
            notes.append(_Note(t0 + tick, step, voice, figure[tick], vel, -0.35))
        return notes

    def _bass(self, bar: int, root: int, *, last: bool) -> list[_Note]:
        if self.spec.timbre == "piano":
            return []  # the piano's left hand is the bass
        t0 = bar * self.ticks_per_bar
        r = self.degree_midi(root, self.tonic - 24)
        if last:
            return [_Note(t0, self.ticks_per_bar * 2, "bass", r, 0.9, 0.0)]
        half = self.ticks_per_bar // 2
        second = r + 7 if bar % 2 else r
        return [
            _Note(t0, half, "bass", r, 1.0, 0.0),
            _Note(t0 + half, half, "bass", second, 0.7, 0.0),
        ]

    def _percussion(self, bar: int, *, last: bool) -> list[_Note]:
        kind, t0 = self.spec.percussion, bar * self.ticks_per_bar
        if not kind or last or bar == 0:
            return []
        notes: list[_Note] = []
        beats = range(0, self.ticks_per_bar, self.ticks_per_beat)
        if kind == "drum":
            notes.append(_Note(t0, 2, "drum", 0, 1.0, 0.0))
            if self.spec.meter == "4/4":
                notes.append(_Note(t0 + 4, 2, "drum", 0, 0.55, 0.0))
            notes += [_Note(t0 + b, 1, "tap", 0, 0.35, 0.3) for b in beats if b]
        elif kind == "brush":
            backbeats = (2, 6) if self.spec.meter == "4/4" else (3,)
            notes += [_Note(t0 + b, 2, "brush", 0, 0.9, -0.25) for b in backbeats]
            notes += [_Note(t0 + b, 1, "tap", 0, 0.6 if b == 0 else 0.35, 0.2) for b in beats]
        elif kind == "shaker":
            notes += [
                _Note(t0 + t, 1, "shaker", 0, self._accent(t), 0.45)
                for t in range(self.ticks_per_bar)
            ]
            notes.append(_Note(t0, 2, "drum", 0, 0.6, 0.0))
        # three takes of each sound, so repeated hits are not identical
        return [replace(n, midi=(bar + i) % 3) for i, n in enumerate(notes)]

    def _melody(self, chords: list[int]) -> list[_Note]:
        rng, spec = self.rng, self.spec
        voice = {"piano": "piano", "bell": "bell", "pluck": "pluck"}.get(
            spec.timbre, "piano" if spec.seed % 2 else "bell"
        )
        base = self.tonic + 12 if self.tonic < 60 else self.tonic
        lo, hi = 2, 11  # scale degrees above base: a singable range
        phrases = (len(chords) - 3) // 4
        rhythms, cadences = _RHYTHMS[spec.meter], _CADENCE_RHYTHMS[spec.meter]
        written: dict[str, list[_MelodyNote]] = {}
        rest_phrase = phrases // 2 if phrases >= 5 else -1  # a breath: accompaniment alone
        notes: list[_Note] = []
        deg = 4
        for p in range(phrases):
            label = "AABA"[p % 4]
            first_bar = 2 + 4 * p
            if p == rest_phrase:
                continue
            if label in written and rng.random() < 0.75:
                motif = list(written[label])
                if rng.random() < 0.5:  # vary the last bar
                    motif = [n for n in motif if n[0] < 3] + self._bar_line(
                        3, chords[first_bar + 3], cadences, deg, lo, hi
                    )
            else:
                motif = []
                for b in range(4):
                    choice = cadences if b == 3 else rhythms
                    bar_notes = self._bar_line(b, chords[first_bar + b], choice, deg, lo, hi)
                    motif += bar_notes
                    deg = next((n[3] for n in reversed(bar_notes) if n[3] is not None), deg)
                written.setdefault(label, motif)
            for b, tick, length, d in motif:
                if d is None:
                    continue
                at = (first_bar + b) * self.ticks_per_bar + tick
                vel = 0.75 + 0.25 * self._accent(tick) - 0.1 * rng.random()
                notes.append(_Note(at, length, voice, self.degree_midi(d, base), vel, 0.2))
        final = self.degree_midi(7, base)
        notes.append(
            _Note(
                (len(chords) - 1) * self.ticks_per_bar,
                self.ticks_per_bar * 2,
                voice,
                final,
                0.8,
                0.2,
            )
        )
        return notes

    def _bar_line(
        self, bar: int, root: int, rhythms: tuple, deg: int, lo: int, hi: int
    ) -> list[_MelodyNote]:
        """One bar of melody: (bar, tick, ticks, degree or None for a rest)."""
        rng = self.rng
        pattern = rhythms[int(rng.integers(len(rhythms)))]
        chord = self.chord_tones(root)
        out: list[_MelodyNote] = []
        tick = 0
        for i, length in enumerate(pattern):
            strong = tick % self.ticks_per_beat == 0 and (
                tick == 0 or length >= self.ticks_per_beat
            )
            if strong or (bar == 3 and i == len(pattern) - 1):
                candidates = [d for d in range(lo, hi + 1) if d % 7 in {c % 7 for c in chord}]
                candidates.sort(key=lambda d: (abs(d - deg), d))
                deg = candidates[int(rng.integers(min(2, len(candidates))))]
            else:
                step = int(rng.choice((-2, -1, -1, 1, 1, 2, 0, -3, 3)))
                if deg + step < lo or deg + step > hi:
                    step = -step
                deg = int(np.clip(deg + step, lo, hi))
            is_rest = i > 0 and i < len(pattern) - 1 and rng.random() < 0.12
            out.append((bar, tick, length, None if is_rest else deg))
            tick += length
        return out

    # audio -----------------------------------------------------------------------------------

    def render(self) -> np.ndarray:
        sr = SAMPLE_RATE
        total = int(round((self.bars * self.bar_s + _TAIL_S) * sr))
        mix = np.zeros((total, 2), dtype=np.float32)
        gains = {
            "pad": 0.16,
            "piano": 0.42,
            "pluck": 0.36,
            "bell": 0.3,
            "bass": 0.42,
            "drum": 0.55,
            "tap": 0.09,
            "brush": 0.08,
            "shaker": 0.05,
        }
        if self.spec.timbre == "piano":
            gains["piano"] = 0.36
        cache: dict[tuple, np.ndarray] = {}
        buses: dict[float, np.ndarray] = {}  # mono voices, summed per pan position
        jitter = self.rng.normal(0.0, 0.004, size=4096)  # seconds: a human hand, not a grid
        notes = self.notes()
        loudness = 1.0 + self.rng.normal(0.0, 0.05, size=4096)  # no two notes quite alike
        for i, note in enumerate(notes):
            hold_n = int(round(note.ticks * self.tick_s * sr))
            key = (note.voice, note.midi, hold_n)
            wave = cache.get(key)
            if wave is None:
                wave = cache[key] = _voice(note.voice, note.midi, hold_n, sr, seed=self.spec.seed)
            start = int(round((note.tick * self.tick_s + jitter[i % len(jitter)]) * sr)) + int(
                0.01 * sr
            )
            start = max(start, 0)
            end = min(start + len(wave), total)
            g = np.float32(gains[note.voice] * note.velocity * loudness[i % len(loudness)])
            if wave.ndim == 2:
                mix[start:end] += g * wave[: end - start]
            else:
                bus = buses.get(note.pan)
                if bus is None:
                    bus = buses[note.pan] = np.zeros(total, dtype=np.float32)
                bus[start:end] += g * wave[: end - start]
        for pan, bus in buses.items():
            angle = (pan + 1) * np.pi / 4
            mix[:, 0] += np.float32(np.cos(angle)) * bus
            mix[:, 1] += np.float32(np.sin(angle)) * bus
        mix = _reverb(mix, sr, seed=self.spec.seed)
        return _finish(mix, sr, level_db=self.spec.level_db)


# -- voices: one note as audio ----------------------------------------------------------------
# Each voice returns float32 audio for one note held ``hold_n`` samples (mono, or (n, 2) for the
# stereo pad), including its release. Notes are cached per track, so a voice may be costly.

_REFERENCE_RMS_DB = -20.0  # dBFS: the library's reference level before each track's level_db
_NOISE_SEEDS = {"drum": 1, "tap": 2, "brush": 3, "shaker": 4, "piano": 5}


def _voice(kind: str, midi: int, hold_n: int, sr: int, *, seed: int) -> np.ndarray:
    if kind in _NOISE_SEEDS and kind != "piano":
        rng = np.random.default_rng(seed * 10 + _NOISE_SEEDS[kind] + 1000 * midi)
        return _PERCUSSION[kind](sr, rng)
    return _PITCHED[kind](_hz(midi), hold_n, sr)


def _hz(midi: int) -> float:
    return 440.0 * 2.0 ** ((midi - 69) / 12.0)


def _time(n: int, sr: int) -> np.ndarray:
    return np.arange(n, dtype=np.float32) / np.float32(sr)


def _decaying_partials(t: np.ndarray, sr: int, freqs, amps, decays_s) -> np.ndarray:
    """Sum of exponentially decaying sines; each partial is computed only while audible."""
    y = np.zeros_like(t)
    for f, a, d in zip(freqs, amps, decays_s, strict=True):
        if f >= 0.45 * sr or a == 0:
            continue
        n = min(len(t), int(d * 7.0 * sr))  # 7 time constants: -60 dB
        tt = t[:n]
        y[:n] += (
            np.float32(a)
            * np.exp(tt * np.float32(-1.0 / d))
            * np.sin(tt * np.float32(2 * np.pi * f))
        )
    return y


def _ramp_in(y: np.ndarray, n: int) -> np.ndarray:
    n = min(n, len(y))
    y[:n] *= np.linspace(0.0, 1.0, n, dtype=np.float32)
    return y


def _damp_after(y: np.ndarray, hold_n: int, sr: int, release_s: float) -> np.ndarray:
    """A damper: exponential release from ``hold_n`` on, then a fade at the very end."""
    if hold_n < len(y):
        tail = _time(len(y) - hold_n, sr)
        y[hold_n:] *= np.exp(tail * np.float32(-1.0 / release_s))
    return _fade_end(y, sr)


def _fade_end(y: np.ndarray, sr: int, seconds: float = 0.03) -> np.ndarray:
    """A raised-cosine fade over the last ``seconds``: a note cut short never clicks."""
    end = min(len(y), int(seconds * sr))
    if end:
        y[-end:] *= 0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, end, dtype=np.float32))
    return y


def _pluck(f: float, hold_n: int, sr: int) -> np.ndarray:
    """A plucked string: harmonic partials shaped by the pluck point, upper ones dying first."""
    t1 = float(np.clip(1.6 * (196.0 / f) ** 0.5, 0.5, 3.0))
    n = int(min(hold_n + 0.35 * sr, 5.0 * t1 * sr))
    k = np.arange(1, 13)
    amps = np.abs(np.sin(np.pi * k * 0.27)) / k
    y = _decaying_partials(_time(n, sr), sr, k * f, amps, t1 / (1.0 + 0.7 * (k - 1)))
    return _damp_after(_ramp_in(y, int(0.003 * sr)), hold_n, sr, 0.08)


def _bell(f: float, hold_n: int, sr: int) -> np.ndarray:
    """A soft bell / celesta: inharmonic partials that ring on after the note."""
    t0 = float(np.clip(3.0 * (440.0 / f) ** 0.3, 1.5, 4.5))
    n = int(min(hold_n + 2.0 * sr, 4.0 * t0 * sr))
    ratios = np.array([1.0, 1.002, 2.0, 2.76, 4.07, 5.19])
    amps = np.array([1.0, 0.35, 0.4, 0.25, 0.1, 0.05])
    decays = t0 * np.array([1.0, 0.9, 0.55, 0.4, 0.25, 0.15])
    y = _decaying_partials(_time(n, sr), sr, ratios * f, amps, decays)
    return _fade_end(_ramp_in(y, int(0.004 * sr)), sr, 0.2)


def _piano(f: float, hold_n: int, sr: int) -> np.ndarray:
    """Piano-like: stiff-string (inharmonic) partials, a hammer thump, a two-stage decay."""
    k = np.arange(1, 13)
    freqs = k * f * np.sqrt(1.0 + 0.0004 * k**2)
    amps = (0.35 + np.abs(np.sin(np.pi * k / 7.0))) / (1.35 * k**1.3)
    slow = float(np.clip(7.0 * (130.0 / f) ** 0.6, 1.5, 10.0)) / (1.0 + 0.35 * (k - 1))
    n = int(min(hold_n + 0.6 * sr, 8.0 * sr, 4.0 * slow[0] * sr))
    t = _time(n, sr)
    # prompt sound (fast decay) + aftersound (slow decay), as a struck string coupled to a bridge
    y = _decaying_partials(t, sr, freqs, 0.55 * amps, 0.12 * slow)
    y += _decaying_partials(t, sr, freqs, 0.45 * amps, slow)
    # slightly mistuned unison strings beat slowly against each other
    y *= np.float32(0.88) + np.float32(0.12) * np.cos(t * np.float32(2 * np.pi * 0.6))
    from scipy.signal import lfilter

    rng = np.random.default_rng(_NOISE_SEEDS["piano"] * 1000 + int(f))
    m = min(n, int(0.015 * sr))
    thump = rng.standard_normal(m).astype(np.float32) * np.exp(-_time(m, sr) / np.float32(0.003))
    pole = float(np.exp(-2 * np.pi * min(4.0 * f, 6000.0) / sr))
    y[:m] += 0.06 * lfilter([1.0 - pole], [1.0, -pole], thump).astype(np.float32)
    return _damp_after(_ramp_in(y, int(0.0015 * sr)), hold_n, sr, 0.15)


def _bass(f: float, hold_n: int, sr: int) -> np.ndarray:
    """A round bass: fundamental with a little second and third harmonic, soft attack."""
    n = int(hold_n + 0.3 * sr)
    y = _decaying_partials(_time(n, sr), sr, (f, 2 * f, 3 * f), (1.0, 0.3, 0.1), (2.5, 1.2, 0.6))
    return _damp_after(_ramp_in(y, int(0.012 * sr)), hold_n, sr, 0.12)


def _pad(f: float, hold_n: int, sr: int) -> np.ndarray:
    """A soft stereo pad: detuned oscillators per side, slow attack, long release."""
    attack_n = int(min(1.2, 0.45 * hold_n / sr) * sr)
    release_n = int(1.2 * sr)
    n = hold_n + release_n
    t = _time(n, sr)
    out = np.zeros((n, 2), dtype=np.float32)
    for ch, cents in enumerate((3.0, -3.0)):
        for k in range(1, 7):
            fk = k * f
            if fk > 6000:
                break
            amp = np.float32(1.0 / k**1.5)
            for detune, phase in ((cents, 0.0), (-cents / 2, 1.3 * k + ch)):
                w = np.float32(2 * np.pi * fk * 2 ** (detune / 1200))
                out[:, ch] += amp * np.sin(t * w + np.float32(phase))
    env = np.ones(n, dtype=np.float32)
    env[:attack_n] = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, attack_n, dtype=np.float32))
    env[hold_n:] = 0.5 + 0.5 * np.cos(np.linspace(0, np.pi, n - hold_n, dtype=np.float32))
    env *= np.float32(0.9) + np.float32(0.1) * np.sin(t * np.float32(2 * np.pi * 0.2))
    return out * env[:, None]


def _drum(sr: int, rng: np.random.Generator) -> np.ndarray:
    """A soft low drum (felt mallet): a falling low sine and a muffled thump."""
    from scipy.signal import lfilter

    n = int(0.7 * sr)
    t = _time(n, sr)
    hz = 52.0 + 38.0 * np.exp(-t / np.float32(0.035))
    y = np.sin(np.cumsum(hz * np.float32(2 * np.pi / sr))) * np.exp(-t / np.float32(0.28))
    noise = rng.standard_normal(n).astype(np.float32) * np.exp(-t / np.float32(0.02))
    y += 0.3 * lfilter([0.03], [1.0, -0.97], noise).astype(np.float32)
    return _fade_end(_ramp_in(y.astype(np.float32), int(0.002 * sr)), sr, 0.15)


def _band_noise(
    rng: np.random.Generator, n: int, sr: int, lo_hz: float, hi_hz: float
) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    sos = butter(2, (lo_hz, hi_hz), btype="bandpass", fs=sr, output="sos")
    return sosfilt(sos, rng.standard_normal(n)).astype(np.float32)


def _tap(sr: int, rng: np.random.Generator) -> np.ndarray:
    """A brushed tap on a drum head: soft noise with a hint of pitch."""
    n = int(0.15 * sr)
    t = _time(n, sr)
    y = _band_noise(rng, n, sr, 800, 5000) * np.exp(-t / np.float32(0.03))
    y += 0.5 * np.sin(t * np.float32(2 * np.pi * 190)) * np.exp(-t / np.float32(0.05))
    return _fade_end(_ramp_in(y, int(0.002 * sr)), sr)


def _brush(sr: int, rng: np.random.Generator) -> np.ndarray:
    """A brush swish: band-limited noise that swells and fades."""
    n = int(0.4 * sr)
    t = _time(n, sr)
    env = (1.0 - np.exp(-t / np.float32(0.03))) * np.exp(-t / np.float32(0.11))
    return _fade_end(_band_noise(rng, n, sr, 1500, 9000) * env, sr)


def _shaker(sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int(0.12 * sr)
    t = _time(n, sr)
    env = (1.0 - np.exp(-t / np.float32(0.006))) * np.exp(-t / np.float32(0.035))
    return _band_noise(rng, n, sr, 5000, 14000) * env


_PITCHED = {"pluck": _pluck, "bell": _bell, "piano": _piano, "bass": _bass, "pad": _pad}
_PERCUSSION = {"drum": _drum, "tap": _tap, "brush": _brush, "shaker": _shaker}


def _reverb(mix: np.ndarray, sr: int, *, seed: int) -> np.ndarray:
    """A dark room: the dry mix plus a decaying-noise reverb computed at a quarter of the rate."""
    import soxr
    from scipy.signal import oaconvolve

    low_sr = sr // 4
    small = soxr.resample(mix, sr, low_sr, quality="LQ")
    n_ir = int(2.0 * low_sr)
    t = np.arange(n_ir) / low_sr
    rng = np.random.default_rng(seed)
    ir = rng.standard_normal((n_ir, 2)) * np.exp(-t / 0.4)[:, None]
    ir[: int(0.025 * low_sr)] = 0.0  # pre-delay
    ir /= np.sqrt((ir**2).sum(axis=0))
    wet = oaconvolve(small, ir.astype(np.float32), axes=0)[: len(small)]
    wet = soxr.resample(wet.astype(np.float32), low_sr, sr, quality="LQ")
    out = 0.85 * mix
    m = min(len(out), len(wet))
    out[:m] += 0.4 * wet[:m]
    return out


def _finish(mix: np.ndarray, sr: int, *, level_db: float) -> np.ndarray:
    """Set the track's level, fade the ringing tail out, keep peaks below -1 dBFS."""
    flat = mix.ravel()
    rms = float(np.sqrt(np.dot(flat, flat) / max(flat.size, 1)))
    gain = 10 ** ((_REFERENCE_RMS_DB + level_db) / 20) / max(rms, 1e-9)
    out = (mix * np.float32(gain)).astype(np.float32)
    fade = int(2.5 * sr)
    out[-fade:] *= (0.5 + 0.5 * np.cos(np.linspace(0, np.pi, fade, dtype=np.float32)))[:, None]
    peak = max(float(out.max()), -float(out.min()))
    if peak > 0.89:
        out *= np.float32(0.89 / peak)
    return out
