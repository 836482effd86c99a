"""Progress from core callbacks to the screen: a coalescing message and a callback adapter."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class Progress(Message):
    """How far a background job has got. Newer ones replace older ones still in the queue.

    key : which job ("demo", "scan").
    fraction : 0–1, or None when the total is not known yet.
    text : what it is doing now, for a person.
    """

    key: str
    fraction: float | None
    text: str = ""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, Progress) and message.key == self.key


class JobCancelled(Exception):
    """Raised from a progress callback to stop a core job that has no ``cancel`` of its own."""


def progress_callback(
    key: str, post: Callable[[Message], Any], *, cancelled: Callable[[], bool] = lambda: False
) -> Callable[..., None]:
    """A ``progress=`` callback for core jobs that posts :class:`Progress` messages.

    The core's jobs call ``progress(done, total, what, ...)`` (demo: the file written; scan: the
    file analysed, then the error count). When ``cancelled()`` is true (the worker was cancelled:
    the app is quitting) it raises :class:`JobCancelled`, so the job ends at its next step
    instead of keeping the process alive.
    """

    def callback(done: int, total: int, what: str = "", *_: Any) -> None:
        if cancelled():
            raise JobCancelled(key)
        text = f"{done} of {total}" + (f" · {os.path.basename(what)}" if what else "")
        fraction = min(1.0, max(0.0, done / total)) if total > 0 else None
        post(Progress(key, fraction, text))

    return callback
