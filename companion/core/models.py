"""Domain values shared by the engine, the CLI and the TUI. Frozen: pass them around freely."""

from __future__ import annotations

from dataclasses import dataclass, field

from companion.core.errors import UserInputError

# Track.status values
STATUS_OK = "ok"
STATUS_ERROR = "error"
STATUS_MISSING = "missing"  # its folder is gone (a drive unplugged?): kept, not planned

# Track.bpm_source values
BPM_AUTO = "auto"
BPM_MANUAL = "manual"

# A tempo set by hand (typed, tapped, or a correction of the analysed one) lies in this range,
# BPM; the check lives here so the CLI, the app and the store agree.
MANUAL_BPM_RANGE = (20.0, 300.0)
# The metrical levels a listener may hear instead of the analysed beat: factor on the tempo.
TEMPO_CORRECTIONS = {"halve": 0.5, "double": 2.0, "two-thirds": 2.0 / 3.0, "three-halves": 1.5}


def check_manual_bpm(bpm: object, *, where: str = "") -> float:
    """A hand-set tempo as a float, or UserInputError naming the value and the range."""
    low, high = MANUAL_BPM_RANGE
    prefix = f"{where}: " if where else ""
    try:
        value = float(bpm)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UserInputError(
            f"{prefix}{bpm!r} is not a BPM (beats per minute); give a number such as 72 or 63.5"
        ) from None
    if not low <= value <= high:  # also refuses nan
        raise UserInputError(
            f"{prefix}{value:.1f} BPM is outside {low:.0f}–{high:.0f}; give a tempo in that range"
        )
    return value


@dataclass(frozen=True)
class TempoAlternative:
    """Another metrical level a listener might tap: ``ratio`` × the chosen tempo."""

    bpm: float
    score: float  # 0–1, relative evidence for this level
    ratio: str  # "1/2", "2", "2/3", "3/2"


@dataclass(frozen=True)
class TempoEstimate:
    """The result of tempo analysis of one piece of audio.

    bpm : beats per minute of the beat a listener would tap, to 0.1.
    confidence : 0–1, calibrated probability that ``bpm`` is right within 4 %.
    """

    bpm: float
    confidence: float
    alternatives: tuple[TempoAlternative, ...] = ()
    bpm_start: float | None = None  # tempo over the first ~30 s
    bpm_end: float | None = None  # tempo over the last ~30 s
    beat_times: tuple[float, ...] = ()  # seconds from the start


@dataclass(frozen=True)
class Loudness:
    """EBU R128 integrated loudness and sample peak of a file."""

    lufs: float | None  # None for (near) silent audio
    peak_dbfs: float


@dataclass(frozen=True)
class Character:
    """What a track feels like (``companion.core.character`` says how each is measured).

    onset_density : onsets per second. percussive_share : 0-1. centroid_hz, rolloff_hz :
    brightness. dynamic_range_db : loud minus soft, dB. timbre : 16 numbers for similarity.
    arousal : 0 calm ... 1 energetic.
    """

    onset_density: float
    percussive_share: float
    centroid_hz: float
    rolloff_hz: float
    dynamic_range_db: float
    timbre: tuple[float, ...]
    arousal: float


@dataclass(frozen=True)
class Tags:
    title: str
    artist: str
    album: str
    genre: str
    duration_s: float


@dataclass(frozen=True)
class Track:
    """One audio file of the library as the store knows it."""

    path: str  # absolute
    size: int = 0
    mtime: float = 0.0
    title: str = ""
    artist: str = ""
    album: str = ""
    genre: str = ""
    duration_s: float = 0.0
    bpm: float | None = None
    bpm_confidence: float | None = None
    bpm_source: str = BPM_AUTO
    bpm_auto: float | None = None  # what analysis said, kept when the user overrides
    bpm_alternatives: tuple[TempoAlternative, ...] = ()
    bpm_start: float | None = None
    bpm_end: float | None = None
    loudness_lufs: float | None = None
    peak_dbfs: float | None = None
    status: str = STATUS_OK
    error: str = ""
    analysed_at: str = ""
    character: Character | None = None  # None until measured (a rescan fills it in)
    fingerprint: bytes = field(default=b"", repr=False, compare=False)  # see character.fingerprint

    @property
    def arousal(self) -> float | None:
        """0 calm ... 1 energetic, None when not measured yet."""
        return None if self.character is None else self.character.arousal

    @property
    def display_name(self) -> str:
        """``artist - title`` as players show it; the title alone when there is no artist."""
        return f"{self.artist} - {self.title}" if self.artist else self.title

    @property
    def is_manual(self) -> bool:
        return self.bpm_source == BPM_MANUAL


