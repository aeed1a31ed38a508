#!/usr/bin/env bash
# Install everything the test suite needs and run it: ruff, mypy and pytest (browser tests included).
# Creates ./.venv (or reuses it), installs trialfinder with its test extras, and Debian's chromium (and
# python3-venv) when missing (apt-get as root; otherwise it asks you to install them). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

# Debian packages the suite needs: chromium for the browser tests, and python3-venv where Debian's python3 lacks
# ensurepip (a fresh Debian or Ubuntu machine).
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium fonts-dejavu-core)
[ -x "$VENV/bin/python" ] || "$PYTHON" -c "import ensurepip" >/dev/null 2>&1 || need+=(python3-venv)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "scripts/test.sh: these Debian packages are needed: sudo apt-get install ${need[*]}" >&2
    exit 1
  fi
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[test]"

echo "== ruff"; "$VENV/bin/ruff" check .
echo "== mypy"; "$VENV/bin/mypy"
echo "== pytest"; "$VENV/bin/pytest" "$@"
