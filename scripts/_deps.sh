# Sourced by scripts/app and scripts/test (EXTRAS="" or "test"): make sure companion can run.
#
# 1. Debian/Ubuntu packages: libportaudio2 (sound output) and libsndfile1 (decoding), installed
#    with apt-get (through sudo when not root) when missing.
# 2. A Python environment: the active virtualenv when there is one ($VIRTUAL_ENV), otherwise the
#    project's own `.venv`, made with `python3 -m venv` (Debian and Ubuntu ship venv's pip in the
#    package python3-venv, installed here when it is missing). System Pythons are "externally
#    managed" (PEP 668) and refuse `pip install`, so nothing is installed into them.
# 3. `pip install -e .[EXTRAS]` only when pyproject.toml (or the extras, or the checkout) changed
#    since the last install: a stamp in the environment holds the hash, so a second start runs no pip.
#
# Sets PY to the environment's python. Every failure prints one line saying what to do and exits 1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"

say() { printf 'companion: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# Run a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else return 1
  fi
}

# apt_install REASON PKG...: install the Debian packages of PKG... that are missing. Returns 1,
# having said why, when they are missing and cannot be installed here.
apt_install() {
  local reason="$1"; shift
  command -v dpkg-query >/dev/null 2>&1 || return 0  # not Debian/Ubuntu: the user's system, the user's job
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null 2>&1 || { [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null 2>&1; }; then
    say "please install ${missing[*]} ($reason), e.g. as root: apt-get install ${missing[*]}"
    return 1
  fi
  say "installing Debian packages ${missing[*]} ($reason)$([ "$(id -u)" = 0 ] || echo ' with sudo')"
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null \
     || ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
          "${missing[@]}" >/dev/null; then
    say "apt-get install ${missing[*]} failed; install them yourself (apt-get install ${missing[*]})"
    return 1
  fi
}

# Without them companion still starts and renders to files; it says so when it cannot play.
apt_install "sound output and decoding" libportaudio2 libsndfile1 || say "continuing without them"

# The interpreter the environment is made from: $PYTHON, or python3 on the PATH.
base_python() {
  local base="${PYTHON:-python3}"
  command -v "$base" >/dev/null 2>&1 || die "no $base found; install Python 3.11 or newer (Debian: apt-get install python3)"
  "$base" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "companion needs Python 3.11 or newer; $base is $("$base" -c 'import platform; print(platform.python_version())'); set PYTHON=/path/to/python3.11"
  echo "$base"
}

# make_venv DIR: a fresh virtualenv with pip in DIR.
make_venv() {
  local dir="$1" base ver out pkgs
  base="$(base_python)" || exit 1
  ver="$("$base" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  say "making a Python $ver environment in $dir (once)"
  rm -rf "$dir"
  if ! out="$("$base" -m venv "$dir" 2>&1)"; then
    rm -rf "$dir"
    # Debian's and Ubuntu's system Python keeps venv's pip (ensurepip) in a package of its own.
    grep -q ensurepip <<<"$out" || die "$base -m venv $dir failed: $(tail -n 1 <<<"$out")"
    pkgs=("python$ver-venv")
    [ "$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$ver" ] \
      && pkgs=(python3-venv "${pkgs[@]}")
    apt_install "venv's pip for $base" "${pkgs[@]}" || exit 1
    "$base" -m venv "$dir" >/dev/null 2>&1 || {
      rm -rf "$dir"
      die "$base -m venv $dir failed: its pip (ensurepip) is missing; on Debian/Ubuntu: apt-get install ${pkgs[*]}"
    }
  fi
}

if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
  VENV="$VIRTUAL_ENV"  # the user's own environment: use it, make no other
else
  VENV="$ROOT/.venv"
  # Reuse .venv while its python runs (a removed or upgraded base Python breaks it: make it again).
  "$VENV/bin/python" -c '' >/dev/null 2>&1 || make_venv "$VENV"
fi
PY="$VENV/bin/python"

# The install is current while pyproject.toml, the checkout and the interpreter are the same.
EXTRAS="${EXTRAS:-}"
HASH="$({ cat pyproject.toml; echo "$ROOT"; echo "$VENV"; } | sha256sum | cut -c1-16)"
STAMP="$VENV/.companion-install-${EXTRAS:-app}"
installed() {
  [ -f "$STAMP" ] && [ "$(<"$STAMP")" = "$HASH" ] && return 0
  [ -z "$EXTRAS" ] || return 1
  local stamp  # the app needs no extras: a current install with any extras will do
  for stamp in "$VENV"/.companion-install-*; do
    [ -f "$stamp" ] && [ "$(<"$stamp")" = "$HASH" ] && return 0
  done
  return 1
}

if ! installed; then
  # A .venv left without pip (an interrupted first run) is made again; someone else's is not ours to.
  if ! "$PY" -m pip --version >/dev/null 2>&1; then
    [ "$VENV" = "$ROOT/.venv" ] || die "$VENV has no pip; install it there (python -m ensurepip) or deactivate it"
    make_venv "$VENV"
  fi
  target=".${EXTRAS:+[$EXTRAS]}"
  log="$VENV/pip-install.log"
  say "installing companion's Python packages (pip install -e '$target') into $VENV; the first time takes a few minutes"
  if ! "$PY" -m pip install --disable-pip-version-check --progress-bar off -e "$target" >"$log" 2>&1; then
    sed -n -E 's/^ *((ERROR|error)[: ].*)/\1/p' "$log" | awk '!seen[$0]++' | tail -n 5 >&2  # pip's own summary of what failed
    die "pip install -e '$target' failed (full output: $log)"
  fi
  grep '^Successfully installed' "$log" >&2 || say "nothing new to install"
  echo "$HASH" >"$STAMP"
fi
