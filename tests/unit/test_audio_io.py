from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from companion.core import audio_io
from companion.core.errors import ReadError

SR = 44100


def _tone(seconds: float, channels: int = 2) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    mono = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    return np.repeat(mono[:, None], channels, axis=1)


def test_blocks_resample_and_downmix_without_losing_audio(tmp_path) -> None:
    path = tmp_path / "a.flac"
    sf.write(path, _tone(3.0), SR)
    blocks = list(audio_io.read_blocks(path, block_frames=4096, sample_rate=22050, channels=1))
    y = np.concatenate(blocks)
    assert y.shape[1] == 1
    assert abs(len(y) - 3 * 22050) <= 64
    assert np.sqrt(np.mean(y**2)) == pytest.approx(0.3 / np.sqrt(2), rel=0.02)


def test_long_ogg_writes_in_chunks(tmp_path) -> None:
    path = tmp_path / "long.ogg"
    audio_io.write(path, _tone(40.0), SR)
    assert audio_io.info(path).duration_s == pytest.approx(40.0, abs=0.05)


def test_garbage_is_named_as_not_audio(tmp_path) -> None:
    path = tmp_path / "noise.mp3"
    path.write_bytes(b"\x00garbage" * 500)
    with pytest.raises(ReadError) as err:
        audio_io.info(path)
    assert str(path) in str(err.value) and "possibly a pipe" not in str(err.value)


def test_load_mono_window(tmp_path) -> None:
    path = tmp_path / "w.wav"
    sf.write(path, _tone(5.0), SR)
    y = audio_io.load_mono(path, sample_rate=11025, start_s=1.0, duration_s=2.0)
    assert len(y) == 2 * 11025
