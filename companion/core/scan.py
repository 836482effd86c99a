"""Scan folders into the library: discover audio files, skip unchanged ones, analyse the rest in
parallel worker processes, save results in batches as they arrive, forget files deleted from disk.

One bad file never stops a scan: it gets an error row and the scan goes on, even when decoding
it crashes a worker process. Progress goes to a callback (safe to call from a TUI worker thread);
``cancel`` is polled between files.
"""

from __future__ import annotations

import os
import stat
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from companion.core import audio_io
from companion.core.errors import UserInputError
from companion.core.models import AnalysisResult
from companion.core.untrusted import for_terminal

if TYPE_CHECKING:
    from concurrent.futures import Future
    from multiprocessing.context import BaseContext

    from companion.core.store import Store

__all__ = ["ScanSummary", "ProgressCallback", "scan", "discover", "default_jobs"]

# progress(done, total, current path, errors so far): total counts the files to analyse.
ProgressCallback = Callable[[int, int, str, int], None]

_BATCH_FILES = 25  # save at least this often ...
_BATCH_SECONDS = 2.0  # ... or after this long, whichever comes first: a crash loses little
_POLL_S = 0.2  # how often a parallel scan looks at ``cancel``
# What every worker needs; the forkserver imports it once (names that fail to import are skipped).
_WORKER_PRELOAD = (
    "companion.core.analysis", "companion.core.loudness", "companion.core.tags",
    "companion.core.tempo", "numpy", "scipy.fft", "scipy.ndimage", "soxr",
    "soundfile", "mutagen",
)
_CRASH_REASON = "decoding this file crashed the analysis process; the file may be damaged"


@dataclass(frozen=True)
class ScanSummary:
    """What a scan did.

    found : audio files under the scanned paths.
    analysed : files analysed successfully in this scan.
    skipped_unchanged : files whose path, size and mtime match the library (no audio work).
    errors : files that could not be analysed in this scan (listed in ``failures``).
    removed : library entries whose files were deleted from disk under the scanned folders
        (files whose folder is gone or empty are marked missing instead, see ``notes``).
    seconds : wall-clock time of the scan.
    audio_s : seconds of audio analysed, so ``audio_s / seconds`` is the speed (× real time).
    """

    found: int = 0
    analysed: int = 0
    skipped_unchanged: int = 0
    errors: int = 0
    removed: int = 0
    seconds: float = 0.0
    audio_s: float = 0.0
    failures: tuple[tuple[str, str], ...] = ()  # (path, one-line reason)
    cancelled: bool = False
    notes: tuple[str, ...] = ()  # things the user should know, one line each

    @property
    def speed_x(self) -> float | None:
        """Seconds of audio analysed per second of scanning (None when nothing was analysed)."""
        return self.audio_s / self.seconds if self.audio_s and self.seconds > 0 else None


