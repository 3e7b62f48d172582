#!/usr/bin/env bash
# anchors.sh - swarm-infer against the reference engines (llama.cpp's
# llama-bench and llama-batched-bench, ik_llama.cpp's llama-bench with and
# without -rtr 1) on the same olmoe-1b-7b-shaped files, and the table of
# issue 9 with our/their ratios.
#
# The engines run round-robin (ours, llama.cpp, ik, ik -rtr, batched; again
# ...) so all of them see the same machine load, and every figure is the
# median of its rounds; the read bandwidth is measured by `swarm-infer bench`
# in each round. Without an anchor binary its columns stay empty (the anchors
# are references, never required).
#
# usage: tests/bench/anchors.sh [--rounds 3] [--threads 2] [--bin DIR] [--anchors DIR]
#            [--models DIR] [--types Q4_K_M,Q8_0] [--quick]
#   --models DIR  holds olmoe-q4_k_m.gguf / olmoe-q8_0.gguf (olmoe arch, ours and
#                 llama.cpp) and olmoe-as-qwen3moe-q4_k_m.gguf / -q8_0.gguf (the same
#                 shapes tagged qwen3moe for ik_llama.cpp), default /work/models; make
#                 them with
#                   swarm-infer mkmodel --preset olmoe-1b-7b --type Q8_0 --out olmoe-q8_0.gguf
#                   swarm-infer mkmodel --preset olmoe-1b-7b --tag-arch qwen3moe --type Q8_0 \
#                       --out olmoe-as-qwen3moe-q8_0.gguf
#                   llama-quantize --allow-requantize olmoe-q8_0.gguf olmoe-q4_k_m.gguf Q4_K_M
#   --quick       one round, pp512 left out (a smoke run of the script itself)
# Exit status: 0 when every swarm-infer run succeeded.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
bin="$src/build/bin"
anchors="$src/../shared/anchors"
models=/work/models
rounds=3
threads=2
types="Q4_K_M,Q8_0"
quick=0
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) rounds=$2; shift ;;
    --threads) threads=$2; shift ;;
    --bin) bin=$2; shift ;;
    --anchors) anchors=$2; shift ;;
    --models) models=$2; shift ;;
    --types) types=$2; shift ;;
    --quick) quick=1; rounds=1 ;;
    -h | --help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "anchors.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
L="$anchors/llama.cpp/bin"
IK="$anchors/ik_llama.cpp/bin"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
pp="64,512"
[ $quick = 1 ] && pp="64"

# One JSON object per line into $out/results: {"engine","type","round","figure","value"}
emit() { printf '{"engine":"%s","type":"%s","round":%d,"figure":"%s","value":%s}\n' "$@" \
    >>"$out/results"; }

