"""Files written on request: never through a link, never over a FIFO, device, folder or
companion's own database; health data owner-only."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from companion.core import paths
from companion.core.errors import UserInputError
from companion.core.models import Rating
from companion.core.safefile import write_file
from tests.hostile.conftest import call, one_line_error
from tests.records import record


@pytest.fixture
def history(store):
    record(store, playlist="demo", before=[Rating("stress", "before", 6.0)], minutes=20)
    return store


def test_history_output_is_owner_only_and_never_follows_a_link_at_its_temporary_name(history, tmp_path):
    victim = tmp_path / "someone-elses.txt"
    victim.write_text("theirs")
    (tmp_path / "out.csv.tmp").symlink_to(victim)  # the old fixed temporary name
    p = call("history", "--format", "csv", "--output", str(tmp_path / "out.csv"))
    assert p.returncode == 0, p.stderr
    assert victim.read_text() == "theirs"
    out = tmp_path / "out.csv"
    assert "demo" in out.read_text() and stat.S_IMODE(out.stat().st_mode) == 0o600
    assert not out.is_symlink()
    assert [f.name for f in tmp_path.iterdir() if f.name.startswith(".")] == []  # no temp left


def test_a_link_at_the_target_is_refused(history, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("theirs")
    (tmp_path / "out.csv").symlink_to(victim)
    one_line_error(call("history", "--format", "csv", "--output", str(tmp_path / "out.csv")),
                   "is a symbolic link")
    assert victim.read_text() == "theirs"


def test_a_fifo_a_device_and_a_folder_are_refused_without_blocking(history, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    done: list[object] = []
    t = threading.Thread(target=lambda: done.append(call("history", "--format", "csv", "--output", str(fifo))))
    t.start()
    t.join(10)
    assert done, "writing to a FIFO blocked"
    one_line_error(done[0], "is a FIFO")  # type: ignore[arg-type]
    one_line_error(call("history", "--format", "csv", "--output", "/dev/null"), "is a device")
    one_line_error(call("history", "--format", "csv", "--output", str(tmp_path)), "is a folder")


def test_companion_s_own_database_is_refused_by_any_name(history, tmp_path):
    db = paths.db_path()
    before = db.read_bytes()
    for target in (db, f"{db}-wal", tmp_path / "hard-link"):
        if target == tmp_path / "hard-link":
            os.link(db, target)
        p = call("history", "--format", "json", "--output", str(target))
        one_line_error(p, "companion's own database")
    assert db.read_bytes() == before
    assert len(history.sessions()) == 1


def test_an_export_into_the_playlists_folder_is_refused(tmp_path):
    with pytest.raises(UserInputError, match="playlists folder"):
        write_file(paths.playlists_dir() / "x.m3u8", "#EXTM3U\n")
    write_file(paths.playlists_dir() / "x.m3u8", "#EXTM3U\n", own_files_ok=True)


def test_a_replaced_file_keeps_its_mode_unless_private(tmp_path):
    f = tmp_path / "list.m3u8"
    f.write_text("old")
    f.chmod(0o644)
    write_file(f, "new")
    assert f.read_text() == "new" and stat.S_IMODE(f.stat().st_mode) == 0o644
    write_file(f, "health", private=True)
    assert stat.S_IMODE(f.stat().st_mode) == 0o600


def test_a_missing_folder_is_one_line(tmp_path):
    with pytest.raises(UserInputError, match="cannot write"):
        write_file(tmp_path / "no" / "such" / "f.csv", "x")


def test_a_streamed_file_replaces_the_target_only_when_committed(tmp_path):
    import numpy as np
    import soundfile as sf

    from companion.core.safefile import Replacement

    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "session.wav"
    target.write_bytes(b"the earlier render")
    out = Replacement(target)
    with sf.SoundFile(out.file, "w", samplerate=8000, channels=1, format="WAV", subtype="FLOAT") as f:
        f.write(np.zeros(800, dtype=np.float32))
    assert target.read_bytes() == b"the earlier render"  # not yet
    out.commit()
    assert sf.info(str(target)).frames == 800
    broken = Replacement(target)
    broken.file.write(b"half")
    broken.abort()  # a render that failed part-way leaves the last good file
    assert sf.info(str(target)).frames == 800
    assert sorted(p.name for p in target.parent.iterdir()) == ["session.wav"]


def _tone_file(path):
    import numpy as np
    import soundfile as sf

    t = np.arange(8000) / 8000
    sf.write(str(path), (0.2 * np.sin(2 * np.pi * 220 * t)).astype("float32"), 8000)
    return str(path)


@pytest.mark.parametrize("kind", ["fifo", "link", "database"])
def test_a_render_never_writes_through_a_link_a_fifo_or_over_the_database(kind, tmp_path):
    from companion.core.models import Playlist, PlaylistEntry
    from companion.core.player import FileOutput, Player
    from companion.core.store import Store

    pl = Playlist("p", (PlaylistEntry(path=_tone_file(tmp_path / "a.wav"), title="a"),))
    victim = tmp_path / "victim.wav"
    victim.write_bytes(b"theirs")
    if kind == "fifo":
        target = tmp_path / "out.wav"
        os.mkfifo(target)
    elif kind == "link":
        target = tmp_path / "out.wav"
        target.symlink_to(victim)
    else:
        Store().close()
        target = paths.db_path().with_suffix(".wav")
        os.link(paths.db_path(), target)
    result: list[object] = []

    def render() -> None:
        try:
            with Player(pl, output=FileOutput(target), fade_in_s=0.0) as p:
                p.start()
                p.wait(10)
            result.append("rendered")
        except UserInputError as exc:
            result.append(exc)

    t = threading.Thread(target=render, daemon=True)
    t.start()
    t.join(15)
    assert result and isinstance(result[0], UserInputError), result
    assert "\n" not in str(result[0]) and str(target) in str(result[0])
    assert victim.read_bytes() == b"theirs"


def test_a_render_replaces_an_earlier_file(tmp_path):
    import soundfile as sf

    from companion.core.models import Playlist, PlaylistEntry
    from companion.core.player import FileOutput, Player

    pl = Playlist("p", (PlaylistEntry(path=_tone_file(tmp_path / "a.wav"), title="a"),))
    for suffix in (".wav", ".flac"):
        out = tmp_path / f"session{suffix}"
        out.write_bytes(b"an earlier render")
        with Player(pl, output=FileOutput(out), fade_in_s=0.0) as p:
            p.start()
            assert p.wait(20)
        assert sf.info(str(out)).frames > 0
