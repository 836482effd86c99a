"""Command-line interface: argument parsing and printing only; the work is done in companion.core.

Each verb group lives in ``companion/commands/<group>.py`` with a ``register(subparsers)``
function; this module assembles them, runs the chosen verb and turns errors into one line.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence

from companion import __version__
from companion.core.errors import CompanionError
from companion.core.untrusted import for_terminal

# Verb groups, in the order `companion --help` lists them.
COMMAND_MODULES = ("library", "tempo", "playlists", "play", "history")
# Verbs that decode audio in this process (scan --jobs 1, play, preview, tap's excerpt, demo).
DECODING_VERBS = frozenset({"scan", "library", "demo", "play", "preview", "tempo"})


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="companion",
        description="A music-therapy listening companion: tempo step-down playlists from your own "
        "library, played gently, with stress ratings before and after. With no verb, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"companion {__version__}")
    parser.add_argument(
        "--listener", default=None, help="whose sessions and ratings (default: the one listener, 'me')"
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for name in COMMAND_MODULES:
        importlib.import_module(f"companion.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):  # a file name's undecodable bytes never crash a print
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.verb is None:
            from companion.tui.app import run_app

            return run_app(listener=args.listener)
        from companion.commands._output import quiet_decoder_chatter

        # only around the verbs that decode audio here: a crash's last words on fd 2 elsewhere
        # are never held in a pipe
        quiet = quiet_decoder_chatter() if args.verb in DECODING_VERBS else contextlib.nullcontext()
        with quiet:
            code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers, not at exit
        return code
    except BrokenPipeError:  # the reader went away (`| head`): end quietly, as Unix tools do
        return _stdout_closed()
    except CompanionError as exc:
        from companion.commands._output import error_words

        print(f"companion: {for_terminal(error_words(exc))}", file=sys.stderr)  # it may quote a tag or a name
        return 2
    except OSError as exc:  # the environment, not a bug: a folder not writable, a disk full ...
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"companion: {for_terminal(where)}{exc.strerror or exc}; check the path and its permissions",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("companion: interrupted", file=sys.stderr)
        return 130


# What a shell reports for a program ended by SIGPIPE (128 + 13): `yes | head -1` exits so.
EXIT_PIPE_CLOSED = 141


def _stdout_closed() -> int:
    """stdout's reader is gone: point stdout at /dev/null so the interpreter's last flush of
    what is still buffered does not raise (and print "Exception ignored ...") on the way out."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (captured, closed)
        pass
    return EXIT_PIPE_CLOSED
