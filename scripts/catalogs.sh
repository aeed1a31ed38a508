#!/bin/sh
# Extract every message of ours into trialfinder/locale/messages.pot and merge it into each language's .po file
# (new messages come in empty, changed ones marked fuzzy: both make tests/test_catalogs.py fail until translated).
# Run from anywhere, with the project's .venv installed (scripts/test.sh or scripts/run.sh make it).
set -eu
cd "$(dirname "$0")/.."
PYBABEL=${PYBABEL:-.venv/bin/pybabel}
# tr(lang, message) and ntr(lang, singular, plural, n) are the Python side's gettext; N_ and NP_ mark messages said
# later (trialfinder/i18n.py)
"$PYBABEL" extract -F babel.cfg -k tr:2 -k ntr:2,3 -k NP_:1,2 --no-location --sort-output --omit-header --width 120 \
    -o trialfinder/locale/messages.pot .
"$PYBABEL" update -i trialfinder/locale/messages.pot -d trialfinder/locale --width 120 \
    --ignore-obsolete
