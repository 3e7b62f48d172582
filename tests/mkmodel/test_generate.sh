#!/usr/bin/env bash
# test_generate.sh - models from `swarm-infer mkmodel` run through the engine.
#
# usage: test_generate.sh SWARM_INFER ARCH [MODELS_DIR]
# For every type at the tiny preset: mkmodel writes the file (or it is
# taken from MODELS_DIR, written there by make_models.sh), then
# `swarm-infer generate --prompt hello -n 8 --greedy --ids` must exit 0 and
# print exactly 8 ids, each inside the vocabulary, and a second run must print
# the same ids for Q8_0 (greedy is deterministic).
# With ARCH "out-of-space": a write that runs out of space (RLIMIT_FSIZE)
# must fail with a clear message and leave no file.
set -u
BIN=$1
ARCH=$2
MODELS=${3:-}
TMP=$(mktemp -d /tmp/swarm-mkmodel-gen-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail=0
VOCAB=1024

VARIANTS="F32 F16 BF16 Q8_0 Q4_0 Q4_K_M Q6_K MXFP4"
[ "$ARCH" = out-of-space ] && VARIANTS=""
# deepseek2 also in its V3-routing form (sigmoid + exp_probs_b + groups)
[ "$ARCH" = deepseek2 ] && VARIANTS="$VARIANTS Q8_0:v3 Q4_K_M:v3"
for VAR in $VARIANTS; do
    TYPE=${VAR%%:*}
    ROUTING=v2
    [ "$VAR" != "$TYPE" ] && ROUTING=${VAR#*:}
    M="$TMP/$ARCH-$TYPE-$ROUTING.gguf"
    if [ -n "$MODELS" ]; then
        M="$MODELS/$ARCH-$TYPE-$ROUTING.gguf"
    elif ! "$BIN" mkmodel --arch "$ARCH" --preset tiny --type "$TYPE" --routing "$ROUTING" --out "$M" 2>"$TMP/mk.err"; then
        echo "FAIL $ARCH $VAR: mkmodel failed: $(cat "$TMP/mk.err")"
        fail=1
        continue
    fi
    out=$("$BIN" generate --model "$M" --prompt "hello" -n 8 --greedy --ids 2>"$TMP/gen.err")
    rc=$?
    if [ $rc -ne 0 ]; then
        echo "FAIL $ARCH $VAR: generate exited $rc: $(tail -3 "$TMP/gen.err")"
        fail=1
        continue
    fi
    # ids may be separated by spaces, commas or newlines
    ids=$(echo "$out" | tr ',\n' '  ')
    n=0
    bad=0
    for id in $ids; do
        n=$((n + 1))
        if ! [[ "$id" =~ ^[0-9]+$ ]] || [ "$id" -ge $VOCAB ]; then bad=1; fi
    done
    if [ $n -ne 8 ] || [ $bad -ne 0 ]; then
        echo "FAIL $ARCH $VAR: expected 8 ids in [0,$VOCAB), got: $out"
        fail=1
        continue
    fi
    if [ "$TYPE" = Q8_0 ]; then
        again=$("$BIN" generate --model "$M" --prompt "hello" -n 8 --greedy --ids 2>/dev/null)
        if [ "$again" != "$out" ]; then
            echo "FAIL $ARCH $VAR: greedy run not repeatable: '$out' then '$again'"
            fail=1
            continue
        fi
    fi
    echo "ok $ARCH $VAR: $(echo $ids)"
    [ -z "$MODELS" ] && rm -f "$M"
done

if [ "$ARCH" = out-of-space ]; then
    # Out of space: RLIMIT_FSIZE makes write() fail with EFBIG once the file
    # reaches 1 MiB (the model is ~4 MiB); SIGXFSZ is ignored so the error
    # reaches mkmodel instead of killing it.
    M="$TMP/full.gguf"
    (ulimit -f 1024; trap '' XFSZ; exec "$BIN" mkmodel --arch qwen3moe --preset tiny --type Q8_0 --out "$M") 2>"$TMP/full.err"
    rc=$?
    if [ $rc -eq 0 ]; then
        echo "FAIL out-of-space: mkmodel succeeded under a 1 MiB file size limit"
        fail=1
    elif ! grep -q "full.gguf" "$TMP/full.err" || ! grep -qi "too large\|space" "$TMP/full.err"; then
        echo "FAIL out-of-space: unclear message: $(cat "$TMP/full.err")"
        fail=1
    elif ls "$TMP" | grep -q "full.gguf"; then
        echo "FAIL out-of-space: partial file left: $(ls "$TMP")"
        fail=1
    else
        echo "ok out-of-space: $(cat "$TMP/full.err")"
    fi
fi
exit $fail
