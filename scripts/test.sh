#!/usr/bin/env bash
# Install everything the test suite needs and run it: ruff, mypy and pytest (browser tests included).
# Creates ./.venv (or reuses it), installs trialfinder with its test extras, and Debian's chromium when missing
# (apt-get as root; otherwise it asks you to install it). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
  else
    echo "scripts/test.sh: Debian's chromium is needed for the browser tests: sudo apt-get install chromium" >&2
    exit 1
  fi
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[test]"

echo "== ruff"; "$VENV/bin/ruff" check .
echo "== mypy"; "$VENV/bin/mypy"
echo "== pytest"; "$VENV/bin/pytest" "$@"
