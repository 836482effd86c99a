"""A small mutation fuzzer shared by ``bench/fuzz_*.py`` (outside CI: they run for minutes).

Inputs grow from seeds the fuzzer builds itself: bytes are flipped, replaced by hard values
(NUL, 0xFF, quotes, brackets), hard tokens (``Infinity``, ``1e400``, deep nesting, ``~nobody``)
are inserted, ranges deleted, duplicated or spliced from another seed. Each input goes to a
target function in a child process. What counts:

- expected : the target raised a CompanionError (a one-line message for a person);
- crash : any other exception (a traceback for a person), kept once per (type, place);
- death : the child process died (a decoder's segfault) or hung; the input is kept;
- notes : things that are not crashes but worth a look (the target returns them).

Every new finding's input is saved under ``bench/.out/fuzz-NAME/`` to reproduce it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

OUT = Path(__file__).resolve().parent / ".out"
HANG_S = 30.0  # one input taking longer than this is a hang

HARD_BYTES = (b"\x00", b"\xff", b"\x7f", b"\x80", b"\n", b"\r", b'"', b"[", b"{", b",", b"\x1b", b"\\")

Target = Callable[[bytes, Path], "str | None"]


def arguments(description: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--minutes", type=float, default=2.0, help="how long to fuzz (default 2)")
    p.add_argument("--seed", type=int, default=1, help="random seed (the same seed, the same inputs)")
    return p.parse_args()


def mutate(data: bytes, seeds: Sequence[bytes], tokens: Sequence[bytes], rng: random.Random) -> bytes:
    """One to four random edits of ``data``."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(8)
        at = rng.randint(0, len(buf))
        if op == 0 and buf:  # flip a bit
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:  # a hard byte
            i = rng.randrange(len(buf))
            buf[i:i + 1] = rng.choice(HARD_BYTES)
        elif op in (2, 3):  # a hard token
            buf[at:at] = rng.choice(tokens)
        elif op == 4 and buf:  # delete a range
            buf[at:at + rng.randint(1, 64)] = b""
        elif op == 5 and buf:  # duplicate a range
            j = rng.randint(at, min(len(buf), at + 256))
            buf[at:at] = buf[at:j] * rng.randint(1, 8)
        elif op == 6:  # splice another seed in
            other = rng.choice(seeds)
            k = rng.randint(0, len(other))
            buf[at:] = other[k:]
        elif op == 7 and buf:  # replace a digit run by a hard number
            i = rng.randrange(len(buf))
            j = i
            while j < len(buf) and chr(buf[j]).isdigit():
                j += 1
            buf[i:j] = rng.choice((b"1e400", b"-1e400", b"NaN", b"Infinity", b"-0", b"9" * 400, b"0x10"))
    return bytes(buf)


