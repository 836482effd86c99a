"""Arc presets: a tempo curve over normalised session time, read from small ``.arc`` files.

An arc file is INI (Python ``configparser``)::

    [arc]
    description = one line shown in lists

    [curve]
    # session time (0 = start, 1 = end) = tempo: start, target, a multiple of either, or a BPM
    0.00 = start
    0.75 = target
    1.00 = target * 1.15

    [silence]          # optional: a pause near the trough
    at = 0.75          # fraction of the session where it begins
    seconds = 120

    [ending]           # optional
    fade_out_s = 0     # how long the last track fades out, in seconds

Between points the tempo moves geometrically (constant percent per second), the way the
iso principle steps down. Bundled presets are package data in ``companion/presets/``; a
person's own presets in ``paths.presets_dir()`` override bundled ones of the same name.
"""

from __future__ import annotations

import configparser
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from companion.core import paths
from companion.core.errors import CompanionError, NotFoundError, UserInputError
from companion.core.render import MAX_SILENCE_S  # the longest silence the player plays

__all__ = ["Arc", "BUILTIN_ARCS", "bundled_dirs", "list_arcs", "load_arc", "parse_arc"]

BUILTIN_ARCS = ("step-down", "u-sequence", "sleep")
SUFFIX = ".arc"
# Bounds of the numbers an arc file may hold (it is a file from anywhere); a silence longer
# than MAX_SILENCE_S is refused.
MIN_BPM, MAX_BPM = 20.0, 300.0  # as planner.plan accepts
MIN_FACTOR, MAX_FACTOR = 0.25, 4.0  # "target * 1.15": two octaves either way
MAX_FADE_OUT_S = 120.0

_VALUE = re.compile(r"^\s*(?:(start|target)\s*(?:\*\s*([0-9]*\.?[0-9]+))?|([0-9]*\.?[0-9]+))\s*$")


@dataclass(frozen=True)
class Arc:
    """A tempo curve.

    points : ((time_fraction, ref, factor), ...) sorted by time; ref is "start", "target" or
        "bpm" (then factor is the tempo in BPM).
    silence_at : fraction of the session where a silence begins, or None.
    silence_s : length of that silence in seconds.
    fade_out_s : fade-out of the last track in seconds (0: none).
    """

    name: str
    points: tuple[tuple[float, str, float], ...]
    description: str = ""
    silence_at: float | None = None
    silence_s: float = 0.0
    fade_out_s: float = 0.0
    path: str = ""

    def bpms(self, start_bpm: float, target_bpm: float) -> tuple[list[float], list[float]]:
        """(time fractions, tempi in BPM) of the curve's points for these start/target tempi."""
        ts, bs = [], []
        for t, ref, factor in self.points:
            base = start_bpm if ref == "start" else target_bpm if ref == "target" else 1.0
            ts.append(t)
            bs.append(base * factor)
        return ts, bs

    def bpm_at(self, fraction: float, start_bpm: float, target_bpm: float) -> float:
        """Tempo in BPM the arc asks for at ``fraction`` (0–1) of the session."""
        import numpy as np

        ts, bs = self.bpms(start_bpm, target_bpm)
        return float(np.exp(np.interp(min(max(fraction, 0.0), 1.0), ts, np.log(bs))))

    def lowest_fraction(self) -> float:
        """Where the curve's deepest point (the trough) lies, for a descending arc."""
        ts, bs = self.bpms(100.0, 60.0)
        return ts[min(range(len(bs)), key=lambda i: (bs[i], ts[i]))]


