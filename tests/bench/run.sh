#!/usr/bin/env bash
# run.sh - runs every swarm benchmark and prints one table per area:
# kernels (fast vs scalar dot_f32), thread pool (cost of one parallel-for),
# engine (swarm-infer bench, 1t/2t, batch),
# tokenizer (tests/tokenizer bench_tokenizer), swarm end to end (SIM engine
# and the real engine on the tiny model). Ratios are always against a
# baseline measured in the same run; see docs/PERFORMANCE.md for how to read
# them.
#
# usage: tests/bench/run.sh [--quick] [--build DIR] [--models DIR] [--mid MODEL.gguf|none]
#   --build DIR   a Release build (default: build-bench; built if missing)
#   --models DIR  where the generated benchmark models live (default /tmp/swarm-bench-models)
#   --mid M       the mid-size model; default: DIR/olmoe-1b-7b-q4_0.gguf, made with
#                 `swarm-infer mkmodel` when missing (3.9 GB, about 2 minutes); none = skip
#   --quick       small sizes and one round everywhere (a minute or two); no mid-size model
# Exit status: non-zero if any benchmark failed (its error is printed).
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build="$src/build-bench"
models=/tmp/swarm-bench-models
mid=""
quick=0
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick=1 ;;
    --build) build=$2; shift ;;
    --models) models=$2; shift ;;
    --mid) mid=$2; shift ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
bin="$build/bin"
status=0
fail() { echo "run.sh: FAILED: $*" >&2; status=1; }

if [ ! -x "$bin/bench_kernels" ] || [ ! -x "$bin/bench_pool" ] || [ ! -x "$bin/swarm-infer" ] ||
    [ ! -x "$bin/swarm" ]; then
    echo "== building Release into $build"
    # SWARM_WERROR=OFF: a Release-only -Wformat-truncation warning elsewhere must not stop a benchmark
    cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSWARM_WERROR=OFF >/dev/null &&
        cmake --build "$build" -j2 >/dev/null || { echo "run.sh: build failed" >&2; exit 1; }
fi
mkdir -p "$models"

echo "== machine"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), nproc $(nproc)"
echo "memory: $(free -g | awk '/^Mem:/{print $2 " GiB"}')"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "git: $(git -C "$src" describe --always --dirty 2>/dev/null || echo "?") (dirty = uncommitted changes in the tree at run time)"

echo
echo "== kernels: dot_f32 matvec, run-time fast path vs scalar reference"
if [ $quick = 1 ]; then
    "$bin/bench_kernels" --rows 512 --cols 2048 --rounds 1 --min-ms 20 || fail bench_kernels
else
    "$bin/bench_kernels" --rows 2048 --cols 2048 --rounds 5 --min-ms 100 || fail bench_kernels
fi

echo
echo "== thread pool: one rt_pool_for, 2 threads vs 1"
"$bin/bench_pool" --threads 2 --rounds $([ $quick = 1 ] && echo 1 || echo 5) || fail bench_pool

echo
echo "== engine: swarm-infer bench (best of alternating rounds)"
tiny="$models/tiny-q8_0.gguf"
[ -f "$tiny" ] || "$bin/swarm-infer" mkmodel --arch qwen3moe --preset tiny --type Q8_0 \
    --out "$tiny" >/dev/null 2>&1 || fail "mkmodel tiny"
if [ $quick = 1 ]; then
    python3 "$here/bench_engine.py" "$bin" "$tiny" -p 128 -n 32 --rounds 1 || fail bench_engine
else
    # the tiny model takes a fraction of a second per run: many rounds make best-of robust
    python3 "$here/bench_engine.py" "$bin" "$tiny" -p 512 -n 128 --rounds 10 || fail bench_engine
    if [ "$mid" != none ]; then
        [ -n "$mid" ] || mid="$models/olmoe-1b-7b-q4_0.gguf"
        if [ ! -f "$mid" ]; then
            echo "(making $mid with swarm-infer mkmodel --preset olmoe-1b-7b --type Q4_0)"
            "$bin/swarm-infer" mkmodel --preset olmoe-1b-7b --type Q4_0 --threads 2 \
                --out "$mid" >/dev/null 2>&1 || fail "mkmodel olmoe-1b-7b"
        fi
        [ -f "$mid" ] && { python3 "$here/bench_engine.py" "$bin" "$mid" -p 64 -n 16 \
            --rounds 2 || fail "bench_engine mid"; }
    fi
fi

echo
echo "== tokenizer: tests/tokenizer bench_tokenizer"
vocabs="${SWARM_FIXTURES:-$src/../shared/fixtures}/tokenizer/llama.cpp-vocab"
if [ -x "$bin/bench_tokenizer" ] && [ -d "$vocabs" ]; then
    text="$models/tok-text.txt"
    # a mixed English/C corpus: the repository's own docs and engine sources
    cat "$src"/README.md "$src"/docs/*.md "$src"/runtime/*.c >"$text"
    printf '%-14s %8s %10s %8s %12s\n' vocab MB tokens "MB/s" "tokens/s"
    for v in gpt-2 llama-spm deepseek-llm; do
        "$bin/bench_tokenizer" "$vocabs/ggml-vocab-$v.gguf" "$text" \
            $([ $quick = 1 ] && echo 1 || echo 5) >"$models/tok-$v.json" || fail "bench_tokenizer $v"
        python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%-14s %8.2f %10d %8.2f %12.0f" % (sys.argv[2], r["bytes"]/1e6, r["tokens"], r["mb_s"], r["tok_s"]))' \
            "$models/tok-$v.json" "$v" || fail "bench_tokenizer $v output"
    done
else
    echo "(skipped: no bench_tokenizer binary or no fixture vocabularies in $vocabs)"
fi

echo
echo "== swarm end to end"
if [ $quick = 1 ]; then
    python3 "$here/bench_swarm.py" "$bin" --engine sim --tasks 200 --workers 1,2 || fail "swarm sim"
    python3 "$here/bench_swarm.py" "$bin" --engine sim --tasks 200 --workers 1 --token-us 0 \
        --poll 0.02 ||
        fail "swarm sim overhead"
    python3 "$here/bench_swarm.py" "$bin" --engine embedded --model "$tiny" --tasks 20 \
        --workers 1 --max-tokens 16 || fail "swarm embedded"
else
    python3 "$here/bench_swarm.py" "$bin" --engine sim --tasks 1000 --workers 1,2,4 \
        --rounds 3 || fail "swarm sim"
    python3 "$here/bench_swarm.py" "$bin" --engine sim --tasks 1000 --workers 1,2,4 \
        --token-us 0 --poll 0.02 --rounds 3 || fail "swarm sim overhead"
    python3 "$here/bench_swarm.py" "$bin" --engine embedded --model "$tiny" --tasks 100 \
        --workers 1,2 --max-tokens 16 --rounds 3 || fail "swarm embedded"
fi
echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
