#!/bin/sh
# swarm-infer command-line contract: exit codes (usage 2, model errors 1),
# output shapes of logits/generate/bench, seeded sampling determinism, and
# clear rejection of unsupported options. Uses the shared fixture models.
BIN="$1"
FIX="$2"
M="$FIX/models/qwen3moe/qwen3moe-q8_0.gguf"
if [ ! -f "$M" ]; then
    echo "fixtures not found at $FIX"
    [ "$CI" = "true" ] && exit 1
    exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
check() { # check DESC EXPECTED_RC cmd...
    desc="$1"; want="$2"; shift 2
    "$@" >"$T/out" 2>"$T/err"
    rc=$?
    if [ "$rc" != "$want" ]; then
        echo "FAIL: $desc: exit $rc, expected $want"; cat "$T/err"; fail=1
    fi
}
check "no command" 2 "$BIN"
check "unknown command" 2 "$BIN" frobnicate
check "unknown option" 2 "$BIN" logits --model "$M" --bogus
check "logits without --out" 2 "$BIN" logits --model "$M" --tokens 1,2
check "bad token list" 2 "$BIN" logits --model "$M" --tokens 1,x --out "$T/l.f32"
check "missing model file" 1 "$BIN" logits --model "$T/nope.gguf" --tokens 1 --out "$T/l.f32"
grep -q "nope.gguf" "$T/err" || { echo "FAIL: error does not name the file"; fail=1; }
check "out-of-range token" 1 "$BIN" logits --model "$M" --tokens 1,99999 --out "$T/l.f32"
check "json schema file missing" 1 "$BIN" generate --model "$M" --tokens 1,2 --json-schema "$T/x.json"
grep -q "x.json" "$T/err" || { echo "FAIL: --json-schema error does not name the file"; fail=1; }
check "not a gguf" 1 "$BIN" logits --model "$0" --tokens 1 --out "$T/l.f32"

check "logits" 0 "$BIN" logits --model "$M" --tokens 5,6,7 --out "$T/l.f32"
sz=$(wc -c <"$T/l.f32")
[ "$sz" = $((3 * 512 * 4)) ] || { echo "FAIL: logits file has $sz bytes"; fail=1; }

check "generate ids" 0 "$BIN" generate --model "$M" --tokens 5,6,7 -n 5 --greedy --ids
n=$(wc -w <"$T/out")
[ "$n" = 5 ] || { echo "FAIL: generate printed $n ids"; fail=1; }
"$BIN" generate --model "$M" --tokens 5,6,7 -n 8 --temp 1.0 --seed 42 --ids >"$T/a" 2>/dev/null
"$BIN" generate --model "$M" --tokens 5,6,7 -n 8 --temp 1.0 --seed 42 --ids >"$T/b" 2>/dev/null
cmp -s "$T/a" "$T/b" || { echo "FAIL: same seed, different output"; fail=1; }

check "generate chat prompt" 0 "$BIN" generate --model "$M" --prompt "Hello" --chat -n 3 --seed 1
check "generate chat with stop" 0 "$BIN" generate --model "$M" --prompt "Hello" -n 3 --seed 1 --stop x

check "bench" 0 "$BIN" bench --model "$M" -p 16 -n 4 -t 2 --json
grep -q '"pp_tok_s":' "$T/out" && grep -q '"tg_tok_s":' "$T/out" ||
    { echo "FAIL: bench json: $(cat "$T/out")"; fail=1; }
if /usr/bin/python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/out" 2>/dev/null; then :; else
    echo "FAIL: bench output is not JSON"; fail=1
fi

V="$FIX/tokenizer/llama.cpp-vocab/ggml-vocab-gpt-2.gguf"
if [ -f "$V" ]; then
    check "tokenize vocab-only gguf" 0 "$BIN" tokenize --model "$V" --text "Hello world" --no-bos
    [ -s "$T/out" ] || { echo "FAIL: tokenize printed nothing"; fail=1; }
fi
[ $fail = 0 ] && echo "engine cli: all checks hold"
exit $fail
