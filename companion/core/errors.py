"""Errors a user can act on. The CLI prints ``str(error)`` in one line; the TUI notifies."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class CompanionError(Exception):
    """Base class: the message says what went wrong and what to do."""


class UserInputError(CompanionError):
    """A value given by the user is out of range or malformed.

    ``field`` names the setting it came from (e.g. ``"target_bpm"``), so a form can point at
    the field; the message names the value in words any face can show."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


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


class PortAudioMissingError(AudioDeviceError):
    """The PortAudio library is not installed: no device can work until it is."""


class NoOutputDeviceError(AudioDeviceError):
    """PortAudio works, but there is no output device (or none of that name), or it is gone."""


@dataclass(frozen=True)
class PlanOption:
    """A nearby request the library can satisfy: one setting of the request changed (or two,
    when no single one is enough).

    field : the ``planner.plan`` keyword changed: ``start_bpm``, ``target_bpm``, ``minutes``
        or ``max_step_pct``.
    value : its new value (BPM, minutes or percent).
    label : the change in plain words, e.g. ``target 73 BPM``, ``steps up to 11 %``.
    flag : the same change on the command line, e.g. ``--target 73``.
    also : further settings changed with it, as (field, value) pairs (in label and flag too).
    """

    field: str
    value: float
    label: str
    flag: str
    also: tuple[tuple[str, float], ...] = ()

    @property
    def changes(self) -> dict[str, float]:
        """The keyword arguments to give ``planner.plan`` on top of the request."""
        return {self.field: self.value, **dict(self.also)}


class PlanError(CompanionError):
    """The library cannot satisfy the requested arc.

    ``str(error)`` is the command line's one-line message (it names flags, e.g. ``--target 73``
    and ``--nearest``). An app shows ``reason`` (plain words, no flags) and offers ``options``
    (nearby requests that were tried and have a plan, best first) instead.
    """

    def __init__(self, message: str, *, reason: str | None = None,
                 options: tuple[PlanOption, ...] = ()) -> None:
        super().__init__(message)
        self.reason = message if reason is None else reason
        self.options = tuple(options)
