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

__all__ = ["Replacement", "write_file", "write_private"]

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
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogateescape")
    out = Replacement(target, private=private, own_files_ok=own_files_ok)
    try:
        out.file.write(raw)
    except OSError as exc:
        out.abort()
        raise _error(out.path, exc, "nothing was changed; choose another file or free some space") from None
    except BaseException:
        out.abort()
        raise
    return out.commit()


def write_private(target: str | Path, data: str | bytes) -> Path:
    """An owner-only file of companion's own (a session kept while the database is locked),
    written as :func:`write_file` writes, but failing with OSError like any file write: its
    caller keeps the data another way when the disk is full."""
    try:
        return write_file(target, data, private=True, own_files_ok=True)
    except UserInputError as exc:
        raise OSError(getattr(exc, "errno", None) or errno.EIO, str(exc)) from None


class Replacement:
    """A file being written that replaces ``target`` only when :meth:`commit` is called, for
    writers that stream (a rendered session: soundfile writes to ``file``). Until then the
    content lives in a temporary file beside the target; :meth:`abort` (or an error) removes it
    and leaves the target as it was. Same checks and arguments as :func:`write_file`.
    """

    def __init__(self, target: str | Path, *, private: bool = False, own_files_ok: bool = False) -> None:
        self.path = Path(os.path.abspath(os.path.expanduser(target)))
        _refuse_own_file(self.path, own_files_ok)
        try:
            self._folder = os.open(self.path.parent, _DIR_FLAGS)
        except OSError as exc:
            raise _error(self.path.parent, exc, "choose an existing folder you can write to") from None
        try:
            mode = _mode_for(self.path, self._folder, private)
            self._tmp = f".{self.path.name[:200]}.{secrets.token_hex(6)}.tmp"
            fd = os.open(self._tmp, _WRITE_FLAGS, mode, dir_fd=self._folder)
        except OSError as exc:
            os.close(self._folder)
            raise _error(self.path, exc, "choose a folder you can write to") from None
        except BaseException:
            os.close(self._folder)
            raise
        self.file = open(fd, "w+b", closefd=True)  # noqa: SIM115  (closed by commit/abort)
        if mode != 0o666:  # a new file's 0666 already went through the umask
            os.fchmod(fd, mode)

    def commit(self) -> Path:
        """Flush to disk and put the file in place of the target. Returns the target's path."""
        try:
            try:
                self.file.flush()
                os.fsync(self.file.fileno())
                self.file.close()
                os.rename(self._tmp, self.path.name, src_dir_fd=self._folder, dst_dir_fd=self._folder)
            except BaseException:
                self.abort()
                raise
        except OSError as exc:
            raise _error(self.path, exc, "nothing was changed; choose another file or free some space") from None
        os.close(self._folder)
        self._folder = -1
        return self.path

    def abort(self) -> None:
        """Drop what was written; the target stays as it was. Safe to call twice."""
        if self._folder < 0:
            return
        self.file.close()
        try:
            os.unlink(self._tmp, dir_fd=self._folder)
        except OSError:
            pass
        os.close(self._folder)
        self._folder = -1


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
    error = UserInputError(f"{path}: cannot write ({reason}); {advice}")
    error.errno = exc.errno  # type: ignore[attr-defined]  (for write_private's OSError)
    return error