def parse_arc(text: str, name: str, path: str = "") -> Arc:
    """Parse the text of an ``.arc`` file; errors name the file and the line's key."""
    where = path or name
    cp = configparser.ConfigParser(inline_comment_prefixes=("#", ";"), interpolation=None)
    try:
        cp.read_string(text, source=where)
    except configparser.Error as exc:
        raise UserInputError(f"{where}: not a valid arc file ({exc.message.splitlines()[0]})") from exc
    if not cp.has_section("curve"):
        raise UserInputError(f"{where}: arc file needs a [curve] section (see companion/presets/step-down.arc)")
    points = []
    for key, value in cp.items("curve"):
        try:
            t = float(key)
        except ValueError:
            raise UserInputError(f"{where}: curve time {key!r} is not a number between 0 and 1") from None
        if not 0.0 <= t <= 1.0:
            raise UserInputError(f"{where}: curve time {key} is outside 0–1")
        m = _VALUE.match(value)
        if not m:
            raise UserInputError(
                f"{where}: curve tempo {value!r} at {key}: use start, target, target * 1.15 or a BPM"
            )
        if m.group(3):
            ref, factor = "bpm", float(m.group(3))
            if not MIN_BPM <= factor <= MAX_BPM:
                raise UserInputError(f"{where}: curve tempo {value!r} at {key} must be from "
                                     f"{MIN_BPM:g} to {MAX_BPM:g} BPM")
        else:
            ref, factor = m.group(1), float(m.group(2) or 1.0)
            if not MIN_FACTOR <= factor <= MAX_FACTOR:
                raise UserInputError(f"{where}: curve tempo {value!r} at {key}: the factor must be "
                                     f"from {MIN_FACTOR:g} to {MAX_FACTOR:g}")
        points.append((t, ref, factor))
    if len(points) < 2:
        raise UserInputError(f"{where}: the [curve] needs at least two points (0 and 1)")
    points.sort()
    if points[0][0] != 0.0 or points[-1][0] != 1.0:
        raise UserInputError(f"{where}: the [curve] must have points at 0 and at 1")

    def number(section: str, key: str, default: float, low: float, high: float) -> float:
        if not cp.has_option(section, key):
            return default
        text = cp.get(section, key)
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not low <= value <= high:  # NaN fails too
            raise UserInputError(f"{where}: [{section}] {key} = {text!r} must be a number from "
                                 f"{low:g} to {high:g}")
        return value

    silence_at: float | None = None
    silence_s = 0.0
    if cp.has_section("silence"):
        silence_s = number("silence", "seconds", 120.0, 0.0, MAX_SILENCE_S)
        silence_at = number("silence", "at", 0.75, 0.0, 1.0)
        if not 0.0 < silence_at < 1.0:
            raise UserInputError(f"{where}: [silence] needs 0 < at < 1")
        if silence_s == 0:
            silence_at = None
    description = cp.get("arc", "description", fallback="") if cp.has_section("arc") else ""
    return Arc(
        name=name,
        points=tuple(points),
        description=description.strip(),
        silence_at=silence_at,
        silence_s=silence_s,
        fade_out_s=number("ending", "fade_out_s", 0.0, 0.0, MAX_FADE_OUT_S),
        path=path,
    )


def bundled_dirs() -> list[Path]:
    """Folders holding the bundled presets: the package's ``presets/`` (installed with it)."""
    import companion

    return [Path(companion.__file__).resolve().parent / "presets"]


def _search_dirs() -> list[Path]:
    return [paths.presets_dir(), *bundled_dirs()]


def load_arc(name_or_path: str | Path) -> Arc:
    """An arc by preset name (user presets first, then bundled) or by the path of an .arc file."""
    text = str(name_or_path)
    p = Path(os.path.expanduser(text))
    if text.endswith(SUFFIX) and p.is_file():
        return _read(p)
    if "/" in text or not text.strip():
        raise NotFoundError(f"{text}: no such arc file")
    for d in _search_dirs():
        f = d / f"{text}{SUFFIX}"
        if f.is_file():
            return _read(f)
    known = ", ".join(a.name for a in list_arcs())
    raise NotFoundError(f"no arc named {text!r}; known arcs: {known}")


def list_arcs(*, problems: list[str] | None = None) -> list[Arc]:
    """Every arc preset a person can choose, sorted by name; user presets hide bundled ones.

    A preset that cannot be read (not UTF-8, malformed, numbers out of range) is left out, so
    one broken file never hides the others; ``problems`` (when given) receives one line per such
    file saying what is wrong with it.
    """
    found: dict[str, Path] = {}
    for d in _search_dirs():
        for f in sorted(d.glob(f"*{SUFFIX}")):
            found.setdefault(f.stem, f)
    arcs = []
    for _, f in sorted(found.items()):
        try:
            arcs.append(_read(f))
        except CompanionError as exc:
            if problems is not None:
                problems.append(str(exc))
    return arcs


def _read(path: Path) -> Arc:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise NotFoundError(f"{path}: cannot read arc file ({exc.strerror})") from exc
    except UnicodeDecodeError:
        raise UserInputError(f"{path}: not a text file in UTF-8; save the arc as UTF-8 text "
                             "(see playlists/step-down.arc)") from None
    return parse_arc(text, path.stem, str(path))
