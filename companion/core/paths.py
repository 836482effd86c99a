"""Where companion keeps its state: everything lives under ``COMPANION_HOME``."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "companion"


def home() -> Path:
    """The state folder: ``$COMPANION_HOME`` or the platform's user data dir. Created 0700."""
    env = os.environ.get("COMPANION_HOME")
    if env:
        path = Path(env).expanduser()
    else:
        from platformdirs import user_data_dir

        path = Path(user_data_dir(APP_NAME, appauthor=False))
    if not path.exists():
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o700)
    return path


def db_path() -> Path:
    return home() / "companion.db"


def playlists_dir() -> Path:
    return _sub("playlists")


def demo_library_dir() -> Path:
    return _sub("demo-library")


def presets_dir() -> Path:
    """User arc presets (``*.arc``) added beside the bundled ones."""
    return _sub("presets")


def _sub(name: str) -> Path:
    path = home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path
