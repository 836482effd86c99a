"""What every screen shares: worker failures go to the app's one error handler."""

from __future__ import annotations

from textual.screen import Screen
from textual.worker import Worker


class WorkerScreen(Screen[None]):
    """A screen whose workers' failures are reported by the app.

    ``Worker.StateChanged`` does not bubble, so each screen hands it on to
    ``CompanionApp.on_worker_state_changed``: one place shows every worker error.
    """

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.app.on_worker_state_changed(event)  # type: ignore[attr-defined]
