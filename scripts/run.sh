#!/usr/bin/env bash
# Install trialfinder into ./.venv (or reuse it) and run the main job with ./config.toml.
# Extra arguments go to `trialfinder`, e.g. `scripts/run.sh status`; `scripts/run.sh --demo` runs `trialfinder demo`
# (offline, on stand-in data, into ./demo/).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
source scripts/_python.sh
if [ -x "$VENV/bin/python" ]; then require_python_311 "$VENV/bin/python"; else require_python_311 "$PYTHON"; fi
source scripts/_debian.sh
if needs_python3_venv; then need_debian_packages python3-venv; fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q .
if [ "$#" -eq 0 ]; then set -- run; fi
if [ "$1" = "--demo" ]; then shift; set -- demo "$@"; fi
exec "$VENV/bin/trialfinder" --config config.toml "$@"
