#!/bin/sh
# check.sh [NAME] - build the library and run its tests (all, or NAME's).
# Builds into a file of its own so agents checking at once do not collide
# (not $$: every sandbox has its own pid namespace, so $$ repeats).
out=$(mktemp ./.check-XXXXXX) || exit 2
cc -std=c11 -Wall -o "$out" src/*.c tests/run_tests.c || exit 2
./"$out" "$@"
rc=$?
rm -f "$out"
exit $rc
