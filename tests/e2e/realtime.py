"""Playback in real time with no sound card: a private JACK server on its dummy driver.

ALSA's ``file`` plugin (tests/alsa-capture.conf) takes samples as fast as the CPU makes them, so
it cannot show an underrun. JACK's dummy driver is paced like a card: every period (1024 frames
at 44.1 kHz, 23 ms) it asks each client for audio, and a client that is late plays silence.
``jack_capture`` records what reaches the card. Debian: ``apt-get install jackd2 jack-capture``.

Used by tests/e2e/test_realtime_jack.py and bench/playback.py:

    with jack_server(folder) as jack, recording(jack, folder / "played.wav"):
        subprocess.run([... "companion", "play", NAME, "--device", "system"], env=jack.env)
    report = compare(folder / "played.wav", folder / "render.wav")

Every process started here is stopped by its PID when the block ends, whatever happened.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TOOLS = ("jackd", "jack_wait", "jack_capture")
BLOCK_S = 0.010  # a dropout of one JACK period (23 ms) silences at least one whole 10 ms block
ENVELOPE_S = 0.100
SILENT = 1e-4  # -80 dBFS: below any faded music, above nothing but digital silence


class JackUnavailable(RuntimeError):
    """The JACK tools are missing or the server did not start (the message says which)."""


@dataclass(frozen=True)
class JackServer:
    """A running private server. ``env`` is the environment its clients must run with."""

    name: str
    rate: int
    period: int
    pid: int
    env: dict[str, str]
    log: Path

    def late_cycles(self, client: str = "PortAudio") -> int:
        """Periods in which ``client`` (PortAudio's JACK client: the player) had not finished in
        time, from the server's log. The dummy card then waits for it, so the capture shows no
        gap; a real card would have played a click or a gap there."""
        text = self.log.read_text(errors="replace")
        return sum(1 for line in text.splitlines()
                   if line.startswith("JackEngine::XRun: client") and f" {client} " in line)


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


@contextmanager
def jack_server(folder: Path, *, rate: int = 44100, period: int = 1024) -> Iterator[JackServer]:
    """Start ``jackd -d dummy`` under a name of its own (several runs may share the machine)."""
    if missing := missing_tools():
        raise JackUnavailable(f"{', '.join(missing)} not found (Debian: apt-get install jackd2 jack-capture)")
    name = f"companion-{os.getpid()}-{secrets.token_hex(3)}"
    # JACK_NO_START_SERVER: a client must never start a default server of its own instead.
    env = {**os.environ, "JACK_DEFAULT_SERVER": name, "JACK_NO_START_SERVER": "1"}
    log = folder / f"jackd-{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            # -m: monitor ports carrying exactly what the card was given, cycle by cycle
            ["jackd", "-n", name, "-d", "dummy", "-m", "-r", str(rate), "-p", str(period)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        ready = subprocess.run(["jack_wait", "-s", name, "-w", "-t", "10"], env=env,
                               capture_output=True, timeout=20)
        if ready.returncode != 0 or proc.poll() is not None:
            raise JackUnavailable(f"jackd did not start: {_tail(log)}")
        yield JackServer(name, rate, period, proc.pid, env, log)
    finally:
        _stop(proc, signal.SIGTERM)


@contextmanager
def recording(server: JackServer, path: Path) -> Iterator[None]:
    """Record what reaches the server's playback ports into ``path`` (32-bit float WAV)."""
    log = path.with_suffix(".log")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["jack_capture", "--disable-console", "--no-stdin", "--channels", "2",
             "--port", "system:monitor_1", "--port", "system:monitor_2", "--filename", str(path)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=server.env)
    try:
        deadline = time.monotonic() + 10
        while not (path.exists() and path.stat().st_size > 0):  # the file opens when recording starts
            if proc.poll() is not None or time.monotonic() > deadline:
                raise JackUnavailable(f"jack_capture did not start: {_tail(log)}")
            time.sleep(0.05)
        yield
    finally:
        _stop(proc, signal.SIGINT)  # like Ctrl-C: it writes what it has buffered, then exits


def _stop(proc: subprocess.Popen, sig: int) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _tail(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(lines[-3:]) or "(no output)"


# -- comparing what was heard with the render ----------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """What the card received, against the file render of the same session.

    heard_s, render_s : from the first to the last audible 10 ms block, seconds.
    dropouts_s : where the capture has a silent block that the render does not (seconds from
        the start of the music); want none.
    correlation : of the two loudness envelopes (RMS over 100 ms), aligned; 1 is the same shape.
    """

    heard_s: float
    render_s: float
    dropouts_s: tuple[float, ...]
    correlation: float


def audible_blocks(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Peak and RMS of each 10 ms block of a sound file (all channels together), from its first
    to its last audible sample: the silence a capture has around the music is cut off, and the
    blocks of a capture and of a render start at the same point of the music."""
    import soundfile as sf

    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    loud = np.flatnonzero(np.abs(data).max(axis=1) > SILENT)
    data = data[loud[0] : loud[-1] + 1] if len(loud) else data[:0]
    n = round(sr * BLOCK_S)
    b = data[: len(data) // n * n].reshape(-1, n, data.shape[1])
    return np.abs(b).max(axis=(1, 2)), np.sqrt(np.mean(b.astype(np.float64) ** 2, axis=(1, 2)))


def compare(captured: Path, rendered: Path) -> Comparison:
    """Line the capture up with the render and list every block of silence the render lacks."""
    heard_peak, heard_rms = audible_blocks(captured)
    ren_peak, ren_rms = audible_blocks(rendered)
    # A dropout: a silent block where the render is clearly audible (20 dB over the silence
    # line, in that block and both neighbours, so a fade's edge is never taken for one).
    ren_clear = ren_peak > 10 * SILENT
    dropouts = tuple(
        round(float(i) * BLOCK_S, 2) for i in np.flatnonzero(heard_peak <= SILENT)
        if i >= len(ren_clear) or ren_clear[max(0, i - 1) : i + 2].all()
    )
    # Over 100 ms: a 10 ms block's RMS ripples with where the block falls in the waveform.
    k = round(ENVELOPE_S / BLOCK_S)
    n = min(len(heard_rms), len(ren_rms)) // k * k
    heard_env, ren_env = (r[:n].reshape(-1, k).mean(axis=1) for r in (heard_rms, ren_rms))
    correlation = float(np.corrcoef(heard_env, ren_env)[0, 1]) if n >= 3 * k else 0.0
    return Comparison(len(heard_peak) * BLOCK_S, len(ren_peak) * BLOCK_S, dropouts, correlation)


def cpu_busy() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores so far, from /proc/stat; subtract two readings."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)
