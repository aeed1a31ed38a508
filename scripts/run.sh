#!/usr/bin/env bash
# Install trialfinder into ./.venv (or reuse it) and run the main job with ./config.toml.
# Extra arguments go to `trialfinder`, e.g. `scripts/run.sh status`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ] && ! "$PYTHON" -c "import ensurepip" >/dev/null 2>&1; then
  # Debian's python3 without its venv module (a fresh Debian or Ubuntu machine)
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  else
    echo "scripts/run.sh: Python's venv module is missing: sudo apt-get install python3-venv" >&2
    exit 1
  fi
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q .
if [ "$#" -eq 0 ]; then set -- run; fi
exec "$VENV/bin/trialfinder" --config config.toml "$@"
