"""Untrusted text (tags, file names, playlist and listener names, notes) made safe to show.

Text read from files is data, never instructions: a title may carry terminal escape sequences
(which set the window title or clear the screen), undecodable bytes of a file name, Rich markup,
or a spreadsheet formula. One function per destination, used by every face:

- :func:`for_terminal` for anything printed on a terminal (tables, messages, progress lines);
- :func:`for_spreadsheet` for every CSV cell companion writes;
- :func:`for_markup` for Rich/Textual markup strings (square brackets escaped).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["for_markup", "for_spreadsheet", "for_terminal", "escape_surrogates"]

# ESC-introduced sequences first (CSI with its parameters, OSC up to BEL/ST, two-byte ones), so
# their parameters go with them; then any other C0/C1 control, DEL, and the bidirectional
# overrides and isolates that reorder what a terminal shows ("Trojan Source").
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"  # CSI ... final byte
    r"|\x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC ... BEL or ST
    r"|\x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?"  # DCS, SOS, PM, APC ... ST
    r"|\x1b.?"  # any other escape and the byte after it
    r"|\x9b[0-?]*[ -/]*[@-~]?"  # 8-bit CSI
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]",
    re.DOTALL,
)
_LINE_BREAKS = re.compile(r"[\t\n\r\x0b\x0c\x85\u2028\u2029]+")
# What a spreadsheet reads as a formula (OWASP "CSV Injection"): =, +, -, @, tab and CR first.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_BEFORE_BRACKET = re.compile(r"(\\*)\[")  # the backslashes before a "[" are doubled, then it is escaped
_SURROGATE = re.compile(r"[\udc80-\udcff]")


def escape_surrogates(text: str) -> str:
    """A file name's undecodable bytes (held as ``surrogateescape`` code points) shown as
    ``\\xe9``: printable, and telling the person which byte it was."""
    return _SURROGATE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", text)


def for_terminal(value: Any, *, one_line: bool = True) -> str:
    """``value`` as text a terminal shows as it is: escape sequences and control characters
    removed, undecodable bytes escaped; line breaks and tabs become one space unless
    ``one_line`` is False (then newlines stay)."""
    text = escape_surrogates(str(value))
    if one_line:
        text = _LINE_BREAKS.sub(" ", text)
    else:
        text = text.replace("\r\n", "\n").replace("\t", " ")
    return _ESCAPES.sub("", text)


def for_spreadsheet(value: Any) -> Any:
    """A CSV cell no spreadsheet runs as a formula.

    Text starting with ``= + - @``, a tab or a carriage return gets a leading ``'`` (OWASP's
    advice; spreadsheets hide it). Numbers stay numbers: a cell written from an int or float, or
    text that is nothing but a plain decimal number such as ``-3.5``, cannot hold a formula, and
    quoting it would turn a negative loudness or change into text nobody can sum. Control
    characters other than tab and line breaks are removed (a cell is shown on terminals too), and
    carriage returns become newlines.
    """
    if value is None or isinstance(value, bool | int | float):
        return value
    text = for_terminal(value, one_line=False) if not isinstance(value, str) or _needs_clean(value) else value
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        text = "'" + text
    # a lone CR would be written unquoted (csv quotes only for its line terminator, "\n") and
    # split the row in every reader
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _needs_clean(text: str) -> bool:
    return any(ord(ch) < 32 and ch not in "\t\n\r" or 0x7F <= ord(ch) <= 0x9F or 0xDC80 <= ord(ch) <= 0xDCFF
               or ch in "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
               for ch in text)


def for_markup(value: Any) -> str:
    """``value`` safe inside Rich/Textual markup: every ``[`` escaped, so ``[/b]`` in a title is
    shown, not read as a closing tag; control characters removed as for the terminal."""
    text = _BEFORE_BRACKET.sub(lambda m: m.group(1) * 2 + "\\[", for_terminal(value))
    if text.endswith("\\") and not text.endswith("\\\\"):
        text += "\\"  # a lone trailing backslash would escape whatever markup comes next
    return text
