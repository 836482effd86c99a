"""Printing rows as an aligned table, CSV or JSON: shared by every verb with ``--format``."""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TextIO

from companion.core.timefmt import format_duration  # noqa: F401  (re-exported for the verbs)
from companion.core.untrusted import for_spreadsheet, for_terminal

FORMATS = ("table", "csv", "json")


#: The command line's flag for each plan setting a UserInputError may name (its ``field``).
FLAG_OF = {"target_bpm": "--target", "start_bpm": "--start", "minutes": "--minutes",
           "max_step_pct": "--max-step", "crossfade_s": "--crossfade", "min_length_s": "--min-length"}


def error_words(exc: Exception) -> str:
    """The one line the command line prints for a CompanionError: a refused setting is named by
    the flag the person typed (``--target 900 is out of range ...``), not the app's words."""
    text = str(exc)
    field = getattr(exc, "field", None)
    if field in FLAG_OF:
        from companion.core.planner import SETTING_WORDS

        words = SETTING_WORDS.get(field, "")
        if words and text.startswith(words + " "):
            text = FLAG_OF[field] + text[len(words):]
    return text


def add_format_arg(parser: argparse.ArgumentParser, choices: Sequence[str] = FORMATS) -> None:
    parser.add_argument("--format", choices=list(choices), default="table", help="output format (default: table)")


def listener_of(args: argparse.Namespace) -> str:
    """The listener named on the command line (before or after the verb), or the default one."""
    from companion.core.store import DEFAULT_LISTENER

    return getattr(args, "listener_sub", None) or getattr(args, "listener", None) or DEFAULT_LISTENER


def add_listener_arg(parser: argparse.ArgumentParser) -> None:
    """``--listener NAME`` after the verb too (it is also accepted before it)."""
    parser.add_argument("--listener", dest="listener_sub", default=None, metavar="NAME",
                        help="whose sessions and ratings (default: 'me')")


def emit(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    fmt: str,
    *,
    out: TextIO | None = None,
    headers: Mapping[str, str] | None = None,
    json_value: Any = None,
) -> None:
    """Print rows. CSV/JSON keep every column as named (a contract for scripts).

    Cells are untrusted text (tags, names, notes): the table strips terminal escape sequences
    and control characters, CSV neutralises spreadsheet formulas (``for_spreadsheet``), JSON
    escapes every control character itself.

    json_value : print this object instead of the row list in JSON format.
    """
    out = out or sys.stdout
    rows = list(rows)
    if fmt == "json":
        json.dump(json_value if json_value is not None else rows, out, indent=2, default=_json_default)
        out.write("\n")
    elif fmt == "csv":
        w = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for row in rows:
            w.writerow({k: _csv_cell(row.get(k)) for k in columns})
    else:
        print_table(rows, columns, out=out, headers=headers)


def print_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    out: TextIO | None = None,
    headers: Mapping[str, str] | None = None,
) -> None:
    out = out or sys.stdout
    headers = headers or {}
    head = [for_terminal(headers.get(c, c)) for c in columns]
    body = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(h)] + [len(b[i]) for b in body]) for i, h in enumerate(head)]
    numeric = [all(_is_num(r.get(c)) for r in rows if r.get(c) not in (None, "")) for c in columns]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            (cell.rjust(w) if num else cell.ljust(w)) for cell, w, num in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    out.write(line(head) + "\n")
    for b in body:
        out.write(line(b) + "\n")


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.1f}"
    return for_terminal(v)


def _csv_cell(v: Any) -> Any:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list | tuple | dict):
        return for_spreadsheet(json.dumps(v, default=_json_default))
    return "" if v is None else for_spreadsheet(v)


def _json_default(o: Any) -> Any:
    import dataclasses

    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclasses.asdict(o)
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)



# What a terminal acts on or reorders inside a JSON string that ``ensure_ascii=False`` leaves raw
# (json escapes only C0 controls): DEL and C1 controls, bidirectional overrides and isolates,
# line and paragraph separators, and the lone surrogates of undecodable file-name bytes.
_JSON_UNSAFE = re.compile(r"[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]")


def json_for_terminal(text: str) -> str:
    """JSON text written with ``ensure_ascii=False``, safe to print: the characters above become
    ``\\uXXXX`` escapes. They can only occur inside strings, so the data a reader parses is the
    same; readable letters (é, ü, 日本) stay as they are."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def positive_int(text: str) -> int:
    """argparse type for counts such as ``--jobs``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


class ProgressLine:
    """Progress on stderr: one updating line on a terminal; a plain line every few seconds
    otherwise (logs, pipes), and always when ``force`` is set."""

    PLAIN_EVERY_S = 5.0

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last = 0.0
        self.shown = False

    def update(self, text: str, detail: str = "", *, force: bool = False) -> None:
        import shutil
        import time

        now = time.monotonic()
        if self.tty:
            width = shutil.get_terminal_size((80, 24)).columns - 1
            line = for_terminal(f"{text}  {detail}" if detail else text)
            self.stream.write("\r" + line[:width] + "\x1b[K")
            self.shown = True
        elif force or now - self.last >= self.PLAIN_EVERY_S:
            self.stream.write(for_terminal(text) + "\n")
            self.last = now
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


# What libmpg123 (inside libsndfile) prints on the C library's stderr while it decodes a damaged
# MP3: "Note: Illegal Audio-MPEG-Header ...", "Warning: ...", "[src/libmpg123/parse.c:1234]
# error: ...". companion reports a file it cannot read in one line of its own; these are noise.
_DECODER_CHATTER = re.compile(rb"^(?:Note|Warning): |^\[[^\]\n]*\.c:\d+\] (?:error|warning|note)", re.IGNORECASE)


@contextlib.contextmanager
def quiet_decoder_chatter() -> Iterator[None]:
    """Keep the decoder's own lines off the terminal while a verb runs in this process.

    They are written by C code to file descriptor 2, which no Python setting reaches: fd 2 becomes
    a pipe read by a thread that drops those lines and passes every other one on, and Python's
    ``sys.stderr`` writes to the real stderr directly (so progress lines stay live and in order).
    Worker processes send their fd 2 to /dev/null themselves (``scan._init_worker``)."""
    try:
        sys.stderr.flush()
        real = sys.stderr.fileno() == 2
        saved = os.dup(2) if real else -1
    except (OSError, ValueError, AttributeError):
        real = False
    if not real:  # sys.stderr is not fd 2 (captured, closed): leave both alone
        yield
        return
    read_end, own_end = os.pipe()  # own_end stays with this process: it ends the filter
    os.dup2(own_end, 2)
    stderr = sys.stderr
    sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, encoding=getattr(stderr, "encoding", None),
                           errors="backslashreplace")
    thread = threading.Thread(target=_pass_on, args=(read_end, saved), name="companion-stderr", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        # Not waiting for the pipe's end of file: a worker pool's fork server keeps a copy of
        # fd 2. What this process wrote is in the pipe before this marker, in order.
        os.write(own_end, _END_OF_FILTER)
        thread.join(timeout=2)
        os.close(own_end)
        sys.stderr.close()
        sys.stderr = stderr
        os.close(saved)


_END_OF_FILTER = b"\x00companion: end of the stderr filter\n"


def _pass_on(read_end: int, out: int) -> None:
    with os.fdopen(read_end, "rb") as pipe:
        for line in pipe:
            last = line.endswith(_END_OF_FILTER)
            if last:
                line = line[: -len(_END_OF_FILTER)]
            if line and not _DECODER_CHATTER.match(line):
                os.write(out, line)
            if last:
                return
