"""Open and decode any supported audio file, blockwise. The only module that decodes files.

libsndfile (through soundfile) reads WAV, FLAC, OGG Vorbis, Opus and MP3. M4A/AAC (and
WebM, Matroska, WMA) go through ffmpeg (Debian package ``ffmpeg``) when it is installed, and
so does any file libsndfile refuses that ffmpeg can read: Opus written by some ffmpeg/libopus
versions (libsndfile rejects their headers as malformed), audio in a WebM container named
``.opus`` or ``.ogg``. ffmpeg runs as a subprocess (no shell) whose output is read blockwise,
so memory stays flat however long the file.

Samples that are not finite (NaN or Inf in a damaged float WAV), or far beyond full scale (a
damaged MP3 frame decoded to thousands of times full scale), are replaced by silence here, at
decode, so nothing downstream (analysis, the player, a render) ever sees one; a
:class:`DecodeReport` passed in counts them so the scan can report the file.

Every failure becomes a :class:`ReadError` naming the file and what to do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from companion.core.errors import ReadError

SOUNDFILE_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif"})
FFMPEG_EXTENSIONS = frozenset({".m4a", ".aac", ".mp4", ".alac", ".webm", ".mka", ".wma"})
AUDIO_EXTENSIONS = SOUNDFILE_EXTENSIONS | FFMPEG_EXTENSIONS
WRITE_CHUNK_FRAMES = 1 << 16
INSTALL_FFMPEG = "install ffmpeg (Debian: apt-get install ffmpeg)"


@dataclass(frozen=True)
class AudioInfo:
    sample_rate: int
    channels: int
    frames: int  # as the container states it; ffmpeg's is estimated from the duration

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


# Beyond this a sample is damage, not music: +24 dBFS. Mastered audio overshoots full scale by a
# few dB at most (MP3's inter-sample overs reach ~1.5); a fuzzed MP3 frame decoded to 3178.
MAX_SAMPLE = 16.0


class DecodeReport:
    """What decoding a file met that the user should hear about: ``nonfinite`` counts samples
    that were NaN, ±Inf or beyond ±MAX_SAMPLE (replaced by silence)."""

    def __init__(self) -> None:
        self.nonfinite = 0

    def problem(self) -> str:
        """A one-line description for the scan, or '' when the file decoded clean."""
        if not self.nonfinite:
            return ""
        return (f"holds {self.nonfinite} samples that are not numbers (NaN/Inf) or far beyond "
                "full scale: a damaged file; they are silenced when played; re-export the file")


def has_ffmpeg() -> bool:
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def is_audio_file(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_EXTENSIONS


def info(path: str | Path) -> AudioInfo:
    path = Path(path)
    if _needs_ffmpeg(path):
        return _ffprobe(path)
    import soundfile as sf

    try:
        i = sf.info(os.fsencode(path))  # bytes: a name that is not UTF-8 opens too
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError, TypeError ...
        return _ffprobe(path, refused=exc)
    if i.frames <= 0 or i.samplerate <= 0:
        raise ReadError(path, "the file holds no audio")
    return AudioInfo(int(i.samplerate), int(i.channels), int(i.frames))


def stream(
    path: str | Path, *, block_frames: int = 65536, report: DecodeReport | None = None
) -> tuple[AudioInfo, Iterator[np.ndarray]]:
    """(info, blocks at the file's own rate and channels): the file opened once, by libsndfile
    or, when it refuses the file, by ffmpeg."""
    path = Path(path)
    if _needs_ffmpeg(path):
        i = _ffprobe(path)
        return i, _checked(_ffmpeg_blocks(path, i, block_frames, 0.0), report)
    i = info(path)
    return i, read_blocks(path, block_frames=block_frames, report=report)


def read_blocks(
    path: str | Path,
    *,
    block_frames: int = 65536,
    sample_rate: int | None = None,
    channels: int | None = None,
    start_s: float = 0.0,
    report: DecodeReport | None = None,
) -> Iterator[np.ndarray]:
    """Yield float32 blocks shaped (frames, channels), converted on the fly, always finite.

    sample_rate : output rate in Hz; None keeps the file's rate.
    channels : 1 or 2 output channels; None keeps the file's.
    report : counts the non-finite samples silenced on the way (see DecodeReport).
    Memory stays bounded by ``block_frames`` whatever the file length.
    """
    path = Path(path)
    src, sr, file_channels = _open_blocks(path, block_frames, start_s)
    src = _checked(src, report)
    out_channels = channels or file_channels
    resampler = None
    if sample_rate and sample_rate != sr:
        import soxr

        resampler = soxr.ResampleStream(sr, sample_rate, out_channels, dtype="float32")
    try:
        for block in src:
            block = _convert_channels(block, channels)
            if resampler is not None:
                block = resampler.resample_chunk(np.ascontiguousarray(block))
            if len(block):
                yield block
        if resampler is not None:
            tail = resampler.resample_chunk(np.zeros((0, out_channels), dtype=np.float32), last=True)
            if len(tail):
                yield tail
    except ReadError:
        raise
    except Exception as exc:
        raise ReadError(path, f"decoding failed part-way ({_reason(exc)})") from exc


def load_mono(
    path: str | Path, *, sample_rate: int = 22050, start_s: float = 0.0, duration_s: float | None = None
) -> np.ndarray:
    """The whole file (or a window of it) as mono float32 at ``sample_rate``, for analysis."""
    out: list[np.ndarray] = []
    need = None if duration_s is None else int(duration_s * sample_rate)
    got = 0
    for block in read_blocks(path, sample_rate=sample_rate, channels=1, start_s=start_s):
        out.append(block[:, 0])
        got += len(block)
        if need is not None and got >= need:
            break
    if not out:
        raise ReadError(path, "the file holds no audio")
    y = np.concatenate(out)
    return y[:need] if need is not None else y


def load(path: str | Path, *, report: DecodeReport | None = None) -> tuple[np.ndarray, int]:
    """The whole file as float32 (frames, channels) at its own rate, always finite."""
    path = Path(path)
    src, sr, channels = _open_blocks(path, 1 << 18, 0.0)
    blocks = list(_checked(src, report))
    if not blocks:
        raise ReadError(path, "the file holds no audio")
    return (np.concatenate(blocks) if len(blocks) > 1 else blocks[0]), sr


def write(path: str | Path, data: np.ndarray, sample_rate: int, **kwargs: object) -> None:
    """Write WAV/FLAC/OGG/MP3 by file extension."""
    import soundfile as sf

    data = np.asarray(data, dtype=np.float32)
    try:
        # Written in chunks: libsndfile's Vorbis encoder crashes on long single writes.
        with sf.SoundFile(str(path), "w", sample_rate, 1 if data.ndim == 1 else data.shape[1],
                          **kwargs) as f:  # type: ignore[arg-type]
            for i in range(0, len(data), WRITE_CHUNK_FRAMES):
                f.write(data[i : i + WRITE_CHUNK_FRAMES])
    except Exception as exc:
        raise ReadError(path, f"cannot write audio ({_reason(exc)}); check the folder and the extension") from exc


# -- internals ---------------------------------------------------------------------------------


def _needs_ffmpeg(path: Path) -> bool:
    return path.suffix.lower() in FFMPEG_EXTENSIONS


def _open_blocks(path: Path, block_frames: int, start_s: float) -> tuple[Iterator[np.ndarray], int, int]:
    """(blocks, sample rate, channels) from libsndfile, or from ffmpeg when libsndfile refuses."""
    if not _needs_ffmpeg(path):
        import soundfile as sf

        try:
            f = sf.SoundFile(os.fsencode(path))
        except Exception as exc:
            i = _ffprobe(path, refused=exc)
        else:
            return _soundfile_blocks(f, block_frames, start_s), int(f.samplerate), int(f.channels)
    else:
        i = _ffprobe(path)
    return _ffmpeg_blocks(path, i, block_frames, start_s), i.sample_rate, i.channels


def _checked(blocks: Iterator[np.ndarray], report: DecodeReport | None) -> Iterator[np.ndarray]:
    """The blocks with every NaN/Inf sample, and every one beyond ±MAX_SAMPLE, set to 0 (counted
    in ``report``). A damaged float WAV's NaN bursts played as a full-scale square wave, its Inf
    as full-scale DC."""
    for block in blocks:
        if not block.size:
            yield block
            continue
        # cheap tests first: NaN or Inf anywhere makes the sum non-finite; then the extremes
        if (not np.isfinite(block.sum(dtype=np.float64))
                or block.max() > MAX_SAMPLE or block.min() < -MAX_SAMPLE):
            bad = ~(np.abs(block) <= MAX_SAMPLE)  # NaN compares False: counted as bad
            if report is not None:
                report.nonfinite += int(bad.sum())
            block = np.where(bad, np.float32(0.0), block)
        yield block


def _soundfile_blocks(f: object, block_frames: int, start_s: float) -> Iterator[np.ndarray]:
    with f:  # type: ignore[attr-defined]
        sr, frames = f.samplerate, f.frames  # type: ignore[attr-defined]
        if start_s > 0:
            f.seek(min(int(start_s * sr), max(frames - 1, 0)))  # type: ignore[attr-defined]
        while True:
            block = f.read(block_frames, dtype="float32", always_2d=True)  # type: ignore[attr-defined]
            if not len(block):
                return
            yield block


def _convert_channels(block: np.ndarray, channels: int | None) -> np.ndarray:
    if channels is None or block.shape[1] == channels:
        return block
    if channels == 1:
        # A matrix product is ~35x faster than mean(axis=1) on interleaved frames.
        weights = np.full((block.shape[1], 1), 1.0 / block.shape[1], dtype=np.float32)
        return block @ weights
    if block.shape[1] == 1:
        return np.repeat(block, channels, axis=1)
    return block[:, :channels]


def _ffmpeg_input(path: Path) -> str:
    # "file:" and an absolute path: a name such as "http:x.mp3" or "-y.wav" stays a local file
    return "file:" + str(path.resolve())


def _ffprobe(path: Path, refused: Exception | None = None) -> AudioInfo:
    """Rate, channels and (estimated) frames of the first audio stream, read by ffprobe.
    ``refused``: libsndfile's error when it refused the file first (then said if ffmpeg fails)."""
    if not has_ffmpeg():
        if refused is not None:
            raise ReadError(path, f"cannot read audio ({_reason(refused)}); ffmpeg may read it: "
                            f"{INSTALL_FFMPEG}") from refused
        raise ReadError(path, f"{path.suffix.upper().lstrip('.') or 'this format'} needs ffmpeg; "
                        f"{INSTALL_FFMPEG}")
    import json

    try:
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
             "stream=sample_rate,channels:format=duration", "-of", "json", _ffmpeg_input(path)],
            capture_output=True, text=True, timeout=60, check=True, stdin=subprocess.DEVNULL,
        )
        data = json.loads(probe.stdout)
        stream = data["streams"][0]
        sr, ch = int(stream["sample_rate"]), int(stream["channels"])
        duration = float(data.get("format", {}).get("duration", 0.0) or 0.0)
    except (subprocess.SubprocessError, OSError, KeyError, IndexError, ValueError, TypeError) as exc:
        if refused is not None:
            raise ReadError(path, f"cannot read audio ({_reason(refused)})") from exc
        raise ReadError(path, "ffmpeg cannot decode this file; it may be damaged or DRM-protected") from exc
    if sr <= 0 or ch <= 0:
        raise ReadError(path, "the file holds no audio")
    return AudioInfo(sr, ch, max(0, int(round(duration * sr))))


