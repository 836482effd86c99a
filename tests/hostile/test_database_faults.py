"""A damaged, locked, read-only or full database: the right words for each, and only a damaged
one is ever called damaged (and then a copy of it is kept)."""

from __future__ import annotations

import sqlite3

import pytest

from companion.core.errors import StoreError
from companion.core.models import Rating
from companion.core.store import Store
from tests.hostile.conftest import call, one_line_error
from tests.records import record


def _with_a_session(path) -> None:
    with Store(path) as s:
        record(s, playlist="demo", before=[Rating("stress", "before", 6.0)])


def test_a_file_that_is_not_a_database_is_called_damaged_and_a_copy_is_kept(companion_home):
    companion_home.mkdir(parents=True, exist_ok=True)
    db = companion_home / "companion.db"
    db.write_bytes(b"my notes, not a database " * 200)
    p = call("history")
    line = one_line_error(p, str(db), "the database is damaged", "a copy is kept at", "move the file aside")
    one_line_error(call("history"), "the database is damaged")  # asked again: still one copy
    copies = list(companion_home.glob("companion.db.damaged-*"))
    assert len(copies) == 1 and copies[0].read_bytes() == db.read_bytes()
    assert copies[0].stat().st_mode & 0o777 == 0o600
    assert str(copies[0]) in line


def test_a_damaged_page_found_by_the_integrity_check_is_called_damaged(tmp_path):
    db = tmp_path / "c.db"
    _with_a_session(db)
    c = sqlite3.connect(db)
    c.execute("PRAGMA journal_mode=DELETE")  # out of WAL: the main file holds every page
    size = c.execute("PRAGMA page_size").fetchone()[0]
    root = c.execute("SELECT rootpage FROM sqlite_master WHERE name = 'sessions'").fetchone()[0]
    c.close()
    data = bytearray(db.read_bytes())
    at = (root - 1) * size
    data[at:at + size] = b"\xa5" * size  # scribble over the sessions table's page
    db.write_bytes(bytes(data))
    with pytest.raises(StoreError) as err:
        with Store(db) as s:
            s.sessions()
    assert "damaged" in str(err.value) and "a copy is kept" in str(err.value)


def test_a_locked_database_is_not_called_damaged(tmp_path):
    db = tmp_path / "c.db"
    _with_a_session(db)
    holder = sqlite3.connect(db)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError) as err:
            with Store(db, timeout_s=0.2) as s:
                s.sessions()
    finally:
        holder.rollback()
        holder.close()
    msg = str(err.value)
    assert "locked" in msg and "close it, or wait and try again" in msg
    assert "damaged" not in msg and "aside" not in msg
    assert not list(tmp_path.glob("c.db.damaged-*"))
    with Store(db) as s:  # nothing was lost
        assert len(s.sessions()) == 1


def test_a_read_only_database_says_so_and_keeps_the_history(tmp_path):
    db = tmp_path / "c.db"
    _with_a_session(db)
    with Store(db) as s:
        s._conn.execute("PRAGMA query_only=ON")  # what a read-only file gives SQLite: SQLITE_READONLY
        with pytest.raises(StoreError) as err:
            record(s, playlist="x", before=[Rating("stress", "before", 3.0)])
    msg = str(err.value)
    assert "read-only" in msg and "nothing was changed" in msg and "aside" not in msg
    with Store(db) as s:
        assert [x.playlist for x in s.sessions()] == ["demo"]


def test_a_full_disk_says_so_and_keeps_the_history(tmp_path):
    db = tmp_path / "c.db"
    _with_a_session(db)
    with Store(db) as s:
        pages = s._conn.execute("PRAGMA page_count").fetchone()[0]
        s._conn.execute(f"PRAGMA max_page_count={pages}")  # no room for one more page
        with pytest.raises(StoreError) as err:
            record(s, playlist="big", before=[Rating("stress", "before", 3.0)],
                   snapshot={"pad": "x" * 200_000})
    msg = str(err.value)
    assert "the disk is full" in msg and "aside" not in msg and "damaged" not in msg
    with Store(db) as s:
        assert [x.playlist for x in s.sessions()] == ["demo"]
