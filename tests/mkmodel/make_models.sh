#!/usr/bin/env bash
# make_models.sh - test fixture: every tiny model of one architecture.
#
# usage: make_models.sh SWARM_INFER ARCH DIR
# Writes DIR/ARCH-TYPE-ROUTING.gguf with `swarm-infer mkmodel` for every
# type (and, for deepseek2, the V3-routing variant at Q8_0 and Q4_K_M), so
# the structure test and the generate test check the same files without
# generating them twice. Fails if any mkmodel run fails.
set -u
BIN=$1
ARCH=$2
DIR=$3
mkdir -p "$DIR" || exit 1
VARIANTS="F32 F16 BF16 Q8_0 Q4_0 Q4_K_M Q6_K MXFP4"
[ "$ARCH" = deepseek2 ] && VARIANTS="$VARIANTS Q8_0:v3 Q4_K_M:v3"
fail=0
for VAR in $VARIANTS; do
    TYPE=${VAR%%:*}
    ROUTING=v2
    [ "$VAR" != "$TYPE" ] && ROUTING=${VAR#*:}
    if ! "$BIN" mkmodel --arch "$ARCH" --preset tiny --type "$TYPE" --routing "$ROUTING" \
        --out "$DIR/$ARCH-$TYPE-$ROUTING.gguf"; then
        echo "FAIL mkmodel --arch $ARCH --type $TYPE --routing $ROUTING"
        fail=1
    fi
done
exit $fail