def _ffmpeg_blocks(path: Path, i: AudioInfo, block_frames: int, start_s: float) -> Iterator[np.ndarray]:
    """float32 blocks from an ffmpeg subprocess, read from its pipe as they come."""
    if not has_ffmpeg():
        raise ReadError(path, f"needs ffmpeg; {INSTALL_FFMPEG}")
    cmd = ["ffmpeg", "-nostdin", "-v", "error"]
    if start_s > 0:
        cmd += ["-ss", f"{start_s:.3f}"]
    cmd += ["-i", _ffmpeg_input(path), "-map", "0:a:0", "-f", "f32le", "-acodec", "pcm_f32le",
            "-ar", str(i.sample_rate), "-ac", str(i.channels), "pipe:1"]
    frame_bytes = 4 * i.channels
    got = 0
    # stderr to a file, not a pipe: a chatty ffmpeg cannot fill a pipe nobody reads and stall
    with tempfile.TemporaryFile() as err, subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err
    ) as proc:
        assert proc.stdout is not None
        try:
            pending = b""
            while True:
                chunk = proc.stdout.read(block_frames * frame_bytes)
                if not chunk:
                    break
                chunk = pending + chunk
                whole = len(chunk) - len(chunk) % frame_bytes
                pending = chunk[whole:]
                if whole:
                    got += whole // frame_bytes
                    # a copy: callers may scale blocks in place, and a bytes buffer is read-only
                    yield np.frombuffer(chunk[:whole], dtype="<f4").reshape(-1, i.channels).copy()
        finally:
            if proc.poll() is None:  # the reader stopped early: stop ffmpeg too
                proc.kill()
            proc.wait()
        if proc.returncode != 0 and got == 0:
            raise ReadError(path, "ffmpeg cannot decode this file; it may be damaged or DRM-protected")


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "Format not recognised" in text or "possibly a pipe" in text or "unknown format" in text.lower():
        # libsndfile says "File does not exist ... (possibly a pipe?)" for garbage it cannot parse.
        return "not a recognised audio format, or the file is damaged; re-rip or re-download it"
    # libsndfile prefixes messages with the path; the path is already in ReadError.
    return text.split(": ", 1)[-1] if "Error opening" in text else text
