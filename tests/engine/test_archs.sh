#!/bin/sh
# Makes a tiny random GGUF of every supported architecture with
# `swarm-infer mkmodel` and runs test_engine_archs over them; also checks that
# a truncated GGUF is refused with a message naming the file.
# test_archs.sh SWARM_INFER TEST_ENGINE_ARCHS ARCH... (the ARCHs: the engine's
# list, runtime/arch_list.h, as CMake reads it)
BIN="$1"
TEST="$2"
shift 2
[ $# -gt 0 ] || { echo "FAIL: no architectures given"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
MODELS=""
for a in "$@"; do
    "$BIN" mkmodel --arch "$a" --preset tiny --type Q8_0 --out "$T/$a.gguf" >/dev/null 2>&1 ||
        { echo "FAIL: mkmodel $a"; exit 1; }
    MODELS="$MODELS $T/$a.gguf"
done
"$BIN" mkmodel --arch deepseek2 --preset tiny --routing v3 --type Q4_K_M --out "$T/ds3.gguf" \
    >/dev/null 2>&1 || { echo "FAIL: mkmodel deepseek2 v3"; exit 1; }
"$BIN" mkmodel --arch gpt-oss --preset tiny --type MXFP4 --out "$T/oss-mxfp4.gguf" \
    >/dev/null 2>&1 || { echo "FAIL: mkmodel gpt-oss mxfp4"; exit 1; }
head -c 100000 "$T/olmoe.gguf" >"$T/cut.gguf"
if "$BIN" logits --model "$T/cut.gguf" --tokens 1 --out "$T/x.f32" 2>"$T/err"; then
    echo "FAIL: truncated model loaded"; exit 1
fi
grep -q "cut.gguf" "$T/err" || { echo "FAIL: error does not name the file: $(cat "$T/err")"; exit 1; }
# shellcheck disable=SC2086 # mktemp paths have no spaces
"$TEST" $MODELS "$T"/ds3.gguf "$T"/oss-mxfp4.gguf
