#!/usr/bin/env bash
# Re-extract the console's messages (templates and Python, `_` and `N_`) and merge them into both catalogs,
# keeping existing translations. Then translate every new zh_CN msgstr: tests/unit/test_console_catalog.py fails
# on an id missing from a catalog or an empty zh_CN translation.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
pot="$(mktemp --suffix=.pot)"
pybabel="${PYBABEL:-pybabel}"
"$pybabel" extract -F src/touchflow/console/babel.cfg -k N_ --no-location --sort-output --omit-header \
  -o "$pot" src/touchflow/console
"$pybabel" update -i "$pot" -d src/touchflow/console/locale --no-fuzzy-matching --ignore-obsolete --no-wrap --ignore-pot-creation-date
rm -f "$pot"
