"""Fuzz the playlist reader: `playlist import`, then load, show, move and replan what it read.

    nice -n 10 python bench/fuzz_playlist.py --minutes 2

Seeds: a playlist companion writes (with its #COMPANION lines), a VLC-style one, a Windows one
with CRLF and backslashes, a UTF-16 one; the library they name is synthetic (no audio needed).
A crash is any exception that is not a CompanionError; see bench/_fuzz.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

import _fuzz  # noqa: E402

TOKENS = [
    b"#EXTM3U\n", b"#EXTINF:", b"#EXTINF:-1,", b"#COMPANION-PLAYLIST:", b"#COMPANION-TRACK:",
    b"#COMPANION-SILENCE:", b"#COMPANION-NOTE:", b'"start_bpm": "x"', b'"seed": "abc"', b'"seed": 1e400',
    b'"minutes": NaN', b'"crossfade_s": Infinity', b'"filters": {"folder": 7}', b'"arc": "../../etc"',
    b'"locked": "false"', b'"bpm": -1', b"[" * 2000, b"{" * 2000, b"~nosuchuser/", b"file:///%00x.wav",
    b"file:///tmp/%ff.wav", b"../" * 40, b"a" * 5000 + b".wav", b"\x00", b"\xef\xbb\xbf", b"\r\n", b"\\",
    b"http://example.org/x.mp3\n", b"loop/x.wav\n", b"1e9", b"\xff\xfe",
]


def _library(root: Path) -> list:
    from companion.core.models import AnalysisResult, Loudness, Tags, TempoEstimate

    rows = []
    for i in range(40):
        path = root / "music" / f"{i:02d} piece.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        rows.append(AnalysisResult(path=str(path), size=1, mtime=1.0,
                                   tags=Tags(f"Piece {i}", f"Artist {i % 5}", "", "", 180.0 + i),
                                   tempo=TempoEstimate(110.0 - i * 1.3, 0.9), loudness=Loudness(-20.0, -3.0)))
    return rows


def seeds(root: Path) -> list[bytes]:
    from companion.core import planner, playlists
    from companion.core.store import Store

    with Store() as store:
        store.save_analysis(_library(root))
        pl = planner.plan(store.tracks(), name="seed", arc="u-sequence", start_bpm=100,
                          target_bpm=65, minutes=30, nearest=True)
    music = root / "music"
    own = playlists.dumps(pl).encode()
    vlc = b"#EXTM3U\n" + b"".join(b"#EXTINF:181,Artist - Piece\n" + f"music/{i:02d} piece.wav\n".encode()
                                   for i in range(5))
    win = b"".join(f"music\\{i:02d} piece.wav\r\n".encode() for i in range(3))
    utf16 = ("#EXTM3U\r\n" + f"{music}/01 piece.wav\r\n").encode("utf-16")
    return [own, vlc, win, utf16]


def target(data: bytes, work: Path) -> str | None:
    from companion.core import playlists
    from companion.core.store import Store

    f = work / "in.m3u8"
    f.write_bytes(data)
    with Store() as store:
        if not store.track_count():  # the library the seeds name, once per process
            store.save_analysis(_library(work))
        pl = playlists.import_m3u(f, name="fuzzed", store=store)
        playlists.save(pl)
        again = playlists.load("fuzzed", store=store)
        playlists.played_s(again)
        if again.entries:
            playlists.move(again, 0, 1)
            if not again.entries[0].is_silence:
                playlists.replace_candidates(store.tracks(), again, 0)
        if hash(data) % 20 == 0:  # planning is slower: one input in twenty
            playlists.replan_around_locks(again, store.tracks(), nearest=True)
    return None


def main() -> int:
    import os
    import tempfile

    args = _fuzz.arguments(__doc__.splitlines()[0])
    with tempfile.TemporaryDirectory(prefix="fuzz-seeds-") as tmp:
        os.environ["COMPANION_HOME"] = str(Path(tmp) / "home")
        found = seeds(Path(tmp))
    return _fuzz.run("playlist", found, TOKENS, target, minutes=args.minutes, seed=args.seed)


if __name__ == "__main__":
    _fuzz.main_guard(main)
