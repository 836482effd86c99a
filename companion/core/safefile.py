"""Writing a file a person asked for (an export, a playlist) without harming anything else.

Every file companion writes on request goes through :func:`write_file`:

- the content goes to a temporary file created exclusively (``O_EXCL | O_NOFOLLOW``) in the
  target's own folder, then is renamed over the target: a reader sees the old file or the new
  one, never half of it, and a link planted at the temporary name is never followed;
- the target itself is never followed either: a symbolic link, a FIFO, a device or a folder at
  the target is refused, only a regular file is replaced (a FIFO would block the writer, and a
  link may point at another person's file);
- companion's own files (its database and journal, and its playlists folder unless the caller
  means to write there) are refused as targets: an export must not destroy the history it came
  from;
- health data (``private=True``) is written readable by its owner only, whatever the umask.

The folder is opened once and every step works relative to that handle, so swapping the folder
for a link half-way changes nothing.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path

from companion.core.errors import UserInputError

__all__ = ["write_file"]

_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))


def write_file(target: str | Path, data: str | bytes, *, private: bool = False, own_files_ok: bool = False) -> Path:
    """Write ``data`` to ``target`` safely (see the module docstring). Returns the path written.

    data : text is written as UTF-8; a file name's undecodable bytes (surrogate escapes) are
        written back as the bytes they were, so a playlist keeps a path the library holds.
    private : owner-only (0600), for health data; otherwise a replaced file keeps its mode and a
        new one gets the umask's.
    own_files_ok : the caller writes into companion's playlists folder on purpose (``save``).

    Raises UserInputError naming the file and what to do.
    """
    path = Path(os.path.abspath(Path(target).expanduser()))
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogateescape")
    _refuse_own_file(path, own_files_ok)
    try:
        folder = os.open(path.parent, _DIR_FLAGS)
    except OSError as exc:
        raise _error(path.parent, exc, "choose an existing folder you can write to") from None
    try:
        mode = _mode_for(path, folder, private)
        _replace(path, folder, raw, mode)
    finally:
        os.close(folder)
    return path


def _mode_for(path: Path, folder: int, private: bool) -> int:
    """The new file's mode after checking what is at the target now (refusing all but a file)."""
    try:
        st = os.lstat(path.name, dir_fd=folder)
    except FileNotFoundError:
        return 0o600 if private else 0o666  # the umask applies to 0666
    except OSError as exc:
        raise _error(path, exc, "choose another file") from None
    for check, kind in _KINDS:
        if check(st.st_mode):
            raise UserInputError(
                f"{path}: is {kind}; companion replaces only regular files: give a file name"
            )
    _refuse_same_file(path, st)
    return 0o600 if private else stat.S_IMODE(st.st_mode)


def _replace(path: Path, folder: int, raw: bytes, mode: int) -> None:
    tmp = f".{path.name[:200]}.{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(tmp, _WRITE_FLAGS, mode, dir_fd=folder)
    except OSError as exc:
        raise _error(path, exc, "choose a folder you can write to") from None
    try:
        try:
            with open(fd, "wb", closefd=True) as fh:
                if mode != 0o666:  # a new file's 0666 already went through the umask
                    os.fchmod(fh.fileno(), mode)
                fh.write(raw)
                fh.flush()
                os.fsync(fh.fileno())
            os.rename(tmp, path.name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=folder)
            except OSError:
                pass
            raise
    except OSError as exc:
        raise _error(path, exc, "nothing was changed; choose another file or free some space") from None


def _own_files() -> list[Path]:
    from companion.core import paths

    db = paths.db_path()
    return [db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}-journal")]


def _refuse_own_file(path: Path, own_files_ok: bool) -> None:
    """Refuse companion's database (and journal) by name; its playlists folder unless meant."""
    from companion.core import paths

    real = Path(os.path.realpath(path.parent)) / path.name
    for own in _own_files():
        if real == Path(os.path.realpath(own.parent)) / own.name:
            raise UserInputError(f"{path}: is companion's own database; choose another file")
    if not own_files_ok and Path(os.path.realpath(paths.playlists_dir())) == real.parent:
        raise UserInputError(
            f"{path}: is in companion's playlists folder; use `companion playlist` verbs to change "
            "playlists, or choose another folder"
        )


def _refuse_same_file(path: Path, st: os.stat_result) -> None:
    """The same file under another name (a hard link) is refused too."""
    for own in _own_files():
        try:
            o = os.stat(own)
        except OSError:
            continue
        if (o.st_dev, o.st_ino) == (st.st_dev, st.st_ino):
            raise UserInputError(f"{path}: is companion's own database (another name for it); "
                                 "choose another file")


def _error(path: Path, exc: OSError, advice: str) -> UserInputError:
    reasons = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
               errno.EROFS: "the disk is read-only", errno.ELOOP: "a symbolic link is in the way",
               errno.ENOTDIR: "a part of the path is not a folder"}
    reason = reasons.get(exc.errno or 0, exc.strerror or str(exc))
    return UserInputError(f"{path}: cannot write ({reason}); {advice}")
