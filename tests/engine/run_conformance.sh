#!/bin/sh
# Runs the shared conformance checker (llama.cpp goldens) against swarm-infer.
# Missing fixtures: skip (77) locally, fail when CI=true.
BIN="$1"
FIX="$2"
if [ ! -f "$FIX/../tools/conformance.py" ] || [ ! -d "$FIX/models" ]; then
    echo "fixtures not found at $FIX"
    [ "$CI" = "true" ] && exit 1
    exit 77
fi
exec /usr/bin/python3 "$FIX/../tools/conformance.py" "$BIN" "$FIX"
