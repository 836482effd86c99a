# Sourced by scripts/app and scripts/test: make sure the system libraries and Python packages are there.
# Debian/Ubuntu: libportaudio2 (sound output), libsndfile1 (decoding); ffmpeg is optional (M4A/AAC).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need=()
if command -v dpkg >/dev/null 2>&1; then
  for pkg in libportaudio2 libsndfile1; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
  done
fi
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else SUDO="none"; fi
  if [ "$SUDO" != "none" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing system packages: ${need[*]}" >&2
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "note: please install ${need[*]} (e.g. apt-get install ${need[*]}); continuing without" >&2
  fi
fi

PY="${PYTHON:-python3}"
"$PY" -m pip install -q --disable-pip-version-check -e ".${EXTRAS:-}" 2>&1 | grep -v -e "Running pip as the 'root' user" -e "^WARNING: Location" >&2 || true
