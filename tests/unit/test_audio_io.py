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


needs_ffmpeg = pytest.mark.skipif(not audio_io.has_ffmpeg(), reason="ffmpeg is not installed")


def _ffmpeg(src, dst, *args: str) -> None:
    import subprocess

    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), *args, str(dst)], check=True)


@needs_ffmpeg
def test_opus_written_by_ffmpeg_decodes(tmp_path) -> None:
    wav = tmp_path / "a.wav"
    sf.write(wav, _tone(3.0), SR)
    opus = tmp_path / "a.opus"
    _ffmpeg(wav, opus, "-c:a", "libopus")
    y = audio_io.load_mono(opus, sample_rate=22050)
    assert abs(len(y) - 3 * 22050) < 0.02 * 22050
    assert np.sqrt(np.mean(y**2)) == pytest.approx(0.3 / np.sqrt(2), rel=0.1)


@needs_ffmpeg
def test_a_file_libsndfile_refuses_is_decoded_by_ffmpeg(tmp_path) -> None:
    """Opus in a WebM container named .opus (what many downloaders save): libsndfile says
    "format not recognised", ffmpeg plays it; so does companion, streamed through ffmpeg."""
    wav = tmp_path / "a.wav"
    sf.write(wav, _tone(4.0), SR)
    opus = tmp_path / "a.opus"
    _ffmpeg(wav, opus, "-c:a", "libopus", "-f", "webm")
    with pytest.raises(RuntimeError):
        sf.info(str(opus))
    i = audio_io.info(opus)
    assert (i.sample_rate, i.channels) == (48000, 2)
    assert i.duration_s == pytest.approx(4.0, abs=0.1)
    blocks = list(audio_io.read_blocks(opus, block_frames=4096))
    assert len(blocks) > 40 and max(len(b) for b in blocks) <= 4096  # streamed, not whole
    y = np.concatenate(list(audio_io.read_blocks(opus, sample_rate=22050, channels=1)))[:, 0]
    assert len(y) == pytest.approx(4 * 22050, rel=0.02)
    data, sr = audio_io.load(opus)
    assert sr == 48000 and data.shape[1] == 2


@needs_ffmpeg
def test_without_ffmpeg_the_error_names_it(tmp_path, monkeypatch) -> None:
    wav = tmp_path / "a.wav"
    sf.write(wav, _tone(2.0), SR)
    webm_opus, m4a = tmp_path / "a.opus", tmp_path / "a.m4a"
    _ffmpeg(wav, webm_opus, "-c:a", "libopus", "-f", "webm")
    _ffmpeg(wav, m4a, "-c:a", "aac")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # ffmpeg hidden
    for path in (webm_opus, m4a):
        with pytest.raises(ReadError) as err:
            list(audio_io.read_blocks(path))
        message = str(err.value)
        assert str(path) in message and "ffmpeg" in message and "\n" not in message


def test_nan_and_inf_in_a_float_wav_decode_as_silence_and_are_counted(tmp_path) -> None:
    y = _tone(2.0)
    y[1000:1200] = np.nan
    y[5000:5010, 0] = np.inf
    y[9000, 1] = -np.inf
    path = tmp_path / "broken.wav"
    sf.write(path, y, SR, subtype="FLOAT")
    report = audio_io.DecodeReport()
    out = np.concatenate(list(audio_io.read_blocks(path, block_frames=4096, report=report)))
    assert np.isfinite(out).all()
    assert np.all(out[1000:1200] == 0) and out[5000:5010, 0].max() == 0
    assert np.abs(out).max() <= 0.31
    assert report.nonfinite == 400 + 10 + 1 and "NaN" in report.problem()
    data, _ = audio_io.load(path)
    assert np.isfinite(data).all()
    resampled = np.concatenate(list(audio_io.read_blocks(path, sample_rate=22050, channels=1)))
    assert np.isfinite(resampled).all() and np.abs(resampled).max() < 0.4


def test_samples_thousands_of_times_full_scale_decode_as_silence(tmp_path) -> None:
    # a damaged MP3 frame decoded to ~3000x full scale: finite, so only a bound catches it
    y = _tone(2.0)
    y[2000:2100] = 3178.0
    y[7000, 1] = -40.0
    y[8000, 0] = 1.4  # an ordinary inter-sample over is music, kept
    path = tmp_path / "blown.wav"
    sf.write(path, y, SR, subtype="FLOAT")
    report = audio_io.DecodeReport()
    out = np.concatenate(list(audio_io.read_blocks(path, block_frames=4096, report=report)))
    assert np.all(out[2000:2100] == 0) and out[7000, 1] == 0
    assert out[8000, 0] == pytest.approx(1.4)
    assert report.nonfinite == 200 + 1 and "re-export" in report.problem()


def test_a_scan_reports_a_file_with_nan_samples(tmp_path) -> None:
    from companion.core.analysis import analyse_file

    y = _tone(6.0)
    y[SR : SR + 500] = np.nan
    path = tmp_path / "broken.wav"
    sf.write(path, y, SR, subtype="FLOAT")
    result = analyse_file(path)
    assert "NaN" in result.error and "re-export" in result.error
    clean = tmp_path / "clean.wav"
    sf.write(clean, _tone(6.0), SR, subtype="FLOAT")
    assert analyse_file(clean).error == ""
