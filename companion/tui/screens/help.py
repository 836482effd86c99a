"""``?``: every key of the screen the person is on, including those the footer has no room for."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Label, Static

KeyRow = tuple[str, str, bool]  # key as shown, what it does, usable now


def keys_of(screen: Screen, app: object) -> list[KeyRow]:
    """The keys that act on ``screen`` now: its own first, then the tables' row jumps, then the
    app's (Textual's generic widget keys, arrows and tab, are left out), one row per action."""
    own_app = {b.action for b in getattr(type(app), "BINDINGS", []) if isinstance(b, Binding)}
    own_screen = {b.action for b in getattr(type(screen), "BINDINGS", []) if isinstance(b, Binding)}
    ranked: list[tuple[int, KeyRow]] = []
    seen: set[str] = set()
    for key, active in screen.active_bindings.items():
        b, node = active.binding, active.node
        if node is screen and b.action in own_screen:
            rank = 0
        elif b.action in ("first_row", "last_row"):
            rank = 1
        elif node is app and b.action in own_app:
            rank = 2
        else:
            continue
        if not b.description or b.action in seen or b.action.startswith(("option(", "pick(")):
            continue
        seen.add(b.action)
        ranked.append((rank, (b.key_display or _display(key, app), b.description, active.enabled)))
    return [row for _, row in sorted(ranked, key=lambda r: r[0])]


def _display(key: str, app: object) -> str:
    get = getattr(app, "get_key_display", None)
    if get is not None:
        try:
            return str(get(Binding(key, "")))
        except Exception:  # a key Textual cannot name: shown as typed
            return key
    return key


class HelpScreen(ModalScreen[None]):
    """A list of keys; escape, ``?`` or ``q`` closes it."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
    ]

    def __init__(self, title: str, rows: Iterable[KeyRow]) -> None:
        super().__init__()
        self.title_text, self.rows = title, list(rows)

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog wide-dialog", id="help-dialog"):
            yield Label(f"Keys · {self.title_text}", classes="dialog-title")
            text = Text()
            for key, what, enabled in self.rows:
                text.append(f"{key:>12}  ", style="bold" if enabled else "dim")
                text.append(what + ("" if enabled else " (not now)") + "\n",
                            style="" if enabled else "dim")
            yield Static(text, id="help-keys")
            yield Static("ctrl+p finds any action by name · escape closes", classes="muted")
        yield Footer(show_command_palette=False)

    def action_close(self) -> None:
        self.dismiss(None)
