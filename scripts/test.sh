#!/usr/bin/env bash
# Install everything the test suite needs and run it: ruff, mypy, lint-imports (the layers) and pytest (browser
# tests included), twice: on SQLite, then on a throwaway PostgreSQL cluster (tests/testdb.py).
# Creates ./.venv (or reuses it), installs trialfinder with its test and postgres extras, and Debian's chromium,
# postgresql (and python3-venv) when missing (apt-get as root; otherwise it asks you to install them). Extra
# arguments go to both pytest runs. SKIP_POSTGRES=1 runs the SQLite pass only.
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
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if [ "${SKIP_POSTGRES:-0}" != 1 ] && [ -z "$(pg_bin)" ]; then need+=(postgresql); fi
if needs_python3_venv; then need+=(python3-venv); fi
if [ "${#need[@]}" -gt 0 ]; then need_debian_packages "${need[@]}"; fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# The tools that gate this script (ruff, mypy, import-linter, pytest...) are pinned to exact versions, so a new
# release of one cannot fail a fresh machine with no change here; raise them in constraints/test.txt on purpose.
"$VENV/bin/python" -m pip install -q -e ".[test,postgres]" -c constraints/test.txt

echo "== ruff"; "$VENV/bin/ruff" check .
echo "== mypy"; "$VENV/bin/mypy"
echo "== lint-imports"; "$VENV/bin/lint-imports" --no-cache
echo "== pytest (SQLite)"; "$VENV/bin/pytest" "$@"
[ "${SKIP_POSTGRES:-0}" = 1 ] && exit 0

# A throwaway PostgreSQL cluster in a temporary folder, on 127.0.0.1 and a free port, stopped and deleted at the
# end. initdb refuses root: as root it runs as Debian's `postgres` user. Durability is off: it is thrown away.
PG_BIN=$(pg_bin)
PG_DIR=$(mktemp -d)
as_pg=()
if [ "$(id -u)" = 0 ]; then chown postgres "$PG_DIR"; as_pg=(runuser -u postgres --); fi
stop_postgres() {
  "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
}
trap stop_postgres EXIT
PG_PORT=$("$VENV/bin/python" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
"${as_pg[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres >/dev/null
"${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -o "-c listen_addresses=127.0.0.1 \
  -p $PG_PORT -k $PG_DIR -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
  start >/dev/null
echo "== pytest (PostgreSQL on 127.0.0.1:$PG_PORT: $("$PG_BIN/postgres" --version))"
TRIALFINDER_TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/postgres" "$VENV/bin/pytest" "$@"