def default_jobs() -> int:
    """The number of cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def discover(paths: Iterable[str | Path]) -> tuple[list[Path], list[str]]:
    """(resolved folders given, resolved audio files found) for files and folders, recursively.

    Hidden files and folders (name starting with ".") are left out. Raises UserInputError for
    a path that does not exist or a file that is not audio.
    """
    folders: list[Path] = []
    files: dict[str, None] = {}
    for raw in paths:
        if not str(raw).strip():
            # `companion scan "$MUSIC"` with the variable unset: Path("") is the current folder
            raise UserInputError("an empty path was given (an unset shell variable?); "
                                 "name the folder to scan, e.g. `companion scan ~/Music`")
        if "\0" in str(raw):
            raise UserInputError(f"{for_terminal(raw)}: a path cannot hold a NUL byte; check the path")
        p = Path(os.path.expanduser(raw))  # Path.expanduser raises for ~unknown-user
        if not p.exists():
            raise UserInputError(f"{for_terminal(raw)}: no such file or folder; check the path")
        p = p.resolve()
        if p.is_dir():
            folders.append(p)
            for top, dirs, names in os.walk(p):  # does not follow folder links: no cycles
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    if name.startswith(".") or not audio_io.is_audio_file(Path(name)):
                        continue
                    f = os.path.join(top, name)  # under a resolved folder: only file links remain
                    files[os.path.realpath(f) if os.path.islink(f) else f] = None
        elif audio_io.is_audio_file(p):
            files[str(p)] = None
        else:
            kinds = ", ".join(sorted(e.lstrip(".").upper() for e in audio_io.AUDIO_EXTENSIONS))
            raise UserInputError(f"{for_terminal(raw)}: not an audio file companion reads ({kinds})")
    return folders, list(files)


def scan(
    paths: Iterable[str | Path],
    store: Store,
    *,
    jobs: int | None = None,
    progress: ProgressCallback | None = None,
    cancel: Callable[[], bool] | None = None,
    force: bool = False,
    in_process: bool | None = None,
) -> ScanSummary:
    """Bring the library up to date with the files under ``paths``.

    store : a companion.core.store.Store.
    jobs : worker processes (default: the number of cores).
    progress : called as progress(done, total, path, errors) before the first file and after
        each analysed file, from the calling thread.
    cancel : polled between files; return True to stop early (results so far are kept).
    force : analyse every file again, even unchanged ones.
    in_process : analyse in this process instead of worker processes; default: when jobs == 1.
        Faster to start, but a file that crashes the decoder would take the process with it.

    Raises UserInputError for a path that does not exist (before any work is done).
    """
    started = time.monotonic()
    jobs = default_jobs() if jobs is None else jobs
    if jobs < 1:
        raise UserInputError(f"--jobs must be 1 or more, got {jobs}")
    folders, candidates = discover(paths)
    known: dict[str, tuple[int, float]] = store.known_files()
    removed, notes = _forget_deleted(store, folders, known)
    back = store.missing_files()

    todo: list[str] = []
    found = skipped = 0
    run = _Run(store, progress)
    for path in candidates:
        try:
            st = os.stat(path)
        except OSError:
            continue  # vanished since the walk, or a broken link
        if not stat.S_ISREG(st.st_mode):
            continue  # a pipe or device named like audio: reading it could block forever
        found += 1
        if not force and known.get(path) == (st.st_size, st.st_mtime):
            skipped += 1
            if path in back:
                store.mark_found([path])
        elif Path(path).suffix.lower() in audio_io.FFMPEG_EXTENSIONS and not audio_io.has_ffmpeg():
            run.early.append(AnalysisResult(
                path=path, size=st.st_size, mtime=st.st_mtime,
                error="M4A/AAC needs ffmpeg; install it (Debian: apt-get install ffmpeg) and scan again",
            ))
        else:
            todo.append(path)

    run.total = len(todo) + len(run.early)
    try:
        run.report("")
        for result in run.early:
            run.add(result)
        if todo:
            if in_process if in_process is not None else jobs == 1:
                run.analyse_here(todo, cancel)
            else:
                run.analyse_in_workers(todo, min(jobs, len(todo)), cancel)
    finally:
        run.flush()
    return ScanSummary(
        found=found, analysed=run.analysed, skipped_unchanged=skipped, errors=len(run.failures),
        removed=removed, seconds=round(time.monotonic() - started, 3), audio_s=round(run.audio_s, 3),
        failures=tuple(run.failures), cancelled=run.cancelled, notes=tuple(notes),
    )


def _forget_deleted(
    store: Store, folders: list[Path], known: dict[str, tuple[int, float]]
) -> tuple[int, list[str]]:
    """Forget library entries under ``folders`` whose files were deleted; keep the rest.

    Missing is not deleted. A file counts as deleted only when its own folder is still there
    with something in it. When the folder is gone, empty or unreadable, it most likely lived on
    a drive that is not mounted now (mounted at the scanned folder or anywhere below it): its
    tracks, and their hand-set tempos, are kept and marked missing (not planned) until a scan
    finds them again.
    """
    gone: list[str] = []
    missing: list[str] = []
    for folder in folders:
        prefix = f"{folder}{os.sep}"
        for p in known:
            if p.startswith(prefix) and not os.path.lexists(p):
                (missing if _folder_unavailable(os.path.dirname(p)) else gone).append(p)
    notes = []
    if missing:
        marked = store.mark_missing(missing)
        where = _common_folder(missing)
        if marked:
            notes.append(f"{for_terminal(where)}: {marked} track{'s' if marked != 1 else ''} not found "
                         "(a drive not mounted?); kept as missing, they come back when it is: "
                         "scan again then")
    return (store.remove_tracks(gone) if gone else 0), notes


def _folder_unavailable(folder: str) -> bool:
    """True for a folder that is gone, empty or unreadable (an unplugged drive's mount point)."""
    try:
        with os.scandir(folder) as it:
            return next(it, None) is None
    except OSError:
        return True


def _common_folder(files: list[str]) -> str:
    try:
        return os.path.commonpath([os.path.dirname(f) for f in files])
    except ValueError:
        return os.path.dirname(files[0])


class _Run:
    """The bookkeeping of one scan: batching saves, counting, reporting progress."""

    def __init__(self, store: Store, progress: ProgressCallback | None) -> None:
        self.store = store
        self.progress = progress
        self.early: list[AnalysisResult] = []  # errors known without audio work
        self.batch: list[AnalysisResult] = []
        self.last_save = time.monotonic()
        self.total = 0
        self.done = 0
        self.analysed = 0
        self.audio_s = 0.0
        self.failures: list[tuple[str, str]] = []
        self.cancelled = False

    def add(self, result: AnalysisResult) -> None:
        self.done += 1
        if result.error:
            self.failures.append((result.path, result.error))
        else:
            self.analysed += 1
            self.audio_s += result.tags.duration_s if result.tags else 0.0
        self.batch.append(result)
        if len(self.batch) >= _BATCH_FILES or time.monotonic() - self.last_save >= _BATCH_SECONDS:
            self.flush()
        self.report(result.path)

    def report(self, path: str) -> None:
        if self.progress is not None:
            self.progress(self.done, self.total, path, len(self.failures))

    def flush(self) -> None:
        if self.batch:
            self.store.save_analysis(self.batch)
            self.batch = []
        self.last_save = time.monotonic()

    def stop_requested(self, cancel: Callable[[], bool] | None) -> bool:
        if cancel is not None and cancel():
            self.cancelled = True
        return self.cancelled

    def analyse_here(self, todo: list[str], cancel: Callable[[], bool] | None) -> None:
        from companion.core.analysis import analyse_file, prepare_worker

        prepare_worker()
        for path in todo:
            if self.stop_requested(cancel):
                return
            self.add(analyse_file(path))

    def analyse_in_workers(self, todo: list[str], workers: int, cancel: Callable[[], bool] | None) -> None:
        """Analyse in a pool of processes. When a worker dies (a decoder crash), the files that
        were in flight are retried one at a time, alone, so only the guilty file gets the error."""
        queue = deque(todo)
        suspects: deque[str] = deque()
        try:
            while (queue or suspects) and not self.stop_requested(cancel):
                if suspects:
                    self._pool_pass(suspects, 1, cancel, alone=True)
                else:
                    suspects.extend(self._pool_pass(queue, workers, cancel, alone=False))
        except _NoWorkers:
            # Worker processes cannot start here (e.g. a host program without a __main__
            # guard): analysing in this process is slower but still right.
            self.analyse_here([*suspects, *queue], cancel)

    def _pool_pass(
        self, queue: deque[str], workers: int, cancel: Callable[[], bool] | None, *, alone: bool
    ) -> list[str]:
        """Run one pool over ``queue`` until it is empty, the scan is cancelled or a worker dies.

        Returns the files in flight when a worker died. With ``alone``, files run one at a time
        and a file that kills its worker is recorded as an error at once.
        """
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        pool = ProcessPoolExecutor(max_workers=workers, mp_context=_worker_context(), initializer=_init_worker)
        in_flight = 1 if alone else 2 * workers  # a little queued work keeps every worker busy
        running: dict[Future[AnalysisResult], str] = {}
        crashed: list[str] = []
        try:
            if alone:  # first make sure a worker can start at all: then a crash is the file's
                try:
                    pool.submit(_ping).result()
                except BrokenProcessPool as exc:
                    raise _NoWorkers from exc
            while not crashed and not self.stop_requested(cancel):
                try:
                    while queue and len(running) < in_flight:
                        fut = pool.submit(_analyse_in_worker, queue[0])
                        running[fut] = queue.popleft()
                except BrokenProcessPool:  # a worker died since the last look
                    pass  # the file not submitted stays first in the queue; wait() sees the rest
                if not running:
                    break
                finished, _ = wait(running, timeout=_POLL_S, return_when=FIRST_COMPLETED)
                for fut in finished:
                    self._collect(fut, running.pop(fut), queue, crashed)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        for fut, path in running.items():  # all done now: keep what finished, suspect the rest
            self._collect(fut, path, queue, crashed)
        if alone:
            for path in crashed:
                self.add(_crash_result(path))
            return []
        return crashed

    def _collect(self, fut: Future[AnalysisResult], path: str, queue: deque[str], crashed: list[str]) -> None:
        from concurrent.futures.process import BrokenProcessPool

        if fut.cancelled():
            queue.appendleft(path)  # never started
            return
        try:
            result = fut.result()
        except BrokenProcessPool:
            crashed.append(path)
            return
        self.add(result)


def _worker_context() -> BaseContext:
    """Where worker processes come from. Never plain fork: the caller may be a TUI with threads.

    A forkserver (where the platform has one) imports the analysis modules once; every worker,
    in this scan and the next, is forked from it ready to work instead of importing them again.
    Its workers see the environment of the moment the server started, which analysis ignores.
    """
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(_WORKER_PRELOAD))
    return ctx


