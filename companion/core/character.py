"""What a track feels like: its character, measured at scan time from the audio the scan has
already decoded (mono at ``tempo.ANALYSIS_SR``), and an arousal score from it.

Tempo alone cannot tell a death-metal track at 58 BPM from a lullaby at 58 BPM; a music
therapist listens for instrumentation and volume falling with the tempo (Music Care's
U-sequence), few percussive instruments, soft dynamics and a gentle timbre (Gooding et al.).
These are measured here, on one short-time spectrum (46 ms frames, 23 ms apart, 40 mel bands
up to the analysis rate's Nyquist, 5.5 kHz):

- ``onset_density``: note and drum onsets per second of audible audio (peaks of the
  log-spectral flux);
- ``percussive_share``: the share of spectral energy that is percussive (0-1), from a
  median-filter harmonic/percussive split (Fitzgerald 2010): vertical lines in the
  spectrogram are percussion, horizontal ones sustained tones;
- ``centroid_hz`` and ``rolloff_hz``: brightness, the spectrum's centre of mass and the
  frequency under which 85 % of its energy lies (energy-weighted over the track);
- ``dynamic_range_db``: loud (95th percentile) minus soft (10th) of the level in half-second
  windows: a compressed wall of sound is small, a piece that breathes large;
- ``timbre``: 16 numbers for similarity (mean of mel-cepstral coefficients 1-13 and the
  spread of 1-3), compared by distance after standardising over the library.

**Arousal** (0 calm ... 1 energetic) is the weighted mean of five scores, each 0 at a clearly
calm value and 1 at a clearly energetic one, on a log scale where perception is:

====================  ======  ==================  ===================
score                 weight  0 (calm)            1 (energetic)
====================  ======  ==================  ===================
loudness              0.25    -28 LUFS            -8 LUFS
onset density         0.25    0.5 onsets/s        6 onsets/s
percussive share      0.20    0.15                0.70
brightness            0.20    centroid 400 Hz     centroid 2 000 Hz
compression           0.10    dynamic range 20 dB dynamic range 4 dB
====================  ======  ==================  ===================

Tempo is deliberately left out: the arc already orders by tempo, so arousal adds what tempo
cannot see. Loudness is the scan's own EBU R128 measurement. The anchors span what 189 real
game soundtracks (orchestral, ambient, electronic, rock; Debian packages) measure, from their
10th to their 90th percentile, so a library spreads over the scale instead of crowding at one end.

The module also makes a compact content fingerprint (``fingerprint``) so that the same
recording at two paths, in two formats or at two levels is recognised (``duplicates``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from companion.core.models import Character

__all__ = ["TIMBRE_SIZE", "arousal", "fingerprint", "measure"]

_N_FFT = 512  # 46 ms at 11 025 Hz
_HOP = 256  # 23 ms
_N_MELS = 40
_SILENCE_DB = 60.0  # frames this far below the loudest are not part of the music
TIMBRE_SIZE = 16
_ONSET_FLUX = 2.0  # the least log-mel flux of an onset (see _onset_density)
_FP_BLOCK = 8  # frames per fingerprint block (186 ms)
_FP_BLOCKS = 256  # at most this many blocks (47 s from the first audible sound)

# (weight, calm value, energetic value, on a log scale)
_LOUD = (0.25, -28.0, -8.0, False)
_ONSETS = (0.25, 0.5, 6.0, True)
_PERC = (0.20, 0.15, 0.70, False)
_BRIGHT = (0.20, 400.0, 2000.0, True)
_COMPRESSED = (0.10, 20.0, 4.0, False)


@dataclass(frozen=True)
class _Spectrum:
    power: np.ndarray  # (frames, bins) of the audible part
    mel: np.ndarray  # (frames, 40) mel-band power
    freqs: np.ndarray  # Hz of each bin
    fps: float  # frames per second


def measure(y: np.ndarray, sr: int, *, loudness_lufs: float | None) -> tuple[Character, bytes] | None:
    """The character of mono audio ``y`` at ``sr`` Hz and its fingerprint, or None when there
    is (next to) nothing to hear. ``loudness_lufs``: the file's integrated loudness."""
    spec = _spectrum(np.asarray(y, dtype=np.float32), sr)
    if spec is None:
        return None
    total = spec.power.sum(axis=1)
    ch = Character(
        onset_density=round(_onset_density(spec), 3),
        percussive_share=round(_percussive_share(spec.mel), 3),
        centroid_hz=round(_centroid(spec), 1),
        rolloff_hz=round(_rolloff(spec), 1),
        dynamic_range_db=round(_dynamic_range(total, spec.fps), 2),
        timbre=_timbre(spec.mel),
        arousal=0.0,
    )
    from dataclasses import replace

    return replace(ch, arousal=arousal(ch, loudness_lufs)), fingerprint(spec.mel)


