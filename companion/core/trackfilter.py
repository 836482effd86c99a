"""Find tracks by what a person types: words, ``bpm:60-80``, ``unsure``, ``error``, ``manual``.

Every word must match (title, artist, album, genre or path, any case); ``bpm:A-B`` keeps tempi
from A to B BPM (``bpm:72`` keeps 70–74, ``bpm:-70`` and ``bpm:100-`` are open-ended);
``unsure`` keeps tempi the analysis is unsure of (worth a listen), ``error`` unreadable files,
``manual`` tempi set by hand. Pure functions over Tracks: the app filters as you type with them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from companion.core.errors import UserInputError
from companion.core.models import STATUS_ERROR, Track

__all__ = ["TrackQuery", "parse_query", "filter_tracks"]

_BPM = re.compile(r"^bpm:(\d+(?:\.\d+)?)?(-)?(\d+(?:\.\d+)?)?$")
_FLAGS = ("unsure", "error", "manual")
BPM_AROUND = 2.0  # ``bpm:72`` keeps 72 ± 2


@dataclass(frozen=True)
class TrackQuery:
    words: tuple[str, ...] = ()
    bpm_low: float | None = None
    bpm_high: float | None = None
    flags: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not (self.words or self.flags) and self.bpm_low is None and self.bpm_high is None

    def matches(self, t: Track, unsure_below: float) -> bool:
        if self.bpm_low is not None or self.bpm_high is not None:
            if t.bpm is None:
                return False
            if self.bpm_low is not None and t.bpm < self.bpm_low:
                return False
            if self.bpm_high is not None and t.bpm > self.bpm_high:
                return False
        if "error" in self.flags and t.status != STATUS_ERROR:
            return False
        if "manual" in self.flags and not t.is_manual:
            return False
        if "unsure" in self.flags and (t.status == STATUS_ERROR or t.is_manual or t.bpm_confidence is None
                                       or t.bpm_confidence >= unsure_below):
            return False
        if self.words:
            hay = " ".join((t.title, t.artist, t.album, t.genre, t.path)).casefold()
            return all(w in hay for w in self.words)
        return True


def parse_query(text: str) -> TrackQuery:
    """The query in ``text``; UserInputError for a ``bpm:`` term that is not a range."""
    words, flags = [], set()
    low = high = None
    for term in text.split():
        lower = term.casefold()
        if lower.startswith("bpm:"):
            m = _BPM.match(lower)
            if not m or not (m.group(1) or m.group(3)):
                raise UserInputError(f"{term!r}: write a tempo range as bpm:60-80, bpm:72, bpm:-70 or bpm:100-")
            a, dash, b = m.groups()
            if dash:
                low, high = (float(a) if a else None), (float(b) if b else None)
            else:
                value = float(a or b)
                low, high = value - BPM_AROUND, value + BPM_AROUND
            if low is not None and high is not None and low > high:
                low, high = high, low
        elif lower in _FLAGS:
            flags.add(lower)
        else:
            words.append(lower)
    return TrackQuery(tuple(words), low, high, frozenset(flags))


def filter_tracks(tracks: Iterable[Track], query: TrackQuery, *, unsure_below: float | None = None) -> list[Track]:
    """The tracks ``query`` keeps, in their order."""
    if query.empty:
        return list(tracks)
    if unsure_below is None:
        from companion.core.tempo import UNSURE_CONFIDENCE as unsure_below
    return [t for t in tracks if query.matches(t, unsure_below)]