class _NoWorkers(Exception):
    """A worker process died before it could analyse anything."""


def _crash_result(path: str) -> AnalysisResult:
    try:
        st = os.stat(path)
        size, mtime = st.st_size, st.st_mtime
    except OSError:
        size, mtime = 0, 0.0
    return AnalysisResult(path=path, size=size, mtime=mtime, error=_CRASH_REASON)


# -- in the worker processes --------------------------------------------------------------------

_worker_problem = ""


# How much lower than the session's priority analysis workers run (see _init_worker).
WORKER_NICENESS = 10


def _init_worker() -> None:
    """Once per worker process: keep it off the terminal, yield the CPU to playback, let the
    tempo estimator warm up."""
    global _worker_problem
    try:
        # A scan is throughput, playback is a deadline: with both cores analysing, the player's
        # feeder (same priority) could be late for the sound card. On an idle machine this
        # costs the scan nothing.
        os.nice(WORKER_NICENESS)
    except OSError:
        pass
    try:
        # libmpg123 & co. chatter on fd 2 (errors are recorded per file instead), and nothing a
        # worker prints may land in a TUI's screen on fd 1.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.close(devnull)
    except OSError:
        pass
    try:
        from companion.core.analysis import prepare_worker

        prepare_worker()
    except Exception as exc:  # reported with every file instead of breaking the pool
        _worker_problem = f"analysis is unavailable ({type(exc).__name__}: {exc})"


def _ping() -> bool:
    return True


def _analyse_in_worker(path: str) -> AnalysisResult:
    from companion.core.analysis import analyse_file

    if _worker_problem:
        return AnalysisResult(path=path, size=0, mtime=0.0, error=_worker_problem)
    return analyse_file(path)