def arousal(ch: Character, loudness_lufs: float | None) -> float:
    """Calm (0) to energetic (1): the weighted scores of the module's table, to 0.001."""
    parts = [
        (_LOUD, loudness_lufs if loudness_lufs is not None else _LOUD[1]),
        (_ONSETS, ch.onset_density),
        (_PERC, ch.percussive_share),
        (_BRIGHT, ch.centroid_hz),
        (_COMPRESSED, ch.dynamic_range_db),
    ]
    total = sum(w * _score(v, lo, hi, log) for (w, lo, hi, log), v in parts)
    return round(total, 3)


def _score(value: float, calm: float, energetic: float, log: bool) -> float:
    if log:
        value, calm, energetic = (math.log(max(x, 1e-6)) for x in (value, calm, energetic))
    return min(1.0, max(0.0, (value - calm) / (energetic - calm)))


# -- the spectrum ------------------------------------------------------------------------------


def _spectrum(y: np.ndarray, sr: int) -> _Spectrum | None:
    from scipy import fft

    if len(y) < _N_FFT * 4 or not np.isfinite(y).all():
        y = np.nan_to_num(y)
        if len(y) < _N_FFT * 4:
            return None
    frames = np.lib.stride_tricks.sliding_window_view(y, _N_FFT)[::_HOP]
    win = np.hanning(_N_FFT).astype(np.float32)
    power = np.empty((len(frames), _N_FFT // 2 + 1), dtype=np.float32)
    for i in range(0, len(frames), 256):  # bounded working memory for long tracks
        z = fft.rfft(frames[i : i + 256] * win, axis=1)
        np.add(z.real * z.real, z.imag * z.imag, out=power[i : i + 256])
    total = power.sum(axis=1)
    top = float(total.max()) if total.size else 0.0
    if top <= 0:
        return None
    loud = np.flatnonzero(total > top * 10 ** (-_SILENCE_DB / 10))
    power = power[loud[0] : loud[-1] + 1]
    if len(power) < 8:
        return None
    fb = _mel_filterbank(sr)
    return _Spectrum(power, power @ fb.T, np.fft.rfftfreq(_N_FFT, 1.0 / sr), sr / _HOP)


def _mel_filterbank(sr: int) -> np.ndarray:
    """Triangular mel filters, (40, bins), from 40 Hz to the Nyquist."""

    def mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    edges = 700.0 * (10 ** (np.linspace(mel(np.float64(40.0)), mel(np.float64(sr / 2)), _N_MELS + 2) / 2595.0) - 1)
    freqs = np.fft.rfftfreq(_N_FFT, 1.0 / sr)
    lo, c, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    return np.maximum(0, np.minimum((freqs - lo) / (c - lo), (hi - freqs) / (hi - c))).astype(np.float32)


# -- the features ------------------------------------------------------------------------------


def _onset_density(spec: _Spectrum) -> float:
    """Onsets per second: peaks of the positive log-mel flux that stand out from the last
    second's mean."""
    from scipy.ndimage import maximum_filter1d, uniform_filter1d

    mel = spec.mel
    ref = float(np.percentile(mel[:: max(1, len(mel) // 2000)], 99)) or 1.0  # level-independent
    logmel = np.log1p(mel * (100.0 / ref))
    flux = np.maximum(np.diff(logmel, axis=0), 0.0).sum(axis=1)
    if flux.size < 3:
        return 0.0
    local = uniform_filter1d(flux, size=max(3, int(spec.fps)), mode="nearest")
    # In log units summed over the bands: a sustained pad drifts by < 0.5 a frame, a note or a
    # drum jumps by several; and an onset stands out from the last second's texture (else a
    # busy texture of strings reads 7 onsets a second), at most one per 160 ms.
    top = float(np.percentile(flux, 99))
    peak = ((flux == maximum_filter1d(flux, size=7, mode="nearest")) & (flux > 1.5 * local + 0.1 * top)
            & (flux > _ONSET_FLUX))
    return float(peak.sum()) / (len(mel) / spec.fps)


def _percussive_share(mel: np.ndarray) -> float:
    """Share of the energy in the percussive part of a median-filter split, on frames pooled
    in pairs (46 ms): the harmonic part is the median over 0.4 s, the percussive over 7 bands."""
    from scipy.ndimage import median_filter

    n = len(mel) // 2 * 2
    s = mel[:n].reshape(-1, 2, mel.shape[1]).mean(axis=1) if n >= 2 else mel
    h = median_filter(s, size=(9, 1), mode="nearest")
    p = median_filter(s, size=(1, 7), mode="nearest")
    hp = h * h + p * p
    mask = np.divide(p * p, hp, out=np.zeros_like(hp), where=hp > 0)
    total = float(s.sum())
    return float((mask * s).sum() / total) if total > 0 else 0.0


def _centroid(spec: _Spectrum) -> float:
    """Centre of mass of the magnitude spectrum, Hz (on power, the bass would hide a bright
    top: a kick drum outweighs a hi-hat by 20 dB)."""
    mag = np.sqrt(spec.power.sum(axis=0))
    whole = float(mag.sum())
    return float(mag @ spec.freqs / whole) if whole > 0 else 0.0


def _rolloff(spec: _Spectrum, share: float = 0.85) -> float:
    """The frequency under which ``share`` of the track's magnitude spectrum lies, Hz."""
    cum = np.cumsum(np.sqrt(spec.power.sum(axis=0, dtype=np.float64)))
    return float(spec.freqs[min(int(np.searchsorted(cum, share * cum[-1])), len(spec.freqs) - 1)])


def _dynamic_range(total: np.ndarray, fps: float) -> float:
    """95th minus 10th percentile of the level in half-second windows, dB."""
    w = max(1, int(fps / 2))
    n = len(total) // w
    if n < 2:
        return 0.0
    level = 10 * np.log10(total[: n * w].reshape(n, w).mean(axis=1) + 1e-12)
    level = level[level > level.max() - _SILENCE_DB]
    return float(np.percentile(level, 95) - np.percentile(level, 10))


def _timbre(mel: np.ndarray) -> tuple[float, ...]:
    """Mean mel-cepstral coefficients 1-13 and the spread of 1-3 over the louder frames."""
    from scipy.fft import dct

    loud = mel.sum(axis=1)
    keep = mel[loud > loud.max() * 1e-4] if loud.max() > 0 else mel
    # A floor 50 dB under the loudest band: the same music at another level or through a lossy
    # codec (which drops what is inaudible) keeps the same shape.
    floor = float(keep.max()) * 1e-5 + 1e-20
    cep = dct(np.log10(keep + floor), type=2, norm="ortho", axis=1)[:, 1:14]
    return tuple(round(float(x), 3) for x in (*cep.mean(axis=0), *cep[:, :3].std(axis=0)))


# -- the fingerprint ---------------------------------------------------------------------------


def fingerprint(mel: np.ndarray) -> bytes:
    """A content fingerprint: 16 bits per 186 ms block from the first audible sound, up to 47 s.

    Each bit is the sign of the change over time of the energy difference between neighbouring
    bands (Haitsma & Kalker 2002) over 17 bands pooled from the mel bands: independent of
    level, and the same after lossy encoding, so one recording gives the same bits at any path
    or format (compared by ``duplicates``)."""
    n = min(len(mel) // _FP_BLOCK, _FP_BLOCKS + 1)
    if n < 2:
        return b""
    blocks = mel[: n * _FP_BLOCK].reshape(n, _FP_BLOCK, -1).mean(axis=1)
    bands = blocks[:, 6:40].reshape(n, 17, 2).sum(axis=2)  # ~200 Hz up, pairs of mel bands
    e = np.log(bands + 1e-10)
    diff = e[:, :-1] - e[:, 1:]
    bits = (diff[1:] - diff[:-1]) > 0  # (n - 1, 16)
    words = (bits * (1 << np.arange(16, dtype=np.uint32))).sum(axis=1).astype("<u2")
    return words.tobytes()
