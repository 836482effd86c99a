"""The terminal the app draws on, kept the app's own while it runs.

Textual draws on ``sys.__stderr__`` (file descriptor 2). C libraries that decode audio in this
process — libmpg123 inside libsndfile, while a damaged MP3 is previewed or played — print their
notes ("Note: Illegal Audio-MPEG-Header ...", "[src/libmpg123/layer3.c:...] error: ...") on
fd 2 too, straight over the screen. No Python setting reaches them, so while the app runs fd 2
is pointed at ``/dev/null`` and Textual is given the terminal on a descriptor of its own. The app
reports a file it cannot read in its own words; the decoder's lines are noise there.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def decoder_chatter_off_screen() -> Iterator[None]:
    """Send whatever C code writes on fd 2 to /dev/null while the app owns the terminal.

    Enter it before the app is built: Textual reads ``sys.__stderr__`` when the app and its
    driver are made. Nothing changes when fd 2 is not a terminal (tests, a redirected stderr)."""
    stream = sys.__stderr__
    try:
        applies = stream is not None and stream.fileno() == 2 and os.isatty(2)
    except (OSError, ValueError):
        applies = False
    if not applies:
        yield
        return
    stream.flush()
    saved = os.dup(2)
    screen = os.fdopen(saved, "w", encoding=stream.encoding, errors="backslashreplace")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    before = sys.__stderr__, sys.stderr
    sys.__stderr__ = sys.stderr = screen
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            screen.flush()
        os.dup2(saved, 2)  # the terminal is fd 2 again for whatever is printed after the app
        sys.__stderr__, sys.stderr = before
        screen.close()
