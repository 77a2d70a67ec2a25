#!/usr/bin/env bash
# Extract the console's messages from its templates and code, and merge them into the
# bokmål catalogue (tilsyn/console/locale/nb/LC_MESSAGES/messages.po). Translate the new
# entries there; tilsyn compiles the catalogue when it starts, and a test fails while any
# message lacks a translation.
set -euo pipefail
cd "$(dirname "$0")/.."
pot="$(mktemp --suffix=.pot)"
pybabel -q extract -F tilsyn/console/babel.cfg --no-location --sort-output -o "$pot" . >/dev/null
po=tilsyn/console/locale/nb/LC_MESSAGES/messages.po
if [ -f "$po" ]; then
    pybabel -q update -i "$pot" -o "$po" -l nb --no-fuzzy-matching --ignore-obsolete >/dev/null
else
    mkdir -p "$(dirname "$po")"
    pybabel -q init -i "$pot" -o "$po" -l nb >/dev/null
fi
rm -f "$pot"
echo "updated $po"
