#!/usr/bin/env bash
# test_presets.sh - the real-shape presets match the published models.
#
# usage: test_presets.sh SWARM_INFER
# `mkmodel --dry-run` builds the whole header (metadata, full-size vocabulary,
# tensor infos) without writing weights. Total parameters must match the
# published model sizes (OLMoE-1B-7B 6.92B, Qwen3-30B-A3B 30.5B,
# DeepSeek-V2-Lite 15.7B, gpt-oss-20b 20.9B) within 1%, the vocabulary the
# published size, and gpt-oss-20b has the 459 tensors llama.cpp's converter
# reports for it.
set -u
BIN=$1
fail=0

check() { # preset type expected_params expected_vocab expected_tensors(or -)
    local out params vocab tensors
    out=$("$BIN" mkmodel --preset "$1" --type "$2" --dry-run 2>/dev/null)
    if [ $? -ne 0 ]; then
        echo "FAIL $1: dry run failed"
        fail=1
        return
    fi
    params=$(echo "$out" | sed -n 's/.*"params":\([0-9]*\).*/\1/p')
    vocab=$(echo "$out" | sed -n 's/.*"n_vocab":\([0-9]*\).*/\1/p')
    tensors=$(echo "$out" | sed -n 's/.*"tensors":\([0-9]*\).*/\1/p')
    # |params - expected| <= 1% of expected, in integer arithmetic
    local diff=$((params - $3))
    [ $diff -lt 0 ] && diff=$((-diff))
    if [ $((diff * 100)) -gt "$3" ]; then
        echo "FAIL $1: $params parameters, published $3"
        fail=1
    elif [ "$vocab" != "$4" ]; then
        echo "FAIL $1: vocabulary $vocab, published $4"
        fail=1
    elif [ "$5" != - ] && [ "$tensors" != "$5" ]; then
        echo "FAIL $1: $tensors tensors, expected $5"
        fail=1
    else
        echo "ok $1 $2: $out"
    fi
}

check olmoe-1b-7b Q4_0 6920000000 50304 -
check qwen3-30b-a3b Q4_K_M 30500000000 151936 -
check deepseek-v2-lite Q8_0 15700000000 102400 -
check gpt-oss-20b MXFP4 20900000000 201088 459

# --dry-run writes nothing
T=$(mktemp -d /tmp/swarm-presets-XXXXXX)
"$BIN" mkmodel --preset olmoe-1b-7b --type Q4_0 --dry-run --out "$T/m.gguf" >/dev/null 2>&1
if [ -n "$(ls "$T")" ]; then
    echo "FAIL --dry-run wrote: $(ls "$T")"
    fail=1
fi
rm -rf "$T"
exit $fail
