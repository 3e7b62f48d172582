#!/usr/bin/env bash
# quickstart.sh - fresh Debian bookworm to a finished demo job, as root:
# install the packages, build Release into build/, run examples/demo.json
# (64 sub-tasks) on a private local swarm of 4 workers, print the merged
# result, and leave no process behind.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. deploy/packages.sh
swarm_install_packages

JOBS=${JOBS:-$(nproc)}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
# only what the demo needs; deploy/test.sh builds the tests
cmake --build build -j"$JOBS" --target swarm swarmd swarm-worker swarm-infer

# a short private state dir (unix socket paths are limited to ~100 bytes)
STATE=$(mktemp -d /tmp/swarm-quickstart.XXXXXX)
cleanup() {
    build/bin/swarm down --state "$STATE" >/dev/null 2>&1 || true
    rm -rf "$STATE"
}
trap cleanup EXIT

echo "== swarm run --job examples/demo.json --workers 4 (state: $STATE)" >&2
echo "== the default model is a tiny random-weight model: its text is noise (see README: --model)" >&2
build/bin/swarm run --job examples/demo.json --workers 4 --state "$STATE"
echo "== demo job done; swarm stopped" >&2
