"""Verbs about what was listened and how it felt: history, stats, rate, listeners, forget.

    companion history [--format table|csv|json] [--output FILE] [--all-listeners]
    companion history import FILE            restore an export (no duplicates, one transaction)
    companion stats [--playlist P] [--arc A] [--since DATE] [--scale S] [--format table|json]
    companion rate SESSION_ID|--last [--post N] [--vas N] [--stai6 "a b c d e f"]
                   [--heart-rate BPM] [--note TEXT] [--replace]
    companion listeners [--format table|csv|json]
    companion listeners set NAME --scales stress,vas,stai6,heart_rate,note
    companion forget --listener NAME [--yes]

Every verb takes ``--listener NAME`` (also before the verb); the default listener is "me".
Each first marks sessions left open by a killed process as interrupted.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from datetime import datetime
from typing import Any

from companion.commands._output import (
    add_format_arg,
    add_listener_arg,
    emit,
    format_duration,
    json_for_terminal,
    listener_of,
    print_table,
)
from companion.core import insights, sessions
from companion.core.errors import NotFoundError, UserInputError
from companion.core.models import Rating
from companion.core.store import DEFAULT_LISTENER, Store
from companion.core.untrusted import for_terminal

_LATE_NOTE_AFTER_H = 12


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("history", help="one row per session; export and import",
                       description="List sessions, or export them (--format csv|json, --output FILE). "
                       "`companion history import FILE` restores an export.")
    add_format_arg(p)
    add_listener_arg(p)
    p.add_argument("--output", "-o", metavar="FILE", help="write to FILE (readable by you only)")
    p.add_argument("--all-listeners", action="store_true", help="every listener's sessions")
    p.set_defaults(func=cmd_history)
    hsub = p.add_subparsers(dest="history_action", metavar="ACTION")
    imp = hsub.add_parser("import", help="restore a csv or json export without duplicating sessions")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--listener", dest="import_listener", default=None, metavar="NAME",
                     help="put every session under NAME (default: the listener named in the file)")
    imp.set_defaults(func=cmd_history_import)

    p = sub.add_parser("stats", help="does listening help? before/after figures, honestly",
                       description="Paired before/after statistics per scale, playlist and arc.")
    add_format_arg(p, ("table", "json"))
    add_listener_arg(p)
    p.add_argument("--playlist", metavar="P", help="only sessions of this playlist")
    p.add_argument("--arc", metavar="A", help="only sessions of this arc")
    p.add_argument("--since", metavar="DATE", help="only sessions started on or after DATE (YYYY-MM-DD)")
    p.add_argument("--scale", choices=list(insights.NUMERIC_SCALES), default="stress",
                   help="the scale whose figures lead (default: stress)")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("rate", help="add the rating after, late (\"how do you feel now?\")",
                       description="Add ratings after to an ended session; they are marked late.")
    p.add_argument("session_id", nargs="?", type=int, metavar="SESSION_ID")
    p.add_argument("--last", action="store_true", help="the most recent session without a rating after")
    p.add_argument("--post", metavar="N", help="stress now, 0–10 (asked when not given)")
    p.add_argument("--vas", metavar="N", help="anxiety now, 0–100")
    p.add_argument("--stai6", metavar="ANSWERS", help='six STAI-6 answers 1–4, e.g. "2 3 1 4 2 2"')
    p.add_argument("--heart-rate", metavar="BPM", help="heart rate now, 30–220")
    p.add_argument("--note", metavar="TEXT", help="a note")
    p.add_argument("--replace", action="store_true", help="replace a rating after already given")
    add_listener_arg(p)
    p.set_defaults(func=cmd_rate)

    p = sub.add_parser("listeners", help="list listeners; choose the scales each is asked",
                       description="List listeners, or `companion listeners set NAME --scales ...` to "
                       "choose the rating scales asked of NAME (stress is always asked).")
    add_format_arg(p)
    add_listener_arg(p)
    p.set_defaults(func=cmd_listeners)
    lsub = p.add_subparsers(dest="listeners_action", metavar="ACTION")
    st = lsub.add_parser("set", help="choose the scales asked of a listener (creates the listener)")
    st.add_argument("name", metavar="NAME")
    st.add_argument("--scales", required=True, metavar="LIST",
                    help=f"comma-separated, from {','.join(sessions.SCALE_NAMES)} (stress always included)")
    st.set_defaults(func=cmd_listeners_set)

    p = sub.add_parser("forget", help="delete one listener's sessions and ratings",
                       description="Delete every session and rating of one listener, after you type "
                       "the listener's name (or --yes).")
    add_listener_arg(p)
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_forget)


# -- helpers ------------------------------------------------------------------------------------


def _open() -> Store:
    """The store, after marking sessions of killed processes as interrupted (said on stderr)."""
    store = Store()
    for s in sessions.recover_interrupted(store):
        print(f"companion: session {s.id} ({for_terminal(s.playlist)}) was interrupted after "
              f"{format_duration(s.minutes_listened * 60)}; add how you feel now with `companion rate {s.id}`",
              file=sys.stderr)
    return store


def _known_listener(store: Store, name: str) -> str:
    if name != DEFAULT_LISTENER and name not in store.listeners():
        raise NotFoundError(f"no listener named {name!r}; `companion listeners` lists them")
    return name


def _short_time(ts: str | None) -> str:
    if not ts:
        return ""
    try:
        return datetime.fromisoformat(ts).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return ts


def _num(v: float | None, digits: int = 1) -> str:
    if v is None:
        return ""
    return str(int(v)) if float(v).is_integer() else f"{v:.{digits}f}"


def _write_or_print(text: str, output: str | None, what: str) -> None:
    if output:
        from companion.core.safefile import write_file

        path = write_file(output, text, private=True)
        print(f"companion: wrote {what} to {for_terminal(path)} (readable by you only)", file=sys.stderr)
    else:
        sys.stdout.write(text)


# -- history -----------------------------------------------------------------------------------


def cmd_history(args: argparse.Namespace) -> int:
    with _open() as store:
        if args.all_listeners:
            rows = store.sessions()
        else:
            rows = store.sessions(listener=_known_listener(store, listener_of(args)))
        what = f"{len(rows)} session{'s' if len(rows) != 1 else ''}"
        if args.format in ("csv", "json"):
            text = sessions.export_history(rows, args.format)
            if args.format == "json" and not args.output:
                text = json_for_terminal(text)
            _write_or_print(text, args.output, what)
            return 0
        if not rows:
            _write_or_print("No sessions yet. `companion play NAME` starts one.\n", args.output, what)
            return 0
        table = []
        for s in rows:
            r = sessions.history_row(s)
            after = _num(r["stress_after"]) + (" (late)" if r["stress_after_late"] else "")
            table.append({"id": s.id, "started": _short_time(s.started_at), "listener": s.listener,
                          "playlist": s.playlist, "arc": s.arc,
                          "minutes": format_duration(s.minutes_listened * 60),
                          "outcome": s.outcome.replace("_", " "), "before": _num(r["stress_before"]),
                          "after": after})
        cols = ["id", "started"] + (["listener"] if args.all_listeners else []) + [
            "playlist", "arc", "minutes", "outcome", "before", "after"]
        buf = io.StringIO()
        print_table(table, cols, out=buf, headers={"before": "stress before", "after": "stress after",
                                                        "minutes": "listened"})
        _write_or_print(buf.getvalue(), args.output, what)
    return 0


def cmd_history_import(args: argparse.Namespace) -> int:
    with _open() as store:
        into = args.import_listener or getattr(args, "listener_sub", None) or args.listener
        added, skipped = sessions.import_history(store, args.file, listener=into)
    print(f"Imported {added} session{'s' if added != 1 else ''} from {for_terminal(args.file)}"
          + (f"; {skipped} already here, left as they were." if skipped else "."))
    return 0


# -- stats ---------------------------------------------------------------------------------------


def _round(x: Any) -> Any:
    """Six significant digits for the JSON (enough for any script, short enough to read)."""
    if isinstance(x, float):
        return float(f"{x:.6g}")
    if isinstance(x, list):
        return [_round(v) for v in x]
    if isinstance(x, dict):
        return {k: _round(v) for k, v in x.items()}
    return x


def cmd_stats(args: argparse.Namespace) -> int:
    listener = listener_of(args)
    since = insights.parse_since(args.since) if args.since else None
    with _open() as store:
        rows = store.sessions(listener=_known_listener(store, listener))
    rows = insights.filter_sessions(rows, playlist=args.playlist, arc=args.arc, since=since)
    result = insights.summarize(rows, scale=args.scale)
    result = {"listener": listener, **result,
              "filters": {"playlist": args.playlist, "arc": args.arc, "since": args.since}}
    if args.format == "json":
        sys.stdout.write(json_for_terminal(json.dumps(_round(result), indent=2, ensure_ascii=False)))
        sys.stdout.write("\n")
        return 0
    _print_stats(result)
    return 0


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.0f} %"


def _p(p: float | None) -> str:
    if p is None:
        return ""
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _stat_row(name: str, st: dict[str, Any]) -> dict[str, Any]:
    return {"name": name + (" *" if st.get("small_n") else ""), "n": st["n"],
            "before": "" if st["mean_before"] is None else f"{st['mean_before']:.1f}",
            "after": "" if st["mean_after"] is None else f"{st['mean_after']:.1f}",
            "change": "" if st["mean_change"] is None else f"{st['mean_change']:+.1f}",
            "ci": insights.format_ci(st["ci95"]), "dz": "" if st["dz"] is None else f"{st['dz']:+.2f}",
            "p": _p(st["wilcoxon_p"]), "resp": _pct(st["responder_rate"]),
            "done": _pct(st["completion_rate"])}


_STAT_COLS = ["name", "n", "before", "after", "change", "ci", "dz", "p", "resp", "done"]
_STAT_HEADS = {"name": "", "ci": "95 % CI", "p": "Wilcoxon p", "resp": "responders", "done": "completed"}


def _print_stats(r: dict[str, Any]) -> None:
    out = sys.stdout
    c = r["sessions"]
    scope = [f"listener {r['listener']}"] + [f"{k} {v}" for k, v in r["filters"].items() if v]
    out.write(f"{c['total']} sessions ({', '.join(scope)}): {c['completed']} completed, "
              f"{c['stopped_early']} stopped early, {c['interrupted']} interrupted"
              + (f", {c['in_progress']} in progress" if c["in_progress"] else "")
              + (f"; completion rate {_pct(r['completion_rate'])}" if r["completion_rate"] is not None else "")
              + "\n\n")
    if c["total"] == 0:
        if any(r["filters"].values()):
            out.write("No sessions match these filters; `companion history` lists them all.\n")
        else:
            out.write("No sessions yet. `companion play NAME` starts one; its ratings will show here.\n")
        return
    out.write(f"{r['summary']}\n\n")
    out.write("Before and after each session (change = after − before; negative = fell)\n")
    print_table([_stat_row(name, st) for name, st in r["scales"].items()], _STAT_COLS[:-1],
                out=out, headers={**_STAT_HEADS, "name": "scale"})
    for title, key in (("playlist", "per_playlist"), ("arc", "per_arc")):
        groups = r[key]
        if len(groups) > 1 or (groups and key == "per_playlist"):
            out.write(f"\nPer {title} ({r['scale']}; * = fewer than {insights.SMALL_N} rated sessions)\n")
            print_table([_stat_row(name, st) for name, st in groups.items()], _STAT_COLS,
                        out=out, headers={**_STAT_HEADS, "name": title})
    if r["top_tracks"]:
        out.write(f"\nTracks in the sessions with the largest drops ({r['scale']})\n")
        print_table(
            [{"track": (f"{t['artist']} - {t['title']}" if t["artist"] else t["title"] or t["path"]),
              "n": t["n"], "change": f"{t['mean_change']:+.1f}" + (" *" if t["small_n"] else "")}
             for t in r["top_tracks"]],
            ["track", "n", "change"], out=out, headers={"change": "mean change"})
    w = r["this_week"]
    out.write(f"\nThis week: {w['count']} session{'s' if w['count'] != 1 else ''}. {r['streak']['text']}\n")
    if r["cautions"]:
        out.write("\nPlease keep in mind\n")
        for line in r["cautions"]:
            out.write(f"- {line}\n")


# -- rate ----------------------------------------------------------------------------------------


def cmd_rate(args: argparse.Namespace) -> int:
    from companion.commands._prompt import TerminalPrompt
    from companion.core.listening import ask_ratings

    listener = listener_of(args)
    with _open() as store:
        if args.last == (args.session_id is not None):
            raise UserInputError("name one session: `companion rate SESSION_ID` or `companion rate --last`")
        if args.last:
            session = sessions.last_unrated(store, listener)
            if session is None:
                raise NotFoundError(f"every ended session of {listener!r} already has a rating after")
        else:
            session = store.session(args.session_id)
            if session.listener != listener:
                raise UserInputError(f"session {session.id} belongs to listener {session.listener!r}; "
                                     f"add --listener {session.listener}")
        given = {"vas": args.vas, "stai6": args.stai6, "heart_rate": args.heart_rate, "note": args.note}
        ratings: list[Rating]
        if args.post is None and all(v is None for v in given.values()):
            print(f"Session {session.id}: {for_terminal(session.playlist)}, {_short_time(session.started_at)}, "
                  f"{format_duration(session.minutes_listened * 60)} heard, "
                  f"{session.outcome.replace('_', ' ')}.")
            ratings = ask_ratings(sessions.listener_scales(store, listener), "after",
                                  TerminalPrompt(), late=True)
            if not ratings:
                return 0
        else:
            ratings = [] if args.post is None else [sessions.make_rating("stress", "after", args.post, late=True)]
            ratings += [sessions.make_rating(k, "after", v, late=True) for k, v in given.items() if v is not None]
        _note_if_long_ago(session.ended_at or session.started_at, session.id)
        updated = sessions.rate_late(store, session.id, ratings, replace_existing=args.replace)
    before, after = updated.value("before"), updated.value("after")
    shown = f"stress {_num(before)} → {_num(after)}" if before is not None and after is not None else "saved"
    print(f"Session {updated.id}: rating after added, marked late ({shown}).")
    return 0


def _note_if_long_ago(ts: str, session_id: int) -> None:
    try:
        t = datetime.fromisoformat(ts)
        hours = (datetime.now().astimezone() - (t if t.tzinfo else t.astimezone())).total_seconds() / 3600
    except ValueError:
        return
    if hours > _LATE_NOTE_AFTER_H:
        print(f"companion: note: session {session_id} ended {hours:.0f} h ago; a rating now may say "
              "more about today than about that session", file=sys.stderr)


# -- listeners and forget --------------------------------------------------------------------------


def cmd_listeners(args: argparse.Namespace) -> int:
    with _open() as store:
        rows = store.listener_summaries()
        only = getattr(args, "listener_sub", None) or getattr(args, "listener", None)
        if only:
            rows = [r for r in rows if r["name"] == _known_listener(store, only)]
        if not rows:
            rows = [{"name": DEFAULT_LISTENER, "created_at": "", "settings": {}, "sessions": 0,
                     "last_session_at": None}]
        for r in rows:
            r["scales"] = ",".join(sessions.listener_scales(store, r["name"]))
            r["last_session"] = _short_time(r["last_session_at"])
    emit(rows, ["name", "sessions", "last_session", "scales"], args.format,
         json_value=[{k: r[k] for k in ("name", "sessions", "last_session_at", "scales", "created_at")}
                     for r in rows] if args.format == "json" else None)
    return 0


def cmd_listeners_set(args: argparse.Namespace) -> int:
    with _open() as store:
        scales = sessions.set_listener_scales(store, args.name, args.scales.split(","))
    print(f"{for_terminal(args.name)} will be asked: {', '.join(scales)}")
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    name = getattr(args, "listener_sub", None) or getattr(args, "listener", None)
    if not name:
        raise UserInputError("name whose data to delete: `companion forget --listener NAME`")
    with _open() as store:
        if name not in store.listeners():
            raise NotFoundError(f"no listener named {name!r}; `companion listeners` lists them")
        count = len(store.sessions(listener=name))
        if not args.yes:
            if not sys.stdin.isatty():
                raise UserInputError(f"forgetting {name!r} needs a typed confirmation; run it in a "
                                     "terminal, or add --yes")
            answer = input(f"This deletes {count} session{'s' if count != 1 else ''} and every rating "
                           f"of {name!r}, for good. Type {name} to confirm: ")
            if answer.strip() != name:
                print("Nothing deleted.")
                return 1
        deleted = store.forget_listener(name)
    print(f"Deleted {name!r} with {deleted} session{'s' if deleted != 1 else ''}.")
    return 0
