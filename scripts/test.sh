#!/usr/bin/env bash
# Install everything the test suite needs and run it: ruff, mypy, lint-imports (the layers) and pytest (browser
# tests included).
# Creates ./.venv (or reuses it), installs trialfinder with its test extras, and Debian's chromium (and
# python3-venv) when missing (apt-get as root; otherwise it asks you to install them). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
source scripts/_python.sh
if [ -x "$VENV/bin/python" ]; then require_python_311 "$VENV/bin/python"; else require_python_311 "$PYTHON"; fi

# Debian packages the suite needs: chromium for the browser tests, and python3-venv where Debian's python3 lacks
# ensurepip (a fresh Debian or Ubuntu machine).
source scripts/_debian.sh
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium fonts-dejavu-core)
if needs_python3_venv; then need+=(python3-venv); fi
if [ "${#need[@]}" -gt 0 ]; then need_debian_packages "${need[@]}"; fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# The tools that gate this script (ruff, mypy, import-linter, pytest...) are pinned to exact versions, so a new
# release of one cannot fail a fresh machine with no change here; raise them in constraints/test.txt on purpose.
"$VENV/bin/python" -m pip install -q -e ".[test]" -c constraints/test.txt

echo "== ruff"; "$VENV/bin/ruff" check .
echo "== mypy"; "$VENV/bin/mypy"
echo "== lint-imports"; "$VENV/bin/lint-imports" --no-cache
echo "== pytest"; "$VENV/bin/pytest" "$@"
