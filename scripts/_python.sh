# Sourced by scripts/run.sh and scripts/test.sh: stop with one line, before any install, when the Python that would
# run trialfinder is missing or older than 3.11.
require_python_311() {
    local python=$1
    if ! command -v "$python" >/dev/null 2>&1; then
        echo "trialfinder needs Python 3.11 or newer: '$python' was not found (set PYTHON=/path/to/python3.11)" >&2
        exit 2
    fi
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "trialfinder needs Python 3.11 or newer: $python is $("$python" -V 2>&1) (set PYTHON=/path/to/python3.11, or remove an old .venv)" >&2
        exit 2
    fi
}
