#!/usr/bin/env bash
# The app as a new user meets it, in a real terminal (tmux) at 80x24: build a playlist, listen
# (stress and, when the listener has it, the 0-100 anxiety scale before and after), then the
# history with its chart. Every pane is saved and checked for tracebacks and clipped text.
#
#   tests/walkthrough_tmux.sh [--quick] [--keep] [OUT_DIR]
#
# --quick  a small synthetic library (no analysis: seconds) instead of `companion demo`
# --keep   leave the tmux session open to look at it (the script prints how to attach)
# OUT_DIR  where the panes go (default: a new temporary folder)
#
# Audio goes through the real sounddevice -> PortAudio -> ALSA path into a WAV file
# (tests/alsa-capture.conf), so no sound card is needed. Exit code 0 when every check passed.
set -euo pipefail

quick=0 keep=0 out=""
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        --keep) keep=1 ;;
        *) out="$arg" ;;
    esac
done
here="$(cd "$(dirname "$0")/.." && pwd)"
out="${out:-$(mktemp -d -t companion-walk.XXXXXX)}"
mkdir -p "$out"
home="$out/home"
mkdir -p "$home"
session="companion-walk-$$"
python="${PYTHON:-python3}"
export COMPANION_HOME="$home" PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
export ALSA_CONFIG_PATH="/usr/share/alsa/alsa.conf:$here/tests/alsa-capture.conf"
export AUDIO_CAPTURE_FILE="$out/heard.wav"
failures=0
step=0

# A private tmux server: a running one would start the app with its own environment (another
# COMPANION_HOME), and the walkthrough must never touch the person's sessions.
tm() { tmux -L "$session" "$@"; }
say() { printf '%s\n' "$*"; }
fail() { say "FAIL: $*"; failures=$((failures + 1)); }
cleanup() {
    [ "$keep" = 1 ] && return
    tm kill-server 2>/dev/null || true
    rm -f "$AUDIO_CAPTURE_FILE"  # twenty minutes of audio: hundreds of MB
}
trap cleanup EXIT

pane() { tm capture-pane -p -t "$session"; }

# Save the pane as step N, and check it: no traceback, no Python error, nothing cut mid-word at
# the right edge of the footer (the last line), and each expected text whole.
check() {
    local name="$1"; shift
    step=$((step + 1))
    local file; file="$out/$(printf '%02d' "$step")-$name.txt"
    pane > "$file"
    if grep -qE 'Traceback|Error:|Exception' "$file"; then fail "$name: an error on screen ($file)"; fi
    for want in "$@"; do
        grep -qF -- "$want" "$file" || fail "$name: '$want' is not on screen ($file)"
    done
    local width; width=$("$python" -c 'import sys; print(max((len(l) for l in open(sys.argv[1], encoding="utf-8").read().splitlines()), default=0))' "$file")
    [ "$width" -le 80 ] || fail "$name: a line is $width columns wide"
    say "ok: $name"
}

# Wait until TEXT is on screen (up to SECONDS, default 60).
wait_for() {
    local text="$1" limit="${2:-60}" waited=0
    until pane | grep -qiF -- "$text"; do
        sleep 0.5
        waited=$((waited + 1))
        if [ "$waited" -ge $((limit * 2)) ]; then
            fail "waited ${limit} s for '$text'"
            pane > "$out/timeout.txt"
            return 1
        fi
    done
}

keys() { tm send-keys -t "$session" "$@"; sleep 0.4; }

# -- a library ---------------------------------------------------------------------------------
if [ "$quick" = 1 ]; then
    "$python" - <<'EOF'
"""Thirty synthetic pieces of 75 s (the planner wants a minute at least), 84 down to 55 BPM,
put in the library as analysed (FLAC, mono: small files)."""
import os
from pathlib import Path

import numpy as np

from companion.core import audio_io
from companion.core.models import AnalysisResult, Loudness, Tags, TempoEstimate
from companion.core.store import Store

folder = Path(os.environ["COMPANION_HOME"]) / "music"
folder.mkdir(parents=True, exist_ok=True)
sr, rows = 16000, []
for i in range(30):
    bpm, seconds = 84.0 - i, 75.0
    t = np.arange(int(seconds * sr)) / sr
    tone = 0.1 * np.sin(2 * np.pi * 220 * (1 + i / 30) * t) * (0.6 + 0.4 * np.exp(-((t * bpm / 60) % 1) * 6))
    path = (folder / f"{i:02d} Piece {i}.flac").resolve()
    audio_io.write(path, tone.astype(np.float32), sr)
    st = path.stat()
    rows.append(AnalysisResult(
        path=str(path), size=st.st_size, mtime=st.st_mtime,
        tags=Tags(title=f"Piece {i}", artist="Walkthrough", album="", genre="", duration_s=seconds),
        tempo=TempoEstimate(bpm=bpm, confidence=0.9), loudness=Loudness(lufs=-24.0, peak_dbfs=-12.0)))
with Store() as store:
    store.save_analysis(rows)
EOF
else
    "$python" -m companion demo >"$out/demo.txt"
fi
"$python" -m companion listeners set me --scales stress,vas >/dev/null 2>&1 || true

# -- the app -------------------------------------------------------------------------------------
tm new-session -d -s "$session" -x 80 -y 24 \
    "cd '$here' && env COMPANION_HOME='$home' PYTHONPATH='$PYTHONPATH' ALSA_CONFIG_PATH='$ALSA_CONFIG_PATH' \
     AUDIO_CAPTURE_FILE='$AUDIO_CAPTURE_FILE' '$python' -m companion; sleep 30"
wait_for "Playlists" 30
check playlists "Playlists" "Build" "? Keys"

keys b
wait_for "Build a playlist"
keys w a l k
check build-form "Build a playlist" "Target BPM" "Crossfade" "Name"
keys C-s  # the form's defaults: step-down to 60 BPM, 20 minutes, start from the library
sleep 3
if pane | grep -qF "cannot make this playlist"; then
    check refused "cannot make this playlist" "1 ·"
    keys 1  # the first option the planner found, one key
fi
wait_for "Playlist built" 60
check built "walk"

keys '?'
wait_for "Keys"
check keys "Curate" "Rename" "Delete" "Export"
keys Escape

# A scale beside stress (anxiety 0-100 as a slider) is answered with the arrow keys.
answer_scales() {
    sleep 1
    if pane | grep -qi 'anxiety'; then
        check "$1-anxiety" "nxiety"
        for _ in 1 2 3 4 5; do keys "$2"; done
        keys Enter
    fi
}

keys Enter
wait_for "Before you listen" 30
check session-before "Before you listen" "0 = completely calm"
keys 6 Enter
answer_scales before Right
wait_for "And now" 180
check session-after "And now"
keys 3 Enter
answer_scales after Left
sleep 2
keys Escape
keys h
wait_for "History" 30
sleep 2
check history "History" "before" "after" "walk"

keys l
wait_for "tracks, by" 60
sleep 1
check library "Library" "Filter" "Preview"

say "panes saved in $out"
[ "$keep" = 1 ] && say "look at it: tmux -L $session attach -t $session"
if [ "$failures" -gt 0 ]; then
    say "$failures check(s) failed"
    exit 1
fi
say "walkthrough passed"