@dataclass(frozen=True)
class AnalysisResult:
    """What a scan worker returns for one file: either data or an error."""

    path: str
    size: int
    mtime: float
    tags: Tags | None = None
    tempo: TempoEstimate | None = None
    loudness: Loudness | None = None
    error: str = ""
    character: Character | None = None
    fingerprint: bytes = b""


@dataclass(frozen=True)
class Rating:
    """One rating given before or after a session.

    scale : "stress" (0–10 integer), "vas" (0–100), "stai6" (20–80), "heart_rate" (BPM), "note".
    phase : "before" or "after".
    """

    scale: str
    phase: str
    value: float | None
    text: str = ""
    items: tuple[int, ...] = ()  # raw item answers (STAI-6)
    late: bool = False
    recorded_at: str = ""


# Session.outcome values
OUTCOME_IN_PROGRESS = "in_progress"
OUTCOME_COMPLETED = "completed"
OUTCOME_STOPPED = "stopped_early"
OUTCOME_INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class Session:
    id: int
    listener: str
    playlist: str
    arc: str
    started_at: str  # ISO 8601, local time with offset
    ended_at: str | None
    minutes_listened: float
    outcome: str
    underruns: int = 0
    uid: str = ""  # stable id across export/import
    snapshot: str = ""  # JSON: the playlist's tracks and arc at the time
    ratings: tuple[Rating, ...] = field(default_factory=tuple)

    @property
    def completed(self) -> bool:
        return self.outcome == OUTCOME_COMPLETED

    def rating(self, phase: str, scale: str = "stress") -> Rating | None:
        for r in self.ratings:
            if r.phase == phase and r.scale == scale:
                return r
        return None

    def value(self, phase: str, scale: str = "stress") -> float | None:
        r = self.rating(phase, scale)
        return None if r is None else r.value


@dataclass(frozen=True)
class PlaylistEntry:
    """One slot of a playlist: a track, or a silence segment when ``silence_s`` > 0."""

    path: str  # absolute path; "" for a silence
    title: str = ""
    artist: str = ""
    duration_s: float = 0.0
    bpm: float | None = None  # the track's tempo as the library knows it
    planned_bpm: float | None = None  # what the arc asked for at this slot's midpoint
    used_bpm: float | None = None  # the tempo the plan used (an alternative for an unsure track)
    start_s: float = 0.0  # offset from the session start
    locked: bool = False
    silence_s: float = 0.0
    loudness_lufs: float | None = None  # integrated loudness as the scan measured it (None: silent or unknown)
    peak_dbfs: float | None = None  # sample peak as the scan measured it; None: the player measures
    arousal: float | None = None  # the track's, when the plan knew it

    @property
    def is_silence(self) -> bool:
        return self.silence_s > 0

    @property
    def length_s(self) -> float:
        return self.silence_s if self.is_silence else self.duration_s

    @property
    def display_name(self) -> str:
        if self.is_silence:
            return f"silence ({self.silence_s:.0f} s)"
        return f"{self.artist} - {self.title}" if self.artist else self.title


@dataclass(frozen=True)
class Playlist:
    """A named, ordered list of entries, as saved in ``playlists/NAME.m3u8``.

    meta : the plan's parameters (arc, start_bpm, target_bpm, minutes, max_step_pct, seed, ...).
    """

    name: str
    entries: tuple[PlaylistEntry, ...]
    path: str = ""
    arc: str = ""
    meta: dict = field(default_factory=dict, hash=False, compare=False)
    notes: tuple[str, ...] = ()  # what the planner wants the user to know

    @property
    def total_s(self) -> float:
        return sum(e.length_s for e in self.entries)

    @property
    def tracks(self) -> tuple[PlaylistEntry, ...]:
        return tuple(e for e in self.entries if not e.is_silence)
