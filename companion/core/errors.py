"""Errors a user can act on. The CLI prints ``str(error)`` in one line; the TUI notifies."""

from __future__ import annotations

from pathlib import Path


class CompanionError(Exception):
    """Base class: the message says what went wrong and what to do."""


class UserInputError(CompanionError):
    """A value given by the user is out of range or malformed."""


class ReadError(CompanionError):
    """A file could not be read or decoded."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class NotFoundError(CompanionError):
    """A named playlist, track, session or listener does not exist."""


class StoreError(CompanionError):
    """The database could not be read or written."""


class AudioDeviceError(CompanionError):
    """PortAudio is missing, there is no output device, or it went away."""


class PlanError(CompanionError):
    """The library cannot satisfy the requested arc."""