def _place(exc: BaseException) -> str:
    """Where an exception came from: the innermost frame in companion, else the innermost."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if f"{os.sep}companion{os.sep}" in f.filename]
    f = (ours or frames)[-1] if frames else None
    return f"{Path(f.filename).name}:{f.lineno} {f.name}" if f else "?"


def _child(name: str, seeds: list[bytes], tokens: list[bytes], target: Target, deadline: float,
           rng_seed: int, beat: mp.Value, out: Path) -> None:  # type: ignore[type-arg]
    from companion.core.errors import CompanionError

    devnull = os.open(os.devnull, os.O_WRONLY)  # decoders chatter on fd 2 (mpg123: "Illegal Audio-MPEG-Header")
    os.dup2(devnull, 2)
    os.close(devnull)
    rng = random.Random(rng_seed)
    corpus = list(seeds)
    stats = {"inputs": 0, "expected": 0, "ok": 0, "crashed": 0}
    seen: set[str] = set()
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{name}-") as tmp:
        work = Path(tmp)
        os.environ["COMPANION_HOME"] = str(work / "home")
        while time.monotonic() < deadline:
            data = mutate(rng.choice(corpus), seeds, tokens, rng)
            (out / "current.bin").write_bytes(data)
            beat.value = time.monotonic()
            stats["inputs"] += 1
            if stats["inputs"] % 200 == 0:  # kept if the process dies later
                (out / f"stats-{os.getpid()}.json").write_text(json.dumps(stats))
            try:
                note = target(data, work)
            except CompanionError:
                stats["expected"] += 1
                continue
            except RecursionError as exc:
                stats["crashed"] += 1
                _finding(out, seen, "crash", f"RecursionError at {_place(exc)}", data)
                continue
            except Exception as exc:  # the finding this fuzzer is for
                stats["crashed"] += 1
                _finding(out, seen, "crash", f"{type(exc).__name__} at {_place(exc)}: "
                         f"{str(exc).splitlines()[0][:120] if str(exc) else ''}", data)
                continue
            stats["ok"] += 1
            if note:
                _finding(out, seen, "note", note, data)
            if len(corpus) < 200 and rng.random() < 0.02:
                corpus.append(data)  # inputs that pass grow the corpus a little
    (out / f"stats-{os.getpid()}.json").write_text(json.dumps(stats))


def _finding(out: Path, seen: set[str], kind: str, what: str, data: bytes) -> None:
    key = what.split(": ", 1)[0] if kind == "crash" else what
    if key in seen:
        return
    seen.add(key)
    digest = hashlib.sha1(data).hexdigest()[:12]
    (out / f"{kind}-{digest}.bin").write_bytes(data)
    with open(out / "findings.jsonl", "a") as fh:
        fh.write(json.dumps({"kind": kind, "what": what, "input": f"{kind}-{digest}.bin"}) + "\n")


def run(name: str, seeds: list[bytes], tokens: list[bytes], target: Target, *, minutes: float,
        seed: int) -> int:
    """Fuzz ``target`` for ``minutes`` and print what was found. Returns 1 if anything crashed."""
    out = OUT / f"fuzz-{name}"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        old.unlink()
    ctx = mp.get_context("fork")
    deadline = time.monotonic() + minutes * 60
    deaths = 0
    rounds = 0
    started = time.monotonic()
    while time.monotonic() < deadline:
        beat = ctx.Value("d", time.monotonic())
        child = ctx.Process(target=_child, args=(name, seeds, tokens, target, deadline, seed + rounds,
                                                 beat, out))
        child.start()
        rounds += 1
        while child.is_alive():
            child.join(1.0)
            if child.is_alive() and time.monotonic() - beat.value > HANG_S:
                child.kill()
                child.join()
                _save_death(out, "hang (no progress for 30 s)")
                deaths += 1
        if child.exitcode not in (0, None) and time.monotonic() < deadline + 1:
            if child.exitcode != -9:
                _save_death(out, f"the process died (exit {child.exitcode})")
                deaths += 1
    return _report(name, out, time.monotonic() - started, deaths)


def _save_death(out: Path, what: str) -> None:
    current = out / "current.bin"
    data = current.read_bytes() if current.exists() else b""
    _finding(out, set(), "death", what, data)


def _report(name: str, out: Path, seconds: float, deaths: int) -> int:
    stats = {"inputs": 0, "expected": 0, "ok": 0, "crashed": 0}
    for f in out.glob("stats-*.json"):
        for k, v in json.loads(f.read_text()).items():
            stats[k] += v
    findings = [json.loads(line) for line in (out / "findings.jsonl").read_text().splitlines()] \
        if (out / "findings.jsonl").exists() else []
    crashes = [f for f in findings if f["kind"] in ("crash", "death")]
    print(f"fuzz-{name}: {stats['inputs']} inputs in {seconds:.0f} s ({stats['inputs'] / max(seconds, 1):.0f}/s): "
          f"{stats['ok']} accepted, {stats['expected']} refused with a CompanionError, "
          f"{stats['crashed']} crashed: {len(crashes)} kinds of crash ({deaths} process deaths)")
    for f in findings:
        print(f"  {f['kind']}: {f['what']}  [{out / f['input']}]")
    return 1 if crashes else 0


def main_guard(fn: Callable[[], int]) -> None:
    sys.exit(fn())
