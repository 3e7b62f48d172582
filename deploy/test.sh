#!/usr/bin/env bash
# test.sh - build Release into build/ if needed, then run the whole ctest suite
# (unit, conformance, integration: real redis-server, swarmd, workers).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
JOBS=${JOBS:-$(nproc)}
if [ ! -f build/CMakeCache.txt ]; then
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
fi
cmake --build build -j"$JOBS"
ctest --test-dir build --output-on-failure -j"${CTEST_JOBS:-2}"
