#!/usr/bin/env bash
# Install everything the test suite needs and run it: ruff, mypy, lint-imports (the layers) and pytest (browser
# tests included).
# Creates ./.venv (or reuses it), installs trialfinder with its test extras, and Debian's chromium (and
# python3-venv) when missing (apt-get as root; otherwise it asks you to install them). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

# Debian packages the suite needs: chromium for the browser tests, and python3-venv where Debian's python3 lacks
# ensurepip (a fresh Debian or Ubuntu machine).
source scripts/_debian.sh
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium fonts-dejavu-core)
if needs_python3_venv; then need+=(python3-venv); fi
if [ "${#need[@]}" -gt 0 ]; then need_debian_packages "${need[@]}"; fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[test]"

echo "== ruff"; "$VENV/bin/ruff" check .
echo "== mypy"; "$VENV/bin/mypy"
echo "== lint-imports"; "$VENV/bin/lint-imports" --no-cache
echo "== pytest"; "$VENV/bin/pytest" "$@"
