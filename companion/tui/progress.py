"""Progress from core callbacks to the screen: a coalescing message and a callback adapter."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Real
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

    Accepts ``(done, total[, text, ...])``, ``(fraction[, text])`` or an object with
    ``done``/``total`` (and ``message``/``path``) attributes. When ``cancelled()`` is true (the
    worker was cancelled, e.g. the app is quitting) it raises :class:`JobCancelled`, so the job
    ends at its next step instead of keeping the process alive.
    """

    def callback(*args: Any, **kwargs: Any) -> None:
        if cancelled():
            raise JobCancelled(key)
        values = list(args) + list(kwargs.values())
        if len(values) == 1 and not isinstance(values[0], (Real, str)):
            obj = values[0]
            values = [getattr(obj, "done", None), getattr(obj, "total", None),
                      getattr(obj, "message", "") or getattr(obj, "path", "")]
        numbers = [float(v) for v in values if isinstance(v, Real) and not isinstance(v, bool)]
        text = " ".join(os.path.basename(v) for v in values if isinstance(v, str) and v)
        fraction: float | None = None
        if len(numbers) >= 2 and numbers[1] > 0:
            fraction = numbers[0] / numbers[1]
            count = f"{numbers[0]:.0f} of {numbers[1]:.0f}"
            text = f"{count} · {text}" if text else count
        elif len(numbers) == 1 and 0 <= numbers[0] <= 1:
            fraction = numbers[0]
        post(Progress(key, None if fraction is None else min(1.0, max(0.0, fraction)), text))

    return callback
