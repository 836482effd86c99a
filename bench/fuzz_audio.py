"""Fuzz the audio opener: mutated WAV (int and float), FLAC, OGG and MP3 files through
``audio_io.info``, ``load_mono`` and ``read_blocks`` as the scan and the player call them.

    nice -n 10 python bench/fuzz_audio.py --minutes 2

Seeds are synthesised here (two seconds of a pulsed tone). A crash is an exception that is
not a CompanionError (ReadError is the expected refusal); a process death (a decoder's
segfault) or a hang is kept with its input. Decoded samples that are not finite are noted:
the decoder let them through, and whatever plays or analyses them must cope.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

import _fuzz  # noqa: E402

SR = 22050
# the first bytes name the format (the extension the file gets), then the file itself
FORMATS = {b"WAVF": (".wav", "WAV", "FLOAT"), b"WAVI": (".wav", "WAV", "PCM_16"),
           b"FLAC": (".flac", "FLAC", "PCM_16"), b"OGGV": (".ogg", "OGG", "VORBIS"),
           b"MP3_": (".mp3", "MP3", "MPEG_LAYER_III")}
TOKENS = [b"RIFF", b"WAVE", b"fmt ", b"data", b"LIST", b"id3 ", b"fLaC", b"OggS", b"ID3\x04", b"\xff\xfb",
          b"\xff\xff\xff\x7f", b"\x00\x00\x80\x7f", b"\x00\x00\xc0\x7f", b"\x00" * 64, b"\xff" * 64]


def seeds() -> list[bytes]:
    import numpy as np
    import soundfile as sf

    t = np.arange(2 * SR) / SR
    tone = (0.3 * np.sin(2 * np.pi * 440 * t) * np.exp(-((t * 80 / 60) % 1) * 6)).astype(np.float32)
    out = []
    for tag, (_, fmt, subtype) in FORMATS.items():
        buf = io.BytesIO()
        try:
            sf.write(buf, np.stack([tone, tone], axis=1), SR, format=fmt, subtype=subtype)
        except Exception as exc:  # an old libsndfile without MP3
            print(f"no {fmt} seed: {exc}", file=sys.stderr)
            continue
        out.append(tag + buf.getvalue())
    return out


def target(data: bytes, work: Path) -> str | None:
    import numpy as np

    from companion.core import audio_io

    ext = FORMATS.get(data[:4], (".wav",))[0]
    f = work / f"in{ext}"
    f.write_bytes(data[4:])
    audio_io.info(f)
    y = audio_io.load_mono(f, sample_rate=SR, duration_s=30.0)
    frames = 0
    for block in audio_io.read_blocks(f, block_frames=4096, sample_rate=44100, channels=2):
        frames += len(block)
        if frames > 44100 * 60:
            return "a 2-second seed decoded to more than a minute"
    if not np.isfinite(y).all():
        return f"decoded samples are not finite ({ext} file; NaN/Inf reach the caller)"
    if np.abs(y).max(initial=0.0) > 64:
        return f"decoded samples far above full scale ({ext} file)"
    return None


def main() -> int:
    args = _fuzz.arguments(__doc__.splitlines()[0])
    # mutate the file, never the 4-byte format tag in front of it
    return _fuzz.run("audio", seeds(), TOKENS, _keep_tag(target), minutes=args.minutes, seed=args.seed)


def _keep_tag(fn: _fuzz.Target) -> _fuzz.Target:
    def run(data: bytes, work: Path) -> str | None:
        tag = data[:4] if data[:4] in FORMATS else b"WAVF"
        body = data[4:] if data[:4] in FORMATS else data
        return fn(tag + body, work)
    return run


if __name__ == "__main__":
    _fuzz.main_guard(main)
