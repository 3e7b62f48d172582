#!/bin/sh
# test_serve_openai.sh SWARM_INFER FIXTURES NPM_DIR MODE [ARCH] - starts
# `swarm-infer serve` on a free port (with an API key) and runs
# openai_client.cjs MODE (basic | constrained) against it with the official
# openai package installed by npm_install.sh. The model is the qwen3moe
# fixture (chatml/Hermes tool calls), or with ARCH a tiny `mkmodel` file of
# that architecture (gpt-oss: harmony tool calls). --ctx 4096: tool definitions
# rendered with the tiny fixture vocabulary run past its 512-token n_ctx_train.
BIN="$1"
FIX="$2"
NPM=$(cd "$3" 2>/dev/null && pwd) || NPM="$3" # absolute: require() takes it as a path
MODE="$4"
ARCH="$5"
HERE=$(cd "$(dirname "$0")" && pwd)
M="$FIX/models/qwen3moe/qwen3moe-q8_0.gguf"
skip() {
    echo "$1"
    [ "$CI" = "true" ] && exit 1
    exit 77
}
[ -f "$M" ] || skip "fixtures not found at $FIX"
[ -f "$NPM/node_modules/openai/package.json" ] || skip "openai package not installed in $NPM"
command -v node >/dev/null || skip "node not installed"
SLOW=${SWARM_TEST_SLOW:-1}
T=$(mktemp -d)
KEY=sk-openai-test
if [ -n "$ARCH" ]; then
    M="$T/$ARCH.gguf"
    "$BIN" mkmodel --arch "$ARCH" --preset tiny --type Q8_0 --out "$M" >"$T/mk" 2>&1 ||
        { cat "$T/mk"; rm -rf "$T"; exit 1; }
fi
"$BIN" serve --model "$M" --port 0 --slots 2 --ctx 4096 --api-key "$KEY" >"$T/out" 2>"$T/err" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$T"' EXIT
i=0
while ! grep -q "^listening on" "$T/out"; do
    i=$((i + 1))
    if [ $i -gt $((600 * SLOW)) ] || ! kill -0 $PID 2>/dev/null; then
        echo "server did not start"
        cat "$T/err"
        exit 1
    fi
    sleep 0.1
done
URL=$(sed -n 's/^listening on \(http:.*\)$/\1/p' "$T/out")
node "$HERE/openai_client.cjs" "$NPM/node_modules/openai" "$URL/v1" "$KEY" "$MODE"
rc=$?
kill -TERM $PID
wait $PID
src=$?
[ $src = 0 ] || { echo "server exited $src after SIGTERM"; cat "$T/err"; rc=1; }
exit $rc
