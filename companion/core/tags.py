"""Read title, artist, album, genre and duration from an audio file's tags (mutagen).

Missing tags are never an error: an untagged file gets its file name (without extension) as
title. Only a file that neither mutagen nor the decoder can open raises :class:`ReadError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from companion.core.models import Tags

__all__ = ["read_tags"]

# Easy-tag keys (Vorbis comments, EasyID3, EasyMP4) and the raw ID3 frames mutagen gives for
# WAV/AIFF files, which have no "easy" interface.
_KEYS = {
    "title": ("title", "TIT2"),
    "artist": ("artist", "TPE1", "albumartist", "TPE2"),
    "album": ("album", "TALB"),
    "genre": ("genre", "TCON"),
}


def read_tags(path: str | Path) -> Tags:
    """Tags of one file; duration in seconds from the container, else from the decoder.

    Raises ReadError only when the file cannot be opened at all.
    """
    path = Path(path)
    values: dict[str, str] = {}
    duration_s = 0.0
    try:
        import mutagen

        f = mutagen.File(str(path), easy=True)
    except Exception:  # MutagenError subclasses, OSError, struct errors ...: let the decoder judge
        f = None
    if f is not None:
        if f.tags is not None:
            values = {field: _first(f.tags, keys, joined=field in ("artist", "genre"))
                      for field, keys in _KEYS.items()}
        duration_s = float(getattr(f.info, "length", 0.0) or 0.0)
    if duration_s <= 0:
        duration_s = _decoder_duration(path)
    return Tags(
        title=values.get("title") or path.stem,
        artist=values.get("artist", ""),
        album=values.get("album", ""),
        genre=values.get("genre", ""),
        duration_s=round(duration_s, 3),
    )


def _first(tags: Any, keys: tuple[str, ...], *, joined: bool) -> str:
    for key in keys:
        try:
            raw = tags[key]
        except (KeyError, ValueError, TypeError):
            continue
        texts = getattr(raw, "text", raw)  # an ID3 frame keeps its values in .text
        if isinstance(texts, str):
            texts = [texts]
        items = [str(t).strip() for t in texts if str(t).strip()]
        if items:
            return ", ".join(dict.fromkeys(items)) if joined else items[0]
    return ""


def _decoder_duration(path: Path) -> float:
    from companion.core import audio_io

    return audio_io.info(path).duration_s  # raises ReadError for a file nothing can open
