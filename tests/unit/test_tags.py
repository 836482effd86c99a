"""Tags as a user sees them in the track list: tagged, untagged, and files that cannot be read."""

from __future__ import annotations

from pathlib import Path

import pytest

from companion.core.errors import ReadError
from companion.core.tags import read_tags
from tests.unit.test_scan import write_corrupt, write_tone


def _tag_vorbis(path: Path, **tags: str) -> None:
    import mutagen

    f = mutagen.File(str(path))
    for key, value in tags.items():
        f[key] = value
    f.save()


@pytest.mark.parametrize("ext", ["flac", "ogg"])
def test_vorbis_comment_tags_are_read(tmp_path: Path, ext: str) -> None:
    song = write_tone(tmp_path / f"01 track.{ext}", seconds=2.0)
    _tag_vorbis(song, title="Evening Calm", artist="Ana Lee", album="Slow Hours", genre="Ambient")
    tags = read_tags(song)
    assert (tags.title, tags.artist, tags.album, tags.genre) == ("Evening Calm", "Ana Lee", "Slow Hours", "Ambient")
    assert tags.duration_s == pytest.approx(2.0, abs=0.05)


def test_mp3_id3_tags_are_read(tmp_path: Path) -> None:
    from mutagen.easyid3 import EasyID3

    song = write_tone(tmp_path / "song.mp3", seconds=2.0)
    tags = EasyID3()
    tags.update({"title": "Drift", "artist": ["One", "Two"], "genre": "New Age"})
    tags.save(str(song))
    got = read_tags(song)
    assert (got.title, got.artist, got.genre, got.album) == ("Drift", "One, Two", "New Age", "")
    assert got.duration_s == pytest.approx(2.0, abs=0.1)


def test_wav_with_id3_chunk_is_read(tmp_path: Path) -> None:
    from mutagen.id3 import TIT2, TPE1
    from mutagen.wave import WAVE

    song = write_tone(tmp_path / "take.wav", seconds=1.0)
    f = WAVE(str(song))
    f.add_tags()
    f.tags.add(TIT2(encoding=3, text="Low Tide"))
    f.tags.add(TPE1(encoding=3, text="Sea"))
    f.save()
    got = read_tags(song)
    assert (got.title, got.artist) == ("Low Tide", "Sea")


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3"])
def test_untagged_file_is_named_after_the_file(tmp_path: Path, ext: str) -> None:
    song = write_tone(tmp_path / f"Rain on glass.{ext}", seconds=1.5)
    tags = read_tags(song)
    assert tags.title == "Rain on glass"
    assert (tags.artist, tags.album, tags.genre) == ("", "", "")
    assert tags.duration_s == pytest.approx(1.5, abs=0.1)


def test_empty_tag_values_fall_back_to_the_file_name(tmp_path: Path) -> None:
    song = write_tone(tmp_path / "named.flac", seconds=1.0)
    _tag_vorbis(song, title="  ", artist="Someone")
    tags = read_tags(song)
    assert (tags.title, tags.artist) == ("named", "Someone")


def test_unreadable_file_raises_read_error_naming_it(tmp_path: Path) -> None:
    bad = write_corrupt(tmp_path / "broken.flac")
    with pytest.raises(ReadError) as info:
        read_tags(bad)
    assert info.value.path == str(bad)
