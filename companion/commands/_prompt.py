"""Asking on the terminal: the CLI's side of ``listening.Prompt`` (the core asks, this types)."""

from __future__ import annotations

import sys


class TerminalPrompt:
    """Questions on stderr, answers from stdin. With a person at the terminal an invalid answer
    is explained and asked again; from a pipe, the first invalid answer is an error."""

    def __init__(self) -> None:
        try:
            self.interactive = sys.stdin.isatty()
        except (AttributeError, ValueError):
            self.interactive = False

    def ask(self, question: str) -> str | None:
        try:
            return input(question)
        except EOFError:
            return None

    def say(self, text: str) -> None:
        print(text, file=sys.stderr)