for ty in ${types//,/ }; do
    lc=$(echo "$ty" | tr 'A-Z' 'a-z')
    f="$models/olmoe-$lc.gguf"
    fq="$models/olmoe-as-qwen3moe-$lc.gguf"
    if [ ! -f "$f" ]; then
        echo "anchors.sh: $f missing (see --help)" >&2
        status=1
        continue
    fi
    for r in $(seq 1 "$rounds"); do
        echo "== $ty round $r/$rounds" >&2
        # ours: pp64 + tg32 with the read bandwidth, pp512, 8 streams
        if j=$("$bin/swarm-infer" bench --model "$f" -p 64 -n 32 -t "$threads" --json); then
            echo "$j" | python3 -c '
import json, sys
d = json.loads(sys.stdin.read().splitlines()[-1])
for k in ("pp_tok_s", "tg_tok_s", "bandwidth_gb_s", "bytes_per_token", "roofline"):
    print(k, d[k])' | while read -r k v; do emit ours "$ty" "$r" "$k" "$v"; done
        else
            status=1
        fi
        if [ $quick = 0 ]; then
            j=$("$bin/swarm-infer" bench --model "$f" -p 512 -n 0 -t "$threads" --json) &&
                emit ours "$ty" "$r" pp512 "$(echo "$j" | python3 -c \
                    'import json,sys; print(json.loads(sys.stdin.read())["pp_tok_s"])')" ||
                status=1
        fi
        j=$("$bin/swarm-infer" bench --model "$f" -p 64 -n 32 -t "$threads" --streams 8 --json) &&
            emit ours "$ty" "$r" tg_streams8 "$(echo "$j" | python3 -c \
                'import json,sys; print(json.loads(sys.stdin.read())["tg_tok_s"])')" || status=1
        # llama.cpp mainline
        if [ -x "$L/llama-bench" ]; then
            "$L/llama-bench" -m "$f" -t "$threads" -p "$pp" -n 32 -r 1 -o json 2>/dev/null |
                python3 -c '
import json, sys
for e in json.load(sys.stdin):
    fig = "pp%d" % e["n_prompt"] if e["n_gen"] == 0 else "tg%d" % e["n_gen"]
    print(fig, e["avg_ts"])' | while read -r k v; do emit llama.cpp "$ty" "$r" "$k" "$v"; done
        fi
        # ik_llama.cpp, default and with run-time repacking
        if [ -x "$IK/llama-bench" ] && [ -f "$fq" ]; then
            for rtr in 0 1; do
                "$IK/llama-bench" -m "$fq" -t "$threads" -p "$pp" -n 32 -r 1 -rtr $rtr -o json \
                    2>/dev/null | python3 -c '
import json, sys
for e in json.load(sys.stdin):
    fig = "pp%d" % e["n_prompt"] if e["n_gen"] == 0 else "tg%d" % e["n_gen"]
    print(fig, e["avg_ts"])' | while read -r k v; do emit "ik-rtr$rtr" "$ty" "$r" "$k" "$v"; done
            done
        fi
        # llama.cpp batched: aggregate generation of 8 parallel sequences
        if [ -x "$L/llama-batched-bench" ]; then
            "$L/llama-batched-bench" -m "$f" -t "$threads" -c 4096 -npp 64 -ntg 32 -npl 1,8 \
                --output-format jsonl 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    line = line.strip()
    if not line.startswith("{"):
        continue
    e = json.loads(line)
    print("tg_streams%d" % e["pl"], e["speed_tg"])' |
                while read -r k v; do emit llama.cpp "$ty" "$r" "$k" "$v"; done
        fi
    done
done

[ -f "$out/results" ] || { echo "anchors.sh: no results" >&2; exit 1; }
python3 - "$out/results" "$threads" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med = {}
for r in rows:
    med.setdefault((r["engine"], r["type"], r["figure"]), []).append(float(r["value"]))
med = {k: statistics.median(v) for k, v in med.items()}
n_rounds = max(r["round"] for r in rows)
def g(e, t, f):
    return med.get((e, t, f))
def fmt(v):
    return "—" if v is None else "%.*f" % (1 if v >= 10 else 2, v)
print("\nolmoe-1b-7b shape, %s threads, medians of %d round-robin round(s)\n" % (sys.argv[2], n_rounds))
print("| file | figure | swarm-infer | llama.cpp | ik_llama.cpp | ik -rtr 1 | ours / best anchor |")
print("|---|---|---:|---:|---:|---:|---:|")
types = sorted({r["type"] for r in rows}, key=lambda t: (t != "Q4_K_M", t))
for t in types:
    for fig, name in (("tg32", "tg32 tok/s"), ("pp64", "pp64 tok/s"), ("pp512", "pp512 tok/s"),
                      ("tg_streams8", "8 streams, aggregate tg tok/s")):
        ours = g("ours", t, {"tg32": "tg_tok_s", "pp64": "pp_tok_s"}.get(fig, fig))
        a = [g(e, t, fig) for e in ("llama.cpp", "ik-rtr0", "ik-rtr1")]
        best = max([x for x in a if x is not None], default=None)
        ratio = "%.2fx" % (ours / best) if ours and best else "—"
        if ours is None and best is None:
            continue
        print("| %s | %s | %s | %s | %s | %s | %s |" % (t, name, fmt(ours), fmt(a[0]), fmt(a[1]),
                                                       fmt(a[2]), ratio))
print()
for t in types:
    bw, bpt = g("ours", t, "bandwidth_gb_s"), g("ours", t, "bytes_per_token")
    tg, s8 = g("ours", t, "tg_tok_s"), g("ours", t, "tg_streams8")
    if bw and bpt and tg:
        bound = bw * 1e9 / bpt
        line = "%s: read bandwidth %.1f GB/s, %.2f GB per token -> bound %.1f tok/s; tg %.1f = %.2f of it" % (
            t, bw, bpt / 1e9, bound, tg, tg / bound)
        lb = g("llama.cpp", t, "tg32")
        if lb:
            line += "; llama.cpp %.2f of it" % (lb / bound)
        print(line)
    if s8 and tg:
        line = "%s: 8 streams %.1f tok/s = %.2fx single-stream" % (t, s8, s8 / tg)
        lb8, lb1 = g("llama.cpp", t, "tg_streams8"), g("llama.cpp", t, "tg_streams1")
        if lb8:
            line += ", %.2fx llama-batched-bench -npl 8 (%.2f" % (s8 / lb8, lb8)
            line += "; its -npl 1: %.2f)" % lb1 if lb1 else ")"
        print(line)
EOF
exit $status
