"""The library's folders: which folders of music it holds, adding and removing one, and which
tracks a plan may draw on.

A folder is added by scanning it (``add``); ``remove`` takes it and its tracks out of the
library (the files stay on disk; hand-set tempos are kept and come back if it is added again).
The demo library (``companion demo``) is a folder of its own, of kind ``demo``: once a person
has music of their own, plans no longer draw on it unless asked (``planning_tracks``), and it
can be removed like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from companion.core import paths
from companion.core.errors import NotFoundError, UserInputError
from companion.core.models import STATUS_OK, Track

if TYPE_CHECKING:
    from companion.core.scan import ProgressCallback, ScanSummary
    from companion.core.store import Store

__all__ = ["DEMO", "MUSIC", "Folder", "add", "demo_folders", "folders", "planning_tracks", "remove"]

MUSIC, DEMO = "music", "demo"


@dataclass(frozen=True)
class Folder:
    """A library folder: its resolved path, ``kind`` (music or demo) and how many tracks of
    the library lie under it. ``path`` is "" for the tracks under no folder (scanned before
    folders were kept, or scanned as single files)."""

    path: str
    kind: str
    tracks: int


def folders(store: Store) -> list[Folder]:
    """The library's folders by path, and a last row for tracks under none of them."""
    rows = [Folder(p, kind, n) for p, kind, n in store.folders()]
    demo_dir = str(paths.demo_library_dir().resolve())
    outside = store.track_count() - sum(f.tracks for f in _outermost(rows))
    if not any(f.path == demo_dir for f in rows):  # a demo made before folders were kept
        n = len(store.tracks(under=demo_dir))
        if n:
            rows.append(Folder(demo_dir, DEMO, n))
            outside -= n
    if outside > 0:
        rows.append(Folder("", MUSIC, outside))
    return rows


def add(store: Store, path: str | Path, *, kind: str = MUSIC, jobs: int | None = None,
        progress: ProgressCallback | None = None, cancel: Callable[[], bool] | None = None,
        force: bool = False) -> ScanSummary:
    """Add the folder ``path`` to the library and scan it (a file is scanned, not kept as a
    folder). Raises UserInputError for a path that does not exist."""
    from companion.core.scan import scan

    p = Path(path).expanduser()
    if not p.exists():
        raise UserInputError(f"{path}: no such folder; check the path")
    summary = scan([p], store, jobs=jobs, progress=progress, cancel=cancel, force=force)
    if p.is_dir():
        store.add_folder(p.resolve(), kind)
    return summary


def remove(store: Store, path: str | Path) -> tuple[int, int]:
    """Take folder ``path`` (or ``demo``, the demo library) and its tracks out of the library.
    The files stay on disk. Returns (tracks removed, hand-set tempos kept for a later return)."""
    folder = paths.demo_library_dir() if str(path) == DEMO else Path(path).expanduser()
    resolved = str(folder.resolve())
    known = {f.path for f in folders(store)}
    if resolved not in known and not store.tracks(under=resolved):
        raise NotFoundError(f"{path}: not a folder of the library; `companion library` lists them")
    return store.remove_folder(resolved)


def demo_folders(store: Store) -> list[str]:
    """The demo library's folders (resolved paths), kept or where a demo is made."""
    found = {p for p, kind, _ in store.folders() if kind == DEMO}
    found.add(str(paths.demo_library_dir().resolve()))
    return sorted(found)


def planning_tracks(store: Store, *, include_demo: bool = False,
                    filters: Mapping[str, Any] | None = None) -> list[Track]:
    """The analysed tracks a plan may draw on: the demo library's only while there is no music
    of the person's own (or when ``include_demo``, or a folder filter points into it)."""
    tracks = store.tracks(status=STATUS_OK, fingerprints=True)
    demo = [d.rstrip("/") + "/" for d in demo_folders(store)]
    wanted = [str(Path(f).expanduser().resolve()) + "/" for f in _folder_filter(filters)]
    if include_demo or any(w.startswith(d) for w in wanted for d in demo):
        return tracks
    own = [t for t in tracks if not any(t.path.startswith(d) for d in demo)]
    return own if any(t.bpm for t in own) else tracks


def _folder_filter(filters: Mapping[str, Any] | None) -> Sequence[str]:
    raw = (filters or {}).get("folder") or []
    return [raw] if isinstance(raw, str) else list(raw)


def _outermost(rows: list[Folder]) -> list[Folder]:
    """Folders not inside another listed folder (so no track is counted twice)."""
    return [f for f in rows if not any(o.path != f.path and f.path.startswith(o.path.rstrip("/") + "/")
                                       for o in rows)]
