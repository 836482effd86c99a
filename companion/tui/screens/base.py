"""What every screen shares: one way to report worker failures and core errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from textual.screen import Screen
from textual.worker import Worker

from companion.core.errors import CompanionError
from companion.tui import format as fmt

T = TypeVar("T")


class ReportsErrors:
    """For screens: their workers' failures, and core errors in their handlers, are shown.

    ``Worker.StateChanged`` does not bubble, so each screen hands it on to
    ``CompanionApp.on_worker_state_changed``: one place shows every worker error.
    """

    app: Any
    notify: Any

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.app.on_worker_state_changed(event)  # type: ignore[attr-defined]

    def core(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[bool, T | None]:
        """Run a quick core call from a handler; a CompanionError becomes a notification.

        Returns (True, the call's result), or (False, None) when it failed (e.g. the database
        could not be written): the app stays up and the person is told what to do.
        """
        try:
            return True, call(*args, **kwargs)
        except CompanionError as exc:
            self.notify(fmt.escape(exc), title="Could not save", severity="error", timeout=10)
            return False, None


class WorkerScreen(ReportsErrors, Screen[None]):
    """A full screen of the app."""
